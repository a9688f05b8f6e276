// Human-written quantities in configs and flags: durations ("30s", "1h30m") and sizes ("64MiB").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt {

using Duration = std::chrono::milliseconds;

// Parses a sequence of <integer or decimal><unit> with units ms, s, m, h, d, e.g. "250ms",
// "30s", "1.5h", "1h30m". "0" alone is zero. Rejects an empty string, a missing unit, negative
// values, repeated or out-of-order units, sub-millisecond results that are not zero, and overflow.
// On failure returns nullopt and, if `error` is given, a one-line reason.
std::optional<Duration> parse_duration(std::string_view text, std::string* error = nullptr);

// The shortest exact form of a duration in those units ("1h30m", "250ms", "0s").
std::string format_duration(Duration d);

// Parses "<integer><unit>" with units B, KB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB
// (powers of 1024); units are case-sensitive as written here. "0" alone is zero.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error = nullptr);

}  // namespace hashwatt
