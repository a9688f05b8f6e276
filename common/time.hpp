// Wall-clock instants as RFC 3339 UTC text ("2026-11-25T09:07:50.123Z"), the wire and log form.
#pragma once

#include "common/miner_sample.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hashwatt {

// Now, truncated to milliseconds.
TimePoint now_ms() noexcept;

// "YYYY-MM-DDTHH:MM:SS.mmmZ", always UTC and always with milliseconds.
std::string format_time(TimePoint t);

// Accepts "YYYY-MM-DDTHH:MM:SS" with optional fraction (any digits; kept to ms) and a zone of
// "Z" or "+HH:MM"/"-HH:MM". Returns nullopt on anything else, including impossible dates.
std::optional<TimePoint> parse_time(std::string_view s) noexcept;

}  // namespace hashwatt
