// A real Alertmanager (Debian's /usr/bin/prometheus-alertmanager) on loopback, started by the
// test: two firing alerts of one alertname for two miners go in through the notifier, one
// grouped notification holding both comes out at the test's webhook receiver; then both are
// resolved and a resolved notification comes out.
#include "collector/alerts/alertmanager.hpp"

#include "collector/alerts/outbox.hpp"
#include "collector/storage/store.hpp"
#include "common/time.hpp"
#include "tests/support/net.hpp"
#include "tests/support/notifier_runner.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <csignal>
#include <filesystem>
#include <mutex>
#include <set>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono;
namespace json = boost::json;

namespace {

constexpr const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";

Notification offline(const std::string& miner, TimePoint starts_at) {
    Notification n;
    n.fingerprint = alert_fingerprint("MinerOffline", miner);
    n.labels = {{"alertname", "MinerOffline"},
                {"severity", "critical"},
                {"miner", miner},
                {"site", "north"}};
    n.annotations = {{"summary", miner + " is offline"}};
    n.starts_at = starts_at;
    n.generator_url = "http://127.0.0.1:8080/api/v1/alerts?fingerprint=" + n.fingerprint;
    return n;
}

// The receiver's requests that are Alertmanager webhook notifications with `status`.
std::vector<json::object> notifications(const test::WebhookReceiver& rx,
                                        const std::string& status) {
    std::vector<json::object> out;
    for (const auto& r : rx.requests()) {
        auto v = json::parse(r.body);
        if (v.is_object() && v.as_object().at("status") == status.c_str()) {
            out.push_back(std::move(v.as_object()));
        }
    }
    return out;
}

std::set<std::string> miners_in(const json::object& n) {
    std::set<std::string> out;
    for (const auto& a : n.at("alerts").as_array()) {
        out.insert(std::string(a.at("labels").at("miner").as_string()));
    }
    return out;
}

}  // namespace

TEST_CASE("a real Alertmanager groups two miners' alerts into one notification and resolves") {
    if (!std::filesystem::exists(kAlertmanager)) {
        FAIL(kAlertmanager << " is missing: apt-get install prometheus-alertmanager");
    }
    test::TempDir dir;
    test::WebhookReceiver rx;
    const std::uint16_t am_port = test::free_loopback_port();
    const auto config = dir.write("alertmanager.yml", R"(route:
  receiver: test
  group_by: [alertname]
  group_wait: 2s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: http://127.0.0.1:)" + std::to_string(rx.port()) +
                                                          R"(/am
        send_resolved: true
)");
    std::filesystem::create_directory(dir.path() + "/data");
    // The Child is killed by its pid when it goes out of scope, on every path out of here.
    test::Child am(
        {kAlertmanager, "--config.file=" + config, "--storage.path=" + dir.path() + "/data",
         "--web.listen-address=127.0.0.1:" + std::to_string(am_port),
         "--cluster.listen-address=", "--log.level=warn"},
        dir.path() + "/alertmanager");
    const bool ready = test::wait_until(
        [&] {
            return test::http_request("127.0.0.1", am_port, "GET", "/-/ready", {}, {}, 1s).status ==
                       200 ||
                   !am.running();
        },
        20s, 50ms);
    REQUIRE_MESSAGE(ready, "Alertmanager not ready: " << am.stderr_text());
    REQUIRE_MESSAGE(am.running(), "Alertmanager exited: " << am.stderr_text());

    Store store(dir.path() + "/c.db");
    Outbox outbox(store);
    AlertmanagerOptions o;
    o.endpoint = parse_http_endpoint("http://127.0.0.1:" + std::to_string(am_port));
    o.resend_interval = 2s;
    o.timeout = 2s;
    o.retry_min = 50ms;
    o.retry_max = 500ms;

    // Alertmanager flushes a new group at once, without group_wait, when the alert's startsAt
    // is already more than group_wait old; so the alerts start now, and both are queued
    // before the notifier runs so they go in one POST: grouping is then Alertmanager's doing.
    const TimePoint started = now_ms();
    std::mutex mu;
    std::vector<Notification> firing = {offline("m1", started), offline("m2", started)};
    outbox.enqueue(o.name, offline("m1", started), now_ms());
    outbox.enqueue(o.name, offline("m2", started), now_ms());
    test::NotifierRunner<AlertmanagerNotifier> notifier(outbox, o, [&] {
        std::lock_guard lock(mu);
        return firing;
    });

    REQUIRE_MESSAGE(test::wait_until([&] { return !notifications(rx, "firing").empty(); }, 20s),
                    "no firing notification; Alertmanager said: " << am.stderr_text());
    CHECK(outbox.pending_count(o.name) == 0);
    {
        const auto n = notifications(rx, "firing").front();
        CHECK(n.at("version") == "4");
        CHECK(n.at("receiver") == "test");
        CHECK(n.at("groupLabels").at("alertname") == "MinerOffline");
        CHECK(n.at("commonLabels").at("site") == "north");
        REQUIRE(n.at("alerts").as_array().size() == 2);
        CHECK(miners_in(n) == std::set<std::string>{"m1", "m2"});
        for (const auto& a : n.at("alerts").as_array()) {
            CHECK(a.at("status") == "firing");
            CHECK(parse_time(a.at("startsAt").as_string()) == started);
            CHECK(a.at("annotations").at("summary").as_string().ends_with(" is offline"));
        }
    }

    // Resends of the same two (every 2 s) must not make Alertmanager notify again.
    REQUIRE(test::wait_until([&] { return notifier->resends() >= 3; }, 20s));
    CHECK(notifications(rx, "firing").size() == 1);

    const TimePoint ended = now_ms();
    {
        std::lock_guard lock(mu);
        firing.clear();
    }
    for (const auto* m : {"m1", "m2"}) {
        auto n = offline(m, started);
        n.resolved = true;
        n.ends_at = ended;
        outbox.enqueue(o.name, n, now_ms());
    }
    notifier->wake();

    REQUIRE_MESSAGE(test::wait_until([&] { return !notifications(rx, "resolved").empty(); }, 20s),
                    "no resolved notification; Alertmanager said: " << am.stderr_text());
    const auto n = notifications(rx, "resolved").front();
    CHECK(n.at("groupLabels").at("alertname") == "MinerOffline");
    REQUIRE(n.at("alerts").as_array().size() == 2);
    CHECK(miners_in(n) == std::set<std::string>{"m1", "m2"});
    for (const auto& a : n.at("alerts").as_array()) {
        CHECK(a.at("status") == "resolved");
        CHECK(parse_time(a.at("endsAt").as_string()) == ended);
    }
    CHECK(notifications(rx, "firing").size() == 1);
    CHECK(!notifier.failed());

    CHECK(am.stop(SIGTERM, 5s) == 0);
}
