// Line and field splitting shared by the CSV price readers. Internal to policies/prices.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::policies::prices::detail {

// Yields the non-blank lines of `text` with their 1-based numbers; strips a UTF-8 BOM and CRs.
class Lines {
  public:
    explicit Lines(std::string_view text);
    // False at the end of the text.
    bool next(std::string_view& line, std::size_t& number);

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t number_ = 0;
};

// Splits one CSV record: commas, fields optionally in double quotes ("" for a quote inside),
// surrounding spaces trimmed. Returns nullopt for an unterminated quote.
std::optional<std::vector<std::string>> split_fields(std::string_view line);

// A finite decimal number, the whole field; nullopt otherwise.
std::optional<double> parse_number(std::string_view s) noexcept;

}  // namespace hashwatt::policies::prices::detail
