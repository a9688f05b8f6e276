// IANA time zones read from the system's tz database (Debian's tzdata, /usr/share/zoneinfo):
// the TZif transition table for the past and its POSIX TZ footer rule for later years. No
// daylight-saving rules are written down here; they all come from the database.
#pragma once

#include "common/miner_sample.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::policies::prices {

// A wall-clock reading in some zone, not an instant ("2025-03-09 02:30" in Chicago).
using LocalTime = std::chrono::local_time<std::chrono::milliseconds>;

struct ZoneData;  // parsed TZif contents, shared between copies

class TimeZone {
  public:
    // Loads <dir>/<name> with dir = $TZDIR or /usr/share/zoneinfo. Throws std::invalid_argument
    // "unknown time zone 'Mars/Base' (no such file in /usr/share/zoneinfo; is tzdata installed?)"
    // or naming what is wrong with the file.
    static TimeZone load(std::string_view name);
    // Parses TZif bytes (RFC 8536, version 1 to 4); `name` is for messages. Throws
    // std::invalid_argument on malformed data.
    static TimeZone from_tzif(std::string_view bytes, std::string name);
    // A zone given only by a POSIX TZ rule ("CST6CDT,M3.2.0,M11.1.0"), for tests and for
    // zones without a file. Throws std::invalid_argument on a malformed rule.
    static TimeZone from_posix_rule(std::string_view rule, std::string name);
    static TimeZone utc();

    const std::string& name() const noexcept;

    // local = utc + offset, in force at `t`.
    std::chrono::seconds utc_offset(TimePoint t) const;
    LocalTime to_local(TimePoint t) const;
    // The instants that read `l` on this zone's clocks, earliest first: one normally, two in
    // a repeated (fall-back) hour, none in a skipped (spring-forward) hour.
    std::vector<TimePoint> from_local(LocalTime l) const;

  private:
    explicit TimeZone(std::shared_ptr<const ZoneData> d) : d_(std::move(d)) {}
    std::shared_ptr<const ZoneData> d_;
};

}  // namespace hashwatt::policies::prices
