// The rules against samples decoded from real captures (tests/fixtures, through the agent's
// parsers): healthy miners, as real firmware reports them, trip no rule, and a sleeping one
// none either. Faults are then made on a decoded sample, so each rule is checked against
// field values as they really come (board indexes, fan counts, pool counters).
#include "agent/drivers/antminer/parse.hpp"
#include "agent/drivers/whatsminer/parse.hpp"
#include "collector/alerts/evaluate.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string fixture(std::string_view relative) {
    std::ifstream in(fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / relative,
                     std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const TimePoint kNow{std::chrono::milliseconds(1'795'597'200'000)};

MinerSample stamped(MinerSample s, const std::string& id) {
    s.miner_id = id;
    s.site = "north";
    s.host = "10.0.0.7";
    s.observed_at = kNow - 10s;
    return s;
}

MinerSample s19pro() {
    agent::AntminerReplies r;
    const auto version = fixture("antminer/s19pro_bmminer_version.json");
    const auto summary = fixture("antminer/s19pro_bmminer_summary.json");
    const auto stats = fixture("antminer/s19pro_bmminer_stats.json");
    const auto pools = fixture("antminer/s19pro_bmminer_pools.json");
    r.version = version;
    r.summary = summary;
    r.stats = stats;
    r.pools = pools;
    return stamped(agent::parse_antminer(r), "s19pro");
}

MinerSample s19_sleeping() {
    agent::AntminerReplies r;
    const auto version = fixture("antminer/s19_sleeping_version.json");
    const auto stats = fixture("antminer/s19_sleeping_stats.json");
    const auto pools = fixture("antminer/s19_sleeping_pools.json");
    const auto conf = fixture("antminer/s19_sleeping_web_get_miner_conf.json");
    r.version = version;
    r.stats = stats;
    r.pools = pools;
    r.miner_conf = conf;
    return stamped(agent::parse_antminer(r), "s19-asleep");
}

MinerSample s9_hiveon() {
    agent::AntminerReplies r;
    const auto version = fixture("antminer/s9_hiveon_version.json");
    const auto stats = fixture("antminer/s9_hiveon_stats.txt");
    const auto pools = fixture("antminer/s9_hiveon_pools.json");
    r.version = version;
    r.stats = stats;
    r.pools = pools;
    return stamped(agent::parse_antminer(r), "s9");
}

MinerSample m30s() {
    agent::whatsminer::WhatsminerReplies r;
    const auto summary = fixture("whatsminer/m30s_summary.json");
    const auto edevs = fixture("whatsminer/m30s_edevs.json");
    r.summary = summary;
    r.devs = edevs;
    auto s = agent::whatsminer::parse_whatsminer(r);
    s.up = true;  // as the driver marks a poll whose replies parsed
    return stamped(std::move(s), "m30s");
}

MinerRecord record(const MinerSample& s) {
    MinerRecord m;
    m.miner_id = s.miner_id;
    m.site = s.site;
    m.first_seen = kNow - 24h;
    m.last_seen = s.observed_at;
    m.last_up = s.observed_at;
    return m;
}

// The rules (of the defaults) whose condition holds for `s`.
std::string tripped(const MinerSample& s) {
    std::string out;
    for (const auto& r : default_rules()) {
        if (evaluate(r, record(s), &s, kNow).holds) out += (out.empty() ? "" : ",") + r.name;
    }
    return out;
}

const AlertRule& rule(RuleKind k) {
    static const auto rules = default_rules();
    for (const auto& r : rules) {
        if (r.kind == k) return r;
    }
    FAIL("no rule");
    return rules.front();
}

}  // namespace

TEST_CASE("alert rules on real captures: healthy and sleeping miners trip nothing") {
    const auto pro = s19pro();
    REQUIRE(pro.state == MinerState::mining);
    CHECK(tripped(pro) == "");
    const auto asleep = s19_sleeping();
    REQUIRE(asleep.state == MinerState::sleeping);
    CHECK(tripped(asleep) == "");
    const auto s9 = s9_hiveon();
    REQUIRE(s9.up);
    CHECK(tripped(s9) == "");
    const auto wm = m30s();
    REQUIRE(wm.up);
    CHECK(tripped(wm) == "");
}

TEST_CASE("alert rules on real captures: faults made on a decoded sample") {
    auto s = s19pro();
    REQUIRE(s.boards.size() == 3);
    REQUIRE(s.fans_rpm.size() >= 2);
    SUBCASE("a board at zero while the others hash") {
        s.boards[1].hashrate_ths = 0;
        const auto e = evaluate(rule(RuleKind::board_dead), record(s), &s, kNow);
        CHECK(e.holds);
        CHECK(e.values.at("problem").find("board " + std::to_string(s.boards[1].index)) == 0);
    }
    SUBCASE("a stopped fan") {
        s.fans_rpm[0] = 0;
        CHECK(evaluate(rule(RuleKind::fan_failure), record(s), &s, kNow).holds);
    }
    SUBCASE("chips over 90 C") {
        s.boards[0].chip_temp_max_c = 93;
        const auto e = evaluate(rule(RuleKind::chip_temp_high), record(s), &s, kNow);
        CHECK(e.holds);
        CHECK(e.values.at("board") == std::to_string(s.boards[0].index));
    }
    SUBCASE("hash rate at half") {
        s.hashrate_ths = *s.hashrate_ths / 2;
        CHECK(evaluate(rule(RuleKind::hashrate_low), record(s), &s, kNow).holds);
    }
}
