// The power policy's control loop end to end: a `hashwatt sim` fleet of three efficiencies
// (S19, S19 Pro, S21), an in-process agent polling it and carrying out commands, an in-process
// collector, and a ControlLoop deciding every second on a price the test sets. Low price: all
// mine. A spike between the S19's and the S19 Pro's break-even: only the S19s sleep. A higher
// spike: all sleep, and the simulated site's true power falls. The price back down: the fleet
// wakes at most two commands a round and within the 12 kW a minute wake-up ramp, and every
// decision row says its rule, the price and the break-even. Two sites of eight miners under a
// site fraction of a quarter: one miner of each site a round. And `hashwatt collector` with
// [policy]: its /metrics families and SIGHUP reloads. Addresses: 127.46.0.0/27.
#include "agent/commands/command_loop.hpp"
#include "agent/poller.hpp"
#include "collector/control/control_loop.hpp"
#include "collector/control/decision_store.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "tests/support/alerts_harness.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace control = hashwatt::collector::control;
using hashwatt::test::alerts_harness::eventually;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "policy-agent-token";
const std::string kAgentId = "agent-policy";

struct Collector : test::InProcessCollector {
    Collector() : InProcessCollector({.api = api_options(), .writer = writer_options()}) {}
    static collector::StoreWriterOptions writer_options() {
        collector::StoreWriterOptions o = test::quiet_writer_options();
        o.verify_interval = 250ms;
        return o;
    }
    static collector::ApiOptions api_options() {
        collector::ApiOptions o;
        o.tokens = {{kAgentToken, collector::Role::agent, kAgentId}};
        return o;
    }
};

// The harness agent under this test's id and token, with the command loop.
struct Agent : test::alerts_harness::Agent {
    Agent(agent::AgentConfig cfg, std::uint16_t collector_port)
        : test::alerts_harness::Agent(
              std::move(cfg), collector_port,
              {kAgentId, kAgentToken, test::alerts_harness::test_command_options(6), 1}) {}
};

agent::AgentConfig agent_config(const std::vector<std::string>& hosts, unsigned sim_port) {
    agent::AgentConfig cfg;
    cfg.agent_id = kAgentId;
    cfg.site = "lab";
    cfg.interval = 500ms;
    cfg.jitter = 0;
    cfg.poll_timeout = 5s;
    cfg.max_backoff = 500ms;
    for (const auto& h : hosts) {
        agent::MinerEntry m;
        m.endpoint.host = h;
        m.endpoint.http_port = static_cast<std::uint16_t>(sim_port);
        m.endpoint.site = "lab";
        cfg.miners.push_back(m);
    }
    return cfg;
}

// The price the test sets.
class TestPrice : public control::PriceProvider {
  public:
    void set(double p) {
        std::lock_guard l(mu_);
        price_ = p;
    }
    policies::PriceInput current(TimePoint) override {
        std::lock_guard l(mu_);
        policies::PriceInput in;
        in.price_per_mwh = price_;
        return in;
    }
    std::string describe() const override { return "test price"; }

  private:
    std::mutex mu_;
    double price_ = 20;
};

// A break-even policy deciding every second; wake-ups are staggered two commands a round.
const char* kPolicy = R"([policy]
interval = "1s"
on_stale = "hold"
[economics]
hashprice = 0.05
pool_fee = 0
pue = 1.0
[[rule]]
kind = "break_even"
[safety]
for = "0s"
min_on = "2s"
min_off = "2s"
max_switches_per_day = 0
max_commands_per_interval = 2
max_ramp_kw_per_min = 12
settle = "20s"
)";

double fleet_power_w(const test::SimProcess& sim) {
    return json::parse(sim.get("/api/v1/fleet")).at("power_w").to_number<double>();
}

// The simulator's state of every miner, by IP.
std::map<std::string, std::string> sim_states(const test::SimProcess& sim) {
    std::map<std::string, std::string> out;
    const auto all = json::parse(sim.get("/api/v1/miners"));
    const auto& arr = all.is_array() ? all.as_array() : all.at("miners").as_array();
    for (const auto& m : arr) {
        out[std::string(m.at("ip").as_string())] = std::string(m.at("state").as_string());
    }
    return out;
}

}  // namespace

TEST_CASE(
    "policy loop: break-even sleeps the least efficient first, all on a spike, and wakes "
    "the fleet staggered") {
    test::TempDir dir;
    const std::vector<std::string> ips{"127.46.0.1", "127.46.0.2", "127.46.0.3",
                                       "127.46.0.4", "127.46.0.5", "127.46.0.6"};
    test::SimProcess sim(kBinary,
                         {"--miners", "6", "--mix", "s19:2,s19pro:2,s21:2", "--base-ip", ips[0],
                          "--http-port", "0", "--sleep-ramp", "1s", "--wake-ramp", "2s"},
                         dir.path() + "/sim");
    Collector c;
    Agent agent(agent_config(ips, sim.http_port()), c.port());
    // Every miner seen mining at full hash rate, so the loop measures each one's efficiency.
    REQUIRE(eventually(30s, [&] {
        const auto samples = c.store().latest_samples();
        if (samples.size() != ips.size()) return false;
        for (const auto& s : samples) {
            if (!s.up || s.state != MinerState::mining || !s.hashrate_ths || !s.model) return false;
        }
        return true;
    }));
    std::map<std::string, std::string> model_of, ip_of;  // by miner id
    std::map<std::string, double> full_kw;               // what waking it adds
    for (const auto& s : c.store().latest_samples()) {
        model_of[s.miner_id] = *s.model;
        ip_of[s.miner_id] = s.host;
        full_kw[s.miner_id] = s.power_w.value_or(0) / 1000;
    }

    const std::string policy_path = dir.path() + "/policy.toml";
    std::ofstream(policy_path) << kPolicy;
    auto price = std::make_shared<TestPrice>();
    control::ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = policy_path;
    cfg.price_provider = price;
    control::ControlOptions opts;
    opts.on_commands = [&c](const std::vector<std::string>& agents) {
        c.server().notify_agents(agents);
    };
    control::ControlLoop loop(c.store(), cfg, opts);
    loop.start();
    // Waits for `n` more rounds of the loop.
    const auto rounds = [&](int n) {
        const auto start = loop.status().last_round.value_or(TimePoint{});
        return eventually(30s, [&] {
            const auto r = loop.status().last_round;
            return r && *r >= start + std::chrono::seconds(n);
        });
    };

    // Low price: every miner mines and nothing is commanded.
    REQUIRE(rounds(2));
    {
        const auto d = loop.last_decisions();
        REQUIRE(d.size() == ips.size());
        for (const auto& x : d) CHECK(x.target == policies::PointKind::full);
        CHECK(control::list_decisions(c.store(), {}).empty());
    }

    // A spike between the S19s' break-even and the S19 Pros': only the S19s sleep.
    double s19_max = 0, others_min = 1e9;
    for (const auto& m : loop.snapshot().miners) {
        INFO(m.miner_id, " ", model_of[m.miner_id], " break-even ", m.break_even_per_mwh);
        if (model_of[m.miner_id] == "Antminer S19") {
            s19_max = std::max(s19_max, m.break_even_per_mwh);
        } else {
            others_min = std::min(others_min, m.break_even_per_mwh);
        }
    }
    MESSAGE("break-even: S19 up to " << s19_max << ", others from " << others_min << " per MWh");
    REQUIRE(s19_max < others_min);
    price->set((s19_max + others_min) / 2);
    REQUIRE(eventually(30s, [&] {
        auto st = sim_states(sim);
        for (const auto& [id, model] : model_of) {
            const bool s19 = model == "Antminer S19";
            if ((st[ip_of.at(id)] == "sleeping") != s19) return false;
        }
        return true;
    }));
    REQUIRE(rounds(3));  // and it stays so
    for (const auto& [id, model] : model_of) {
        CHECK((sim_states(sim)[ip_of[id]] == "sleeping") == (model == "Antminer S19"));
    }
    for (const auto& r : control::list_decisions(c.store(), {})) {
        INFO(r.miner_id, " ", r.rule, " ", r.reason);
        CHECK(model_of[r.miner_id] == "Antminer S19");
        CHECK(r.target == "sleep");
    }

    // A higher spike: all sleep; the true site power falls below 6 x 100 W.
    const double full_power_w = fleet_power_w(sim);
    price->set(1000);
    REQUIRE(eventually(40s, [&] { return fleet_power_w(sim) < 600; }));
    MESSAGE("site power " << full_power_w << " W -> " << fleet_power_w(sim) << " W");

    // Back down: every miner wakes, at most two commands a round and 12 kW a minute (a bucket
    // of one minute's worth to start: three or four of these 3.2 to 3.6 kW miners, then one
    // every 17 s or so).
    const TimePoint low_from = now_ms();
    price->set(20);
    REQUIRE(eventually(150s, [&] {
        auto st = sim_states(sim);
        for (const auto& ip : ips) {
            if (st[ip] != "mining") return false;
        }
        return true;
    }));
    loop.stop();

    control::DecisionFilter f;
    f.from = low_from;
    std::map<TimePoint, int> wakes_per_round;
    std::map<TimePoint, double> kw_per_round;
    std::set<std::string> woken;
    bool held_by_commands = false, held_by_ramp = false;
    for (const auto& r : control::list_decisions(c.store(), f)) {
        INFO(r.miner_id, " ", to_string(r.outcome), " ", r.rule, ": ", r.reason);
        if (r.outcome == control::DecisionOutcome::commanded) {
            CHECK(r.target == "full");
            CHECK(r.command_id.has_value());
            ++wakes_per_round[r.at];
            kw_per_round[r.at] += full_kw[r.miner_id];
            woken.insert(r.miner_id);
        }
        held_by_commands = held_by_commands || r.rule == "safety:commands";
        held_by_ramp = held_by_ramp || r.rule == "safety:ramp";
    }
    CHECK(woken.size() == ips.size());
    CHECK(wakes_per_round.size() >= 3);
    for (const auto& [at, n] : wakes_per_round) CHECK(n <= 2);
    CHECK(held_by_commands);
    CHECK(held_by_ramp);
    // The ramp: by any round, no more kW woken than the first minute's bucket, 12 kW a minute
    // since, and the one miner a full bucket lets through in debt.
    const double biggest_kw =
        std::max_element(full_kw.begin(), full_kw.end(), [](auto& a, auto& b) {
            return a.second < b.second;
        })->second;
    double woken_kw = 0;
    for (const auto& [at, kw] : kw_per_round) {
        woken_kw += kw;
        const double minutes =
            std::chrono::duration<double, std::ratio<60>>(at - kw_per_round.begin()->first).count();
        INFO("at ", format_time(at), ": ", woken_kw, " kW woken");
        CHECK(woken_kw <= 12 + 12 * minutes + biggest_kw * 1.1);
    }
    // Every row of the run names its rule and why, with the price and the break-even.
    const auto all = control::list_decisions(c.store(), {});
    CHECK(all.size() >= ips.size() + 2);
    for (const auto& r : all) {
        INFO(r.miner_id, " ", to_string(r.outcome), " ", r.rule, ": ", r.reason);
        CHECK_FALSE(r.rule.empty());
        CHECK(r.reason.find("price ") != std::string::npos);
        CHECK(r.reason.find("break-even ") != std::string::npos);
        CHECK(r.price_per_mwh.has_value());
        CHECK(r.break_even_per_mwh.has_value());
    }
}

TEST_CASE(
    "policy loop: two sites of a simulated fleet, each commanded a quarter of its miners a "
    "round") {
    test::TempDir dir;
    std::vector<std::string> ips;
    for (int i = 8; i < 16; ++i) ips.push_back("127.46.0." + std::to_string(i));
    test::SimProcess sim(kBinary,
                         {"--miners", "8", "--mix", "s19:8", "--base-ip", ips[0], "--http-port",
                          "0", "--sleep-ramp", "1s", "--wake-ramp", "2s"},
                         dir.path() + "/sim");
    Collector c;
    auto acfg = agent_config(ips, sim.http_port());
    for (std::size_t i = 0; i < acfg.miners.size(); ++i) {
        acfg.miners[i].endpoint.site = i < 4 ? "barn-a" : "barn-b";
    }
    Agent agent(acfg, c.port());
    REQUIRE(eventually(30s, [&] {
        const auto samples = c.store().latest_samples();
        if (samples.size() != ips.size()) return false;
        for (const auto& s : samples) {
            if (!s.up || s.state != MinerState::mining || !s.hashrate_ths || !s.model) return false;
        }
        return true;
    }));

    const std::string policy_path = dir.path() + "/policy.toml";
    std::ofstream(policy_path) << R"([policy]
interval = "1s"
[economics]
hashprice = 0.05
[[rule]]
kind = "break_even"
[safety]
max_site_fraction_per_interval = 0.25
settle = "20s"
)";
    auto price = std::make_shared<TestPrice>();
    control::ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = policy_path;
    cfg.price_provider = price;
    control::ControlOptions opts;
    opts.on_commands = [&c](const std::vector<std::string>& agents) {
        c.server().notify_agents(agents);
    };
    control::ControlLoop loop(c.store(), cfg, opts);
    const TimePoint from = now_ms();
    price->set(1000);  // above every break-even: the whole fleet wants sleep
    loop.start();
    REQUIRE(eventually(60s, [&] {
        for (const auto& [ip, state] : sim_states(sim)) {
            if (state != "sleeping") return false;
        }
        return true;
    }));
    loop.stop();

    // floor(0.25 x 4) = 1 miner of each site a round: four rounds at least, never two of a
    // site in one, and the waiting ones recorded as held by the site fraction.
    control::DecisionFilter f;
    f.from = from;
    std::map<std::pair<TimePoint, std::string>, int> per_round_site;
    std::set<std::string> commanded, deferred;
    bool stale = false;
    for (const auto& r : control::list_decisions(c.store(), f)) {
        INFO(r.miner_id, " ", to_string(r.outcome), " ", r.rule, ": ", r.reason);
        if (r.outcome == control::DecisionOutcome::commanded) {
            CHECK(r.target == "sleep");
            ++per_round_site[{r.at, r.site.value_or("")}];
            commanded.insert(r.miner_id);
        } else if (r.rule == "safety:stale_data") {
            stale = true;  // a poll failed on a loaded machine: that miner waited for data
        } else {
            CHECK(r.rule == "safety:site_fraction");
            deferred.insert(r.miner_id);
        }
    }
    CHECK(commanded.size() == ips.size());
    if (!stale) CHECK(deferred.size() == ips.size() - 2);  // all but the first round's two
    CHECK(per_round_site.size() == ips.size());
    for (const auto& [key, n] : per_round_site) {
        INFO(format_time(key.first), " ", key.second);
        CHECK(n == 1);
    }
}

TEST_CASE(
    "policy loop: `hashwatt collector` runs it from [policy], exports it on /metrics, and "
    "reloads on SIGHUP, refusing a bad file with its location") {
    test::TempDir dir;
    const std::string policy = dir.path() + "/policy.toml";
    std::ofstream(policy) << kPolicy;
    std::ofstream(dir.path() + "/collector.toml") << R"([storage]
path = "c.db"
[api]
listen = "127.46.0.20:0"
[policy]
file = "policy.toml"
[prices]
kind = "fixed"
price_per_mwh = 42.5
)";
    test::Child collector({kBinary, "collector", "--config", dir.path() + "/collector.toml"},
                          dir.path() + "/collector");
    unsigned port = 0;
    REQUIRE(eventually(20s, [&] {
        const auto out = collector.stdout_text();
        const auto at = out.find("api: http://127.46.0.20:");
        if (at == std::string::npos) return false;
        port = static_cast<unsigned>(std::stoul(out.substr(at + 24)));
        return true;
    }));
    std::string metrics;
    REQUIRE(eventually(20s, [&] {
        metrics = test::http_request("127.46.0.20", port, "GET", "/metrics").body;
        return metrics.find("hashwatt_policy_price_stale 0") != std::string::npos;
    }));
    CHECK(metrics.find("hashwatt_hashprice_per_terahash_day 0.05") != std::string::npos);
    CHECK(collector.stderr_text().find("prices=\"fixed 42.50 USD/MWh\"") != std::string::npos);

    // The bad key goes on the line after the good file's last, in its [safety] table.
    const std::string good(kPolicy);
    const auto bad_line = std::count(good.begin(), good.end(), '\n') + 1;
    std::ofstream(policy) << good << "bogus = 1\n";
    REQUIRE(kill(collector.pid(), SIGHUP) == 0);
    const std::string where =
        "policy.toml:" + std::to_string(bad_line) + ":1: safety.bogus: unknown key";
    CHECK_MESSAGE(eventually(10s,
                             [&] {
                                 const auto err = collector.stderr_text();
                                 return err.find("policy reload refused") != std::string::npos &&
                                        err.find(where) != std::string::npos;
                             }),
                  "expected " << where);
    std::ofstream(policy) << kPolicy;
    REQUIRE(kill(collector.pid(), SIGHUP) == 0);
    CHECK(eventually(10s, [&] {
        return collector.stderr_text().find("msg=\"policy reloaded\"") != std::string::npos;
    }));
    CHECK(collector.stop(SIGTERM) == 0);
}
