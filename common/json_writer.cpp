#include "common/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace hashwatt {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the pending run of bytes that need no escape
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                out += "\\u00";
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 0xF]);
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (depth_ > 0) {
        const std::uint64_t top = std::uint64_t{1} << (depth_ - 1);
        if (!(first_ & top)) out_.push_back(',');
        first_ &= ~top;
    }
}

void JsonWriter::open(char c) {
    if (depth_ == kMaxDepth) throw std::length_error("JsonWriter: nesting deeper than 64");
    separate();
    out_.push_back(c);
    first_ |= std::uint64_t{1} << depth_;
    ++depth_;
}

void JsonWriter::close(char c) {
    if (depth_ > 0) --depth_;
    out_.push_back(c);
}

void JsonWriter::key(std::string_view k) {
    separate();
    append_json_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
}

void JsonWriter::value(std::string_view s) {
    separate();
    append_json_string(out_, s);
}

void JsonWriter::value(double d) {
    separate();
    if (!std::isfinite(d)) {
        out_ += "null";
        return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    out_.append(buf, r.ptr);
}

std::string format_fixed(double v, int decimals) {
    decimals = decimals < 0 ? 0 : decimals > 12 ? 12 : decimals;
    if (!std::isfinite(v)) v = 0;
    char buf[352];  // DBL_MAX in fixed notation with 12 decimals fits
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
    std::string out(buf, r.ptr);
    if (out.front() == '-' && out.find_first_not_of("-0.") == std::string::npos) out.erase(0, 1);
    return out;
}

void JsonWriter::value_fixed(double d, int decimals) {
    separate();
    out_ += format_fixed(d, decimals);
}

void JsonWriter::value(std::int64_t i) {
    separate();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, i);
    out_.append(buf, r.ptr);
}

void JsonWriter::value(std::uint64_t u) {
    separate();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, u);
    out_.append(buf, r.ptr);
}

void JsonWriter::value(bool b) {
    separate();
    out_ += b ? "true" : "false";
}

void JsonWriter::null() {
    separate();
    out_ += "null";
}

void JsonWriter::raw(std::string_view json) {
    separate();
    out_ += json;
}

}  // namespace hashwatt
