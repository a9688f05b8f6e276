// The rules that look past a miner's samples: command_failed (the collector's verdict on the
// newest finished command) and agent_silent (an agent's last ingest batch). Their conditions
// as pure functions, their config keys, and the engine over a real Store file.
#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/alerts/evaluate.hpp"
#include "collector/config/collector_config.hpp"
#include "collector/storage/store.hpp"
#include "common/config.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

AlertRule default_of(RuleKind k) {
    for (auto& r : default_rules()) {
        if (r.kind == k) return r;
    }
    FAIL("no default rule");
    return {};
}

MinerRecord miner(const std::string& id, std::optional<std::string> agent = "a1",
                  std::optional<std::string> site = "north") {
    MinerRecord m;
    m.miner_id = id;
    m.site = std::move(site);
    m.agent_id = std::move(agent);
    m.first_seen = kT0;
    m.last_seen = kT0;
    return m;
}

CommandRecord finished(CommandStatus status, TimePoint at, std::optional<std::string> message) {
    CommandRecord c;
    c.command.id = "c-1";
    c.command.miner_id = "m1";
    c.command.type = CommandType::sleep;
    c.agent_id = "a1";
    c.status = status;
    c.finished_at = at;
    c.message = std::move(message);
    return c;
}

std::string error_of(const std::string& toml) {
    try {
        parse_collector_config(toml, "collector.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("command_failed: the newest finished command failed or timed out, within the window") {
    const auto rule = default_of(RuleKind::command_failed);
    CHECK(rule.name == "MinerCommandFailed");
    CHECK(rule.severity == Severity::warning);
    CHECK(rule.window == 1h);
    const auto m = miner("m1");

    CHECK_FALSE(evaluate_command(rule, m, nullptr, kT0).holds);
    auto ok = finished(CommandStatus::succeeded, kT0, "sleeping");
    CHECK_FALSE(evaluate_command(rule, m, &ok, kT0 + 1s).holds);

    auto failed = finished(CommandStatus::failed, kT0, "deadline passed: state mining, 3250 W");
    auto e = evaluate_command(rule, m, &failed, kT0 + 1s);
    CHECK(e.holds);
    CHECK(e.since == kT0);
    CHECK(e.values.at("command_type") == "sleep");
    CHECK(e.values.at("command_id") == "c-1");
    CHECK(e.values.at("command_status") == "failed");
    CHECK(e.values.at("message") == "deadline passed: state mining, 3250 W");
    CHECK(e.values.at("agent_id") == "a1");
    CHECK(fill_template(rule.summary, e.values) == "Command sleep to m1 did not take effect");
    CHECK(fill_template(rule.description, e.values) ==
          "sleep command c-1 for m1 (north) failed: deadline passed: state mining, 3250 W");
    // The window passes: it no longer holds.
    CHECK(evaluate_command(rule, m, &failed, kT0 + 59min).holds);
    CHECK_FALSE(evaluate_command(rule, m, &failed, kT0 + 1h).holds);

    // timed_out counts too; without the collector's message the agent's is shown.
    auto timed_out = finished(CommandStatus::timed_out, kT0, std::nullopt);
    timed_out.agent_message = "miner did not answer";
    e = evaluate_command(rule, m, &timed_out, kT0 + 1s);
    CHECK(e.holds);
    CHECK(e.values.at("command_status") == "timed_out");
    CHECK(e.values.at("message") == "miner did not answer");
    timed_out.agent_message.reset();
    CHECK(evaluate_command(rule, m, &timed_out, kT0 + 1s).values.at("message") == "no message");

    // The plain evaluate never holds for it (the engine calls evaluate_command instead).
    auto s = test::state_sample("m1", kT0, MinerState::mining, 3250);
    CHECK_FALSE(evaluate(rule, m, &s, kT0).holds);
}

TEST_CASE("agent_silent: agents from the miners table, silent past the threshold") {
    const auto rule = default_of(RuleKind::agent_silent);
    CHECK(rule.name == "AgentSilent");
    CHECK(rule.severity == Severity::critical);
    CHECK(rule.threshold == 180);
    CHECK(is_agent_rule(rule.kind));
    CHECK_FALSE(is_agent_rule(RuleKind::offline));

    auto m1 = miner("m1", "a1");
    auto m2 = miner("m2", "a1", "south");
    m2.last_seen = kT0 + 30s;
    const auto m3 = miner("m3", "a2");
    const auto orphan = miner("m4", std::nullopt);
    const auto agents = agent_activity({m1, m2, m3, orphan}, {{"a2", kT0 + 10s}, {"gone", kT0}});
    REQUIRE(agents.size() == 2);  // no agent for m4; "gone" has no miners
    CHECK(agents[0].agent_id == "a1");
    CHECK(agents[0].miners == 2);
    CHECK(agents[0].last_seen == kT0 + 30s);
    CHECK_FALSE(agents[0].last_batch);
    CHECK_FALSE(agents[0].site);  // two sites
    CHECK(agents[1].agent_id == "a2");
    CHECK(agents[1].last_batch == kT0 + 10s);
    CHECK(agents[1].site == "north");

    // a2: counted from its last batch.
    CHECK_FALSE(evaluate_agent(rule, agents[1], kT0 + 10s + 179s).holds);
    auto e = evaluate_agent(rule, agents[1], kT0 + 10s + 180s);
    CHECK(e.holds);
    CHECK(e.since == kT0 + 10s);
    CHECK(e.values.at("silent_for") == format_duration(180s));
    CHECK(e.values.at("site") == "north");
    CHECK(fill_template(rule.summary, e.values) == "Agent a2 is silent");
    CHECK(fill_template(rule.description, e.values).find("1 miners behind") != std::string::npos);
    // a1: no batch record left, so from its miners' last_seen.
    CHECK_FALSE(evaluate_agent(rule, agents[0], kT0 + 30s + 179s).holds);
    CHECK(evaluate_agent(rule, agents[0], kT0 + 30s + 180s).since == kT0 + 30s);

    // The alert is the agent's: subject and label agent_id, no miner label.
    const auto s = step(Alert{}, e, kT0 + 190s, rule, "a2");
    CHECK(s.change == Change::firing);  // no `for` on top of the threshold
    CHECK(s.alert.subject == "a2");
    CHECK(s.alert.labels.at("agent_id") == "a2");
    CHECK(s.alert.labels.count("miner") == 0);
    CHECK(s.alert.labels.at("alertname") == "AgentSilent");
}

TEST_CASE("command_failed and agent_silent: config keys and their errors") {
    const auto c = parse_collector_config(R"(
[[alerts.rule]]
name = "MinerCommandFailed"
window = "30m"
severity = "critical"

[[alerts.rule]]
name = "AgentSilent"
threshold = 600
for = "1m"

[[alerts.rule]]
name = "NorthAgentSilent"
kind = "agent_silent"
site = "north"
)",
                                          "collector.toml");
    const auto find = [&](const std::string& name) -> const AlertRule& {
        for (const auto& r : c.alerts.rules) {
            if (r.name == name) return r;
        }
        FAIL("no rule " << name);
        return c.alerts.rules.front();
    };
    CHECK(find("MinerCommandFailed").window == 30min);
    CHECK(find("MinerCommandFailed").severity == Severity::critical);
    CHECK(find("AgentSilent").threshold == 600);
    CHECK(find("AgentSilent").for_duration == 1min);
    CHECK(find("NorthAgentSilent").threshold == 180);  // from the default of its kind
    CHECK(find("NorthAgentSilent").site == "north");

    CHECK(error_of("[[alerts.rule]]\nname = \"MinerCommandFailed\"\nthreshold = 1\n")
              .find("alerts.rule[0].threshold: command_failed takes no threshold") !=
          std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\nwindow = \"1h\"\n")
              .find("alerts.rule[0].window: only command_failed rules take a window") !=
          std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerCommandFailed\"\nwindow = \"1s\"\n")
              .find("alerts.rule[0].window") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"AgentSilent\"\nthreshold = 5\n")
              .find("alerts.rule[0].threshold") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"AgentSilent\"\nlabels = { agent_id = \"x\" }\n")
              .find("'agent_id' is set by the engine") != std::string::npos);
}

TEST_CASE("hashrate_low on Vnish: the chains' sum against the ideal, not the 0.7 miner figure") {
    const auto rule = default_of(RuleKind::hashrate_low);
    auto s = test::state_sample("m1", kT0, MinerState::mining, 2631);
    s.firmware = "vnish";
    s.hashrate_ths = 54.48;  // 0.7 x the chains' 77.83 TH/s, as both captured builds report
    s.expected_hashrate_ths = 77.72;
    for (int i = 0; i < 3; ++i) {
        BoardSample b;
        b.index = i;
        b.hashrate_ths = 77.83 / 3;
        s.boards.push_back(b);
    }
    const auto m = miner("m1");
    auto e = evaluate(rule, m, &s, kT0);
    CHECK_FALSE(e.holds);
    CHECK(e.values.at("hashrate_ths") == "77.83");
    s.boards[2].hashrate_ths = 0;  // a chain gone: 67 %
    CHECK(evaluate(rule, m, &s, kT0).holds);
    // Other firmware: the miner's own figure, as before.
    s.firmware = "stock";
    s.boards[2].hashrate_ths = 77.83 / 3;
    CHECK(evaluate(rule, m, &s, kT0).holds);
}

TEST_CASE("hashrate_low: a miner in error (overheat protection) hashing nothing counts") {
    const auto rule = default_of(RuleKind::hashrate_low);
    auto s = test::state_sample("m1", kT0, MinerState::error, 25);
    s.hashrate_ths = 0;
    s.expected_hashrate_ths = 110;
    const auto e = evaluate(rule, miner("m1"), &s, kT0);
    CHECK(e.holds);
    CHECK(e.values.at("ratio_pct") == "0");
    s.state = MinerState::booting;  // a boot ramps up: not judged
    CHECK_FALSE(evaluate(rule, miner("m1"), &s, kT0).holds);
}

namespace {

struct EngineFixture {
    test::TempDir dir;
    Store store{dir.path() + "/c.db"};
    std::int64_t seq = 0;
    std::vector<Notification> sent;

    void ingest(const std::string& agent, const std::string& id, TimePoint at,
                MinerState state = MinerState::mining) {
        store.ingest({agent, std::nullopt, ++seq, {test::state_sample(id, at, state, 3250)}, {}},
                     at);
    }
    AlertEngine engine(RuleKind kind) {
        return AlertEngine(
            store, {default_of(kind)}, [this](const Notification& n) { sent.push_back(n); },
            AlertEngineOptions{15s, "http://127.0.0.1:8480", {}});
    }
    // A sleep command for `id`, sent at `at` + 1 s, that times out with nothing in effect.
    std::string failing_sleep(const std::string& id, TimePoint at) {
        CommandRequest r;
        r.selector.miners = {id};
        r.deadline = 60s;
        const auto c = store.create_commands(r, at);
        REQUIRE(c.size() == 1);
        store.take_pending("a1", at + 1s);
        store.verify_commands(at + 61s);
        REQUIRE(store.command(c[0].command.id)->status == CommandStatus::timed_out);
        return c[0].command.id;
    }
};

}  // namespace

TEST_CASE("alert engine: a command that did not take effect fires; a later success resolves") {
    EngineFixture fx;
    fx.ingest("a1", "m1", kT0);
    fx.ingest("a1", "m2", kT0);
    auto engine = fx.engine(RuleKind::command_failed);
    CHECK(engine.evaluate_once(kT0 + 10s).firing == 0);

    const auto id = fx.failing_sleep("m1", kT0 + 10s);
    auto st = engine.evaluate_once(kT0 + 75s);
    CHECK(st.firing == 1);
    REQUIRE(fx.sent.size() == 1);
    const auto& n = fx.sent[0];
    CHECK(n.labels.at("alertname") == "MinerCommandFailed");
    CHECK(n.labels.at("miner") == "m1");
    CHECK(n.labels.at("agent_id") == "a1");
    CHECK(n.annotations.at("description").find(id) != std::string::npos);
    CHECK(n.annotations.at("description").find("timed_out") != std::string::npos);
    CHECK_FALSE(n.resolved);
    CHECK(engine.evaluate_once(kT0 + 90s).firing == 0);  // not announced again

    // A later sleep that a sample shows in effect: resolved.
    CommandRequest r;
    r.selector.miners = {"m1"};
    const auto ok = fx.store.create_commands(r, kT0 + 100s);
    fx.store.take_pending("a1", kT0 + 101s);
    fx.ingest("a1", "m1", kT0 + 105s, MinerState::sleeping);
    fx.store.verify_commands(kT0 + 106s);
    REQUIRE(fx.store.command(ok[0].command.id)->status == CommandStatus::succeeded);
    st = engine.evaluate_once(kT0 + 110s);
    CHECK(st.resolved == 1);
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);
    CHECK(fx.sent[1].labels.at("miner") == "m1");

    // Another failure fires again, and the window passing resolves it.
    fx.failing_sleep("m2", kT0 + 200s);
    CHECK(engine.evaluate_once(kT0 + 270s).firing == 1);
    CHECK(engine.evaluate_once(kT0 + 261s + 59min).resolved == 0);
    CHECK(engine.evaluate_once(kT0 + 261s + 1h).resolved == 1);
    REQUIRE(fx.sent.size() == 4);
    CHECK(fx.sent[3].labels.at("miner") == "m2");
    CHECK(fx.sent[3].resolved);
}

TEST_CASE("alert engine: an agent with miners and no batch for 3 min fires, once per agent") {
    EngineFixture fx;
    fx.ingest("a1", "m1", kT0);
    fx.ingest("a1", "m2", kT0);
    fx.ingest("a2", "m3", kT0);
    auto engine = fx.engine(RuleKind::agent_silent);
    CHECK(engine.evaluate_once(kT0 + 179s).firing == 0);

    // a2 keeps sending; a1 does not.
    fx.ingest("a2", "m3", kT0 + 120s);
    const auto st = engine.evaluate_once(kT0 + 180s);
    CHECK(st.firing == 1);
    REQUIRE(fx.sent.size() == 1);
    CHECK(fx.sent[0].labels.at("alertname") == "AgentSilent");
    CHECK(fx.sent[0].labels.at("agent_id") == "a1");
    CHECK(fx.sent[0].labels.count("miner") == 0);
    CHECK(fx.sent[0].labels.at("severity") == "critical");
    CHECK(fx.sent[0].annotations.at("description").find("2 miners") != std::string::npos);
    AlertFilter only;
    only.alertname = "AgentSilent";
    const auto alerts = list_alerts(fx.store, only);
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0].subject == "a1");

    // Batches again: resolved at the next evaluation.
    fx.ingest("a1", "m1", kT0 + 200s);
    CHECK(engine.evaluate_once(kT0 + 201s).resolved == 1);
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);
    CHECK(fx.sent[1].labels.at("agent_id") == "a1");
    // Its miners moving to another agent leave nothing behind that could fire for it.
    fx.ingest("a2", "m1", kT0 + 300s);
    fx.ingest("a2", "m2", kT0 + 300s);
    CHECK(engine.evaluate_once(kT0 + 400s).firing == 0);
    CHECK(agent_last_batches(fx.store, kT0).at("a2") == kT0 + 300s);
    CHECK(agent_last_batches(fx.store, kT0 + 301s).empty());
}

TEST_CASE("state_unexpected: the newest sleep or wake command against the reported state") {
    const auto rule = default_of(RuleKind::state_unexpected);
    CHECK(rule.name == "MinerStateUnexpected");
    CHECK(rule.for_duration == 10min);
    const auto m = miner("m1");
    const auto mining = test::state_sample("m1", kT0, MinerState::mining, 3250);
    const auto asleep = test::state_sample("m1", kT0, MinerState::sleeping, 10);
    auto down = mining;
    down.up = false;
    auto booting = mining;
    booting.state = MinerState::booting;

    // Nothing asked of it: its state is the operator's, sleeping or not.
    CHECK_FALSE(evaluate_state(m, &asleep, nullptr).holds);
    auto sleep = finished(CommandStatus::succeeded, kT0, std::nullopt);
    sleep.command.type = CommandType::sleep;
    auto e = evaluate_state(m, &mining, &sleep);
    CHECK(e.holds);
    CHECK(e.values.at("state") == "mining");
    CHECK(e.values.at("wanted") == "sleeping");
    CHECK(e.values.at("command_id") == "c-1");
    CHECK(fill_template(rule.summary, e.values) == "Miner m1 reports mining, wanted sleeping");
    CHECK_FALSE(evaluate_state(m, &asleep, &sleep).holds);
    CHECK_FALSE(evaluate_state(m, &down, &sleep).holds);     // offline's business
    CHECK_FALSE(evaluate_state(m, &booting, &sleep).holds);  // on its way
    CHECK_FALSE(evaluate_state(m, nullptr, &sleep).holds);

    auto wake = sleep;
    wake.command.type = CommandType::wake;
    wake.status = CommandStatus::failed;  // what it wants stands whatever became of the command
    e = evaluate_state(m, &asleep, &wake);
    CHECK(e.holds);
    CHECK(e.values.at("wanted") == "mining");
    CHECK(e.values.at("command_status") == "failed");
    CHECK_FALSE(evaluate_state(m, &mining, &wake).holds);
    auto error = asleep;
    error.state = MinerState::error;  // an Antminer that failed to resume
    CHECK(evaluate_state(m, &error, &wake).holds);
    CHECK_FALSE(evaluate_state(m, &booting, &wake).holds);
    CHECK_FALSE(evaluate_state(m, &down, &wake).holds);
}

TEST_CASE("latest_state_commands: each miner's newest sleep or wake, unsupported left out") {
    EngineFixture fx;
    fx.ingest("a1", "m1", kT0);
    fx.ingest("a1", "m2", kT0);
    const auto make = [&](const std::string& id, CommandType type, TimePoint at) {
        CommandRequest r;
        r.selector.miners = {id};
        r.type = type;
        if (type == CommandType::set_power_target) r.power_target_w = 2500;
        const auto c = fx.store.create_commands(r, at);
        REQUIRE(c.size() == 1);
        return c[0].command.id;
    };
    make("m1", CommandType::sleep, kT0 + 1s);
    const auto wake = make("m1", CommandType::wake, kT0 + 2s);
    make("m1", CommandType::set_power_target, kT0 + 3s);  // not a state
    const auto m2_sleep = make("m2", CommandType::sleep, kT0 + 4s);
    const auto m2_wake = make("m2", CommandType::wake, kT0 + 5s);
    fx.store.take_pending("a1", kT0 + 6s);
    CommandResult r;
    r.command_id = m2_wake;
    r.miner_id = "m2";
    r.status = CommandStatus::unsupported;
    r.finished_at = kT0 + 7s;
    fx.store.record_result(r, kT0 + 7s);

    const auto w = latest_state_commands(fx.store);
    REQUIRE(w.size() == 2);
    CHECK(w.at("m1").command.id == wake);
    CHECK(w.at("m1").command.type == CommandType::wake);
    CHECK(w.at("m1").command.created_at == kT0 + 2s);
    CHECK(w.at("m2").command.id == m2_sleep);  // the unsupported wake says nothing
}

TEST_CASE("alert engine: mining after a sleep took fires after `for`; a wake resolves") {
    EngineFixture fx;
    fx.ingest("a1", "m1", kT0);
    auto engine = fx.engine(RuleKind::state_unexpected);
    CHECK(engine.evaluate_once(kT0 + 10s).pending == 0);  // no command: not judged

    CommandRequest r;
    r.selector.miners = {"m1"};
    r.type = CommandType::sleep;
    fx.store.create_commands(r, kT0 + 20s);
    fx.ingest("a1", "m1", kT0 + 30s);  // still mining
    CHECK(engine.evaluate_once(kT0 + 30s).pending == 1);
    CHECK(engine.evaluate_once(kT0 + 30s + 9min).firing == 0);
    CHECK(engine.evaluate_once(kT0 + 31s + 10min).firing == 1);
    REQUIRE(fx.sent.size() == 1);
    CHECK(fx.sent[0].labels.at("alertname") == "MinerStateUnexpected");
    CHECK(fx.sent[0].annotations.at("summary") == "Miner m1 reports mining, wanted sleeping");

    // The operator gives up on the sleep: a wake makes mining what is wanted.
    r.type = CommandType::wake;
    fx.store.create_commands(r, kT0 + 12min);
    fx.ingest("a1", "m1", kT0 + 12min);
    engine.evaluate_once(kT0 + 12min + 1s);
    CHECK(engine.evaluate_once(kT0 + 14min + 2s).resolved == 1);  // keep_firing_for 2 min
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);
}
