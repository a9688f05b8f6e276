// Issue 9, "Done when": what ships in deploy/ works against the real programs. `hashwatt sim`,
// `hashwatt agent` (with its /metrics listener) and `hashwatt collector` (with a policy and its
// alerts pushed to Alertmanager) run on loopback next to Debian's Prometheus and Alertmanager.
// Prometheus runs deploy/prometheus/prometheus.yml and its rules, and Alertmanager
// deploy/alertmanager/alertmanager.yml, both changed only in their addresses. The test waits for
// scrapes, then:
// - evaluates every PromQL expression of every Grafana dashboard panel and template variable
//   through Prometheus' HTTP API, for all sites and for one, and requires data from each;
// - requires every shipped rule healthy and every recording rule to produce series;
// - stops the collector and waits for the shipped HashwattCollectorDown alert to reach the
//   test's webhook through Alertmanager, with the shipped `for`, intervals and group_wait.
// Addresses: 127.55.0.1..6 (miners), 127.55.1.1..6 (collector, agent metrics, sim admin,
// Prometheus, Alertmanager, webhook).
#include "tests/support/dashboards.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/prometheus_api.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kSource = HASHWATT_SOURCE_DIR;
const std::string kPrometheus = "/usr/bin/prometheus";
const std::string kAlertmanager = "/usr/bin/prometheus-alertmanager";
const std::string kAgentToken = "deploy-e2e-agent-token";
const std::string kReadToken = "deploy-e2e-read-token";
const std::string kCollectorIp = "127.55.1.1";
const std::string kAgentIp = "127.55.1.2";
const std::string kPrometheusIp = "127.55.1.4";
const std::string kAlertmanagerIp = "127.55.1.5";
const std::string kHookIp = "127.55.1.6";

using test::adapt;
using test::free_port_on;
using test::host_port;
using test::read_text_file;

// The alerts of Alertmanager's webhook notifications the receiver got: receiver, status,
// alertname per alert.
struct Notified {
    std::string receiver, status, alertname, severity;
};
std::vector<Notified> notified(const test::WebhookReceiver& rx) {
    std::vector<Notified> out;
    for (const auto& r : rx.requests()) {
        boost::system::error_code ec;
        const auto v = json::parse(r.body, ec);
        // Anything else at the webhook is a fault, and shows in the test's message.
        if (ec || !v.is_object() || !v.as_object().contains("alerts")) {
            out.push_back(
                {"?", "not a notification: " + r.method + " " + r.target + " " + r.body, "", ""});
            continue;
        }
        for (const auto& a : v.at("alerts").as_array()) {
            const auto& labels = a.at("labels").as_object();
            const auto label = [&](const char* k) {
                return labels.contains(k) ? std::string(labels.at(k).as_string()) : std::string();
            };
            out.push_back({std::string(v.at("receiver").as_string()),
                           std::string(a.at("status").as_string()), label("alertname"),
                           label("severity")});
        }
    }
    return out;
}

}  // namespace

TEST_CASE("deploy: the shipped Prometheus, Alertmanager and dashboards work on a live fleet" *
          doctest::timeout(540)) {
    REQUIRE_MESSAGE(fs::exists(kPrometheus),
                    kPrometheus << " is missing: apt-get install prometheus");
    REQUIRE_MESSAGE(fs::exists(kAlertmanager),
                    kAlertmanager << " is missing: apt-get install prometheus-alertmanager");
    test::TempDir dir;

    // Six Whatsminers (they report their power limit, which Rig detail shows): four at barn-a,
    // mining; two at barn-b, offline from the start (so barn-b is a site that is down, and the
    // collector's MinerOffline fires for its miners).
    test::SimProcess sim(kBinary,
                         {"--miners", "6", "--mix", "m30s++:6", "--base-ip", "127.55.0.1",
                          "--http-port", "0", "--admin", "127.55.1.3:0"},
                         dir.path() + "/sim");
    for (const char* id : {"127.55.0.5", "127.55.0.6"}) {
        REQUIRE(sim.post(std::string("/api/v1/miners/") + id + "/faults",
                         R"({"kind":"offline"})") == 200);
    }

    test::WebhookReceiver hook(0, kHookIp);
    const unsigned collector_port = free_port_on(kCollectorIp);
    const unsigned agent_port = free_port_on(kAgentIp);
    const test::PrometheusApi prom{kPrometheusIp, free_port_on(kPrometheusIp)};
    const unsigned am_port = free_port_on(kAlertmanagerIp);

    // Alertmanager: the shipped file, its webhook pointed at the test's receiver.
    const std::string am_file = kSource + "/deploy/alertmanager/alertmanager.yml";
    const auto am_config = dir.write(
        "alertmanager.yml",
        adapt(read_text_file(am_file), am_file, "127.0.0.1:9099", host_port(kHookIp, hook.port())));
    fs::create_directories(dir.path() + "/am-data");
    test::Child am(
        {kAlertmanager, "--config.file=" + am_config, "--storage.path=" + dir.path() + "/am-data",
         "--web.listen-address=" + host_port(kAlertmanagerIp, am_port),
         "--cluster.listen-address=", "--log.level=warn"},
        dir.path() + "/alertmanager");
    REQUIRE_MESSAGE(test::wait_ready(kAlertmanagerIp, am_port, am, "/-/ready", 30s),
                    "Alertmanager not ready: " << am.stderr_text());

    // Prometheus: the shipped file and rules; only the four addresses differ.
    const std::string prom_file = kSource + "/deploy/prometheus/prometheus.yml";
    std::string prom_text = read_text_file(prom_file);
    prom_text =
        adapt(prom_text, prom_file, "127.0.0.1:8480", host_port(kCollectorIp, collector_port));
    prom_text = adapt(prom_text, prom_file, "127.0.0.1:9468", host_port(kAgentIp, agent_port));
    prom_text = adapt(prom_text, prom_file, "127.0.0.1:9090", host_port(prom.ip, prom.port));
    prom_text = adapt(prom_text, prom_file, "127.0.0.1:9093", host_port(kAlertmanagerIp, am_port));
    fs::create_directories(dir.path() + "/prometheus");
    fs::copy(kSource + "/deploy/prometheus/rules", dir.path() + "/prometheus/rules",
             fs::copy_options::recursive);
    const auto prom_config = dir.write("prometheus/prometheus.yml", prom_text);
    test::Child prometheus(
        {kPrometheus, "--config.file=" + prom_config,
         "--storage.tsdb.path=" + dir.path() + "/prom-data",
         "--web.listen-address=" + host_port(prom.ip, prom.port), "--log.level=warn"},
        dir.path() + "/prometheus");
    REQUIRE_MESSAGE(test::wait_ready(prom.ip, prom.port, prometheus, "/-/ready", 30s),
                    "Prometheus not ready: " << prometheus.stderr_text());

    // The collector: a policy (the shipped one, deciding every 10 s, with a site cap that
    // sleeps two of barn-a's four miners) and its alerts pushed to the Alertmanager.
    std::string policy = read_text_file(kSource + "/deploy/config/policy.toml");
    policy = adapt(policy, "policy.toml", "interval = \"5m\"", "interval = \"10s\"");
    policy += "\n[[rule]]\nkind = \"site_cap\"\nsite = \"barn-a\"\nkw = 8\n";
    dir.write("policy.toml", policy);
    dir.write("agent.token", kAgentToken + "\n", 0600);
    const auto collector_config =
        dir.write("collector.toml",
                  "[storage]\npath = \"collector.db\"\n"
                  "[api]\nlisten = \"" +
                      host_port(kCollectorIp, collector_port) +
                      "\"\n"
                      "[[token]]\nrole = \"agent\"\nagent_id = \"deploy-agent\"\nsecret_file = "
                      "\"agent.token\"\n"
                      "[[token]]\nrole = \"read\"\nsecret = \"" +
                      kReadToken +
                      "\"\n"
                      "[alerts]\ninterval = \"2s\"\n"
                      "[[alerts.rule]]\nname = \"MinerOffline\"\nfor = \"10s\"\n"
                      "[[alerts.alertmanager]]\nurl = \"http://" +
                      host_port(kAlertmanagerIp, am_port) +
                      "\"\nresend_interval = \"10s\"\n"
                      "[policy]\nfile = \"policy.toml\"\n"
                      "[prices]\nkind = \"fixed\"\nprice_per_mwh = 40\n");
    auto collector = std::make_unique<test::Child>(
        std::vector<std::string>{kBinary, "collector", "--config", collector_config},
        dir.path() + "/collector");
    REQUIRE_MESSAGE(test::wait_ready(kCollectorIp, collector_port, *collector, "/readyz", 30s),
                    "collector not ready: " << collector->stderr_text());

    std::string miners;
    for (int i = 1; i <= 6; ++i) {
        miners += "[[miner]]\nhost = \"127.55.0." + std::to_string(i) + ":" +
                  std::to_string(sim.rpc_port()) + "\"\nsite = \"" +
                  (i <= 4 ? "barn-a" : "barn-b") + "\"\n";
    }
    const auto agent_config =
        dir.write("agent.toml",
                  "[agent]\nid = \"deploy-agent\"\nsite = \"barn-a\"\ninterval = \"2s\"\n"
                  "poll_timeout = \"1500ms\"\nconnect_timeout = \"500ms\"\njitter = 0.0\n"
                  "[metrics]\nlisten = \"" +
                      host_port(kAgentIp, agent_port) + "\"\n" + miners +
                      "[uplink]\nurl = \"http://" + host_port(kCollectorIp, collector_port) +
                      "\"\ntoken_file = \"agent.token\"\nspool_dir = \"spool\"\n"
                      "batch_max_age = \"500ms\"\nretry_min = \"200ms\"\nretry_max = \"1s\"\n");
    test::Child agent({kBinary, "agent", "--config", agent_config}, dir.path() + "/agent");

    const auto logs = [&] {
        return "collector: " + collector->stderr_text() + "\nagent: " + agent.stderr_text() +
               "\nprometheus: " + prometheus.stderr_text();
    };

    // Every target up, at least four scrapes of the collector (so rate() over a minute has
    // points), the policy decided and an alert of the collector firing.
    const auto all_up = [&] {
        const auto v = prom.api("targets");
        if (!v) return false;
        const auto& active = v->at("data").at("activeTargets").as_array();
        std::size_t up = 0;
        for (const auto& t : active) up += t.at("health").as_string() == "up" ? 1u : 0u;
        return !active.empty() && up == active.size();
    };
    const bool targets_up =
        test::wait_until([&] { return all_up() || !agent.running(); }, 90s, 500ms) &&
        agent.running();
    REQUIRE_MESSAGE(targets_up,
                    "targets: " << json::serialize(prom.api("targets").value_or(json::value()))
                                << "\n"
                                << logs());
    // What the panels need before their queries can all return data, each with the number of
    // series wanted (at least `min`, at most `max`) and, for the message, what it last had.
    struct Condition {
        std::string expr;
        long min, max;
    };
    const std::vector<Condition> warm_up_conditions{
        {R"(count_over_time(up{job="hashwatt-collector"}[90s]) >= 4)", 1, 1},
        {R"(hashwatt_policy_target_state{state=~"reduced|sleep"} == 1)", 1, 4},
        {R"(hashwatt_miner_alert_firing{alertname="MinerOffline"})", 2, 2},
        {R"(hashwatt_miner_up{site="barn-a"} == 1)", 4, 4},
        {R"(ALERTS{alertname="HashwattSiteDown",site="barn-b"})", 1, 1},
        {R"(hashwatt_miner_state{state="mining"} == 1 and on (miner) hashwatt_miner_power_limit_watts)",
         1, 4},
    };
    std::string warm_up_status;
    const auto warmed_up = [&] {
        bool all = true;
        warm_up_status.clear();
        for (const auto& c : warm_up_conditions) {
            const long n = prom.series(c.expr);
            const bool ok = n >= c.min && n <= c.max;
            all = all && ok;
            warm_up_status += (ok ? "ok   " : "NOT  ") + std::to_string(n) + "  " + c.expr + "\n";
        }
        return all;
    };
    REQUIRE_MESSAGE(test::wait_until(warmed_up, 180s, 1s), warm_up_status << logs());

    // A miner that is hashing and reports its power limit is the Rig detail's miner (the
    // policy's site cap may have it reduced: it still has boards, fans and shares to show).
    const auto hashing = prom.query(
        R"(hashwatt_miner_state{state="mining"} == 1 and on (miner) hashwatt_miner_power_limit_watts)");
    REQUIRE(hashing);
    REQUIRE(!hashing->at("result").as_array().empty());
    const std::string rig(hashing->at("result").at(0).at("metric").at("miner").as_string());

    // Every dashboard query returns data, with the site variable at All and at one site.
    const std::string dashboards = kSource + "/deploy/grafana/dashboards";
    std::size_t evaluated = 0;
    std::vector<std::string> failures;
    for (const std::string site : {".*", "barn-a"}) {
        const std::map<std::string, std::string> vars{
            {"datasource", "hashwatt-prometheus"}, {"site", site}, {"miner", rig}};
        const auto queries = test::dashboard_queries(dashboards, vars);
        REQUIRE(queries.size() >= 20);
        for (const auto& q : queries) {
            std::string error;
            const long n = prom.series(q.expr, &error);
            ++evaluated;
            if (n <= 0) {
                failures.push_back(
                    q.dashboard_uid + " / " + q.panel_title + " / " + q.ref_id + " (site " + site +
                    "): " + (n < 0 ? "error " + error : std::string("no data")) + "\n  " + q.expr);
            }
        }
    }
    MESSAGE(evaluated << " dashboard queries evaluated");
    std::string all_failures;
    for (const auto& f : failures) all_failures += f + "\n";
    CHECK_MESSAGE(failures.empty(), failures.size() << " dashboard queries failed:\n"
                                                    << all_failures);

    // Every shipped rule is loaded and healthy; every recording rule has series.
    const auto rules = prom.api("rules");
    REQUIRE(rules);
    std::size_t recording = 0, alerting = 0;
    for (const auto& g : rules->at("data").at("groups").as_array()) {
        for (const auto& r : g.at("rules").as_array()) {
            const std::string name(r.at("name").as_string());
            INFO("rule ", name, ": ", json::serialize(r));
            CHECK(r.at("health").as_string() == "ok");
            if (r.at("type").as_string() == "recording") {
                ++recording;
                CHECK(prom.series(name) > 0);
            } else {
                ++alerting;
            }
        }
    }
    CHECK(recording >= 10);
    CHECK(alerting >= 5);

    // The collector stops: the shipped HashwattCollectorDown reaches the webhook.
    CHECK(collector->stop(SIGTERM) == 0);
    const auto stopped = std::chrono::steady_clock::now();
    const auto collector_down = [&] {
        for (const auto& n : notified(hook)) {
            if (n.alertname == "HashwattCollectorDown" && n.status == "firing") return true;
        }
        return false;
    };
    const auto received = [&] {
        std::string out;
        for (const auto& n : notified(hook)) {
            out += n.receiver + " " + n.status + " " + n.alertname + " " + n.severity + "\n";
        }
        return out;
    };
    CHECK_MESSAGE(test::wait_until(collector_down, 300s, 500ms),
                  "no HashwattCollectorDown at the webhook; it got:\n"
                      << received() << "alertmanager: " << am.stderr_text()
                      << "\nprometheus: " << prometheus.stderr_text());
    MESSAGE("HashwattCollectorDown at the webhook "
            << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                stopped)
                   .count()
            << " s after the collector stopped");
    for (const auto& n : notified(hook)) CHECK_MESSAGE(n.receiver != "?", n.status);
    for (const auto& n : notified(hook)) {
        if (n.alertname != "HashwattCollectorDown") continue;
        CHECK(n.severity == "critical");
        CHECK(n.receiver == "hashwatt-page");  // the shipped route for critical alerts
    }
}
