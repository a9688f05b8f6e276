// The acknowledge and silence routes on a collector service with its alert engine running (100 ms
// evaluations, rules that fire at once) and a webhook receiver: roles, errors, what a read shows
// afterwards, that a silenced alert's firing reaches no notifier until the silence is lifted, and
// the alert families of a real scrape (promtool included). Loopback 127.0.0.1 only.
#include "collector/alerts/notifier_config.hpp"
#include "collector/service.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace http = boost::beast::http;
namespace alerts = hashwatt::collector::alerts;

namespace {

const std::string kAdmin = "actions-admin-token";
const std::string kRead = "actions-read-token";
const std::string kAgent = "actions-agent-token";
const std::string kAgentId = "agent-actions";

template <typename Pred>
bool eventually(std::chrono::milliseconds within, Pred pred) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

struct Service {
    test::TempDir dir;
    test::WebhookReceiver hook;
    std::unique_ptr<collector::CollectorService> svc;
    std::int64_t seq = 0;

    Service() {
        collector::CollectorConfig cfg;
        cfg.database_path = dir.path() + "/c.db";
        cfg.api.address = "127.0.0.1";
        cfg.api.port = 0;
        cfg.api.tokens = {{kAdmin, collector::Role::admin, ""},
                          {kRead, collector::Role::read, ""},
                          {kAgent, collector::Role::agent, kAgentId}};
        cfg.alerts.interval = 100ms;
        for (auto& r : cfg.alerts.rules) {
            r.for_duration = 0s;
            r.keep_firing_for = 0s;
        }
        alerts::WebhookOptions w;
        w.name = "ops";
        w.endpoint = alerts::parse_http_endpoint("http://127.0.0.1:" + std::to_string(hook.port()) +
                                                 "/hook");
        w.timeout = 5s;
        cfg.notifiers.webhooks.push_back(w);
        svc = std::make_unique<collector::CollectorService>(cfg);
    }

    void chip(double chip_c) {
        MinerSample s;
        s.miner_id = "m1";
        s.site = "lab";
        s.host = "127.0.0.9";
        s.observed_at = now_ms();
        s.up = true;
        s.state = MinerState::mining;
        BoardSample b;
        b.chip_temp_max_c = chip_c;
        s.boards.push_back(b);
        svc->store().ingest({kAgentId, std::nullopt, ++seq, {s}, {}});
    }

    test::ApiResponse call(http::verb method, const std::string& target, const std::string& body,
                           const std::optional<std::string>& token = kAdmin) const {
        return test::api_request(svc->port(), method, target, body, token);
    }

    // The alert as GET /api/v1/alerts/{fp} shows it (null when it is not there).
    json::value alert(const std::string& fp) const {
        const auto r = call(http::verb::get, "/api/v1/alerts/" + fp, {}, kRead);
        if (r.status != 200) return nullptr;
        return r.json().at("alert");
    }

    // The fingerprint of m1's firing chip alert, once there is one.
    std::string firing_fp() const {
        std::string fp;
        eventually(15s, [&] {
            const auto r = call(http::verb::get, "/api/v1/alerts?state=firing&miner=m1", {}, kRead);
            if (r.status != 200) return false;
            const auto body = r.json();
            const auto& list = body.at("alerts").as_array();
            if (list.empty()) return false;
            fp = std::string(list[0].at("fingerprint").as_string());
            return true;
        });
        return fp;
    }

    std::string webhook_status(std::size_t i) const {
        const auto got = hook.requests();
        if (i >= got.size()) return "";
        return std::string(json::parse(got[i].body).at("status").as_string());
    }
};

}  // namespace

TEST_CASE("alert ack: admin only, body checked field by field, saved with an event") {
    Service s;
    s.chip(97);
    const std::string fp = s.firing_fp();
    REQUIRE_FALSE(fp.empty());
    const std::string ack = "/api/v1/alerts/" + fp + "/ack";

    CHECK(s.call(http::verb::post, ack, {}, std::nullopt).status == 401);
    CHECK(s.call(http::verb::post, ack, {}, kRead).status == 403);
    CHECK(s.call(http::verb::post, ack, {}, kAgent).status == 403);
    const auto get = s.call(http::verb::get, ack, {});
    CHECK(get.status == 405);
    CHECK(get.headers[http::field::allow] == "POST");
    CHECK(s.call(http::verb::post, "/api/v1/alerts/0000000000000000/ack", {}).status == 404);

    const auto bad = [&](const std::string& body, const std::string& field) {
        const auto r = s.call(http::verb::post, ack, body);
        INFO(body << " -> " << r.status << " " << r.body);
        CHECK(r.status == 400);
        if (r.status == 400) CHECK(std::string(r.json().at("path").as_string()) == field);
    };
    bad("{", "body");
    bad("[]", "body");
    bad(R"({"by":7})", "by");
    bad(R"({"by":""})", "by");
    bad(R"({"by":")" + std::string(101, 'x') + R"("})", "by");
    bad(R"({"comment":["x"]})", "comment");
    bad(R"({"who":"ops"})", "who");
    CHECK_FALSE(s.alert(fp).as_object().contains("acked_by"));  // nothing saved by the refusals

    const auto r = s.call(http::verb::post, ack, R"({"by":"night shift","comment":"on it"})");
    REQUIRE(r.status == 200);
    CHECK(r.json().at("alert").at("acked_by") == "night shift");
    CHECK(r.json().at("alert").at("state") == "firing");
    // Later evaluations keep it (the engine holds it, not just the table).
    const auto t = std::chrono::steady_clock::now();
    REQUIRE(eventually(5s, [&] { return std::chrono::steady_clock::now() - t > 500ms; }));
    const auto shown = s.alert(fp);
    CHECK(shown.at("acked_by") == "night shift");
    CHECK(shown.as_object().contains("acked_at"));
    const auto events =
        s.call(http::verb::get, "/api/v1/alerts/" + fp, {}, kRead).json().at("events").as_array();
    bool found = false;
    for (const auto& e : events) {
        found = found || e.at("message") == "acknowledged by night shift: on it";
    }
    CHECK(found);
    // No body at all: acknowledged by "admin".
    const auto plain = s.call(http::verb::post, ack, {});
    REQUIRE(plain.status == 200);
    CHECK(plain.json().at("alert").at("acked_by") == "admin");
}

TEST_CASE("alert silence: bounds, roles; a silenced firing is not notified until lifted") {
    Service s;
    s.chip(97);
    const std::string fp = s.firing_fp();
    REQUIRE_FALSE(fp.empty());
    REQUIRE(eventually(15s, [&] { return s.hook.count() >= 1; }));
    CHECK(s.webhook_status(0) == "firing");
    s.chip(70);
    REQUIRE(eventually(15s, [&] { return s.hook.count() >= 2; }));
    CHECK(s.webhook_status(1) == "resolved");

    const std::string silence = "/api/v1/alerts/" + fp + "/silence";
    CHECK(s.call(http::verb::post, silence, R"({"for":"2h"})", kRead).status == 403);
    CHECK(s.call(http::verb::delete_, silence, {}, kAgent).status == 403);
    CHECK(s.call(http::verb::put, silence, R"({"for":"2h"})").status == 405);
    CHECK(s.call(http::verb::post, "/api/v1/alerts/0000000000000000/silence", R"({"for":"2h"})")
              .status == 404);
    for (const auto* body : {"", R"({"for":"30s"})", R"({"for":"31d"})", R"({"for":"soon"})",
                             R"({"for":2})", R"({"for":"2h","until":"x"})"}) {
        const auto r = s.call(http::verb::post, silence, body);
        INFO(body << " -> " << r.body);
        CHECK(r.status == 400);
    }
    CHECK(s.call(http::verb::post, silence, R"({"for":"30s"})").json().at("path") == "for");

    const auto on = s.call(http::verb::post, silence, R"({"for":"2h","by":"ops"})");
    REQUIRE(on.status == 200);
    const auto until =
        parse_time(std::string(on.json().at("alert").at("silenced_until").as_string()));
    REQUIRE(until);
    CHECK(*until > now_ms() + 119min);
    CHECK(*until < now_ms() + 121min);

    // It comes back while silenced: recorded as firing, delivered to nobody.
    s.chip(98);
    REQUIRE(eventually(15s, [&] { return s.alert(fp).at("state") == "firing"; }));
    const auto t = std::chrono::steady_clock::now();
    eventually(1500ms, [&] { return s.hook.count() > 2; });  // the webhook would have had it by now
    CHECK(std::chrono::steady_clock::now() - t >= 1400ms);
    CHECK(s.hook.count() == 2);

    // Lifted early: the still-firing alert is announced at the next evaluation.
    const auto off = s.call(http::verb::delete_, silence, R"({"by":"ops"})");
    REQUIRE(off.status == 200);
    CHECK_FALSE(off.json().at("alert").as_object().contains("silenced_until"));
    REQUIRE(eventually(15s, [&] { return s.hook.count() >= 3; }));
    CHECK(s.webhook_status(2) == "firing");
    s.chip(70);
    REQUIRE(eventually(15s, [&] { return s.hook.count() >= 4; }));
    CHECK(s.webhook_status(3) == "resolved");
}

TEST_CASE("alert metrics on a real scrape: per rule and per miner, and promtool accepts them") {
    Service s;
    const auto scrape = [&] { return s.call(http::verb::get, "/metrics", {}, std::nullopt); };
    auto quiet = scrape();
    REQUIRE(quiet.status == 200);
    CHECK(quiet.body.find("hashwatt_alerts_firing{alertname=\"MinerChipTempHigh\",severity=") !=
          std::string::npos);
    CHECK(quiet.body.find("hashwatt_miner_alert_firing{") == std::string::npos);
    s.chip(97);
    REQUIRE_FALSE(s.firing_fp().empty());
    const auto r = scrape();
    REQUIRE(r.status == 200);
    INFO(r.body.substr(r.body.find("hashwatt_alerts_firing")));
    CHECK(r.body.find(
              "hashwatt_miner_alert_firing{alertname=\"MinerChipTempHigh\",miner=\"m1\"} 1") !=
          std::string::npos);
    CHECK(r.body.find("hashwatt_alerts_pending{alertname=\"MinerChipTempHigh\"") !=
          std::string::npos);

    const std::string promtool = "/usr/bin/promtool";
    if (!std::filesystem::exists(promtool)) {
        MESSAGE("promtool not installed (Debian package prometheus); skipped");
        return;
    }
    auto result = test::run({promtool, "check", "metrics"}, 30s, r.body);
    INFO("promtool stdout: " << result.out);
    INFO("promtool stderr: " << result.err);
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    CHECK(result.out.empty());
    CHECK(result.err.empty());
}

TEST_CASE("alert changes on a collector without alerts: 503, and no alert families") {
    test::TempDir dir;
    collector::CollectorConfig cfg;
    cfg.database_path = dir.path() + "/c.db";
    cfg.api.address = "127.0.0.1";
    cfg.api.port = 0;
    cfg.api.tokens = {{kAdmin, collector::Role::admin, ""}, {kRead, collector::Role::read, ""}};
    cfg.alerts.enabled = false;
    collector::CollectorService svc(cfg);
    const auto r =
        test::api_request(svc.port(), http::verb::post, "/api/v1/alerts/0000000000000000/silence",
                          R"({"for":"1h"})", kAdmin);
    CHECK(r.status == 503);
    CHECK(test::api_request(svc.port(), http::verb::post, "/api/v1/alerts/0000000000000000/ack", {},
                            kRead)
              .status == 403);  // the role is checked first
    const auto m = test::api_request(svc.port(), http::verb::get, "/metrics");
    REQUIRE(m.status == 200);
    CHECK(m.body.find("hashwatt_alerts_firing") == std::string::npos);
}
