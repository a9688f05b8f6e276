// The agent's own metrics without a server: rounds cut from the stream of polls (a backed-off
// miner does not hold them up), the families and their values, and docs/metrics.md's "Agent"
// table against what the code emits.
#include "agent/metrics/self_metrics.hpp"

#include <fstream>
#include <map>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt::agent;
using namespace std::chrono_literals;
namespace pm = prometheus;

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kT0{};

std::string type_name(pm::MetricType t) {
    switch (t) {
        case pm::MetricType::Counter:
            return "counter";
        case pm::MetricType::Gauge:
            return "gauge";
        case pm::MetricType::Histogram:
            return "histogram";
        default:
            return "other";
    }
}

AgentSelfSnapshot full_snapshot() {
    AgentSelfSnapshot s;
    s.version = "1.2.3";
    s.rounds = 7;
    s.auth_refused_polls = 8;
    s.last_round = PollRound{29.5, 9, 1};
    UplinkStats u;
    u.batches_sent = 12;
    u.batches_duplicate = 2;
    u.send_failures = 3;
    u.batches_rejected = 1;
    u.batches_dropped = 4;
    u.spool.batches = 5;
    u.spool.bytes = 65536;
    s.uplink = u;
    CommandLoopStats c;
    c.succeeded = 6;
    c.failed = 1;
    c.unsupported = 2;
    c.timed_out = 3;
    c.auth_refused = 1;
    s.commands = c;
    return s;
}

}  // namespace

TEST_CASE("RoundTracker: a round ends when every miner has been polled once more") {
    RoundTracker t(kT0);
    CHECK_FALSE(t.record("a:4028", true, 3, kT0 + 1s));
    CHECK_FALSE(t.record("b:4028", true, 3, kT0 + 2s));
    CHECK_FALSE(t.record("a:4028", true, 3, kT0 + 3s));  // again: still waiting for c
    CHECK(t.rounds() == 0);
    CHECK_FALSE(t.last());
    auto r = t.record("c:4028", false, 3, kT0 + 4s);
    REQUIRE(r);
    CHECK(r->duration_s == doctest::Approx(4.0));
    CHECK(r->up == 2);
    CHECK(r->down == 1);
    CHECK(t.rounds() == 1);

    // c failed, so it is backed off: the next round needs only a and b.
    CHECK_FALSE(t.record("a:4028", true, 3, kT0 + 5s));
    r = t.record("b:4028", false, 3, kT0 + 7s);
    REQUIRE(r);
    CHECK(r->duration_s == doctest::Approx(3.0));
    CHECK(r->up == 1);
    CHECK(r->down == 2);

    // A miner added by a rescan holds the round up until its first poll.
    CHECK_FALSE(t.record("a:4028", true, 4, kT0 + 8s));
    CHECK_FALSE(t.record("c:4028", true, 4, kT0 + 9s));
    r = t.record("d:4028", true, 4, kT0 + 10s);
    REQUIRE(r);
    CHECK(r->up == 3);  // a, c, d; b still down (backed off, not polled in this round)
    CHECK(r->down == 1);
    CHECK(t.rounds() == 3);
}

TEST_CASE("RoundTracker: with every miner down, each must be polled again") {
    RoundTracker t(kT0);
    CHECK_FALSE(t.record("a:1", false, 2, kT0 + 1s));
    REQUIRE(t.record("b:1", false, 2, kT0 + 2s));
    CHECK_FALSE(t.record("a:1", false, 2, kT0 + 4s));  // no one up: nobody is exempt
    const auto r = t.record("b:1", false, 2, kT0 + 8s);
    REQUIRE(r);
    CHECK(r->duration_s == doctest::Approx(6.0));
    CHECK(r->down == 2);
    CHECK(r->up == 0);
}

TEST_CASE("agent families: values, labels, and what is absent") {
    const auto text = render_agent_metrics(full_snapshot());
    for (const char* line : {
             "hashwatt_agent_build_info{version=\"1.2.3\"} 1\n",
             "hashwatt_agent_poll_rounds_total 7\n",
             "hashwatt_agent_poll_round_duration_seconds 29.5\n",
             "hashwatt_agent_miners{result=\"up\"} 9\n",
             "hashwatt_agent_miners{result=\"down\"} 1\n",
             "hashwatt_agent_spool_batches 5\n",
             "hashwatt_agent_spool_bytes 65536\n",
             "hashwatt_agent_uplink_batches_total{result=\"sent\"} 10\n",
             "hashwatt_agent_uplink_batches_total{result=\"duplicate\"} 2\n",
             "hashwatt_agent_uplink_batches_total{result=\"failed\"} 3\n",
             "hashwatt_agent_uplink_batches_total{result=\"rejected\"} 1\n",
             "hashwatt_agent_uplink_batches_total{result=\"dropped\"} 4\n",
             "hashwatt_agent_commands_total{result=\"succeeded\"} 6\n",
             "hashwatt_agent_commands_total{result=\"failed\"} 1\n",
             "hashwatt_agent_commands_total{result=\"unsupported\"} 2\n",
             "hashwatt_agent_commands_total{result=\"timed_out\"} 3\n",
             "hashwatt_agent_auth_failures_total{operation=\"poll\"} 8\n",
             "hashwatt_agent_auth_failures_total{operation=\"command\"} 1\n",
             "# TYPE hashwatt_agent_auth_failures_total counter\n",
             "# TYPE hashwatt_agent_uplink_batches_total counter\n",
             "# TYPE hashwatt_agent_miners gauge\n",
         }) {
        CHECK_MESSAGE(text.find(line) != std::string::npos, line);
    }

    // No uplink, no round yet: only what the agent knows.
    AgentSelfSnapshot bare;
    bare.version = "1.2.3";
    std::map<std::string, std::size_t> names;
    for (const auto& f : build_agent_families(bare)) names[f.name] = f.metric.size();
    CHECK(names == std::map<std::string, std::size_t>{{"hashwatt_agent_build_info", 1},
                                                      {"hashwatt_agent_poll_rounds_total", 1},
                                                      {"hashwatt_agent_auth_failures_total", 2}});
}

TEST_CASE("docs/metrics.md's Agent table lists exactly the agent's families, with their types") {
    std::map<std::string, std::string> code;
    for (const auto& f : build_agent_families(full_snapshot())) {
        CHECK_FALSE(f.metric.empty());
        code[f.name] = type_name(f.type);
    }
    const std::string path = std::string(HASHWATT_SOURCE_DIR) + "/docs/metrics.md";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot open " << path);
    // Rows of the agent table: | hashwatt_agent_x | type | ... (no backticks on the name, so
    // the collector's table check, which reads "| `hashwatt_" rows, leaves them alone).
    std::map<std::string, std::string> doc;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (!line.starts_with("| hashwatt_agent_")) continue;
        const auto name_end = line.find(' ', 2);
        const std::string name = line.substr(2, name_end - 2);
        const auto type_start = line.find('|', name_end) + 1;
        const auto type_end = line.find('|', type_start);
        std::string type = line.substr(type_start, type_end - type_start);
        type.erase(0, type.find_first_not_of(' '));
        type.erase(type.find_last_not_of(' ') + 1);
        INFO(path << ":" << line_no);
        CHECK_MESSAGE(doc.emplace(name, type).second, "listed twice: " << name);
    }
    CHECK(doc == code);
}
