// The demo's power parts: the embedded ERCOT week is the fixture's HB_WEST rows, its policy is
// valid, and the replay shows ERCOT's clock.
#include "cli/demo_power.hpp"

#include "collector/control/decision_store.hpp"
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
    cli::PriceWatch watch(prices, start);
    CHECK(watch.price_text(start + seconds(5 * 71)) ==
          "price 248.74 $/MWh (replay 2025-03-01 17:45 CT)");
    // After the spring-forward of 2025-03-09 the zone would be CDT; the week ends before it.
    const auto last = prices->series().intervals().back().start;
    CHECK(cli::central_time_text(last) == "2025-03-07 23:45 CT");
}

TEST_CASE("demo: the watch follows the policy's commanded decisions, a line per round") {
    test::TempDir dir;
    collector::Store store(dir.path() + "/c.db");
    const TimePoint start = now_ms();
    const auto prices = cli::make_demo_prices(cli::kDemoPriceSpeed, start);
    cli::PriceWatch watch(prices, start);
    auto decision = [&](TimePoint at, const std::string& miner, const std::string& target,
                        collector::control::DecisionOutcome outcome, double price) {
        collector::control::DecisionRecord r;
        r.at = at;
        r.miner_id = miner;
        r.target = target;
        r.outcome = outcome;
        r.rule = "break_even";
        r.reason = "test";
        r.price_per_mwh = price;
        return r;
    };
    using collector::control::DecisionOutcome;
    // An earlier run's decision is ignored.
    collector::control::record_decisions(
        store, {decision(start - seconds(60), "m0", "sleep", DecisionOutcome::commanded, 99)});
    watch.look(store, "00:00:00");
    CHECK(watch.totals_text() == "most asleep at once 0, 0 changes");
    // Round 1 (replay 17:45 CT): two sleep, one reduced; a held one does not count.
    const TimePoint r1 = start + seconds(5 * 71);
    collector::control::record_decisions(
        store, {decision(r1, "m1", "sleep", DecisionOutcome::commanded, 248.74),
                decision(r1, "m2", "sleep", DecisionOutcome::commanded, 248.74),
                decision(r1, "m3", "reduced", DecisionOutcome::commanded, 248.74),
                decision(r1, "m4", "sleep", DecisionOutcome::held, 248.74)});
    watch.look(store, "00:00:01");
    watch.look(store, "00:00:02");  // nothing new: no line, no change
    CHECK(watch.totals_text() == "most asleep at once 2, 1 changes");
    // Rounds 2 and 3 read in one look: m1 wakes, then m3 goes to sleep.
    collector::control::record_decisions(
        store, {decision(r1 + seconds(5), "m1", "full", DecisionOutcome::commanded, 214.93)});
    collector::control::record_decisions(
        store, {decision(r1 + seconds(10), "m3", "sleep", DecisionOutcome::commanded, 167.82)});
    watch.look(store, "00:00:03");
    CHECK(watch.totals_text() == "most asleep at once 2, 3 changes");
    CHECK(watch.price_text(r1) == "price 248.74 $/MWh (replay 2025-03-01 17:45 CT)");
}

TEST_CASE("demo: its policy is a valid policy file") {
    test::TempDir dir;
    const auto path = dir.write("policy.toml", std::string(cli::demo_policy_toml()));
    const auto rules = policies::load_policy_file(path);
    CHECK(rules.interval == seconds(1));
    CHECK(rules.safety.min_on == seconds(15));
    CHECK(rules.safety.min_off == seconds(15));
}
