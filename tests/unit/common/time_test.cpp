#include "common/time.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono;

TEST_CASE("times format as UTC with milliseconds and parse back") {
    const TimePoint t{milliseconds{1764061670123}};  // 2025-11-25T09:07:50.123Z
    CHECK(format_time(t) == "2025-11-25T09:07:50.123Z");
    CHECK(parse_time("2025-11-25T09:07:50.123Z") == t);
    CHECK(format_time(TimePoint{}) == "1970-01-01T00:00:00.000Z");
    // Before the epoch the floor keeps the fields in range.
    CHECK(format_time(TimePoint{milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("offsets, fractions and bad input") {
    CHECK(parse_time("2025-11-25T10:07:50+01:00") == parse_time("2025-11-25T09:07:50Z"));
    CHECK(parse_time("2025-11-25T09:07:50.1Z") == parse_time("2025-11-25T09:07:50.100Z"));
    CHECK(parse_time("2025-11-25T09:07:50.123456Z") == parse_time("2025-11-25T09:07:50.123Z"));
    CHECK_FALSE(parse_time("2025-11-25T09:07:50"));   // no zone: ambiguous
    CHECK_FALSE(parse_time("2025-02-30T00:00:00Z"));  // no such day
    CHECK_FALSE(parse_time("2025-11-25T24:00:00Z"));
    CHECK_FALSE(parse_time("2025-11-25T09:07:50.Z"));
    CHECK_FALSE(parse_time("2025-11-25T09:07:50Zjunk"));
    CHECK_FALSE(parse_time(""));
}
