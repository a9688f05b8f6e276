// The shared policy vocabulary: a price series' lookup and refusal of overlaps, and the
// break-even and profit formulas of DESIGN.md ("Power policy") on hand-computed figures.
#include "policies/types.hpp"

#include "common/time.hpp"

#include <cmath>
#include <stdexcept>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace std::chrono_literals;

namespace {

TimePoint at(const char* rfc3339) { return *parse_time(rfc3339); }

}  // namespace

TEST_CASE("price series: the interval holding a time, gaps and overlaps") {
    const PriceSeries s({{at("2025-03-01T06:15:00Z"), 15min, 40.5},
                         {at("2025-03-01T06:00:00Z"), 15min, 30.0},
                         {at("2025-03-01T07:00:00Z"), 15min, -2.0}});
    REQUIRE(s.intervals().size() == 3);
    CHECK(s.intervals()[0].price_per_mwh == 30.0);  // sorted by start
    CHECK(s.at(at("2025-03-01T05:59:59Z")) == nullptr);
    CHECK(s.at(at("2025-03-01T06:00:00Z"))->price_per_mwh == 30.0);
    CHECK(s.at(at("2025-03-01T06:14:59.999Z"))->price_per_mwh == 30.0);
    CHECK(s.at(at("2025-03-01T06:15:00Z"))->price_per_mwh == 40.5);
    CHECK(s.at(at("2025-03-01T06:30:00Z")) == nullptr);  // a gap is no price
    CHECK(s.at(at("2025-03-01T07:10:00Z"))->price_per_mwh == -2.0);
    CHECK(s.at(at("2025-03-01T07:15:00Z")) == nullptr);

    CHECK_THROWS_WITH_AS(PriceSeries({{at("2025-03-01T06:00:00Z"), 15min, 1},
                                      {at("2025-03-01T06:00:00Z"), 15min, 2}}),
                         "2025-03-01T06:00:00.000Z twice", std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        PriceSeries({{at("2025-03-01T06:00:00Z"), 1h, 1}, {at("2025-03-01T06:15:00Z"), 15min, 2}}),
        "2025-03-01T06:15:00.000Z overlaps the interval from "
        "2025-03-01T06:00:00.000Z",
        std::invalid_argument);
    CHECK_THROWS_AS(PriceSeries({{at("2025-03-01T06:00:00Z"), 0min, 1}}), std::invalid_argument);
}

TEST_CASE("economics: break-even and profit of an operating point") {
    // An S19 Pro at stock: 110 TH/s for 3250 W; hashprice 0.05 per TH/day (50 per PH/day,
    // late-2025 levels), 2 % pool fee.
    Economics e{0.05, 0.02, 1.0};
    const OperatingPoint full{PointKind::full, 3250, 110};
    // 0.05 * 110 * 0.98 = 5.39 a day for 3.25 kW * 24 h = 0.078 MWh: 69.10 per MWh.
    CHECK(break_even_per_mwh(e, full) == doctest::Approx(5.39 / 0.078));
    e.pue = 1.1;  // cooling adds 10 % to every kWh
    CHECK(break_even_per_mwh(e, full) == doctest::Approx(5.39 / (0.078 * 1.1)));
    CHECK(break_even_per_mwh(e, {PointKind::sleep, 15, 0}) == 0);

    // One hour at 100 per MWh: 5.39 / 24 revenue, 3.25 kWh * 1.1 = 0.003575 MWh cost.
    CHECK(profit(e, full, 100, 1h) == doctest::Approx(5.39 / 24 - 0.003575 * 100));
    // Asleep at a negative price earns the standby draw's (small) payment.
    CHECK(profit(e, {PointKind::sleep, 15, 0}, -50, 1h) == doctest::Approx(0.000015 * 1.1 * 50));
    // At the break-even price, running earns nothing.
    CHECK(std::abs(profit(e, full, break_even_per_mwh(e, full), 15min)) < 1e-9);
}
