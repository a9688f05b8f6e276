// The alert store and the engine over a real Store file, with fixed times: round trips, and a
// restart (engine and Store destroyed and opened again) that neither repeats a firing nor
// loses a resolution.
#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/service.hpp"
#include "collector/storage/store.hpp"
#include "common/clock_step.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <memory>
#include <thread>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;

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

std::vector<AlertRule> rules() {
    std::vector<AlertRule> out;
    for (auto r : default_rules()) {
        if (r.kind == RuleKind::chip_temp_high) {
            r.for_duration = 1min;
            r.keep_firing_for = 2min;
            out.push_back(r);
        }
        if (r.kind == RuleKind::offline) out.push_back(r);
    }
    return out;
}

struct Fixture {
    test::TempDir dir;
    std::string path = dir.path() + "/c.db";
    std::unique_ptr<Store> store = std::make_unique<Store>(path);
    std::int64_t seq = 0;
    std::vector<Notification> sent;

    void ingest(const MinerSample& s) { store->ingest({"a1", std::nullopt, ++seq, {s}, {}}); }
    std::unique_ptr<AlertEngine> engine(std::vector<AlertRule> r = rules()) {
        return std::make_unique<AlertEngine>(
            *store, std::move(r), [this](const Notification& n) { sent.push_back(n); },
            AlertEngineOptions{15s, "http://127.0.0.1:8480", {}});
    }
    // A collector restart: engine and Store gone, the file opened again.
    void reopen() {
        store.reset();
        store = std::make_unique<Store>(path);
    }
};

}  // namespace

TEST_CASE("alert store: save with events, load, list with filters") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    Alert a;
    a.alertname = "MinerChipTempHigh";
    a.subject = "m1";
    a.fingerprint = alert_fingerprint(a.alertname, a.subject);
    a.severity = Severity::critical;
    a.state = AlertState::firing;
    a.labels = {{"alertname", "MinerChipTempHigh"}, {"miner", "m1"}, {"note", "a \"quoted\" \\"}};
    a.annotations = {{"summary", "m1 chips at 96 C"}};
    a.active_since = kT0;
    a.fired_at = kT0 + 2min;
    a.last_true = kT0 + 3min;
    a.updated_at = kT0 + 3min;
    Alert b = a;
    b.alertname = "MinerOffline";
    b.subject = "m2";
    b.fingerprint = alert_fingerprint(b.alertname, b.subject);
    b.state = AlertState::pending;
    b.fired_at.reset();
    b.updated_at = kT0 + 4min;
    Alert c = b;
    c.subject = "m3";
    c.fingerprint = alert_fingerprint(c.alertname, c.subject);
    c.state = AlertState::inactive;
    save_alerts(store, {{a, "firing"}, {b, "pending"}, {c, std::nullopt}});
    save_alert(store, a, std::nullopt);  // a replace, not a second row

    const auto active = load_active_alerts(store);
    REQUIRE(active.size() == 2);
    CHECK(active[0] == b);  // most recently updated first
    CHECK(active[1] == a);

    AlertFilter f;
    f.state = AlertState::firing;
    CHECK(list_alerts(store, f) == std::vector<Alert>{a});
    f = {};
    f.miner = "m2";
    CHECK(list_alerts(store, f) == std::vector<Alert>{b});
    f = {};
    f.alertname = "MinerOffline";
    CHECK(list_alerts(store, f).size() == 1);  // m3 is inactive
    f.state = AlertState::inactive;
    CHECK(list_alerts(store, f) == std::vector<Alert>{c});
    f = {};
    f.limit = 1;
    CHECK(list_alerts(store, f).size() == 1);

    const auto events = alert_events(store, a.fingerprint);
    REQUIRE(events.size() == 1);
    CHECK(events[0].state == AlertState::firing);
    CHECK(events[0].at == kT0 + 3min);
    CHECK(events[0].message == "firing");
    CHECK(alert_events(store, c.fingerprint).empty());
}

TEST_CASE("alert engine: fault on -> pending -> firing -> off -> resolved, one notice each") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 72));
    fx.ingest(chip_sample("m2", kT0, 70));
    auto engine = fx.engine();
    auto st = engine->evaluate_once(kT0 + 10s);
    CHECK(st.evaluated == 4);
    CHECK(st.written == 0);  // healthy: nothing stored at all
    CHECK(list_alerts(*fx.store, {}).empty());

    fx.ingest(chip_sample("m1", kT0 + 15s, 96));
    st = engine->evaluate_once(kT0 + 20s);
    CHECK(st.pending == 1);
    AlertFilter f;
    f.state = AlertState::pending;
    REQUIRE(list_alerts(*fx.store, f).size() == 1);
    CHECK(fx.sent.empty());

    engine->evaluate_once(kT0 + 50s);
    CHECK(fx.sent.empty());
    st = engine->evaluate_once(kT0 + 80s);
    CHECK(st.firing == 1);
    REQUIRE(fx.sent.size() == 1);
    CHECK_FALSE(fx.sent[0].resolved);
    CHECK(fx.sent[0].labels.at("alertname") == "MinerChipTempHigh");
    CHECK(fx.sent[0].labels.at("miner") == "m1");
    CHECK(fx.sent[0].labels.at("site") == "north");
    CHECK(fx.sent[0].labels.at("agent_id") == "a1");
    CHECK(fx.sent[0].annotations.at("summary") == "Miner m1 chips at 96.0 C");
    CHECK(engine->firing().size() == 1);
    engine->evaluate_once(kT0 + 95s);
    CHECK(fx.sent.size() == 1);

    fx.ingest(chip_sample("m1", kT0 + 100s, 75));
    engine->evaluate_once(kT0 + 110s);
    engine->evaluate_once(kT0 + 200s);
    CHECK(fx.sent.size() == 1);  // keep_firing_for 2 min from the last hot evaluation (95 s)
    st = engine->evaluate_once(kT0 + 215s);
    CHECK(st.resolved == 1);
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);
    CHECK(fx.sent[1].fingerprint == fx.sent[0].fingerprint);
    CHECK(fx.sent[1].ends_at == kT0 + 215s);
    CHECK(engine->firing().empty());
    engine->evaluate_once(kT0 + 230s);
    CHECK(fx.sent.size() == 2);

    const auto events = alert_events(*fx.store, fx.sent[0].fingerprint);
    REQUIRE(events.size() == 3);
    CHECK(events[0].state == AlertState::pending);
    CHECK(events[1].state == AlertState::firing);
    CHECK(events[2].state == AlertState::resolved);
}

TEST_CASE("alert engine: a restart neither repeats a firing nor loses a resolution") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 97));
    {
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10s);
        e->evaluate_once(kT0 + 75s);
        REQUIRE(fx.sent.size() == 1);
    }
    fx.reopen();
    {
        auto e = fx.engine();
        CHECK(e->firing().size() == 1);  // from the store, before any evaluation
        e->evaluate_once(kT0 + 90s);
        CHECK(fx.sent.size() == 1);  // still hot: no second firing
        fx.ingest(chip_sample("m1", kT0 + 100s, 70));
        e->evaluate_once(kT0 + 105s);  // cool, within keep_firing_for
        CHECK(fx.sent.size() == 1);
    }
    // Down for longer than keep_firing_for: the first evaluation after it resolves, once.
    fx.reopen();
    fx.ingest(chip_sample("m1", kT0 + 10min - 5s, 70));  // polled meanwhile: not offline
    {
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10min);
        REQUIRE(fx.sent.size() == 2);
        CHECK(fx.sent[1].resolved);
        e->evaluate_once(kT0 + 11min);
    }
    fx.reopen();
    fx.ingest(chip_sample("m1", kT0 + 12min - 5s, 70));
    {
        auto e = fx.engine();
        e->evaluate_once(kT0 + 12min);
        CHECK(fx.sent.size() == 2);  // resolved stays resolved, and is not said again
        AlertFilter f;
        f.state = AlertState::resolved;
        CHECK(list_alerts(*fx.store, f).size() == 1);
    }
}

TEST_CASE("alert engine: a wall-clock step neither shortens nor stretches `for`") {
    // The chip temperature alert's state (the offline rule may hold alerts of its own).
    const auto state_of = [](AlertEngine& e) {
        for (const auto& a : e.alerts()) {
            if (a.alertname == "MinerChipTempHigh") return a.state;
        }
        return AlertState::inactive;
    };
    SUBCASE("forward one hour") {
        Fixture fx;
        fx.ingest(chip_sample("m1", kT0, 97));
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10s);
        REQUIRE(state_of(*e) == AlertState::pending);
        // 20 s later by the steady clock, an hour later by the wall clock.
        e->shift_clock(1h);
        fx.ingest(chip_sample("m1", kT0 + 1h + 25s, 97));
        e->evaluate_once(kT0 + 1h + 30s);
        CHECK(state_of(*e) == AlertState::pending);  // 30 s of the 1 min, not an hour
        CHECK(fx.sent.empty());
        // Saved as well: a restart now keeps the shifted start.
        e.reset();
        fx.reopen();
        e = fx.engine();
        e->evaluate_once(kT0 + 1h + 50s);
        CHECK(state_of(*e) == AlertState::pending);
        e->evaluate_once(kT0 + 1h + 75s);
        CHECK(state_of(*e) == AlertState::firing);
        CHECK(fx.sent.size() == 1);
    }
    SUBCASE("back one hour") {
        Fixture fx;
        fx.ingest(chip_sample("m1", kT0, 97));
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10s);
        e->shift_clock(-1h);
        e->evaluate_once(kT0 - 1h + 75s);  // fires 75 s after the start, not an hour later
        CHECK(state_of(*e) == AlertState::firing);
        REQUIRE(fx.sent.size() == 1);
        // keep_firing_for (2 min) from the last hot evaluation keeps its length too. (The cool
        // sample comes from an agent whose clock did not step.)
        fx.ingest(chip_sample("m1", kT0 + 20s, 70));
        e->evaluate_once(kT0 - 1h + 80s);
        e->shift_clock(1h);
        e->evaluate_once(kT0 + 110s);  // 35 s after the last hot one by the steady clock
        CHECK(state_of(*e) == AlertState::firing);
        e->evaluate_once(kT0 + 200s);  // 2 min 5 s after it
        CHECK(state_of(*e) == AlertState::resolved);
    }
}

TEST_CASE("wall-clock steps: found by the steady clock, drift is not a step") {
    using Steady = std::chrono::steady_clock;
    WallClockSteps steps;
    const Steady::time_point s0{};
    CHECK(steps.observe(kT0, s0) == 0ms);                   // first reading
    CHECK(steps.observe(kT0 + 15s, s0 + 15s) == 0ms);       // time passing
    CHECK(steps.observe(kT0 + 31s, s0 + 30s) == 0ms);       // 1 s of drift or scheduling
    CHECK(steps.observe(kT0 + 1h + 46s, s0 + 45s) == 1h);   // set forward an hour
    CHECK(steps.observe(kT0 + 1h + 61s, s0 + 60s) == 0ms);  // and on from there
    CHECK(steps.observe(kT0 + 76s, s0 + 75s) == -1h);       // and back
    CHECK(steps.observe(kT0 + 91s, s0 + 90s) == 0ms);
}

TEST_CASE("alert engine: an alert whose rule was removed resolves") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 97));
    {
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10s);
        e->evaluate_once(kT0 + 75s);
        REQUIRE(fx.sent.size() == 1);
    }
    auto only_offline = rules();
    for (auto& r : only_offline) r.enabled = r.kind == RuleKind::offline;
    auto e = fx.engine(only_offline);
    e->evaluate_once(kT0 + 80s);
    REQUIRE(fx.sent.size() == 2);
    CHECK(fx.sent[1].resolved);
    e->evaluate_once(kT0 + 95s);
    CHECK(fx.sent.size() == 2);
}

TEST_CASE("alert engine: offline from the store's last_up; a sleeping miner stays quiet") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 72));
    auto sleeping = test::state_sample("m2", kT0, MinerState::sleeping, 30);
    fx.ingest(sleeping);
    auto e = fx.engine();
    e->evaluate_once(kT0 + 30s);
    CHECK(list_alerts(*fx.store, {}).empty());
    // m1's polls fail from here on; m2 sleeps on, answering.
    auto down = test::state_sample("m1", kT0 + 60s, MinerState::offline, 0);
    down.up = false;
    down.error = PollError::timeout;
    down.power_w.reset();
    fx.ingest(down);
    sleeping.observed_at = kT0 + 6min;
    fx.ingest(sleeping);
    e->evaluate_once(kT0 + 65s);
    AlertFilter f;
    f.state = AlertState::pending;
    REQUIRE(list_alerts(*fx.store, f).size() == 1);
    CHECK(list_alerts(*fx.store, f)[0].subject == "m1");
    e->evaluate_once(kT0 + 5min);  // 5 min since the last good poll (at kT0)
    REQUIRE(fx.sent.size() == 1);
    CHECK(fx.sent[0].labels.at("alertname") == "MinerOffline");
    CHECK(fx.sent[0].labels.at("severity") == "critical");
    CHECK(fx.sent[0].annotations.at("description").find("timeout") != std::string::npos);
    CHECK(e->firing().size() == 1);
}

TEST_CASE("alert engine: start and stop evaluate on a thread") {
    Fixture fx;
    fx.ingest(chip_sample("m1", now_ms(), 97));
    auto r = rules();
    for (auto& x : r) x.for_duration = 0s;
    auto e = std::make_unique<AlertEngine>(
        *fx.store, r, [&](const Notification& n) { fx.sent.push_back(n); },
        AlertEngineOptions{50ms, "", {}});
    e->start();
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (e->firing().empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(10ms);
    }
    e->stop();
    e->stop();
    CHECK(e->firing().size() == 1);
    CHECK(fx.sent.size() == 1);
}

TEST_CASE("collector service: runs the alert engine unless [alerts] enabled = false") {
    test::TempDir dir;
    CollectorConfig cfg;
    cfg.database_path = dir.path() + "/c.db";
    cfg.api.address = "127.0.0.1";
    cfg.api.port = 0;
    cfg.alerts.interval = 50ms;
    for (auto& r : cfg.alerts.rules) r.for_duration = 0s;
    {
        CollectorService svc(cfg);
        REQUIRE(svc.alert_engine() != nullptr);
        svc.store().ingest({"a1", std::nullopt, 1, {chip_sample("m1", now_ms(), 97)}, {}});
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (svc.alert_engine()->firing().empty() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(10ms);
        }
        REQUIRE(svc.alert_engine()->firing().size() == 1);
        CHECK(svc.alert_engine()->firing()[0].labels.at("alertname") == "MinerChipTempHigh");
        CHECK(svc.alert_engine()->firing()[0].generator_url.starts_with(svc.base_url()));
    }
    cfg.alerts.enabled = false;
    CollectorService svc(cfg);
    CHECK(svc.alert_engine() == nullptr);
}

TEST_CASE("alert engine: one evaluation of a 2000-miner fleet") {
    Fixture fx;
    std::vector<MinerSample> batch;
    for (int i = 0; i < 2000; ++i) {
        // One in ten runs hot: 200 alerts pending, then firing.
        batch.push_back(chip_sample("m" + std::to_string(i), kT0, i % 10 == 0 ? 97 : 72));
    }
    fx.store->ingest({"a1", std::nullopt, 1, batch, {}});
    auto e = fx.engine(default_rules());
    CHECK(e->evaluate_once(kT0 + 10s).pending == 200);
    CHECK(e->evaluate_once(kT0 + 60s).written == 200);  // last_true of each pending alert
    // No sample for 130 s: every miner is also pending offline now.
    const auto st = e->evaluate_once(kT0 + 130s);
    CHECK(st.firing == 200);
    CHECK(st.pending == 2000);
    CHECK(fx.sent.size() == 200);
}

TEST_CASE("alert engine: the queue commits with the alert's change, or neither does") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 97));
    int queued = 0;
    bool fail = false;
    const auto queue = [&](sqlite::Database& db, const Notification& n, TimePoint) {
        db.prepare(
              "INSERT INTO alert_outbox (notifier, fingerprint, payload_json, "
              "created_at_ms, next_attempt_ms) VALUES ('t', ?1, '{}', 0, 0)")
            .bind(1, n.fingerprint)
            .run();
        ++queued;
        if (fail) throw std::runtime_error("disk full");
    };
    const auto outbox_rows = [&] {
        std::int64_t n = 0;
        fx.store->with_read(
            [&](sqlite::Database& db) { n = db.query_int("SELECT COUNT(*) FROM alert_outbox"); });
        return n;
    };
    AlertEngine e(
        *fx.store, rules(), [&](const Notification& n) { fx.sent.push_back(n); },
        AlertEngineOptions{15s, "", queue});
    e.evaluate_once(kT0 + 10s);  // pending: nothing to announce, nothing queued
    CHECK(queued == 0);

    fail = true;  // the firing's transaction fails after the queue wrote its row
    CHECK_THROWS_WITH(e.evaluate_once(kT0 + 75s), "disk full");
    CHECK(queued == 1);
    CHECK(outbox_rows() == 0);
    CHECK(fx.sent.empty());
    AlertFilter f;
    f.state = AlertState::firing;
    CHECK(list_alerts(*fx.store, f).empty());  // the change rolled back with the queue
    CHECK(e.firing().empty());

    fail = false;  // the next evaluation makes the same change, and queues it with it
    CHECK(e.evaluate_once(kT0 + 90s).firing == 1);
    CHECK(outbox_rows() == 1);
    REQUIRE(fx.sent.size() == 1);
    CHECK(list_alerts(*fx.store, f).size() == 1);
    e.evaluate_once(kT0 + 105s);
    CHECK(outbox_rows() == 1);  // still firing: nothing new
}

TEST_CASE("retention: alert history and resolved alerts go with the raw horizon, firing stays") {
    Fixture fx;
    fx.ingest(chip_sample("m1", kT0, 97));
    fx.ingest(chip_sample("m2", kT0, 97));
    {
        auto e = fx.engine();
        e->evaluate_once(kT0 + 10s);
        e->evaluate_once(kT0 + 75s);  // both firing
        fx.ingest(chip_sample("m2", kT0 + 80s, 70));
        e->evaluate_once(kT0 + 85s);
        e->evaluate_once(kT0 + 90s + 2min);  // m2 resolved
        fx.ingest(chip_sample("m1", kT0 + 3min, 97));
    }
    AlertFilter all;
    all.alertname = "MinerChipTempHigh";
    REQUIRE(list_alerts(*fx.store, all).size() == 2);
    std::int64_t events = 0;
    fx.store->with_read(
        [&](sqlite::Database& db) { events = db.query_int("SELECT COUNT(*) FROM alert_events"); });
    CHECK(events >= 5);  // m1 pending, firing; m2 pending, firing, resolved (and offline's)
    RetentionHorizons h;
    h.raw = std::chrono::days{1};
    CHECK(fx.store->apply_retention(kT0 + 23h, h).alert_events_deleted == 0);
    const auto r = fx.store->apply_retention(kT0 + 25h, h);
    CHECK(r.alerts_deleted == 1);
    CHECK(r.alert_events_deleted == events);
    const auto left = list_alerts(*fx.store, all);
    REQUIRE(left.size() == 1);
    CHECK(left[0].subject == "m1");
    CHECK(left[0].state == AlertState::firing);
    CHECK(alert_events(*fx.store, left[0].fingerprint).empty());
}
