#include "common/units.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;

TEST_CASE("durations: the forms operators write") {
    CHECK(parse_duration("30s") == Duration{30s});
    CHECK(parse_duration("5m") == Duration{5min});
    CHECK(parse_duration("1h") == Duration{1h});
    CHECK(parse_duration("250ms") == Duration{250ms});
    CHECK(parse_duration("1h30m") == Duration{90min});
    CHECK(parse_duration("2d") == Duration{48h});
    CHECK(parse_duration("1.5h") == Duration{90min});
    CHECK(parse_duration("0.5s") == Duration{500ms});
    CHECK(parse_duration("0") == Duration::zero());
    CHECK(parse_duration("0s") == Duration::zero());
}

TEST_CASE("durations: edge cases are rejected with a reason") {
    std::string err;
    CHECK_FALSE(parse_duration("", &err));
    CHECK(err.find("empty") != std::string::npos);
    CHECK_FALSE(parse_duration("30", &err));
    CHECK(err.find("missing unit") != std::string::npos);
    CHECK_FALSE(parse_duration("-5s", &err));
    CHECK(err.find("negative") != std::string::npos);
    CHECK_FALSE(parse_duration("5x", &err));
    CHECK(err.find("unknown unit 'x'") != std::string::npos);
    CHECK_FALSE(parse_duration("30m1h", &err));
    CHECK(err.find("out of order") != std::string::npos);
    CHECK_FALSE(parse_duration("1s1s", &err));
    CHECK_FALSE(parse_duration("0.1ms", &err));
    CHECK(err.find("shorter than one millisecond") != std::string::npos);
    CHECK_FALSE(parse_duration("1..5s", &err));
    CHECK_FALSE(parse_duration("99999999999999999999d", &err));
    CHECK(err.find("too long") != std::string::npos);
    CHECK_FALSE(parse_duration(" 5s"));
    CHECK_FALSE(parse_duration("5 s"));
    CHECK_FALSE(parse_duration("5S"));
}

TEST_CASE("durations format to their shortest exact form") {
    CHECK(format_duration(90min) == "1h30m");
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(Duration::zero()) == "0s");
    CHECK(format_duration(Duration{86'400'000 + 1}) == "1d1ms");
    for (const char* s : {"1h30m", "250ms", "2d", "1m1s"}) {
        CHECK(format_duration(*parse_duration(s)) == s);
    }
}

TEST_CASE("sizes") {
    CHECK(parse_size("64MiB") == 64ULL << 20);
    CHECK(parse_size("1KiB") == 1024U);
    CHECK(parse_size("10MB") == 10'000'000U);
    CHECK(parse_size("512B") == 512U);
    CHECK(parse_size("0") == 0U);
    std::string err;
    CHECK_FALSE(parse_size("64", &err));
    CHECK(err.find("missing unit") != std::string::npos);
    CHECK_FALSE(parse_size("64mib", &err));
    CHECK(err.find("unknown size unit 'mib'") != std::string::npos);
    CHECK_FALSE(parse_size("-1MiB", &err));
    CHECK_FALSE(parse_size("99999999999TiB", &err));
    CHECK(err.find("too large") != std::string::npos);
    CHECK_FALSE(parse_size("1.5GiB", &err));
}
