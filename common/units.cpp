#include "common/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

namespace hashwatt {
namespace {

bool fail(std::string* error, std::string message) {
    if (error) *error = std::move(message);
    return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Duration units, largest first (the order they must appear in), with their length in ms.
constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> kDurationUnits{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
    if (text.empty()) {
        fail(error, "empty duration (write e.g. \"30s\", \"5m\", \"1h\")");
        return std::nullopt;
    }
    if (text == "0") return Duration::zero();

    long double total_ms = 0;
    std::size_t pos = 0;
    std::size_t next_unit = 0;  // units must strictly descend: "1h30m", not "30m1h"
    while (pos < text.size()) {
        const std::size_t start = pos;
        while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.')) ++pos;
        if (pos == start) {
            if (text[pos] == '-') {
                fail(error, "negative duration '" + std::string(text) + "'");
            } else {
                fail(error, "expected a number at '" + std::string(text.substr(pos)) + "' in '" +
                                std::string(text) + "'");
            }
            return std::nullopt;
        }
        const std::string_view number = text.substr(start, pos - start);
        double value = 0;
        const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (ec != std::errc() || ptr != number.data() + number.size()) {
            fail(error, "bad number '" + std::string(number) + "' in '" + std::string(text) + "'");
            return std::nullopt;
        }
        const std::size_t unit_start = pos;
        while (pos < text.size() && !is_digit(text[pos]) && text[pos] != '.') ++pos;
        const std::string_view unit = text.substr(unit_start, pos - unit_start);
        if (unit.empty()) {
            fail(error, "missing unit after '" + std::string(number) + "' in '" +
                            std::string(text) + "' (use ms, s, m, h or d)");
            return std::nullopt;
        }
        std::size_t u = 0;
        while (u < kDurationUnits.size() && kDurationUnits[u].first != unit) ++u;
        if (u == kDurationUnits.size()) {
            fail(error, "unknown unit '" + std::string(unit) + "' in '" + std::string(text) +
                            "' (use ms, s, m, h or d)");
            return std::nullopt;
        }
        if (u < next_unit) {
            fail(error, "units out of order or repeated in '" + std::string(text) +
                            "' (write the largest first, e.g. 1h30m)");
            return std::nullopt;
        }
        next_unit = u + 1;
        total_ms +=
            static_cast<long double>(value) * static_cast<long double>(kDurationUnits[u].second);
    }
    if (total_ms > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 2)) {
        fail(error, "duration '" + std::string(text) + "' is too long");
        return std::nullopt;
    }
    const auto ms = static_cast<std::int64_t>(total_ms + 0.5L);
    if (ms == 0 && total_ms > 0) {
        fail(error, "duration '" + std::string(text) + "' is shorter than one millisecond");
        return std::nullopt;
    }
    return Duration{ms};
}

std::string format_duration(Duration d) {
    std::int64_t ms = d.count();
    if (ms == 0) return "0s";
    std::string out;
    if (ms < 0) {
        out.push_back('-');
        ms = -ms;
    }
    for (const auto& [name, len] : kDurationUnits) {
        if (ms >= len) {
            out += std::to_string(ms / len);
            out += name;
            ms %= len;
        }
    }
    return out;
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
    if (text == "0") return 0;
    std::size_t pos = 0;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == 0) {
        fail(error, "expected a size like \"64MiB\", got '" + std::string(text) + "'");
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + pos, value);
    if (ec != std::errc() || ptr != text.data() + pos) {
        fail(error, "size '" + std::string(text) + "' is too large");
        return std::nullopt;
    }
    const std::string_view unit = text.substr(pos);
    static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 9> kUnits{{
        {"B", 1},
        {"KB", 1000ULL},
        {"MB", 1000ULL * 1000},
        {"GB", 1000ULL * 1000 * 1000},
        {"TB", 1000ULL * 1000 * 1000 * 1000},
        {"KiB", 1ULL << 10},
        {"MiB", 1ULL << 20},
        {"GiB", 1ULL << 30},
        {"TiB", 1ULL << 40},
    }};
    for (const auto& [name, mult] : kUnits) {
        if (name == unit) {
            if (value > std::numeric_limits<std::uint64_t>::max() / mult) {
                fail(error, "size '" + std::string(text) + "' is too large");
                return std::nullopt;
            }
            return value * mult;
        }
    }
    fail(error, unit.empty() ? "missing unit in '" + std::string(text) +
                                   "' (use B, KB, MB, GB, KiB, MiB, GiB, ...)"
                             : "unknown size unit '" + std::string(unit) + "' in '" +
                                   std::string(text) + "' (use B, KB, MB, GB, KiB, MiB, GiB, ...)");
    return std::nullopt;
}

}  // namespace hashwatt
