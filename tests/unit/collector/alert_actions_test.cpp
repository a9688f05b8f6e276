// Acknowledge and silence through the engine (fixed times, a real Store file): what is saved,
// what the next evaluation keeps, and which changes reach the sink while silenced; and the
// alert families of /metrics built from fixed alerts.
#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/metrics/alert_metrics.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/storage/store.hpp"
#include "common/time.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <memory>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;
namespace pm = prometheus;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

MinerSample chip_sample(const std::string& id, TimePoint at, double chip_c) {
    auto s = test::state_sample(id, at, MinerState::mining, 3250);
    BoardSample b;
    b.index = 1;
    b.chip_temp_max_c = chip_c;
    s.boards.push_back(b);
    return s;
}

AlertRule chip_rule() {
    for (auto r : default_rules()) {
        if (r.kind != RuleKind::chip_temp_high) continue;
        r.for_duration = 0s;
        r.keep_firing_for = 0s;
        return r;
    }
    throw std::logic_error("no chip_temp_high rule among the defaults");
}

struct Fixture {
    test::TempDir dir;
    Store store{dir.path() + "/c.db"};
    std::int64_t seq = 0;
    std::vector<Notification> sent;
    AlertEngine engine{store,
                       {chip_rule()},
                       [this](const Notification& n) { sent.push_back(n); },
                       AlertEngineOptions{15s, "http://127.0.0.1:8480", {}}};

    void ingest(const MinerSample& s) { store.ingest({"a1", std::nullopt, ++seq, {s}, {}}); }
    std::string fp() const { return alert_fingerprint(chip_rule().name, "m1"); }
    Alert stored() const {
        AlertFilter f;
        f.fingerprint = fp();
        auto found = list_alerts(store, f);
        REQUIRE(found.size() == 1);
        return found.front();
    }
};

}  // namespace

TEST_CASE("acknowledge: saved with an event, kept by the next evaluation, reset by a recurrence") {
    Fixture fx;
    CHECK_FALSE(fx.engine.acknowledge(fx.fp(), "ops", std::nullopt, kT0));  // not held yet
    fx.ingest(chip_sample("m1", kT0, 97));
    fx.engine.evaluate_once(kT0 + 1s);
    REQUIRE(fx.sent.size() == 1);

    const auto a = fx.engine.acknowledge(fx.fp(), "ops", "fan swap booked", kT0 + 2s);
    REQUIRE(a);
    CHECK(a->acked_by == "ops");
    CHECK(a->acked_at == kT0 + 2s);
    CHECK(a->state == AlertState::firing);
    CHECK(fx.stored().acked_by == "ops");
    const auto events = alert_events(fx.store, fx.fp());
    REQUIRE(events.size() == 2);
    CHECK(events[1].message == "acknowledged by ops: fan swap booked");
    CHECK(events[1].at == kT0 + 2s);

    fx.engine.evaluate_once(kT0 + 3s);  // still hot
    CHECK(fx.stored().acked_by == "ops");
    CHECK(fx.engine.alerts().front().acked_at == kT0 + 2s);

    fx.ingest(chip_sample("m1", kT0 + 4s, 70));
    fx.engine.evaluate_once(kT0 + 5s);
    CHECK(fx.stored().state == AlertState::resolved);
    CHECK(fx.stored().acked_by == "ops");  // the resolved occurrence keeps who acked it
    fx.ingest(chip_sample("m1", kT0 + 6s, 98));
    fx.engine.evaluate_once(kT0 + 7s);
    CHECK(fx.stored().state == AlertState::firing);
    CHECK_FALSE(fx.stored().acked_by);
    CHECK_FALSE(fx.stored().acked_at);
}

TEST_CASE("silence: a firing during it is not sent, nor its resolve; firing() leaves it out") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 97));
    fx.engine.evaluate_once(kT0 + 1s);
    fx.ingest(chip_sample("m1", kT0 + 2s, 70));
    fx.engine.evaluate_once(kT0 + 3s);
    REQUIRE(fx.sent.size() == 2);  // fired and resolved before any silence

    const auto s = fx.engine.silence(fx.fp(), kT0 + 1h, "ops", kT0 + 4s);
    REQUIRE(s);
    CHECK(s->silenced_until == kT0 + 1h);
    CHECK(fx.stored().silenced_until == kT0 + 1h);
    CHECK(alert_events(fx.store, fx.fp()).back().message ==
          "silenced until 2026-11-25T10:00:00.000Z by ops");

    fx.ingest(chip_sample("m1", kT0 + 5s, 97));
    fx.engine.evaluate_once(kT0 + 6s);
    CHECK(fx.stored().state == AlertState::firing);  // recorded
    CHECK(fx.sent.size() == 2);                      // not sent
    CHECK(fx.engine.firing().empty());               // no resend leaks it either

    fx.ingest(chip_sample("m1", kT0 + 7s, 70));
    fx.engine.evaluate_once(kT0 + 8s);
    CHECK(fx.stored().state == AlertState::resolved);  // recorded
    CHECK(fx.sent.size() == 2);         // its firing was never sent: nothing to resolve
    fx.engine.evaluate_once(kT0 + 2h);  // the silence has ended: nothing stale follows
    CHECK(fx.sent.size() == 2);
    CHECK(fx.stored().silenced_until == kT0 + 1h);  // kept, as history
}

TEST_CASE("silence: a still-firing alert is sent when the silence ends; an early end by DELETE") {
    Fixture fx;
    // A rule that waits, so that there is an alert (pending) to silence before it fires.
    auto r = chip_rule();
    r.for_duration = 1min;
    AlertEngine slow(fx.store, {r}, [&](const Notification& n) { fx.sent.push_back(n); });
    // A fresh sample at every evaluation, so that none is judged on a stale one.
    const auto eval = [&](TimePoint at, double chip_c) {
        fx.ingest(chip_sample("m1", at - 1s, chip_c));
        slow.evaluate_once(at);
    };
    eval(kT0 + 3s, 97);
    REQUIRE(fx.stored().state == AlertState::pending);
    REQUIRE(slow.silence(fx.fp(), kT0 + 10min, "ops", kT0 + 4s));
    eval(kT0 + 2min, 97);  // fires, silenced
    CHECK(fx.stored().state == AlertState::firing);
    CHECK(fx.sent.empty());
    eval(kT0 + 5min, 97);
    CHECK(fx.sent.empty());
    CHECK(slow.firing().empty());
    eval(kT0 + 10min + 1s, 97);  // the silence expired: the firing goes out now
    REQUIRE(fx.sent.size() == 1);
    CHECK_FALSE(fx.sent[0].resolved);
    eval(kT0 + 11min, 97);
    CHECK(fx.sent.size() == 1);

    // Silenced after its firing was sent: the resolve still goes out, so no receiver is left
    // with a firing alert that ended.
    CHECK(slow.firing().size() == 1);
    REQUIRE(slow.silence(fx.fp(), kT0 + 2h, "ops", kT0 + 12min));
    // Sent before the silence: still resent, so Alertmanager does not take it as resolved.
    CHECK(slow.firing().size() == 1);
    eval(kT0 + 14min, 70);
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);

    // A recurrence while silenced, then the silence lifted early (DELETE .../silence).
    eval(kT0 + 16min, 97);
    eval(kT0 + 18min, 97);
    CHECK(fx.stored().state == AlertState::firing);
    CHECK(fx.sent.size() == 2);
    const auto lifted = slow.silence(fx.fp(), std::nullopt, "ops", kT0 + 19min);
    REQUIRE(lifted);
    CHECK_FALSE(lifted->silenced_until);
    CHECK(alert_events(fx.store, fx.fp()).back().message == "silence ended by ops");
    eval(kT0 + 20min, 97);
    REQUIRE(fx.sent.size() == 3);
    CHECK_FALSE(fx.sent[2].resolved);
    CHECK_FALSE(slow.silence("0000000000000000", kT0 + 1h, "ops", kT0));
}

TEST_CASE("silence across a restart: a held-back firing stays out of the resend, then goes out") {
    // The engine reads the clock when it loads, so this one runs at the real time.
    const TimePoint t = now_ms();
    test::TempDir dir;
    const std::string path = dir.path() + "/c.db";
    std::vector<Notification> sent;
    const auto sink = [&](const Notification& n) { sent.push_back(n); };
    const std::string fp = alert_fingerprint(chip_rule().name, "m1");
    {
        Store store(path);
        store.ingest({"a1", std::nullopt, 1, {chip_sample("m1", t - 1s, 70)}, {}});
        AlertEngine e(store, {chip_rule()}, sink);
        store.ingest({"a1", std::nullopt, 2, {chip_sample("m1", t, 97)}, {}});
        e.evaluate_once(t + 1s);
        REQUIRE(sent.size() == 1);
        store.ingest({"a1", std::nullopt, 3, {chip_sample("m1", t + 2s, 70)}, {}});
        e.evaluate_once(t + 3s);
        REQUIRE(sent.size() == 2);
        REQUIRE(e.silence(fp, t + 10min, "ops", t + 4s));
        store.ingest({"a1", std::nullopt, 4, {chip_sample("m1", t + 5s, 97)}, {}});
        e.evaluate_once(t + 6s);
        REQUIRE(sent.size() == 2);  // held back
    }
    Store store(path);
    AlertEngine e(store, {chip_rule()}, sink);
    CHECK(e.firing().empty());  // not leaked to Alertmanager by the first resend
    CHECK(e.alerts().front().silenced_until == t + 10min);
    store.ingest({"a1", std::nullopt, 5, {chip_sample("m1", t + 7s, 97)}, {}});
    e.evaluate_once(t + 8s);
    CHECK(sent.size() == 2);
    // Received at the test's own "ten minutes later": the store refuses samples more than
    // 5 min ahead of the time it receives them.
    store.ingest({"a1", std::nullopt, 6, {chip_sample("m1", t + 10min, 97)}, {}}, t + 10min);
    e.evaluate_once(t + 10min + 1s);  // the silence is over: sent now, and resent from then on
    REQUIRE(sent.size() == 3);
    CHECK_FALSE(sent[2].resolved);
    CHECK(e.firing().size() == 1);
}

namespace {

Alert held(const std::string& rule, const std::string& miner, Severity sev, AlertState state) {
    Alert a;
    a.alertname = rule;
    a.subject = miner;
    a.fingerprint = alert_fingerprint(rule, miner);
    a.severity = sev;
    a.state = state;
    return a;
}

std::string text_of(const std::vector<pm::MetricFamily>& families) {
    struct Fixed : pm::Collectable {
        std::vector<pm::MetricFamily> f;
        std::vector<pm::MetricFamily> Collect() const override { return f; }
    };
    auto c = std::make_shared<Fixed>();
    c->f = families;
    CollectorMetrics m;
    m.add_collectable(c);
    return m.render(0);
}

}  // namespace

TEST_CASE("alert metrics: every rule counted, zeros included; one per-miner series per firing") {
    std::vector<AlertRule> rules;
    for (const auto& r : default_rules()) {
        if (r.kind == RuleKind::chip_temp_high || r.kind == RuleKind::offline) rules.push_back(r);
    }
    REQUIRE(rules.size() == 2);
    const auto chip = rules[0].kind == RuleKind::chip_temp_high ? rules[0] : rules[1];
    const auto off = rules[0].kind == RuleKind::offline ? rules[0] : rules[1];
    const std::string chip_sev(to_string(chip.severity));
    const std::string off_sev(to_string(off.severity));
    const std::vector<Alert> alerts = {
        held(chip.name, "m1", chip.severity, AlertState::firing),
        held(chip.name, "m2", chip.severity, AlertState::firing),
        held(chip.name, "m3", chip.severity, AlertState::pending),
        held(chip.name, "m4", chip.severity, AlertState::resolved),
        held("GoneRule", "m5", Severity::info, AlertState::firing),
    };
    const auto families = build_alert_families(rules, alerts);
    REQUIRE(families.size() == 3);
    CHECK(families[0].name == "hashwatt_alerts_firing");
    CHECK(families[1].name == "hashwatt_alerts_pending");
    CHECK(families[2].name == "hashwatt_miner_alert_firing");
    const std::string text = text_of(families);
    INFO(text);
    const auto has = [&](const std::string& line) {
        return text.find("\n" + line + "\n") != std::string::npos;
    };
    CHECK(has("hashwatt_alerts_firing{alertname=\"" + chip.name + "\",severity=\"" + chip_sev +
              "\"} 2"));
    CHECK(has("hashwatt_alerts_firing{alertname=\"" + off.name + "\",severity=\"" + off_sev +
              "\"} 0"));
    CHECK(has("hashwatt_alerts_firing{alertname=\"GoneRule\",severity=\"info\"} 1"));
    CHECK(has("hashwatt_alerts_pending{alertname=\"" + chip.name + "\",severity=\"" + chip_sev +
              "\"} 1"));
    CHECK(has("hashwatt_alerts_pending{alertname=\"" + off.name + "\",severity=\"" + off_sev +
              "\"} 0"));
    CHECK(has("hashwatt_miner_alert_firing{alertname=\"" + chip.name + "\",miner=\"m1\"} 1"));
    CHECK(has("hashwatt_miner_alert_firing{alertname=\"" + chip.name + "\",miner=\"m2\"} 1"));
    CHECK(has("hashwatt_miner_alert_firing{alertname=\"GoneRule\",miner=\"m5\"} 1"));
    CHECK(families[2].metric.size() == 3);  // pending and resolved alerts have no series
    CHECK(text.find("# TYPE hashwatt_alerts_firing gauge") != std::string::npos);

    // No alerts at all: the rule families still list every rule, the per-miner one is empty.
    const auto quiet = build_alert_families(rules, {});
    CHECK(quiet[0].metric.size() == 2);
    CHECK(quiet[1].metric.size() == 2);
    CHECK(quiet[2].metric.empty());
    for (const auto& m : quiet[0].metric) CHECK(m.gauge.value == 0);
}

TEST_CASE("alert metrics: the engine's collectable follows its alerts") {
    Fixture fx;
    const AlertMetrics metrics(fx.engine);
    CHECK(metrics.Collect()[0].metric.front().gauge.value == 0);
    fx.ingest(chip_sample("m1", kT0, 97));
    fx.engine.evaluate_once(kT0 + 1s);
    const auto f = metrics.Collect();
    CHECK(f[0].metric.front().gauge.value == 1);
    REQUIRE(f[2].metric.size() == 1);
    CHECK(f[2].metric[0].label[1].value == "m1");
}
