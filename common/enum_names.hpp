// A tiny helper for enums with stable string names: one table per enum, looked up both ways.
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace hashwatt::detail {

template <typename E, std::size_t N>
using EnumNames = std::array<std::pair<E, std::string_view>, N>;

template <typename E, std::size_t N>
constexpr std::string_view enum_name(const EnumNames<E, N>& names, E value) noexcept {
    for (const auto& [e, name] : names) {
        if (e == value) return name;
    }
    return "unknown";
}

template <typename E, std::size_t N>
constexpr std::optional<E> enum_parse(const EnumNames<E, N>& names, std::string_view s) noexcept {
    for (const auto& [e, name] : names) {
        if (name == s) return e;
    }
    return std::nullopt;
}

}  // namespace hashwatt::detail
