// The demo's power parts: the embedded ERCOT week is the fixture's HB_WEST rows, its policy is
// valid, and the replay shows ERCOT's clock.
#include "cli/demo_power.hpp"

#include "common/time.hpp"
#include "policies/prices/sources.hpp"
#include "policies/rules.hpp"
#include "tests/support/process.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono;

TEST_CASE("demo: the embedded week is the fixture's HB_WEST rows") {
    policies::prices::ErcotSource hb_west;
    hb_west.settlement_point = "HB_WEST";
    const auto from_fixture = policies::prices::read_ercot_prices(
        HASHWATT_SOURCE_DIR "/tests/fixtures/prices/ercot_rtm_spp_15min_2025-03-01_to_03-07.csv",
        hb_west);
    const auto prices = cli::make_demo_prices(cli::kDemoPriceSpeed, now_ms());
    REQUIRE(prices->series().intervals().size() == 7 * 96);
    CHECK(prices->series().intervals() == from_fixture.intervals());
    // 2025-03-01 00:00 CST is 06:00Z; the first row is hour-ending 1, interval 1: 60.90.
    CHECK(format_time(prices->series().intervals().front().start) == "2025-03-01T06:00:00.000Z");
    CHECK(prices->series().intervals().front().price_per_mwh == doctest::Approx(60.9));
    CHECK(prices->describe() == "replay of ERCOT HB_WEST 2025-03-01..07 x180");
}

TEST_CASE("demo: a 15-minute price every 5 s, shown on ERCOT's clock") {
    const TimePoint start = now_ms();
    const auto prices = cli::make_demo_prices(cli::kDemoPriceSpeed, start);
    CHECK(prices->series_time(start + seconds(5)) - prices->series_time(start) == minutes(15));
    CHECK(cli::central_time_text(prices->series_time(start + seconds(5 * 71))) ==
          "2025-03-01 17:45 CT");
    cli::PriceWatch watch(prices);
    CHECK(watch.price_text(start + seconds(5 * 71)) ==
          "price 248.74 $/MWh (replay 2025-03-01 17:45 CT)");
    // After the spring-forward of 2025-03-09 the zone would be CDT; the week ends before it.
    const auto last = prices->series().intervals().back().start;
    CHECK(cli::central_time_text(last) == "2025-03-07 23:45 CT");
}

TEST_CASE("demo: the watch counts changes in sleeping miners") {
    const TimePoint start = now_ms();
    cli::PriceWatch watch(cli::make_demo_prices(cli::kDemoPriceSpeed, start));
    std::vector<MinerSample> fleet(3);
    for (auto& s : fleet) s.state = MinerState::mining;
    watch.look(start, fleet, "00:00:00");
    CHECK(watch.totals_text() == "most asleep at once 0, 0 changes");
    fleet[0].state = fleet[1].state = MinerState::sleeping;
    watch.look(start, fleet, "00:00:01");
    watch.look(start, fleet, "00:00:02");
    fleet[0].state = MinerState::mining;
    watch.look(start, fleet, "00:00:03");
    CHECK(watch.totals_text() == "most asleep at once 2, 2 changes");
}

TEST_CASE("demo: its policy is a valid policy file") {
    test::TempDir dir;
    const auto path = dir.write("policy.toml", std::string(cli::demo_policy_toml()));
    const auto rules = policies::load_policy_file(path);
    CHECK(rules.interval == seconds(1));
    CHECK(rules.safety.min_on == seconds(5));
    CHECK(rules.safety.min_off == seconds(5));
}
