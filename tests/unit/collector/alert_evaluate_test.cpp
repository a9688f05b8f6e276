#include "collector/alerts/evaluate.hpp"
#include "tests/support/command_samples.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;

namespace {

const TimePoint kNow{std::chrono::milliseconds(1'800'000'000'000)};

AlertRule default_of(RuleKind k) {
    for (auto& r : default_rules()) {
        if (r.kind == k) return r;
    }
    FAIL("no default rule");
    return {};
}

// An S19 Pro-like miner, healthy and mining: three boards, four fans, pools with 0.2 % rejects.
MinerSample healthy() {
    auto s = test::state_sample("m1", kNow - 10s, MinerState::mining, 3250);
    s.hashrate_ths = 110;
    s.expected_hashrate_ths = 110;
    s.power_limit_w = 3250;
    for (int i = 0; i < 3; ++i) {
        BoardSample b;
        b.index = i;
        b.hashrate_ths = 36.6;
        b.expected_hashrate_ths = 36.6;
        b.chip_temp_max_c = 72;
        b.board_temp_max_c = 62;
        b.chips = 114;
        b.expected_chips = 114;
        b.ok = true;
        s.boards.push_back(b);
    }
    s.fans_rpm = {5400, 5460, 5520, 5380};
    PoolSample p;
    p.url = "stratum+tcp://pool:3333";
    p.accepted = 9980;
    p.rejected = 20;
    s.pools.push_back(p);
    return s;
}

MinerRecord record(const MinerSample& s) {
    MinerRecord m;
    m.miner_id = s.miner_id;
    m.site = s.site;
    m.host = s.host;
    m.first_seen = kNow - 24h;
    m.last_seen = s.observed_at;
    if (s.up) m.last_up = s.observed_at;
    m.agent_id = "agent-1";
    return m;
}

Evaluation eval(RuleKind k, const MinerSample& s) {
    return evaluate(default_of(k), record(s), &s, kNow);
}

constexpr RuleKind kAll[] = {RuleKind::offline,          RuleKind::hashrate_low,
                             RuleKind::chip_temp_high,   RuleKind::board_temp_high,
                             RuleKind::fan_failure,      RuleKind::board_dead,
                             RuleKind::reject_rate_high, RuleKind::power_over_limit};

}  // namespace

TEST_CASE("evaluate: a healthy mining miner trips no rule") {
    const auto s = healthy();
    for (const auto k : kAll) CHECK_MESSAGE(!eval(k, s).holds, to_string(k));
    const auto e = eval(RuleKind::chip_temp_high, s);
    CHECK(e.values.at("miner") == "m1");
    CHECK(e.values.at("site") == "north");
    CHECK(e.values.at("agent_id") == "agent-1");
    CHECK(e.values.at("value") == "72.0");
}

TEST_CASE("evaluate: a sleeping miner is healthy for every rule but offline") {
    // Asleep: no hash rate, fans stopped, boards idle, yet it answers its polls.
    auto s = test::state_sample("m1", kNow - 10s, MinerState::sleeping, 30);
    s.expected_hashrate_ths = 110;
    s.fans_rpm = {0, 0, 1200, 0};
    BoardSample b;
    b.hashrate_ths = 0;
    b.chips = 0;
    b.expected_chips = 114;
    b.chip_temp_max_c = 99;  // even a stale reading would not count
    s.boards = {b};
    for (const auto k : kAll) CHECK_MESSAGE(!eval(k, s).holds, to_string(k));
    // But a sleeping miner that stops answering is offline.
    auto rec = record(s);
    rec.last_up = kNow - 10min;
    const auto e = evaluate(default_of(RuleKind::offline), rec, &s, kNow);
    CHECK(e.holds);
    CHECK(e.since == kNow - 10min);
}

TEST_CASE("evaluate: offline from the last successful poll") {
    auto s = healthy();
    const auto rule = default_of(RuleKind::offline);  // down after 90 s without a good poll
    auto rec = record(s);
    rec.last_up = kNow - 60s;
    CHECK_FALSE(evaluate(rule, rec, &s, kNow).holds);
    rec.last_up = kNow - 91s;  // the agent stopped sending: the last sample was fine
    auto e = evaluate(rule, rec, &s, kNow);
    CHECK(e.holds);
    CHECK(e.since == kNow - 91s);
    CHECK(e.values.at("down_for") == "1m31s");
    // A failed poll counts at once, timed from the last good one.
    s.up = false;
    s.state = MinerState::offline;
    s.error = PollError::refused;
    rec.last_up = kNow - 20s;
    e = evaluate(rule, rec, &s, kNow);
    CHECK(e.holds);
    CHECK(e.since == kNow - 20s);
    CHECK(e.values.at("error") == "refused");
    // Never up at all: from when it was first seen.
    rec.last_up.reset();
    CHECK(evaluate(rule, rec, &s, kNow).since == rec.first_seen);
    // The other rules say nothing about a miner that does not answer.
    for (const auto k : kAll) {
        if (k != RuleKind::offline) CHECK_MESSAGE(!eval(k, s).holds, to_string(k));
    }
}

TEST_CASE("evaluate: each fault trips its rule with the values for the annotations") {
    SUBCASE("hash rate below 80 % of expected") {
        auto s = healthy();
        s.hashrate_ths = 80;
        const auto e = eval(RuleKind::hashrate_low, s);
        CHECK(e.holds);
        CHECK(e.values.at("ratio_pct") == "73");
        CHECK(e.values.at("expected_ths") == "110.00");
        s.hashrate_ths = 95;
        CHECK_FALSE(eval(RuleKind::hashrate_low, s).holds);
        s.hashrate_ths = 10;
        s.state = MinerState::booting;  // ramping up after a boot is not low hash rate
        CHECK_FALSE(eval(RuleKind::hashrate_low, s).holds);
    }
    SUBCASE("a miner at a lower power target is judged against the model at that target") {
        auto s = healthy();
        s.model = "Antminer S19 Pro";  // nominal 3250 W
        s.power_limit_w = 0.7 * 3250;  // the policy's 70 % point: 0.7^0.75 = 76.5 % of nominal
        s.hashrate_ths = 110 * 0.765;  // what the throttled miner hashes, below 80 % of 110
        auto e = eval(RuleKind::hashrate_low, s);
        CHECK_FALSE(e.holds);
        CHECK(e.values.at("expected_ths") == "84.18");  // 110 x 0.7^0.75
        CHECK(e.values.at("power_limit_w") == "2275");
        s.hashrate_ths = 60;  // a real shortfall on top of the throttle still counts
        CHECK(eval(RuleKind::hashrate_low, s).holds);
        s.model.reset();  // without a known model the stock rate is all there is
        s.hashrate_ths = 110 * 0.765;
        CHECK(eval(RuleKind::hashrate_low, s).holds);
    }
    SUBCASE("expected hash rate from the boards when the miner gives no total") {
        auto s = healthy();
        s.expected_hashrate_ths.reset();
        s.hashrate_ths = 50;
        CHECK(eval(RuleKind::hashrate_low, s).values.at("expected_ths") == "109.80");
        CHECK(eval(RuleKind::hashrate_low, s).holds);
    }
    SUBCASE("chip and board temperature") {
        auto s = healthy();
        s.boards[2].chip_temp_max_c = 96.4;
        const auto e = eval(RuleKind::chip_temp_high, s);
        CHECK(e.holds);
        CHECK(e.values.at("value") == "96.4");
        CHECK(e.values.at("board") == "2");
        CHECK_FALSE(eval(RuleKind::board_temp_high, s).holds);
        s.boards[1].board_temp_max_c = 84;
        CHECK(eval(RuleKind::board_temp_high, s).holds);
        CHECK(eval(RuleKind::board_temp_high, s).values.at("board") == "1");
        // Whatsminer sensors read hotter when healthy: their make has its own thresholds.
        s.make = "MicroBT";
        CHECK_FALSE(eval(RuleKind::board_temp_high, s).holds);
        CHECK_FALSE(eval(RuleKind::chip_temp_high, s).holds);
        CHECK(eval(RuleKind::chip_temp_high, s).values.at("threshold") == "115");
        s.boards[2].chip_temp_max_c = 118;
        CHECK(eval(RuleKind::chip_temp_high, s).holds);
    }
    SUBCASE("a fan stopped, or far below its peers") {
        auto s = healthy();
        s.fans_rpm[1] = 0;
        auto e = eval(RuleKind::fan_failure, s);
        CHECK(e.holds);
        CHECK(e.values.at("fan") == "1");
        CHECK(e.values.at("value") == "0");
        s.fans_rpm[1] = 2000;  // under half of ~5400
        CHECK(eval(RuleKind::fan_failure, s).holds);
        s.fans_rpm[1] = 4000;
        CHECK_FALSE(eval(RuleKind::fan_failure, s).holds);
        s.fans_rpm = {0, 0, 0, 0};  // immersion: no fans turn at all, by design
        CHECK_FALSE(eval(RuleKind::fan_failure, s).holds);
    }
    SUBCASE("a dead board, missing chips, a missing board") {
        auto s = healthy();
        s.boards[1].hashrate_ths = 0;
        auto e = eval(RuleKind::board_dead, s);
        CHECK(e.holds);
        CHECK(e.values.at("problem") == "board 1 hashes nothing while the others hash");
        s = healthy();
        s.boards[0].chips = 0;
        e = eval(RuleKind::board_dead, s);
        CHECK(e.holds);
        CHECK(e.values.at("problem") == "board 0 reports 0 of 114 chips");
        s = healthy();
        s.boards.pop_back();
        CHECK_FALSE(eval(RuleKind::board_dead, s).holds);  // board count not configured
        auto rule = default_of(RuleKind::board_dead);
        rule.expected_boards = 3;
        e = evaluate(rule, record(s), &s, kNow);
        CHECK(e.holds);
        CHECK(e.values.at("problem") == "2 of 3 boards reported");
    }
    SUBCASE("reject rate, once enough shares were sent") {
        auto s = healthy();
        s.pools[0].rejected = 800;
        auto e = eval(RuleKind::reject_rate_high, s);
        CHECK(e.holds);
        CHECK(e.values.at("value_pct") == "7.4");
        s.pools[0].accepted = 40;  // just after a boot: too few shares to judge
        s.pools[0].rejected = 10;
        CHECK_FALSE(eval(RuleKind::reject_rate_high, s).holds);
    }
    SUBCASE("power over its limit") {
        auto s = healthy();
        s.power_w = 3700;  // > 3250 * 1.1
        auto e = eval(RuleKind::power_over_limit, s);
        CHECK(e.holds);
        CHECK(e.values.at("limit_w") == "3250");
        s.power_w = 3400;
        CHECK_FALSE(eval(RuleKind::power_over_limit, s).holds);
        s.power_limit_w.reset();
        s.power_w = 9000;
        CHECK_FALSE(eval(RuleKind::power_over_limit, s).holds);
    }
}

TEST_CASE("evaluate: rules are scoped by site and label selectors") {
    const auto s = healthy();
    auto rec = record(s);
    rec.labels = {{"rack", "r7"}, {"row", "2"}};
    AlertRule r = default_of(RuleKind::chip_temp_high);
    CHECK(rule_applies(r, rec, &s));
    r.site = "south";
    CHECK_FALSE(rule_applies(r, rec, &s));
    r.site = "north";
    CHECK(rule_applies(r, rec, &s));
    r.selector = {{"rack", "r7"}};
    CHECK(rule_applies(r, rec, &s));
    r.selector = {{"rack", "r7"}, {"row", "3"}};
    CHECK_FALSE(rule_applies(r, rec, &s));
}
