// The decisions table (collector/control/decision_store.hpp) on a real Store file: records in
// one transaction, filters, each miner's newest, refusal of incomplete records, and retention
// that keeps each miner's newest decision.
#include "collector/control/decision_store.hpp"

#include "collector/storage/store.hpp"
#include "tests/support/process.hpp"

#include <stdexcept>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::control;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

DecisionRecord decision(const std::string& miner, TimePoint at, const std::string& target,
                        DecisionOutcome outcome = DecisionOutcome::commanded) {
    DecisionRecord d;
    d.at = at;
    d.miner_id = miner;
    d.site = "west";
    d.target = target;
    d.outcome = outcome;
    d.rule = "break_even";
    d.reason = target == "sleep" ? "price 212.00 > break-even 71.00 + 5%"
                                 : "price 40.00 < break-even 71.00 - 5%";
    d.price_per_mwh = target == "sleep" ? 212.0 : 40.0;
    d.break_even_per_mwh = 71.0;
    if (outcome == DecisionOutcome::commanded) d.command_id = "c-" + miner + "-" + target;
    return d;
}

}  // namespace

TEST_CASE("decisions: recorded, listed newest first with filters, newest per miner") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    const auto saved =
        record_decisions(store, {decision("m1", kT0, "sleep"), decision("m2", kT0, "sleep"),
                                 decision("m1", kT0 + 30min, "full"),
                                 decision("m2", kT0 + 30min, "full", DecisionOutcome::held)});
    REQUIRE(saved.size() == 4);
    CHECK(saved[0].decision_id > 0);
    CHECK(saved[3].decision_id > saved[0].decision_id);

    auto all = list_decisions(store, {});
    REQUIRE(all.size() == 4);
    CHECK(all[0] == saved[3]);  // newest first; every field round-trips
    CHECK(all[3] == saved[0]);

    DecisionFilter f;
    f.miner_id = "m1";
    const auto m1 = list_decisions(store, f);
    REQUIRE(m1.size() == 2);
    CHECK(m1[0].target == "full");
    f = {};
    f.outcome = DecisionOutcome::held;
    REQUIRE(list_decisions(store, f).size() == 1);
    CHECK(list_decisions(store, f)[0].miner_id == "m2");
    CHECK_FALSE(list_decisions(store, f)[0].command_id);
    f = {};
    f.from = kT0 + 1min;
    CHECK(list_decisions(store, f).size() == 2);
    f.from.reset();
    f.to = kT0 + 1min;
    CHECK(list_decisions(store, f).size() == 2);
    f = {};
    f.site = "east";
    CHECK(list_decisions(store, f).empty());
    f = {};
    f.limit = 1;
    CHECK(list_decisions(store, f).size() == 1);

    const auto latest = latest_decisions(store);
    REQUIRE(latest.size() == 2);
    CHECK(latest[0] == saved[2]);
    CHECK(latest[1] == saved[3]);
}

TEST_CASE("decisions: an incomplete record is refused, naming it, and nothing is written") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    auto bad = decision("m2", kT0, "sleep");
    bad.reason.clear();
    CHECK_THROWS_WITH_AS(record_decisions(store, {decision("m1", kT0, "sleep"), bad}),
                         "records[1].reason: empty", std::invalid_argument);
    bad = decision("", kT0, "sleep");
    CHECK_THROWS_WITH_AS(record_decisions(store, {bad}), "records[0].miner_id: empty",
                         std::invalid_argument);
    CHECK(list_decisions(store, {}).empty());
    CHECK(record_decisions(store, {}).empty());
}

TEST_CASE("decisions: retention keeps each miner's newest, whatever its age") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    record_decisions(store, {decision("m1", kT0, "sleep"), decision("m1", kT0 + 1h, "full"),
                             decision("m2", kT0, "sleep")});
    RetentionHorizons h;
    h.raw = std::chrono::days{1};
    CHECK(store.apply_retention(kT0 + 23h, h).decisions_deleted == 0);
    const auto r = store.apply_retention(kT0 + 30 * 24h, h);
    CHECK(r.decisions_deleted == 1);  // m1's first; m1's newest and m2's only one stay
    const auto left = list_decisions(store, {});
    REQUIRE(left.size() == 2);
    CHECK(left[0].miner_id == "m1");
    CHECK(left[0].target == "full");
    CHECK(left[1].miner_id == "m2");
}
