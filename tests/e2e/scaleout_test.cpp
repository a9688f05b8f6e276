// Issue 10, scale-out: the topology of docs/scaling.md on loopback. Two sites, each with its own
// `hashwatt sim` fleet, agent, collector (its own tokens, prices and power policy) and regional
// Prometheus (the shipped deploy/prometheus/prometheus.yml, changed only in its addresses and
// with its commented external_labels set to the region); one global Prometheus runs the shipped
// deploy/prometheus/federation.yml, changed only in its addresses. Everything is asked through
// the global Prometheus' HTTP API:
// - the miners known fleet-wide (10), the per-site sums of both sites with their region;
// - the fleet-wide power sum against the two regional Prometheus' own fleet sums;
// - the policy's curtailment per site: site-b's electricity costs more, so its policy sleeps its
//   least efficient miner; site-a's sleeps none;
// - collector b stopped: its region's `up` 0 and its HashwattCollectorDown in the global view;
// - which dashboard queries work unchanged on the federated data (docs/scaling.md lists them).
// Addresses: 127.56.0.x (site-a miners), 127.56.1.x (site-a collector, agent metrics, sim admin,
// Prometheus), 127.56.2.x and 127.56.3.x (the same for site-b), 127.56.4.x (global Prometheus,
// an Alertmanager address nothing listens on).
#include "tests/support/dashboards.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/prometheus_api.hpp"
#include "tests/support/sim_process.hpp"

#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
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
// Alerts of all three Prometheus servers go here; nothing listens (this test reads alerts
// through the API), so they log a failed send at most.
const std::string kAlertmanager = "127.56.4.5:9";

using Prometheus = test::PrometheusApi;
using test::adapt;
using test::free_port_on;
using test::host_port;
using test::read_text_file;

std::unique_ptr<test::Child> start_prometheus(const Prometheus& p, const std::string& config,
                                              const std::string& data, const std::string& log) {
    auto child = std::make_unique<test::Child>(
        std::vector<std::string>{
            kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + data,
            "--web.listen-address=" + host_port(p.ip, p.port), "--log.level=warn"},
        log);
    REQUIRE_MESSAGE(
        test::wait_ready(p.ip, p.port, *child, "/-/ready", 60s),
        "Prometheus " << host_port(p.ip, p.port) << " not ready: " << child->stderr_text());
    return child;
}

// One site and its shard: fleet, collector, agent, regional Prometheus. Members are destroyed
// in reverse order, so each child is stopped before the directory it writes to is removed.
struct Region {
    std::string name, site, net;  // net: "127.56.0" holds the miners, the next one the rest
    std::unique_ptr<test::TempDir> dir;
    std::unique_ptr<test::SimProcess> sim;
    std::string collector_ip, agent_ip;
    unsigned collector_port = 0, agent_port = 0;
    Prometheus prom;
    std::unique_ptr<test::Child> prometheus, collector, agent;
    std::string agent_token;

    std::string logs() const {
        return name + " collector: " + (collector ? collector->stderr_text() : "") + "\n" + name +
               " agent: " + (agent ? agent->stderr_text() : "") + "\n" + name +
               " prometheus: " + (prometheus ? prometheus->stderr_text() : "") + "\n";
    }
};

// Starts a region: `mix` for `miners` simulated miners on NET.1.., `price` per MWh fixed,
// the shipped policy deciding every 10 s plus `extra_policy`.
void start_region(Region& r, const std::string& name, const std::string& site,
                  const std::string& miners_net, const std::string& host_net, int miners,
                  const std::string& mix, double price, const std::string& extra_policy) {
    r.name = name;
    r.site = site;
    r.dir = std::make_unique<test::TempDir>();
    const auto& dir = *r.dir;
    r.sim = std::make_unique<test::SimProcess>(
        kBinary,
        std::vector<std::string>{"--miners", std::to_string(miners), "--mix", mix, "--base-ip",
                                 miners_net + ".1", "--http-port", "0", "--admin",
                                 host_net + ".3:0"},
        dir.path() + "/sim");
    r.collector_ip = host_net + ".1";
    r.agent_ip = host_net + ".2";
    r.collector_port = free_port_on(r.collector_ip);
    r.agent_port = free_port_on(r.agent_ip);
    r.prom = {host_net + ".4", free_port_on(host_net + ".4")};

    // The regional Prometheus: the shipped file and rules, its addresses and its region.
    const std::string prom_file = kSource + "/deploy/prometheus/prometheus.yml";
    std::string text = read_text_file(prom_file);
    text = adapt(text, prom_file, "127.0.0.1:8480", host_port(r.collector_ip, r.collector_port));
    text = adapt(text, prom_file, "127.0.0.1:9468", host_port(r.agent_ip, r.agent_port));
    text = adapt(text, prom_file, "127.0.0.1:9090", host_port(r.prom.ip, r.prom.port));
    text = adapt(text, prom_file, "127.0.0.1:9093", kAlertmanager);
    text = adapt(text, prom_file, "  # external_labels:\n  #   region: region-a\n",
                 "  external_labels:\n    region: " + name + "\n");
    fs::create_directories(dir.path() + "/prometheus");
    fs::copy(kSource + "/deploy/prometheus/rules", dir.path() + "/prometheus/rules",
             fs::copy_options::recursive);
    const auto prom_config = dir.write("prometheus/prometheus.yml", text);
    r.prometheus = start_prometheus(r.prom, prom_config, dir.path() + "/prom-data",
                                    dir.path() + "/prometheus");

    // The collector: its own agent and token, its own price and policy.
    std::string policy = read_text_file(kSource + "/deploy/config/policy.toml");
    policy = adapt(policy, "policy.toml", "interval = \"5m\"", "interval = \"10s\"");
    dir.write("policy.toml", policy + extra_policy);
    r.agent_token = "scaleout-" + name + "-agent-token";
    dir.write("agent.token", r.agent_token + "\n", 0600);
    std::ostringstream price_text;
    price_text << price;
    const auto collector_config = dir.write(
        "collector.toml",
        "[storage]\npath = \"collector.db\"\n[api]\nlisten = \"" +
            host_port(r.collector_ip, r.collector_port) +
            "\"\n[[token]]\nrole = \"agent\"\nagent_id = \"agent-" + name +
            "\"\nsecret_file = \"agent.token\"\n[[token]]\nrole = \"read\"\nsecret = \"scaleout-" +
            name +
            "-read-token\"\n[policy]\nfile = \"policy.toml\"\n"
            "[prices]\nkind = \"fixed\"\nprice_per_mwh = " +
            price_text.str() + "\n");
    r.collector = std::make_unique<test::Child>(
        std::vector<std::string>{kBinary, "collector", "--config", collector_config},
        dir.path() + "/collector");
    REQUIRE_MESSAGE(
        test::wait_ready(r.collector_ip, r.collector_port, *r.collector, "/readyz", 60s),
        name << " collector not ready: " << r.collector->stderr_text());

    std::string miner_list;
    for (int i = 1; i <= miners; ++i) {
        miner_list += "[[miner]]\nhost = \"" + miners_net + "." + std::to_string(i) + ":" +
                      std::to_string(r.sim->rpc_port()) + "\"\nsite = \"" + site + "\"\n";
    }
    const auto agent_config = dir.write(
        "agent.toml",
        "[agent]\nid = \"agent-" + name + "\"\nsite = \"" + site +
            "\"\ninterval = \"2s\"\npoll_timeout = \"1500ms\"\nconnect_timeout = \"500ms\"\n"
            "jitter = 0.0\n[metrics]\nlisten = \"" +
            host_port(r.agent_ip, r.agent_port) + "\"\n" + miner_list +
            "[uplink]\nurl = \"http://" + host_port(r.collector_ip, r.collector_port) +
            "\"\ntoken_file = \"agent.token\"\nspool_dir = \"spool\"\n"
            "batch_max_age = \"500ms\"\nretry_min = \"200ms\"\nretry_max = \"1s\"\n");
    r.agent = std::make_unique<test::Child>(
        // warn: a line every poll interval from each agent would bury a failure's message.
        std::vector<std::string>{kBinary, "--log-level", "warn", "agent", "--config", agent_config},
        dir.path() + "/agent");
}

// A query "reads only federated data" when it names no per-miner family (a hashwatt_miner_*
// or hashwatt_policy_target_state name that is not part of a recording rule's level:name:op)
// and no regional fleet: rule (not federated: it would not sum across regions).
bool reads_only_federated(const std::string& expr) {
    if (expr.find("fleet:") != std::string::npos) return false;
    for (const std::string raw : {"hashwatt_miner_", "hashwatt_policy_target_state"}) {
        for (auto at = expr.find(raw); at != std::string::npos; at = expr.find(raw, at + 1)) {
            if (at == 0 || expr[at - 1] != ':') return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE("scale-out: two sharded collectors, regional Prometheus, one global federation" *
          doctest::timeout(330)) {
    REQUIRE_MESSAGE(fs::exists(kPrometheus),
                    kPrometheus << " is missing: apt-get install prometheus");

    // site-a: six M30S++ at 40/MWh, all worth running; its policy also caps the site at
    // 100 kW, above its draw (so the cap is exported and binds nothing). site-b: three M60 and
    // one M30S++ at 80/MWh, above the M30S++'s break-even at every power target (about 70 with
    // the 2 % margin, docs/policy.md) and below the M60's: its policy sleeps the M30S++.
    Region a, b;
    start_region(a, "region-a", "site-a", "127.56.0", "127.56.1", 6, "m30s++:6", 40,
                 "\n[[rule]]\nkind = \"site_cap\"\nsite = \"site-a\"\nkw = 100\n");
    start_region(b, "region-b", "site-b", "127.56.2", "127.56.3", 4, "m60:3,m30s++:1", 80, "");

    // The global Prometheus: the shipped federation.yml and its rules; only addresses differ.
    test::TempDir gdir;
    const Prometheus global{"127.56.4.4", free_port_on("127.56.4.4")};
    const std::string fed_file = kSource + "/deploy/prometheus/federation.yml";
    std::string fed = read_text_file(fed_file);
    fed = adapt(fed, fed_file, "127.0.0.1:9091", host_port(a.prom.ip, a.prom.port));
    fed = adapt(fed, fed_file, "127.0.0.1:9092", host_port(b.prom.ip, b.prom.port));
    fed = adapt(fed, fed_file, "127.0.0.1:9090", host_port(global.ip, global.port));
    fed = adapt(fed, fed_file, "127.0.0.1:9093", kAlertmanager);
    fs::create_directories(gdir.path() + "/global/federation");
    fs::copy(kSource + "/deploy/prometheus/federation/rules",
             gdir.path() + "/global/federation/rules", fs::copy_options::recursive);
    const auto fed_config = gdir.write("global/federation.yml", fed);
    auto global_child =
        start_prometheus(global, fed_config, gdir.path() + "/global-data", gdir.path() + "/global");

    const auto logs = [&] {
        return a.logs() + b.logs() + "global prometheus: " + global_child->stderr_text();
    };

    // Each collector knows only its own agents: region-a's agent token is refused by b.
    const std::string empty_batch =
        R"({"agent_id":"agent-region-a","site":"site-a","batch_seq":1,"samples":[]})";
    CHECK(test::http_request(
              b.collector_ip, b.collector_port, "POST", "/api/v1/ingest", empty_batch,
              {"Authorization: Bearer " + a.agent_token, "Content-Type: application/json"})
              .status == 401);

    // Warm-up, through the global Prometheus only: every condition with the number of series
    // wanted (at least `min`, at most `max`) and, for the message, what it last had.
    struct Condition {
        std::string expr;
        long min, max;
    };
    const std::vector<Condition> warm_up{
        {R"(global:hashwatt_miner_up:count == 10)", 1, 1},
        {R"(global:hashwatt_miner_up:sum == 10)", 1, 1},
        {R"(site:hashwatt_miner_power_watts:sum{site="site-a",region="region-a"})", 1, 1},
        {R"(site:hashwatt_miner_power_watts:sum{site="site-b",region="region-b"})", 1, 1},
        {R"(site_state:hashwatt_policy_target_state:sum{site="site-b",state="sleep"} == 1)", 1, 1},
        {R"(site_state:hashwatt_policy_target_state:sum{site="site-a",state="sleep"} == 0)", 1, 1},
        {R"(site_state:hashwatt_policy_target_state:sum{site="site-a",state="full"} == 6)", 1, 1},
        // The global rules run every 30 s, after federation brought the site series above.
        {R"(global_state:hashwatt_policy_target_state:sum{state="sleep"} == 1)", 1, 1},
        {R"(up{job="hashwatt-collector"} == 1)", 2, 2},
        {R"(up{job="hashwatt-federate"} == 1)", 2, 2},
    };
    std::string status;
    const auto warmed_up = [&] {
        bool all = true;
        status.clear();
        for (const auto& c : warm_up) {
            const auto r = global.vector(c.expr);
            const long n = r ? static_cast<long>(r->size()) : -1;
            const bool ok = n >= c.min && n <= c.max;
            all = all && ok;
            status += (ok ? "ok   " : "NOT  ") + std::to_string(n) + "  " + c.expr + "\n";
        }
        return all;
    };
    REQUIRE_MESSAGE(
        test::wait_until([&] { return warmed_up() || !a.agent->running() || !b.agent->running(); },
                         200s, 1s),
        status << logs());
    REQUIRE(a.agent->running());
    REQUIRE(b.agent->running());

    // Miners known fleet-wide; the per-site sums of both sites, each with its region.
    CHECK(global.value("global:hashwatt_miner_up:count") == 10.0);
    const auto site_regions = [&](const std::string& expr) {
        std::map<std::string, std::string> out;
        for (const auto& s : global.vector(expr).value_or(json::array{})) {
            const auto& m = s.at("metric").as_object();
            out[std::string(m.at("site").as_string())] =
                m.contains("region") ? std::string(m.at("region").as_string()) : "";
        }
        return out;
    };
    const std::map<std::string, std::string> want{{"site-a", "region-a"}, {"site-b", "region-b"}};
    for (const char* rule : {"site:hashwatt_miner_hashrate_hashes_per_second:sum",
                             "site:hashwatt_miner_expected_hashrate_hashes_per_second:sum",
                             "site:hashwatt_miner_power_watts:sum", "site:hashwatt_miner_up:count",
                             "site:hashwatt_miner_efficiency_joules_per_terahash:ratio"}) {
        INFO(rule);
        CHECK(site_regions(rule) == want);
    }
    CHECK(global.by("region:hashwatt_miner_up:count", "region") ==
          std::map<std::string, double>{{"region-a", 6}, {"region-b", 4}});

    // The fleet-wide power sum against the two collectors' own sums as their regional
    // Prometheus recorded them. Miner power is steady in the simulator (no noise on it), but
    // samples move through three evaluations and a federation scrape, and the slept miner
    // ramps down for a while: compare until both sides agree on a settled fleet, i.e. two
    // readings of the global sum in a row are equal and match the regional sums.
    double g = 0, ra = 0, rb = 0, sa = 0, sb = 0;
    const auto power_agrees = [&] {
        const auto g1 = global.value("global:hashwatt_miner_power_watts:sum");
        const auto a1 = a.prom.value("fleet:hashwatt_miner_power_watts:sum");
        const auto b1 = b.prom.value("fleet:hashwatt_miner_power_watts:sum");
        const auto per_site = global.by("site:hashwatt_miner_power_watts:sum", "site");
        const auto g2 = global.value("global:hashwatt_miner_power_watts:sum");
        if (!g1 || !a1 || !b1 || !g2 || per_site.size() != 2) return false;
        g = *g1;
        ra = *a1;
        rb = *b1;
        sa = per_site.at("site-a");
        sb = per_site.at("site-b");
        const auto near = [](double x, double y) { return std::abs(x - y) <= 1e-6 * std::abs(y); };
        return *g1 == *g2 && near(g, ra + rb) && near(sa, ra) && near(sb, rb);
    };
    CHECK_MESSAGE(test::wait_until(power_agrees, 120s, 2s),
                  "global " << g << " W, regional " << ra << " + " << rb << " = " << ra + rb
                            << " W; federated sites " << sa << " + " << sb << " W");
    CHECK(g > 5 * 3000.0);  // six M30S++ at full power alone draw more than that

    // Curtailment per site, and the fleet-wide count of it.
    CHECK(global.value(
              R"(site_state:hashwatt_policy_target_state:sum{site="site-b",state="sleep"})") ==
          1.0);
    CHECK(global.value(
              R"(site_state:hashwatt_policy_target_state:sum{site="site-a",state="sleep"})") ==
          0.0);
    CHECK(global.value(R"(global_state:hashwatt_policy_target_state:sum{state="sleep"})") == 1.0);
    // site-a's cap is exported with its site (the policy's per-site figures are federated).
    CHECK(global.by("hashwatt_policy_site_power_cap_watts", "site").count("site-a") == 1);
    CHECK(global.by("hashwatt_energy_price_per_megawatt_hour", "region") ==
          std::map<std::string, double>{{"region-a", 40}, {"region-b", 80}});

    // Collector b stops: the global view shows its region's collector down, and the shipped
    // HashwattCollectorDown of region-b (pending, then firing) next to a healthy region-a.
    CHECK(b.collector->stop(SIGTERM) == 0);
    const auto collector_down = [&] {
        return global.by(R"(up{job="hashwatt-collector"})", "region") ==
                   std::map<std::string, double>{{"region-a", 1}, {"region-b", 0}} &&
               global.value(R"(region:hashwatt_collector_up:sum{region="region-b"})") == 0.0 &&
               global.by(R"(ALERTS{alertname="HashwattCollectorDown"})", "region")
                       .count("region-b") == 1;
    };
    CHECK_MESSAGE(
        test::wait_until(collector_down, 120s, 1s),
        "up: " << json::serialize(
                      global.vector(R"(up{job="hashwatt-collector"})").value_or(json::array{}))
               << "\nALERTS: " << json::serialize(global.vector("ALERTS").value_or(json::array{}))
               << "\n"
               << logs());
    CHECK(global.by(R"(ALERTS{alertname="HashwattCollectorDown"})", "region").count("region-a") ==
          0);

    // The shipped dashboards on the global view, site at All: every query that reads only
    // federated data returns some; the others (per-miner panels, the site and miner pickers)
    // are listed, and docs/scaling.md says to point those at a regional Prometheus.
    const std::map<std::string, std::string> vars{{"datasource", "hashwatt-global"},
                                                  {"site", ".*"},
                                                  {"miner", ".*"},
                                                  // Grafana's value for a 30s data source.
                                                  {"__rate_interval", "2m"}};
    const auto queries = test::dashboard_queries(kSource + "/deploy/grafana/dashboards", vars);
    REQUIRE(queries.size() >= 20);
    std::vector<std::string> failed;
    std::string unchanged, regional_only;
    std::size_t works = 0;
    for (const auto& q : queries) {
        const std::string name = q.dashboard_uid + " / " + q.panel_title + " / " + q.ref_id;
        if (!reads_only_federated(q.expr)) {
            regional_only += "  " + name + "\n";
            continue;
        }
        std::string error;
        const auto r = global.vector(q.expr, &error);
        if (!r || r->empty()) {
            failed.push_back(name + ": " + (r ? std::string("no data") : "error " + error) +
                             "\n  " + q.expr);
            continue;
        }
        ++works;
        unchanged += "  " + name + "\n";
    }
    MESSAGE(works << " dashboard queries work unchanged on the global view:\n"
                  << unchanged << "needing per-miner series (a regional data source):\n"
                  << regional_only);
    std::string all_failed;
    for (const auto& f : failed) all_failed += f + "\n";
    CHECK_MESSAGE(failed.empty(), failed.size() << " queries of federated data failed:\n"
                                                << all_failed);
    CHECK(works >= 15);

    // Every global rule is loaded and healthy.
    const auto rules = global.api("rules");
    REQUIRE(rules);
    std::size_t recording = 0;
    for (const auto& grp : rules->at("data").at("groups").as_array()) {
        for (const auto& r : grp.at("rules").as_array()) {
            INFO("rule ", json::serialize(r));
            CHECK(r.at("health").as_string() == "ok");
            recording += r.at("type").as_string() == "recording" ? 1u : 0u;
        }
    }
    CHECK(recording >= 15);
}
