// The notifiers' pure parts with fixed times: the outbox payload both ways, the outbox queue
// (order, retry scheduling, per-notifier queues), the Alertmanager and webhook bodies, and the
// [[alerts.alertmanager]] / [[alerts.webhook]] config with its errors.
#include "collector/alerts/alertmanager.hpp"
#include "collector/alerts/notifier_config.hpp"
#include "collector/alerts/outbox.hpp"
#include "collector/alerts/webhook.hpp"
#include "collector/storage/store.hpp"
#include "common/config.hpp"
#include "common/time.hpp"
#include "tests/support/process.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono;
namespace json = boost::json;

namespace {

constexpr std::int64_t kT0Ms = 1795597200000;  // 2026-11-25T09:00:00Z
TimePoint t0_plus(milliseconds d) { return TimePoint{milliseconds{kT0Ms}} + d; }

Notification firing(const std::string& miner) {
    Notification n;
    n.fingerprint = alert_fingerprint("MinerOffline", miner);
    n.labels = {{"alertname", "MinerOffline"}, {"severity", "critical"}, {"miner", miner}};
    n.annotations = {{"summary", miner + " is offline"}, {"description", "no sample for 5m"}};
    n.starts_at = t0_plus(0s);
    n.generator_url = "/api/v1/alerts?fingerprint=" + n.fingerprint;
    return n;
}

Notification resolved(const std::string& miner) {
    Notification n = firing(miner);
    n.resolved = true;
    n.ends_at = t0_plus(10min);
    return n;
}

std::string error_of(const std::string& toml) {
    try {
        parse_notifier_config(toml, "collector.toml");
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("a notification survives the outbox payload round trip, firing and resolved") {
    for (const auto& n : {firing("m1"), resolved("m2")}) {
        const auto text = encode_notification(n);
        CHECK(decode_notification(text) == n);
    }
    const auto text = encode_notification(resolved("m2"));
    CHECK(text.find("\"ends_at\":\"2026-11-25T09:10:00.000Z\"") != std::string::npos);
    CHECK(encode_notification(firing("m1")).find("ends_at") == std::string::npos);
}

TEST_CASE("a bad payload is refused naming the field") {
    const auto error = [](std::string_view text) {
        try {
            decode_notification(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    CHECK(error("[]").find("expected an object") != std::string::npos);
    CHECK(error("{").find("not JSON") != std::string::npos);
    CHECK(error(R"({"starts_at":"2026-11-25T09:00:00Z"})").find("fingerprint: missing") !=
          std::string::npos);
    CHECK(error(R"({"fingerprint":"f","starts_at":"yesterday"})").find("starts_at: expected") !=
          std::string::npos);
    CHECK(error(R"({"fingerprint":"f","starts_at":"2026-11-25T09:00:00Z","labels":{"a":1}})")
              .find("labels.a: expected a string") != std::string::npos);
    CHECK(error(R"({"fingerprint":"f","starts_at":"2026-11-25T09:00:00Z","resolved":"yes"})")
              .find("resolved: expected true or false") != std::string::npos);
}

TEST_CASE("retry delays double from retry_min up to retry_max") {
    CHECK(retry_delay(1, 1s, 60s) == 1s);
    CHECK(retry_delay(2, 1s, 60s) == 2s);
    CHECK(retry_delay(4, 1s, 60s) == 8s);
    CHECK(retry_delay(7, 1s, 60s) == 60s);
    CHECK(retry_delay(1000, 1s, 60s) == 60s);
    CHECK(retry_delay(0, 1s, 60s) == 1s);
}

TEST_CASE("the outbox keeps each notifier's queue in order and gates it on its oldest item") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    Outbox outbox(store);
    const auto a = outbox.enqueue("hook", firing("m1"), t0_plus(0s));
    const auto b = outbox.enqueue("hook", firing("m2"), t0_plus(1s));
    const auto c = outbox.enqueue("hook", resolved("m1"), t0_plus(2s));
    outbox.enqueue("alertmanager", firing("m1"), t0_plus(0s));
    CHECK(a < b);
    CHECK(b < c);
    CHECK(outbox.pending_count("hook") == 3);
    CHECK(outbox.pending_count("alertmanager") == 1);
    CHECK(outbox.pending_count("nobody") == 0);
    CHECK(outbox.due("nobody", t0_plus(1h), 10).empty());

    // New items are due at once; the limit bounds the batch.
    auto due = outbox.due("hook", t0_plus(2s), 10);
    REQUIRE(due.size() == 3);
    CHECK(due[0].id == a);
    CHECK(due[0].notification == firing("m1"));
    CHECK(due[2].notification == resolved("m1"));
    CHECK(due[0].attempts == 0);
    CHECK(due[0].created_at == t0_plus(0s));
    CHECK(outbox.due("hook", t0_plus(2s), 2).size() == 2);

    // A failed head holds back the whole queue until its next attempt.
    outbox.failed(a, t0_plus(30s), "connection refused");
    CHECK(outbox.due("hook", t0_plus(29s), 10).empty());
    CHECK(outbox.next_attempt("hook") == t0_plus(30s));
    due = outbox.due("hook", t0_plus(30s), 10);
    REQUIRE(due.size() == 3);
    CHECK(due[0].attempts == 1);
    CHECK(due[0].last_error == "connection refused");
    outbox.failed(a, t0_plus(60s), "HTTP 503");
    CHECK(outbox.due("hook", t0_plus(60s), 10).front().attempts == 2);
    // The other notifier's queue is not held back.
    CHECK(outbox.due("alertmanager", t0_plus(1s), 10).size() == 1);

    outbox.delivered(a);
    outbox.delivered(a);  // again: a no-op
    CHECK(outbox.pending_count("hook") == 2);
    due = outbox.due("hook", t0_plus(60s), 10);
    REQUIRE(due.size() == 2);
    CHECK(due[0].id == b);
    CHECK(due[0].attempts == 0);
    outbox.delivered(b);
    outbox.delivered(c);
    CHECK(outbox.pending_count("hook") == 0);
    CHECK(!outbox.next_attempt("hook"));
}

TEST_CASE("the outbox keeps its queue across a reopen of the store") {
    test::TempDir dir;
    {
        Store store(dir.path() + "/c.db");
        Outbox(store).enqueue("hook", resolved("m3"), t0_plus(0s));
    }
    Store store(dir.path() + "/c.db");
    const auto due = Outbox(store).due("hook", t0_plus(0s), 10);
    REQUIRE(due.size() == 1);
    CHECK(due[0].notification == resolved("m3"));
}

// A receiver drops a notification whose id it has seen (delivery is at least once), so an id
// is never handed out twice: not after the queue drained, nor after a reopen.
TEST_CASE("outbox ids keep increasing after the queue drains and across a reopen") {
    test::TempDir dir;
    std::int64_t last = 0;
    {
        Store store(dir.path() + "/c.db");
        Outbox outbox(store);
        last = outbox.enqueue("hook", firing("m1"), t0_plus(0s));
        outbox.delivered(last);
        REQUIRE(outbox.pending_count("hook") == 0);
        const auto next = outbox.enqueue("hook", resolved("m1"), t0_plus(1s));
        CHECK(next > last);
        outbox.delivered(next);
        last = next;
    }
    Store store(dir.path() + "/c.db");
    Outbox outbox(store);
    REQUIRE(outbox.pending_count("hook") == 0);
    const auto after = outbox.enqueue("other", firing("m2"), t0_plus(2s));
    CHECK(after > last);
}

TEST_CASE("the Alertmanager body is the v2 alert array") {
    const TimePoint now = t0_plus(5min);
    const auto text = alertmanager_body({firing("m1"), resolved("m2")}, now, 1min);
    const auto v = json::parse(text);
    REQUIRE(v.is_array());
    REQUIRE(v.as_array().size() == 2);
    const auto& f = v.as_array()[0].as_object();
    CHECK(f.at("labels").at("miner") == "m1");
    CHECK(f.at("labels").at("alertname") == "MinerOffline");
    CHECK(f.at("annotations").at("summary") == "m1 is offline");
    CHECK(f.at("startsAt") == "2026-11-25T09:00:00.000Z");
    CHECK(f.at("endsAt") == "2026-11-25T09:09:00.000Z");  // now + 4 x resend interval
    CHECK(f.at("generatorURL").as_string() == firing("m1").generator_url);
    const auto& r = v.as_array()[1].as_object();
    CHECK(r.at("endsAt") == "2026-11-25T09:10:00.000Z");  // its ends_at

    // The last state of an alert in one batch wins; an empty generator URL is left out.
    auto n = firing("m1");
    n.generator_url.clear();
    const auto one = json::parse(alertmanager_body({firing("m1"), resolved("m1")}, now, 1min));
    REQUIRE(one.as_array().size() == 1);
    CHECK(one.as_array()[0].at("endsAt") == "2026-11-25T09:10:00.000Z");
    CHECK(!json::parse(alertmanager_body({n}, now, 1min))
               .as_array()[0]
               .as_object()
               .contains("generatorURL"));
    CHECK(alertmanager_body({}, now, 1min) == "[]");
}

TEST_CASE("the webhook body follows docs/alerts.md") {
    OutboxItem item;
    item.id = 42;
    item.attempts = 2;
    item.notification = firing("m1");
    auto v = json::parse(webhook_body("ops", item, t0_plus(1min))).as_object();
    CHECK(v.at("version") == "1");
    CHECK(v.at("id") == 42);
    CHECK(v.at("notifier") == "ops");
    CHECK(v.at("status") == "firing");
    CHECK(v.at("attempt") == 3);
    CHECK(v.at("sent_at") == "2026-11-25T09:01:00.000Z");
    const auto& a = v.at("alert").as_object();
    CHECK(a.at("fingerprint").as_string() == firing("m1").fingerprint);
    CHECK(a.at("alertname") == "MinerOffline");
    CHECK(a.at("labels").at("miner") == "m1");
    CHECK(a.at("annotations").at("description") == "no sample for 5m");
    CHECK(a.at("starts_at") == "2026-11-25T09:00:00.000Z");
    CHECK(a.at("ends_at").is_null());
    CHECK(a.at("generator_url").as_string() == firing("m1").generator_url);

    item.notification = resolved("m1");
    v = json::parse(webhook_body("ops", item, t0_plus(11min))).as_object();
    CHECK(v.at("status") == "resolved");
    CHECK(v.at("alert").at("ends_at") == "2026-11-25T09:10:00.000Z");
}

TEST_CASE("http endpoints are taken apart, and what the client cannot do is refused") {
    auto ep = parse_http_endpoint("http://127.0.0.1:9093");
    CHECK(ep.host == "127.0.0.1");
    CHECK(ep.port == 9093);
    CHECK(ep.target == "/");
    ep = parse_http_endpoint("http://alerts.example/hooks/x?k=v");
    CHECK(ep.host == "alerts.example");
    CHECK(ep.port == 80);
    CHECK(ep.target == "/hooks/x?k=v");
    ep = parse_http_endpoint("http://[::1]:8080/am/");
    CHECK(ep.host == "::1");
    CHECK(ep.target == "/am/");
    CHECK_THROWS_WITH_AS(parse_http_endpoint("https://x/"), doctest::Contains("https is not"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_http_endpoint("ftp://x/"), doctest::Contains("expected an http"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_http_endpoint("x:9093"), doctest::Contains("expected an http"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_http_endpoint("not a url"), doctest::Contains("not an absolute"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_http_endpoint("http://u:p@x/"), doctest::Contains("credentials"),
                         std::invalid_argument);
}

TEST_CASE("notifier config: alertmanagers and webhooks with their defaults") {
    test::TempDir dir;
    const auto token = dir.write("hook.token", "s3cret-token\n", 0600);
    const auto toml = R"(
[alerts]
[[alerts.alertmanager]]
url = "http://127.0.0.1:9093"
[[alerts.alertmanager]]
url = "http://10.0.0.2:9093/prefix"
resend_interval = "30s"
timeout = "5s"
[[alerts.webhook]]
name = "ops"
url = "http://10.0.0.3:8080/hook"
token_file = ")" + token +
                      R"("
timeout = "2s"
retry_min = "500ms"
retry_max = "1m"
headers = { "X-Farm" = "north" }
)";
    const auto c = parse_notifier_config(toml, dir.path() + "/collector.toml");
    REQUIRE(c.alertmanagers.size() == 2);
    CHECK(c.alertmanagers[0].name == "alertmanager");
    CHECK(c.alertmanagers[0].endpoint.port == 9093);
    CHECK(c.alertmanagers[0].resend_interval == 1min);
    CHECK(c.alertmanagers[0].timeout == 10s);
    CHECK(c.alertmanagers[1].name == "alertmanager2");
    CHECK(c.alertmanagers[1].endpoint.target == "/prefix");
    CHECK(c.alertmanagers[1].resend_interval == 30s);
    CHECK(c.alertmanagers[1].timeout == 5s);
    REQUIRE(c.webhooks.size() == 1);
    const auto& w = c.webhooks[0];
    CHECK(w.name == "ops");
    CHECK(w.endpoint.target == "/hook");
    CHECK(w.bearer_token == "s3cret-token");
    CHECK(w.timeout == 2s);
    CHECK(w.retry_min == 500ms);
    CHECK(w.retry_max == 1min);
    REQUIRE(w.headers.size() == 1);
    CHECK(w.headers[0] == std::pair<std::string, std::string>("X-Farm", "north"));

    CHECK(parse_notifier_config("", "empty.toml").webhooks.empty());
}

TEST_CASE("notifier config errors name the key") {
    CHECK(error_of("[[alerts.alertmanager]]\nresend_interval = \"1m\"\n")
              .find("alerts.alertmanager[0].url: ") != std::string::npos);
    CHECK(error_of("[[alerts.alertmanager]]\nurl = \"https://am:9093\"\n")
              .find("alerts.alertmanager[0].url: https is not supported") != std::string::npos);
    CHECK(error_of("[[alerts.alertmanager]]\nurl = \"http://am:9093\"\nresend_interval = "
                   "\"100ms\"\n")
              .find("alerts.alertmanager[0].resend_interval") != std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nurl = \"http://h/\"\n").find("alerts.webhook[0].name") !=
          std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\n"
                   "[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\n")
              .find("alerts.webhook[1].name: 'a' names another notifier") != std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"alertmanager\"\nurl = \"http://h/\"\n"
                   "[[alerts.alertmanager]]\nurl = \"http://am/\"\n")
              .find("alerts.webhook[0].name: 'alertmanager' names another") != std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\nretry_min = "
                   "\"10s\"\nretry_max = \"1s\"\n")
              .find("alerts.webhook[0].retry_max: retry_max (1s) is below retry_min (10s)") !=
          std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\ntoken_file = "
                   "\"no-such-file\"\n")
              .find("alerts.webhook[0].token_file") != std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\nheaders = { \"Bad "
                   "Name\" = \"v\" }\n")
              .find("alerts.webhook[0].headers.Bad Name: not a valid header name") !=
          std::string::npos);
    CHECK(error_of("[[alerts.webhook]]\nname = \"a\"\nurl = \"http://h/\"\ntimout = \"1s\"\n")
              .find("alerts.webhook[0].timout: unknown key") != std::string::npos);
}
