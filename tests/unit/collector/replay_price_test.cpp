// ReplayPriceProvider: a price series played at `speed` from an injected start, looping at
// the end, with gaps reported as no price.
#include "collector/control/replay_price.hpp"

#include "common/time.hpp"

#include <cmath>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector::control;
using namespace std::chrono;

namespace {

const TimePoint kSeriesStart = TimePoint(Duration(1'740'808'800'000));  // 2025-03-01T06:00Z
const TimePoint kStarted = TimePoint(Duration(1'764'633'600'000));      // the replay's start

// Four 15-minute intervals priced 10, 20, 30, 40.
policies::PriceSeries four(bool with_gap = false) {
    std::vector<policies::PriceInterval> v;
    for (int i = 0; i < 4; ++i) {
        if (with_gap && i == 2) continue;
        v.push_back({kSeriesStart + minutes(15) * i, minutes(15), 10.0 * (i + 1)});
    }
    return policies::PriceSeries(std::move(v));
}

}  // namespace

TEST_CASE("replay: series time moves at speed from the injected start") {
    ReplayPriceProvider r(four(), "test week", 300, kStarted);
    CHECK(r.describe() == "replay of test week x300");
    CHECK(r.series_time(kStarted) == kSeriesStart);
    CHECK(r.series_time(kStarted - seconds(5)) == kSeriesStart);
    // 3 s at x300 = 15 min: the second interval.
    CHECK(r.series_time(kStarted + seconds(3)) == kSeriesStart + minutes(15));
    auto p = r.current(kStarted + milliseconds(2999));
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 10);
    p = r.current(kStarted + seconds(3));
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 20);
    CHECK_FALSE(p.stale);
    p = r.current(kStarted + seconds(11));
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 40);
}

TEST_CASE("replay: loops back to the start after the last interval") {
    ReplayPriceProvider r(four(), "w", 300, kStarted);
    // The series spans 1 h = 12 s at x300.
    CHECK(r.series_time(kStarted + seconds(12)) == kSeriesStart);
    CHECK(r.series_time(kStarted + seconds(15)) == kSeriesStart + minutes(15));
    CHECK(*r.current(kStarted + seconds(12 * 100 + 10)).price_per_mwh == 40);
    REQUIRE(r.interval_at(kStarted + seconds(12 * 7 + 6)) != nullptr);
    CHECK(r.interval_at(kStarted + seconds(12 * 7 + 6))->price_per_mwh == 30);
}

TEST_CASE("replay: a chosen series start, fractional speeds, and gaps") {
    ReplayPriceProvider r(four(true), "gappy", 2.5, kStarted, kSeriesStart + minutes(20));
    CHECK(r.describe() == "replay of gappy x2.5");
    CHECK(*r.current(kStarted).price_per_mwh == 20);
    // 4 min at x2.5 = 10 min: 20 + 10 = 30 min into the series, the missing interval.
    const auto gap = r.current(kStarted + minutes(4));
    CHECK_FALSE(gap.price_per_mwh);
    CHECK(gap.stale);
    CHECK(gap.why == "replay of gappy: no price at 2025-03-01T06:30:00.000Z");
    CHECK(r.interval_at(kStarted + minutes(4)) == nullptr);
    // Wrapping from a start in the middle: 40 min of series left, then the first interval.
    CHECK(r.series_time(kStarted + minutes(16)) == kSeriesStart);
}

TEST_CASE("replay: an empty series, a bad speed or a start outside the series are refused") {
    CHECK_THROWS_WITH_AS(ReplayPriceProvider(policies::PriceSeries(), "none", 1, kStarted),
                         "price replay of none: no prices", std::invalid_argument);
    CHECK_THROWS_AS(ReplayPriceProvider(four(), "w", 0, kStarted), std::invalid_argument);
    CHECK_THROWS_AS(ReplayPriceProvider(four(), "w", -3, kStarted), std::invalid_argument);
    CHECK_THROWS_AS(ReplayPriceProvider(four(), "w", std::nan(""), kStarted),
                    std::invalid_argument);
    CHECK_THROWS_WITH_AS(ReplayPriceProvider(four(), "w", 1, kStarted, kSeriesStart + hours(1)),
                         doctest::Contains("is outside the series"), std::invalid_argument);
}
