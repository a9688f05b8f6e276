// ASCII-only text helpers for miner replies. Firmware writes keys, units and messages in ASCII, so
// these skip locale machinery (std::tolower depends on the C locale) and never allocate.
#pragma once

#include <cstddef>
#include <string_view>

namespace hashwatt::agent {

// `s` without ASCII whitespace (space, tab, CR, LF) at either end.
std::string_view trim_ascii(std::string_view s) noexcept;

// `c` in lower case when it is an ASCII capital letter, else `c` unchanged.
char lower_ascii(char c) noexcept;

// Where `lower_needle` (already lower case) starts in `hay`, ignoring the case of `hay`; npos when
// it does not occur.
std::size_t find_ignore_case(std::string_view hay, std::string_view lower_needle) noexcept;

// Whether `lower_needle` (already lower case) occurs in `hay`, ignoring the case of `hay`.
inline bool contains_ignore_case(std::string_view hay, std::string_view lower_needle) noexcept {
    return find_ignore_case(hay, lower_needle) != std::string_view::npos;
}

}  // namespace hashwatt::agent
