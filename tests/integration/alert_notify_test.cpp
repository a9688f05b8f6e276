// The notifiers against a receiver run by the test on loopback: a webhook that is down, then
// failing, then up gets every notification exactly once and in order; the Alertmanager
// notifier posts batches to /api/v2/alerts, keeps them while it fails, and resends the firing.
#include "collector/alerts/alertmanager.hpp"
#include "collector/alerts/outbox.hpp"
#include "collector/alerts/webhook.hpp"
#include "collector/storage/store.hpp"
#include "common/time.hpp"
#include "tests/support/notifier_runner.hpp"
#include "tests/support/process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <mutex>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono;
namespace json = boost::json;

namespace {

Notification notification(const std::string& miner, bool resolved = false) {
    Notification n;
    n.fingerprint = alert_fingerprint("MinerOffline", miner);
    n.labels = {{"alertname", "MinerOffline"}, {"severity", "critical"}, {"miner", miner}};
    n.annotations = {{"summary", miner + " is offline"}};
    n.starts_at = now_ms() - 1min;
    n.resolved = resolved;
    if (resolved) n.ends_at = now_ms();
    n.generator_url = "/api/v1/alerts?fingerprint=" + n.fingerprint;
    return n;
}

std::string url(std::uint16_t port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
}

// The attempts of the notifier's oldest queued item (-1 when none).
int head_attempts(const Outbox& outbox, const std::string& notifier) {
    const auto due = outbox.due(notifier, now_ms() + hours(24), 1);
    return due.empty() ? -1 : due.front().attempts;
}

}  // namespace

TEST_CASE("a webhook that is down, then failing, then up gets every notification in order") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    Outbox outbox(store);
    const std::uint16_t port = test::free_loopback_port();  // nobody listens yet

    WebhookOptions o;
    o.name = "ops";
    o.endpoint = parse_http_endpoint(url(port, "/hook"));
    o.bearer_token = "tok-123";
    o.headers = {{"X-Test", "yes"}};
    o.timeout = 2s;
    o.retry_min = 20ms;
    o.retry_max = 100ms;

    std::vector<std::string> miners;
    for (int i = 0; i < 5; ++i) {
        miners.push_back("m" + std::to_string(i));
        outbox.enqueue("ops", notification(miners.back(), i == 4), now_ms());
    }
    test::NotifierRunner<WebhookNotifier> hook(outbox, o);

    // Down: connections are refused, every attempt counted, nothing lost.
    REQUIRE(test::wait_until([&] { return head_attempts(outbox, "ops") >= 3; }, 10s));
    CHECK(outbox.pending_count("ops") == 5);
    CHECK(hook->delivered() == 0);
    CHECK(hook->failed_attempts() >= 3);
    CHECK(outbox.due("ops", now_ms() + 24h, 10).front().last_error->find("refused") !=
          std::string::npos);

    test::WebhookReceiver rx(port);
    rx.set_status(503);
    REQUIRE(test::wait_until([&] { return rx.count() >= 2; }, 10s));
    CHECK(outbox.pending_count("ops") == 5);
    CHECK(outbox.due("ops", now_ms() + 24h, 10).front().last_error->find("HTTP 503") !=
          std::string::npos);

    rx.set_status(200);
    REQUIRE(test::wait_until([&] { return outbox.pending_count("ops") == 0; }, 10s));
    CHECK(hook->delivered() == 5);

    std::vector<json::object> accepted;
    for (const auto& r : rx.requests()) {
        CHECK(r.method == "POST");
        CHECK(r.target == "/hook");
        CHECK(r.authorization == "Bearer tok-123");
        CHECK(r.extra_header == "yes");
        auto body = json::parse(r.body).as_object();
        if (r.answered == 200) {
            accepted.push_back(std::move(body));
        } else {
            // A failing head holds back the rest: only the oldest was tried.
            CHECK(body.at("alert").at("labels").at("miner") == "m0");
        }
    }
    REQUIRE(accepted.size() == 5);
    std::int64_t last_id = 0;
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        const auto& b = accepted[i];
        CHECK(b.at("alert").at("labels").at("miner").as_string() == miners[i]);
        CHECK(b.at("status") == (i == 4 ? "resolved" : "firing"));
        CHECK(b.at("id").as_int64() > last_id);
        last_id = b.at("id").as_int64();
    }
    CHECK(accepted[0].at("attempt").as_int64() >= 5);  // 3+ refused, 2+ answered 503
    CHECK(accepted[1].at("attempt") == 1);

    // A new notification, woken for, goes out at once rather than at the next idle look.
    const auto before = rx.count();
    const auto t0 = steady_clock::now();
    outbox.enqueue("ops", notification("m9"), now_ms());
    hook->wake();
    REQUIRE(test::wait_until([&] { return rx.count() > before; }, 5s));
    CHECK(steady_clock::now() - t0 < 900ms);
    REQUIRE(test::wait_until([&] { return outbox.pending_count("ops") == 0; }, 5s));
    CHECK(!hook.failed());
}

TEST_CASE("the Alertmanager notifier batches to /api/v2/alerts, retries, and resends firing") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    Outbox outbox(store);
    test::WebhookReceiver am;
    am.set_status(500);

    AlertmanagerOptions o;
    o.endpoint = parse_http_endpoint(url(am.port(), "/prefix/"));
    o.resend_interval = 300ms;
    o.timeout = 2s;
    o.retry_min = 20ms;
    o.retry_max = 100ms;

    std::mutex mu;
    std::vector<Notification> firing;  // what the engine would say is firing
    for (const auto* m : {"m1", "m2", "m3"})
        outbox.enqueue("alertmanager", notification(m), now_ms());
    test::NotifierRunner<AlertmanagerNotifier> notifier(outbox, o, [&] {
        std::lock_guard lock(mu);
        return firing;
    });

    // Failing: all three stay queued, attempts counted on each.
    REQUIRE(test::wait_until([&] { return head_attempts(outbox, "alertmanager") >= 2; }, 10s));
    CHECK(outbox.pending_count("alertmanager") == 3);
    for (const auto& item : outbox.due("alertmanager", now_ms() + 24h, 10)) {
        CHECK(item.attempts >= 2);
    }

    {
        std::lock_guard lock(mu);
        firing = {notification("m1"), notification("m2")};
    }
    am.set_status(200);
    REQUIRE(test::wait_until([&] { return outbox.pending_count("alertmanager") == 0; }, 10s));
    CHECK(notifier->delivered() == 3);

    // The queued three went out in one POST; then the firing two every resend interval.
    REQUIRE(test::wait_until(
        [&] {
            int resends = 0;
            for (const auto& r : am.requests()) {
                if (r.answered == 200 && json::parse(r.body).as_array().size() == 2) ++resends;
            }
            return resends >= 3;
        },
        10s));
    bool batch_seen = false;
    for (const auto& r : am.requests()) {
        CHECK(r.method == "POST");
        CHECK(r.target == "/prefix/api/v2/alerts");
        const auto alerts = json::parse(r.body).as_array();
        if (r.answered != 200 || alerts.size() != 3) continue;
        batch_seen = true;
        CHECK(alerts[0].at("labels").at("miner") == "m1");
        CHECK(alerts[2].at("labels").at("miner") == "m3");
        const auto ends = parse_time(alerts[0].at("endsAt").as_string());
        REQUIRE(ends);
        CHECK(*ends > now_ms());  // firing: Alertmanager holds it until endsAt
    }
    CHECK(batch_seen);
    CHECK(notifier->resends() >= 3);
    CHECK(!notifier.failed());
}
