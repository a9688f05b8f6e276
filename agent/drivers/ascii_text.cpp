#include "agent/drivers/ascii_text.hpp"

namespace hashwatt::agent {

namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::string_view trim_ascii(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

char lower_ascii(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::size_t find_ignore_case(std::string_view hay, std::string_view lower_needle) noexcept {
    if (lower_needle.size() > hay.size()) return std::string_view::npos;
    for (std::size_t i = 0; i + lower_needle.size() <= hay.size(); ++i) {
        std::size_t j = 0;
        while (j < lower_needle.size() && lower_ascii(hay[i + j]) == lower_needle[j]) ++j;
        if (j == lower_needle.size()) return i;
    }
    return std::string_view::npos;
}

}  // namespace hashwatt::agent
