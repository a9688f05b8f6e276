// A streaming JSON writer that appends straight to a std::string: no DOM, no copies, and
// numbers in their shortest round-trip form ("104.123", "3250"), which Boost.JSON's serializer
// does not give (it writes 3.25E3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt {

class JsonWriter {
  public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    static constexpr int kMaxDepth = 64;

    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }
    void key(std::string_view k);

    void value(std::string_view s);
    void value(const std::string& s) { value(std::string_view(s)); }
    void value(const char* s) { value(std::string_view(s)); }
    void value(double d);  // NaN and infinities become null: JSON has no spelling for them
    void value(std::int64_t i);
    void value(std::uint64_t u);
    void value(int i) { value(static_cast<std::int64_t>(i)); }
    void value(unsigned u) { value(static_cast<std::uint64_t>(u)); }
    void value(bool b);
    // A number with exactly `decimals` decimals ("80.00"): firmware writes float fields that way,
    // and an integral value must stay a float for clients that check types.
    void value_fixed(double d, int decimals);
    void null();
    // Splices already-encoded JSON in as one value.
    void raw(std::string_view json);

    template <typename T>
    void field(std::string_view k, const T& v) {
        key(k);
        value(v);
    }
    // Absent optionals write nothing at all.
    template <typename T>
    void field(std::string_view k, const std::optional<T>& v) {
        if (v) field(k, *v);
    }

  private:
    void open(char c);
    void close(char c);
    void separate();

    std::string& out_;
    // Per open container, bit `depth_ - 1` and below: nothing written in it yet. A fixed word
    // rather than a vector keeps a writer free of allocations; 64 levels is far beyond any
    // document this project writes (open() throws past it).
    std::uint64_t first_ = 0;
    int depth_ = 0;
    bool after_key_ = false;
};

// `v` with exactly `decimals` decimals (0..12), "0.00" rather than "-0.00"; non-finite values
// print as 0.
std::string format_fixed(double v, int decimals);

// Appends `s` as a JSON string literal (quotes included) with the escapes JSON requires.
void append_json_string(std::string& out, std::string_view s);

}  // namespace hashwatt
