// Every default alert rule against the simulator fault that models its failure, through one
// `hashwatt sim` fleet, an in-process agent and collector, and the AlertEngine configured as an
// operator would ([alerts] with short `for`s and a 1 s interval): each fault makes its alert
// pending, then firing after `for`, and clearing it resolves the alert, announced once each
// way. Healthy miners and a miner paused by a command raise nothing at all; a fault toggled
// faster than keep_firing_for fires once. Addresses: 127.42.0.0/28.
#include "collector/alerts/engine.hpp"
#include "collector/alerts/rules.hpp"
#include "common/config.hpp"
#include "common/time.hpp"
#include "tests/support/alerts_harness.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::test::alerts_harness;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace alerts = hashwatt::collector::alerts;
using SteadyClock = std::chrono::steady_clock;

namespace {

const std::string kBinary = HASHWATT_BINARY;

// Every default rule made fast. Chip temperature keeps firing for 5 s so that the flapping
// miner's cool spells (about a poll long) stay inside it.
constexpr const char* kAlertsToml = R"(
[alerts]
interval = "1s"
[[alerts.rule]]
name = "MinerOffline"
threshold = 2
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerHashrateLow"
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerChipTempHigh"
for = "2s"
keep_firing_for = "5s"
[[alerts.rule]]
name = "MinerBoardTempHigh"
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerFanFailure"
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerBoardDead"
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerRejectRateHigh"
for = "2s"
keep_firing_for = "1s"
[[alerts.rule]]
name = "MinerPowerOverLimit"
for = "2s"
keep_firing_for = "1s"
)";

alerts::AlertsConfig fast_config() {
    const auto doc = config::Document::parse(kAlertsToml, "alerts.toml");
    auto c = alerts::read_alerts_config(*doc.root().table("alerts"));
    doc.finish();
    return c;
}

// One miner, its fault and the rule that fault must drive through its whole life.
struct Case {
    std::string family;  // the sim family that runs it
    std::string fault;   // admin API body
    std::string rule;
    std::set<std::string> also;  // other rules the same failure rightly raises
    std::string ip{};
    std::string miner_id{};
    enum Phase { on, cleared, done } phase = on;
};

// The hottest chip of a miner's latest sample, if it has one.
std::optional<double> chip_temp(const Collector& c, const std::string& miner_id) {
    for (const auto& s : c.store().latest_samples()) {
        if (s.miner_id != miner_id || !s.up) continue;
        std::optional<double> hottest;
        for (const auto& b : s.boards) {
            if (b.chip_temp_max_c && (!hottest || *b.chip_temp_max_c > *hottest))
                hottest = b.chip_temp_max_c;
        }
        return hottest;
    }
    return std::nullopt;
}

std::optional<MinerState> state_of(const Collector& c, const std::string& miner_id) {
    for (const auto& s : c.store().latest_samples()) {
        if (s.miner_id == miner_id && s.up) return s.state;
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("alerts: every default rule pends, fires and resolves on its simulated fault") {
    test::TempDir dir;
    // 20 C ambient: overheating (+30 C) puts chips near 95 C, over the 90 C rule, with boards
    // (~73 C) under theirs; the sim's own protection is moved out of the way. The pause takes
    // effect at once so the paused miner never reports a part-stopped "mining" state, and one
    // share per TH gives the reject rule its hundred shares within a second.
    const auto sim_config = dir.write("sim.toml",
                                      "[physics]\nambient_c = 20\nprotect_chip_temp_c = 140\n"
                                      "sleep_ramp = \"0s\"\nshare_work_th = 1\n");
    test::SimProcess sim(
        kBinary,
        {"--config", sim_config, "--miners", "12", "--mix", "s19pro:9,s19xp@braiins:3", "--base-ip",
         "127.42.0.1", "--http-port", "0"},
        dir.path() + "/sim");
    // The sim's truth names each address's firmware.
    std::map<std::string, std::vector<std::string>> ips_by_family;
    const auto truth = json::parse(sim.get("/api/v1/miners"));
    for (const auto& m : truth.as_array()) {
        ips_by_family[std::string(m.at("family").as_string())].push_back(
            std::string(m.at("ip").as_string()));
    }
    REQUIRE(ips_by_family["antminer"].size() == 9);
    REQUIRE(ips_by_family["braiins"].size() == 3);

    std::vector<Case> cases{
        {"antminer", R"({"kind":"offline"})", "MinerOffline", {}},
        {"antminer", R"({"kind":"hashrate_drop"})", "MinerHashrateLow", {}},
        {"antminer", R"({"kind":"overheating"})", "MinerChipTempHigh", {}},
        {"antminer", R"({"kind":"board_hot","index":1})", "MinerBoardTempHigh", {}},
        {"antminer", R"({"kind":"fan_failure","index":0})", "MinerFanFailure", {}},
        // A dead board takes its third of the hash rate with it.
        {"antminer", R"({"kind":"dead_board","index":2})", "MinerBoardDead", {"MinerHashrateLow"}},
        // Rejects are counted since boot: 20 % of new shares lifts the rate past 5 % soon,
        // and once cleared the accepted shares bring it back under within seconds.
        {"antminer", R"({"kind":"rejects","ratio":0.2})", "MinerRejectRateHigh", {}},
        // Stock Antminer firmware reports no power limit; Braiins OS does.
        {"braiins", R"({"kind":"power_overdraw"})", "MinerPowerOverLimit", {}},
    };
    std::map<std::string, std::size_t> next;
    const auto take = [&](const std::string& family) {
        return ips_by_family[family].at(next[family]++);
    };
    for (auto& k : cases) k.ip = take(k.family);
    const std::string flap_ip = take("antminer");
    const std::string paused_ip = take("braiins");
    const std::vector<std::string> healthy_ips{take("antminer"), take("braiins")};

    Collector c;
    Sink sink;
    const auto cfg_alerts = fast_config();
    REQUIRE(cfg_alerts.interval == 1s);
    // The eight per-sample rules below, plus MinerCommandFailed and AgentSilent (which no
    // fault here touches: they must stay quiet too).
    REQUIRE(cfg_alerts.rules.size() == alerts::default_rules().size());
    alerts::AlertEngine engine(
        c.store(), cfg_alerts.rules, [&](const alerts::Notification& n) { sink(n); },
        {cfg_alerts.interval, "http://127.0.0.1:" + std::to_string(c.port()), {}});

    agent::AgentConfig cfg;
    cfg.agent_id = kAgentId;
    cfg.site = "lab";
    cfg.interval = 500ms;
    cfg.jitter = 0;
    // A poll that times out makes MinerOffline pending at once: on a loaded box a healthy
    // miner's reply may take a while, so only a refused connection should fail a poll here.
    cfg.poll_timeout = 5s;
    cfg.max_backoff = 500ms;
    for (unsigned i = 1; i <= 12; ++i) {
        agent::MinerEntry m;
        m.endpoint.host = "127.42.0." + std::to_string(i);
        m.endpoint.http_port = static_cast<std::uint16_t>(sim.http_port());
        m.endpoint.site = "lab";
        cfg.miners.push_back(m);
    }
    Agent agent(cfg, c.port());
    REQUIRE(eventually(40s, [&] {
        const auto ms = c.store().miners();
        return ms.size() == 12 && std::all_of(ms.begin(), ms.end(),
                                              [](const auto& m) { return m.last_up.has_value(); });
    }));
    std::map<std::string, std::string> id_of;
    for (const auto& m : c.store().miners()) id_of[m.host] = m.miner_id;
    for (auto& k : cases) k.miner_id = id_of.at(k.ip);
    const std::string flap = id_of.at(flap_ip);
    const std::string paused = id_of.at(paused_ip);

    // Paused by the firmware's own command (BOSminer's RPC pause) before any rule runs.
    const auto reply = test::rpc_exchange(paused_ip, sim.rpc_port(), R"({"command":"pause"})");
    INFO(reply.reply, reply.error);
    REQUIRE(reply.reply.find("PAUSE") != std::string::npos);
    REQUIRE(eventually(20s, [&] { return state_of(c, paused) == MinerState::sleeping; }));

    // A healthy fleet: nothing pending or firing.
    const auto first = engine.evaluate_once(now_ms());
    // Each miner rule for each of the 12 miners, each agent rule for the one agent.
    std::size_t agent_rules = 0;
    for (const auto& r : cfg_alerts.rules) agent_rules += alerts::is_agent_rule(r.kind) ? 1u : 0u;
    CHECK(first.evaluated == 12 * (cfg_alerts.rules.size() - agent_rules) + agent_rules);
    CHECK(first.pending + first.firing == 0);
    engine.start();

    for (const auto& k : cases) {
        INFO(k.ip, " ", k.fault);
        REQUIRE(sim.post("/api/v1/miners/" + k.ip + "/faults", k.fault) == 200);
    }
    REQUIRE(sim.post("/api/v1/miners/" + flap_ip + "/faults", R"({"kind":"overheating"})") == 200);

    // Each case: once firing, its fault is cleared; then it must resolve. The flapping miner,
    // once firing, has its fault cleared and set again each time polls have shown the chips
    // cool for 1.5 s and then hot, four times: each cool spell under keep_firing_for (5 s).
    enum class Flap { heating, cooling, reheating, settling, done } flap_phase = Flap::heating;
    int flap_cycles = 0;
    std::optional<SteadyClock::time_point> cool_since;
    const auto firing = [&](const std::string& rule, const std::string& miner, const char* state) {
        return alerts_of(c,
                         std::string("state=") + state + "&alertname=" + rule + "&miner=" + miner)
                   .size() == 1;
    };
    const bool all_done = eventually(90s, [&] {
        for (auto& k : cases) {
            if (k.phase == Case::on && firing(k.rule, k.miner_id, "firing")) {
                REQUIRE(sim.del("/api/v1/miners/" + k.ip + "/faults") == 200);
                k.phase = Case::cleared;
            } else if (k.phase == Case::cleared && firing(k.rule, k.miner_id, "resolved")) {
                k.phase = Case::done;
            }
        }
        const auto hot = chip_temp(c, flap);
        switch (flap_phase) {
            case Flap::heating:
                if (firing("MinerChipTempHigh", flap, "firing")) {
                    REQUIRE(sim.del("/api/v1/miners/" + flap_ip + "/faults") == 200);
                    flap_phase = Flap::cooling;
                }
                break;
            case Flap::cooling:
                // Cool for 1.5 evaluation intervals, so the engine sees the rule stop holding.
                if (!hot || *hot >= 80) {
                    cool_since.reset();
                } else if (!cool_since) {
                    cool_since = SteadyClock::now();
                } else if (SteadyClock::now() - *cool_since >= 1500ms) {
                    cool_since.reset();
                    REQUIRE(sim.post("/api/v1/miners/" + flap_ip + "/faults",
                                     R"({"kind":"overheating"})") == 200);
                    flap_phase = Flap::reheating;
                }
                break;
            case Flap::reheating:
                if (hot && *hot >= 90) {
                    REQUIRE(sim.del("/api/v1/miners/" + flap_ip + "/faults") == 200);
                    flap_phase = ++flap_cycles < 4 ? Flap::cooling : Flap::settling;
                }
                break;
            case Flap::settling:
                if (firing("MinerChipTempHigh", flap, "resolved")) flap_phase = Flap::done;
                break;
            case Flap::done:
                break;
        }
        return flap_phase == Flap::done &&
               std::all_of(cases.begin(), cases.end(),
                           [](const Case& k) { return k.phase == Case::done; });
    });
    engine.stop();
    for (const auto& k : cases) {
        CAPTURE(k.rule);
        CAPTURE(k.fault);
        CHECK(k.phase == Case::done);
        const auto fp = alerts::alert_fingerprint(k.rule, k.miner_id);
        CHECK(history(c, fp) == "pending,firing,resolved");
        CHECK(sink.of(fp) == "firing,resolved");
    }
    // Hysteresis: four cool spells while firing, one firing and one resolution.
    CHECK(flap_cycles == 4);
    const auto flap_fp = alerts::alert_fingerprint("MinerChipTempHigh", flap);
    CHECK(history(c, flap_fp) == "pending,firing,resolved");
    CHECK(sink.of(flap_fp) == "firing,resolved");
    REQUIRE(all_done);

    // Nothing else: each faulted miner raised only its rule (and what its failure implies),
    // and the healthy and paused miners never had so much as a pending alert.
    std::map<std::string, std::set<std::string>> allowed{{flap, {"MinerChipTempHigh"}}};
    for (const auto& k : cases) {
        allowed[k.miner_id] = k.also;
        allowed[k.miner_id].insert(k.rule);
    }
    for (const auto& a : alerts_of(c, "")) {
        const std::string miner(a.at("miner").as_string());
        const std::string name(a.at("alertname").as_string());
        INFO("unexpected alert ", name, " for ", miner, " (", a.at("state").as_string(), ")");
        CHECK(allowed[miner].count(name) == 1);
    }
    std::vector<std::string> quiet{paused};
    for (const auto& ip : healthy_ips) quiet.push_back(id_of.at(ip));
    for (const auto& miner : quiet) {
        for (const auto& r : cfg_alerts.rules) {
            const auto fp = alerts::alert_fingerprint(r.name, miner);
            const auto got =
                test::http_request("127.0.0.1", c.port(), "GET", "/api/v1/alerts/" + fp, "",
                                   {"Authorization: Bearer " + kReadToken}, 10s);
            INFO(r.name, " for ", miner, ": ", got.body);
            CHECK(got.status == 404);
        }
    }
    CHECK(state_of(c, paused) == MinerState::sleeping);
}
