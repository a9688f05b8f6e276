// Alerts end to end: `hashwatt sim` miners polled by an in-process agent (Poller posting to an
// in-process collector), the AlertEngine evaluating the collector's store, and the alerts read
// back through GET /api/v1/alerts. A fault on the miner makes its alert pending, then firing;
// clearing it resolves the alert; each change is announced once. Addresses: 127.41.0.0/28.
#include "agent/poller.hpp"
#include "agent/transport/transport.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/service.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/alerts_harness.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::test::alerts_harness;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace alerts = hashwatt::collector::alerts;
using SteadyClock = std::chrono::steady_clock;

namespace {

const std::string kBinary = HASHWATT_BINARY;

std::vector<alerts::AlertRule> fast_rules() {
    std::vector<alerts::AlertRule> out;
    for (auto r : alerts::default_rules()) {
        if (r.kind == alerts::RuleKind::offline) {
            r.threshold = 2;  // no good poll for 2 s (polls every 500 ms)
            r.for_duration = 3s;
            r.keep_firing_for = 0s;
        } else if (r.kind == alerts::RuleKind::chip_temp_high) {
            r.for_duration = 2s;
            r.keep_firing_for = 1s;
        }
        out.push_back(r);
    }
    return out;
}

}  // namespace

TEST_CASE("alerts: chip overheat and offline go pending, firing, resolved, announced once") {
    test::TempDir dir;
    // Overheating adds 30 C (chips at ~100 C); the sim's own protection would stop the miner
    // at 95 C and cool it, so it is raised out of the way to let the alert see the heat.
    const auto sim_config = dir.write("sim.toml", "[physics]\nprotect_chip_temp_c = 140\n");
    test::SimProcess sim(kBinary,
                         {"--config", sim_config, "--miners", "2", "--mix", "s19pro:2", "--base-ip",
                          "127.41.0.1", "--http-port", "0"},
                         dir.path() + "/sim");
    Collector c;
    Sink sink;
    alerts::AlertEngine engine(c.store(), fast_rules(),
                               [&](const alerts::Notification& n) { sink(n); },
                               {250ms, "http://127.0.0.1:" + std::to_string(c.port()), {}});

    agent::AgentConfig cfg;
    cfg.agent_id = kAgentId;
    cfg.site = "lab";
    cfg.interval = 500ms;
    cfg.jitter = 0;
    cfg.poll_timeout = 2s;
    cfg.max_backoff = 500ms;
    for (const std::string host : {"127.41.0.1", "127.41.0.2"}) {
        agent::MinerEntry m;
        m.endpoint.host = host;
        m.endpoint.http_port = static_cast<std::uint16_t>(sim.http_port());
        m.endpoint.site = "lab";
        cfg.miners.push_back(m);
    }
    Agent agent(cfg, c.port());
    REQUIRE(eventually(30s, [&] {
        const auto ms = c.store().miners();
        return ms.size() == 2 && ms[0].last_up && ms[1].last_up;
    }));
    std::string hot, down;
    for (const auto& m : c.store().miners()) (m.host == "127.41.0.1" ? hot : down) = m.miner_id;
    // Healthy miners: nothing pending or firing.
    const auto first = engine.evaluate_once(now_ms());
    CHECK(first.evaluated == 2 * 10 + 1);  // 10 rules per miner, and AgentSilent for the agent
    CHECK(first.pending + first.firing == 0);
    CHECK(alerts_of(c, "").empty());
    engine.start();

    const auto chip_fp = alerts::alert_fingerprint("MinerChipTempHigh", hot);
    REQUIRE(sim.post("/api/v1/miners/127.41.0.1/faults", R"({"kind":"overheating"})") == 200);
    REQUIRE(eventually(
        30s, [&] { return alerts_of(c, "state=firing&alertname=MinerChipTempHigh").size() == 1; }));
    auto a = alerts_of(c, "state=firing&miner=" + hot).at(0).as_object();
    CHECK(a.at("fingerprint").as_string() == chip_fp);
    CHECK(a.at("labels").at("site").as_string() == "lab");
    CHECK(a.at("labels").at("severity").as_string() == "critical");
    const std::string summary(a.at("annotations").at("summary").as_string());
    INFO(summary);
    CHECK(summary.find("Miner " + hot + " chips at") != std::string::npos);
    CHECK(history(c, chip_fp) == "pending,firing");
    CHECK(sink.of(chip_fp) == "firing");

    REQUIRE(sim.del("/api/v1/miners/127.41.0.1/faults") == 200);
    REQUIRE(eventually(30s, [&] {
        return alerts_of(c, "state=resolved&alertname=MinerChipTempHigh").size() == 1;
    }));
    CHECK(history(c, chip_fp) == "pending,firing,resolved");
    CHECK(sink.of(chip_fp) == "firing,resolved");

    const auto off_fp = alerts::alert_fingerprint("MinerOffline", down);
    REQUIRE(sim.post("/api/v1/miners/127.41.0.2/faults", R"({"kind":"offline"})") == 200);
    REQUIRE(eventually(
        30s, [&] { return alerts_of(c, "state=firing&alertname=MinerOffline").size() == 1; }));
    a = alerts_of(c, "state=firing&alertname=MinerOffline").at(0).as_object();
    CHECK(a.at("miner").as_string() == down);
    CHECK(history(c, off_fp) == "pending,firing");
    CHECK(sink.of(off_fp) == "firing");

    REQUIRE(sim.del("/api/v1/miners/127.41.0.2/faults") == 200);
    REQUIRE(eventually(
        30s, [&] { return alerts_of(c, "state=resolved&alertname=MinerOffline").size() == 1; }));
    CHECK(history(c, off_fp) == "pending,firing,resolved");
    CHECK(sink.of(off_fp) == "firing,resolved");

    engine.stop();
    // Only the two faults made alerts; the API's filters and errors.
    CHECK(alerts_of(c, "state=firing").empty());
    CHECK(alerts_of(c, "").size() == 2);
    CHECK(alerts_of(c, "limit=1").size() == 1);
    const auto bad = test::http_request("127.0.0.1", c.port(), "GET", "/api/v1/alerts?state=on", "",
                                        {"Authorization: Bearer " + kReadToken}, 10s);
    CHECK(bad.status == 400);
    CHECK(bad.body.find("\"path\":\"state\"") != std::string::npos);
    const auto unknown = test::http_request("127.0.0.1", c.port(), "GET", "/api/v1/alerts/0000", "",
                                            {"Authorization: Bearer " + kReadToken}, 10s);
    CHECK(unknown.status == 404);
    const auto anon =
        test::http_request("127.0.0.1", c.port(), "GET", "/api/v1/alerts", "", {}, 10s);
    CHECK(anon.status == 401);
}

TEST_CASE("alerts: the collector service delivers firing and resolved to a configured webhook") {
    test::TempDir dir;
    test::WebhookReceiver hook;
    collector::CollectorConfig cfg;
    cfg.database_path = dir.path() + "/c.db";
    cfg.api.address = "127.0.0.1";
    cfg.api.port = 0;
    cfg.alerts.interval = 100ms;
    for (auto& r : cfg.alerts.rules) {
        r.for_duration = 0s;
        r.keep_firing_for = 0s;
    }
    alerts::WebhookOptions w;
    w.name = "ops";
    w.endpoint =
        alerts::parse_http_endpoint("http://127.0.0.1:" + std::to_string(hook.port()) + "/hook");
    w.timeout = 5s;
    cfg.notifiers.webhooks.push_back(w);

    collector::CollectorService svc(cfg);
    const auto hot = [&](double chip_c, std::int64_t seq) {
        MinerSample s;
        s.miner_id = "m1";
        s.site = "lab";
        s.host = "127.41.0.9";
        s.observed_at = now_ms();
        s.up = true;
        s.state = MinerState::mining;
        BoardSample b;
        b.chip_temp_max_c = chip_c;
        s.boards.push_back(b);
        svc.store().ingest({kAgentId, std::nullopt, seq, {s}, {}});
    };
    hot(97, 1);
    REQUIRE(eventually(15s, [&] { return hook.count() >= 1; }));
    hot(70, 2);
    REQUIRE(eventually(15s, [&] { return hook.count() >= 2; }));
    const auto got = hook.requests();
    REQUIRE(got.size() == 2);
    const auto first = json::parse(got[0].body).as_object();
    const auto second = json::parse(got[1].body).as_object();
    CHECK(got[0].target == "/hook");
    CHECK(first.at("status").as_string() == "firing");
    CHECK(first.at("notifier").as_string() == "ops");
    CHECK(first.at("alert").at("alertname").as_string() == "MinerChipTempHigh");
    CHECK(first.at("alert").at("labels").at("miner").as_string() == "m1");
    CHECK(second.at("status").as_string() == "resolved");
    CHECK(second.at("alert").at("fingerprint") == first.at("alert").at("fingerprint"));
}
