// The /metrics building blocks without a server: the latest state (newest-only, staleness,
// forgetting), the miner families from fixed samples (values, units, absent values, one-hot
// state, label escaping), route patterns, and docs/metrics.md against what the code emits.
#include "collector/api/auth_guard.hpp"
#include "collector/api/routes.hpp"
#include "collector/metrics/alert_metrics.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/metrics/exposition.hpp"
#include "collector/metrics/latest_state.hpp"
#include "collector/metrics/policy_metrics.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "common/version.hpp"
#include "tests/support/process.hpp"

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace pm = prometheus;

namespace {

const TimePoint kNow = TimePoint{std::chrono::milliseconds{1795597200000}};  // 2026-11-25T09:00Z

// A miner that reports everything the families read.
MinerSample full_sample(const std::string& id, TimePoint at, std::string site = "north") {
    MinerSample s;
    s.miner_id = id;
    s.site = std::move(site);
    s.host = "10.0.0.7";
    s.port = 4028;
    s.make = "Bitmain";
    s.model = "Antminer S19 Pro";
    s.firmware = "stock";
    s.driver = "antminer";
    s.observed_at = at;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = 100.5;
    s.expected_hashrate_ths = 110;
    s.power_w = 3250;
    s.power_source = PowerSource::measured;
    s.power_limit_w = 3300;
    for (int i = 0; i < 3; ++i) {
        BoardSample b;
        b.index = 6 + i;
        b.hashrate_ths = 33.5;
        b.chip_temp_max_c = 70.0 + i;
        b.board_temp_max_c = 60.0 + i;
        b.chips = 76;
        s.boards.push_back(b);
    }
    s.fans_rpm = {5400, 5520, 5460, 5580};
    s.inlet_temp_c = 24.5;
    s.outlet_temp_c = 48;
    s.hw_errors_total = 17;
    s.uptime_s = 86400;
    PoolSample p1;
    p1.url = "stratum+tcp://pool.example:3333";
    p1.accepted = 1000;
    p1.rejected = 5;
    p1.stale = 2;
    PoolSample p2 = p1;
    p2.url = "stratum+tcp://backup.example:3333";
    p2.accepted = 10;
    p2.rejected = 1;
    p2.stale = 0;
    s.pools = {p1, p2};
    return s;
}

// A miner that did not answer: only identity, time, up and state.
MinerSample down_sample(const std::string& id, TimePoint at) {
    MinerSample s;
    s.miner_id = id;
    s.site = "north";
    s.host = "10.0.0.8";
    s.port = 4028;
    s.observed_at = at;
    s.up = false;
    s.state = MinerState::offline;
    s.error = PollError::timeout;
    s.error_message = "no reply within 5000 ms from 10.0.0.8:4028";
    return s;
}

using Labels = std::map<std::string, std::string>;

Labels labels_of(const pm::ClientMetric& c) {
    Labels out;
    for (const auto& l : c.label) out[l.name] = l.value;
    return out;
}

const pm::MetricFamily* family(const std::vector<pm::MetricFamily>& fs, const std::string& name) {
    for (const auto& f : fs) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

// The value of the one series of `name` with exactly `labels`; nullopt if there is none.
std::optional<double> value(const std::vector<pm::MetricFamily>& fs, const std::string& name,
                            const Labels& labels) {
    const auto* f = family(fs, name);
    REQUIRE_MESSAGE(f != nullptr, "no family " << name);
    std::optional<double> found;
    for (const auto& c : f->metric) {
        if (labels_of(c) != labels) continue;
        REQUIRE_MESSAGE(!found, "two series " << name);
        found = f->type == pm::MetricType::Counter ? c.counter.value : c.gauge.value;
    }
    return found;
}

std::size_t series_count(const std::vector<pm::MetricFamily>& fs, const std::string& name) {
    const auto* f = family(fs, name);
    REQUIRE_MESSAGE(f != nullptr, "no family " << name);
    return f->metric.size();
}

std::string serialize(const std::vector<pm::MetricFamily>& fs) {
    std::ostringstream out;
    pm::TextSerializer().Serialize(out, fs);
    return out.str();
}

std::vector<pm::MetricFamily> exposition_of(const std::vector<MinerSample>& samples,
                                            TimePoint now = kNow) {
    LatestState state;
    state.update(samples);
    return MinerExposition(state, [now] { return now; }).Collect();
}

std::string type_name(pm::MetricType t) {
    switch (t) {
        case pm::MetricType::Counter:
            return "counter";
        case pm::MetricType::Gauge:
            return "gauge";
        case pm::MetricType::Histogram:
            return "histogram";
        case pm::MetricType::Summary:
            return "summary";
        case pm::MetricType::Untyped:
            return "untyped";
    }
    return "?";
}

}  // namespace

TEST_CASE("latest state keeps only the newest sample of each miner") {
    LatestState state;
    CHECK(state.update({full_sample("m1", kNow - 60s), full_sample("m2", kNow - 60s)}) == 2);
    auto newer = full_sample("m1", kNow - 30s);
    newer.power_w = 3100;
    CHECK(state.update({newer}) == 1);
    auto older = full_sample("m1", kNow - 90s);
    older.power_w = 1;
    auto same_time = full_sample("m1", kNow - 30s);
    same_time.power_w = 2;
    CHECK(state.update({older, same_time}) == 0);

    auto snap = state.snapshot(kNow);
    REQUIRE(snap.size() == 2);
    CHECK(snap[0]->miner_id == "m1");
    CHECK(snap[0]->power_w == 3100);
    CHECK(snap[1]->miner_id == "m2");
    // A snapshot is unaffected by later updates: entries are replaced, never changed.
    auto newest = full_sample("m1", kNow);
    newest.power_w = 2900;
    state.update({newest});
    CHECK(snap[0]->power_w == 3100);
    CHECK(state.snapshot(kNow)[0]->power_w == 2900);
}

TEST_CASE("latest state: the batch site fills in, identities are shared") {
    LatestState state;
    auto a = full_sample("a", kNow);
    a.site.reset();
    auto b = full_sample("b", kNow, "south");
    state.update({a, full_sample("c", kNow, "south"), b}, std::string("north"));
    auto snap = state.snapshot(kNow);
    REQUIRE(snap.size() == 3);
    CHECK(snap[0]->identity->site == "north");
    CHECK(snap[1]->identity->site == "south");
    CHECK(snap[1]->identity == snap[2]->identity);  // one copy per distinct identity
    CHECK(snap[0]->identity != snap[1]->identity);
}

TEST_CASE("latest state: stale miners are not exported; forget, retain_only and prune drop") {
    LatestState state(LatestStateOptions{10min});
    state.update({full_sample("fresh", kNow - 9min), full_sample("edge", kNow - 10min),
                  full_sample("old", kNow - 11min), full_sample("other", kNow)});
    std::vector<std::string> ids;
    for (const auto& m : state.snapshot(kNow)) ids.push_back(m->miner_id);
    CHECK(ids == std::vector<std::string>{"edge", "fresh", "other"});
    CHECK(state.size() == 4);  // stale but still held until pruned

    CHECK(state.prune(kNow) == 1);
    CHECK(state.size() == 3);
    CHECK(state.forget("other"));
    CHECK_FALSE(state.forget("other"));
    CHECK(state.retain_only({"fresh", "unknown"}) == 1);
    REQUIRE(state.snapshot(kNow).size() == 1);
    CHECK(state.snapshot(kNow)[0]->miner_id == "fresh");
}

TEST_CASE("miner families from a fully reporting miner: values in base units") {
    const auto fs = exposition_of({full_sample("m1", kNow - 15s)});
    const Labels m{{"miner", "m1"}, {"site", "north"}};
    auto with = [&](std::string k, std::string v) {
        Labels l = m;
        l[k] = v;
        return l;
    };
    CHECK(value(fs, "hashwatt_miner_up", m) == 1.0);
    CHECK(value(fs, "hashwatt_miner_info",
                {{"miner", "m1"},
                 {"site", "north"},
                 {"make", "Bitmain"},
                 {"model", "Antminer S19 Pro"},
                 {"firmware", "stock"},
                 {"driver", "antminer"}}) == 1.0);
    CHECK(value(fs, "hashwatt_miner_hashrate_hashes_per_second", m) == doctest::Approx(100.5e12));
    CHECK(value(fs, "hashwatt_miner_expected_hashrate_hashes_per_second", m) ==
          doctest::Approx(110e12));
    CHECK(value(fs, "hashwatt_miner_power_watts", m) == 3250.0);
    CHECK(value(fs, "hashwatt_miner_power_limit_watts", m) == 3300.0);
    CHECK(value(fs, "hashwatt_miner_board_hashrate_hashes_per_second", with("board", "7")) ==
          doctest::Approx(33.5e12));
    CHECK(series_count(fs, "hashwatt_miner_board_hashrate_hashes_per_second") == 3);
    CHECK(value(fs, "hashwatt_miner_chip_temperature_celsius", with("board", "8")) == 72.0);
    CHECK(value(fs, "hashwatt_miner_board_temperature_celsius", with("board", "6")) == 60.0);
    CHECK(value(fs, "hashwatt_miner_fan_speed_rpm", with("fan", "3")) == 5580.0);
    CHECK(series_count(fs, "hashwatt_miner_fan_speed_rpm") == 4);
    CHECK(value(fs, "hashwatt_miner_inlet_temperature_celsius", m) == 24.5);
    CHECK(value(fs, "hashwatt_miner_outlet_temperature_celsius", m) == 48.0);
    CHECK(value(fs, "hashwatt_miner_hardware_errors_total", m) == 17.0);
    CHECK(value(fs, "hashwatt_miner_shares_total", with("result", "accepted")) == 1010.0);
    CHECK(value(fs, "hashwatt_miner_shares_total", with("result", "rejected")) == 6.0);
    CHECK(value(fs, "hashwatt_miner_shares_total", with("result", "stale")) == 2.0);
    CHECK(value(fs, "hashwatt_miner_uptime_seconds", m) == 86400.0);
    CHECK(value(fs, "hashwatt_miner_last_seen_timestamp_seconds", m) ==
          doctest::Approx(1795597185.0));
    CHECK(family(fs, "hashwatt_miner_hardware_errors_total")->type == pm::MetricType::Counter);
    CHECK(family(fs, "hashwatt_miner_shares_total")->type == pm::MetricType::Counter);
    CHECK(family(fs, "hashwatt_miner_power_watts")->type == pm::MetricType::Gauge);
}

TEST_CASE("state is one-hot over all six states") {
    auto s = full_sample("m1", kNow);
    s.state = MinerState::sleeping;
    const auto fs = exposition_of({s});
    CHECK(series_count(fs, "hashwatt_miner_state") == 6);
    double sum = 0;
    for (auto name : {"mining", "sleeping", "idle", "booting", "error", "offline"}) {
        auto v = value(fs, "hashwatt_miner_state",
                       {{"miner", "m1"}, {"site", "north"}, {"state", name}});
        REQUIRE(v);
        CHECK(*v == (std::string(name) == "sleeping" ? 1.0 : 0.0));
        sum += *v;
    }
    CHECK(sum == 1.0);
}

TEST_CASE("a value the miner did not report has no series") {
    const auto fs = exposition_of({down_sample("dead", kNow)});
    const Labels m{{"miner", "dead"}, {"site", "north"}};
    CHECK(value(fs, "hashwatt_miner_up", m) == 0.0);
    CHECK(value(fs, "hashwatt_miner_state",
                {{"miner", "dead"}, {"site", "north"}, {"state", "offline"}}) == 1.0);
    CHECK(value(fs, "hashwatt_miner_info", m) == 1.0);  // no make/model labels: not reported
    CHECK(value(fs, "hashwatt_miner_last_seen_timestamp_seconds", m).has_value());
    for (auto name :
         {"hashwatt_miner_hashrate_hashes_per_second",
          "hashwatt_miner_expected_hashrate_hashes_per_second", "hashwatt_miner_power_watts",
          "hashwatt_miner_power_limit_watts", "hashwatt_miner_board_hashrate_hashes_per_second",
          "hashwatt_miner_chip_temperature_celsius", "hashwatt_miner_board_temperature_celsius",
          "hashwatt_miner_fan_speed_rpm", "hashwatt_miner_inlet_temperature_celsius",
          "hashwatt_miner_outlet_temperature_celsius", "hashwatt_miner_hardware_errors_total",
          "hashwatt_miner_shares_total", "hashwatt_miner_uptime_seconds"}) {
        INFO(name);
        CHECK(series_count(fs, name) == 0);
    }
    // Partly reported: a board without a chip temperature, a pool without stale counts.
    auto partial = full_sample("p", kNow);
    partial.boards[1].chip_temp_max_c.reset();
    for (auto& pool : partial.pools) pool.stale.reset();
    partial.power_w.reset();
    const auto pf = exposition_of({partial});
    CHECK(series_count(pf, "hashwatt_miner_chip_temperature_celsius") == 2);
    CHECK_FALSE(value(pf, "hashwatt_miner_chip_temperature_celsius",
                      {{"miner", "p"}, {"site", "north"}, {"board", "7"}}));
    CHECK(series_count(pf, "hashwatt_miner_shares_total") == 2);
    CHECK(series_count(pf, "hashwatt_miner_power_watts") == 0);
    // No error string and no IP in any label or value.
    const std::string text = serialize(fs) + serialize(pf);
    CHECK(text.find("10.0.0.") == std::string::npos);
    CHECK(text.find("no reply") == std::string::npos);
    CHECK(text.find("timeout") == std::string::npos);
}

TEST_CASE("label values are escaped: quotes, backslashes and newlines in a site") {
    auto s = full_sample("rig \"7\"", kNow, "barn \"B\"\\east\nwing");
    s.site = "barn \"B\"\\east\nwing";
    const std::string text = serialize(exposition_of({s}));
    CHECK(text.find(R"(hashwatt_miner_up{miner="rig \"7\"",site="barn \"B\"\\east\nwing"} 1)") !=
          std::string::npos);
    // Every line is a comment or a sample: no raw newline leaked out of a label.
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        INFO(line);
        CHECK((line.starts_with("# ") || line.starts_with("hashwatt_miner_")));
    }
}

TEST_CASE("a site-less miner has no site label; stale miners are left out") {
    auto s = full_sample("lone", kNow);
    s.site.reset();
    const auto fs = exposition_of({s, full_sample("gone", kNow - 2h)});
    CHECK(value(fs, "hashwatt_miner_up", {{"miner", "lone"}}) == 1.0);
    CHECK(series_count(fs, "hashwatt_miner_up") == 1);
}

TEST_CASE("collector self-metrics: ingest, HTTP, queue, miners, build info") {
    CollectorMetrics metrics({}, [] { return kNow; });
    metrics.latest().update({full_sample("a", kNow), full_sample("b", kNow - 2h)});
    metrics.record_ingest(IngestOutcome::stored, 40);
    metrics.record_ingest(IngestOutcome::stored, 2);
    metrics.record_ingest(IngestOutcome::duplicate, 0);
    metrics.record_http("/api/v1/miners/{id}", 200, 0.003);
    metrics.record_http("/api/v1/miners/{id}", 404, 0.001);
    const auto fs = metrics.collect(5);
    CHECK(value(fs, "hashwatt_collector_ingest_batches_total", {{"result", "stored"}}) == 2.0);
    CHECK(value(fs, "hashwatt_collector_ingest_batches_total", {{"result", "duplicate"}}) == 1.0);
    CHECK(value(fs, "hashwatt_collector_ingest_batches_total", {{"result", "rejected"}}) == 0.0);
    CHECK(value(fs, "hashwatt_collector_ingest_samples_total", {}) == 42.0);
    CHECK(value(fs, "hashwatt_collector_http_requests_total",
                {{"route", "/api/v1/miners/{id}"}, {"code", "404"}}) == 1.0);
    const auto* h = family(fs, "hashwatt_collector_http_request_duration_seconds");
    REQUIRE(h != nullptr);
    REQUIRE(h->metric.size() == 1);
    CHECK(h->metric[0].histogram.sample_count == 2);
    CHECK(value(fs, "hashwatt_collector_ingest_queue_batches", {}) == 5.0);
    CHECK(value(fs, "hashwatt_collector_miners", {}) == 1.0);  // "b" is stale
    CHECK(value(fs, "hashwatt_build_info", {{"version", kVersion}}) == 1.0);

    CHECK(metrics.latest().size() == 2);
    const std::string text = metrics.render(0);
    CHECK(metrics.latest().size() == 1);  // a scrape drops what it no longer shows
    CHECK(text.find("hashwatt_collector_ingest_queue_batches 0") != std::string::npos);
    CHECK(text.find("hashwatt_miner_up{miner=\"a\",site=\"north\"} 1") != std::string::npos);
    // The second scrape reports how long the first took.
    const auto again = metrics.collect(0);
    CHECK(*value(again, "hashwatt_collector_scrape_duration_seconds", {}) > 0.0);
}

TEST_CASE("store errors: every operation exported at 0 from the start, then counted") {
    CollectorMetrics metrics({}, [] { return kNow; });
    auto fs = metrics.collect(0);
    CHECK(series_count(fs, "hashwatt_collector_store_errors_total") == 3);
    for (const char* op : {"ingest", "maintenance", "query"}) {
        CHECK(value(fs, "hashwatt_collector_store_errors_total", {{"operation", op}}) == 0.0);
    }
    metrics.record_store_error(StoreOperation::ingest);
    metrics.record_store_error(StoreOperation::maintenance);
    metrics.record_store_error(StoreOperation::maintenance);
    fs = metrics.collect(0);
    CHECK(value(fs, "hashwatt_collector_store_errors_total", {{"operation", "ingest"}}) == 1.0);
    CHECK(value(fs, "hashwatt_collector_store_errors_total", {{"operation", "maintenance"}}) ==
          2.0);
    CHECK(value(fs, "hashwatt_collector_store_errors_total", {{"operation", "query"}}) == 0.0);
}

TEST_CASE("agent last ingest: one series per agent, in Unix seconds, only moving forward") {
    CollectorMetrics metrics({}, [] { return kNow; });
    // No agent yet: no series (prometheus-cpp leaves an empty family out).
    CHECK(family(metrics.collect(0), "hashwatt_collector_agent_last_ingest_timestamp_seconds") ==
          nullptr);
    metrics.record_agent_ingest("a1", kNow - 30s);
    metrics.record_agent_ingest("a2", kNow - 10s);
    metrics.record_agent_ingest("a1", kNow);
    metrics.record_agent_ingest("a2", kNow - 20s);  // late: ignored
    const auto fs = metrics.collect(0);
    const double now_s = 1795597200.0;
    CHECK(value(fs, "hashwatt_collector_agent_last_ingest_timestamp_seconds", {{"agent", "a1"}}) ==
          now_s);
    CHECK(value(fs, "hashwatt_collector_agent_last_ingest_timestamp_seconds", {{"agent", "a2"}}) ==
          now_s - 10);
}

TEST_CASE("agent last ingest is seeded from the store: batch records, else miners' last_seen") {
    test::TempDir dir;
    Store store(dir.path() + "/c.db");
    store.ingest(IngestBatch{"a1", "north", 1, {full_sample("m1", kNow - 5min)}, {}}, kNow - 4min);
    store.ingest(IngestBatch{"a1", "north", 2, {full_sample("m1", kNow - 2min)}, {}}, kNow - 1min);
    store.ingest(IngestBatch{"a2", "south", 1, {full_sample("m2", kNow - 3h, "south")}, {}},
                 kNow - 2h);
    // a3's batch is older than the day seed_agents reads: dated by its miner's last_seen.
    store.ingest(IngestBatch{"a3", "east", 1, {full_sample("m3", kNow - 50h, "east")}, {}},
                 kNow - 49h);
    // Retention removed a2's batch records: its miners' newest sample says when it was heard.
    store.with_write(
        [](sqlite::Database& db) { db.exec("DELETE FROM ingest_batches WHERE agent_id = 'a2'"); });

    CollectorMetrics metrics({}, [] { return kNow; });
    CHECK(metrics.seed_agents(store) == 3);
    const auto fs = metrics.collect(0);
    const double now_s = 1795597200.0;
    CHECK(value(fs, "hashwatt_collector_agent_last_ingest_timestamp_seconds", {{"agent", "a1"}}) ==
          now_s - 60);
    CHECK(value(fs, "hashwatt_collector_agent_last_ingest_timestamp_seconds", {{"agent", "a2"}}) ==
          now_s - 3 * 3600);
    CHECK(value(fs, "hashwatt_collector_agent_last_ingest_timestamp_seconds", {{"agent", "a3"}}) ==
          now_s - 50 * 3600);
}

TEST_CASE("policy site power caps: one series per capped site, absent without caps") {
    control::PolicySnapshot s;
    s.have_round = true;
    s.site_power_w["north"] = 3250;
    auto fs = build_policy_families(s);
    CHECK(series_count(fs, "hashwatt_policy_site_power_cap_watts") == 0);
    s.site_power_cap_w["north"] = 400000;
    s.site_power_cap_w["south"] = 80000;
    fs = build_policy_families(s);
    CHECK(series_count(fs, "hashwatt_policy_site_power_cap_watts") == 2);
    CHECK(value(fs, "hashwatt_policy_site_power_cap_watts", {{"site", "north"}}) == 400000.0);
    CHECK(value(fs, "hashwatt_policy_site_power_cap_watts", {{"site", "south"}}) == 80000.0);
}

TEST_CASE("a registered collectable is scraped after the miner families") {
    struct Extra : pm::Collectable {
        std::vector<pm::MetricFamily> Collect() const override {
            pm::MetricFamily f;
            f.name = "hashwatt_test_extra";
            f.help = "test";
            f.type = pm::MetricType::Gauge;
            f.metric.emplace_back().gauge.value = 3;
            return {f};
        }
    };
    CollectorMetrics metrics;
    metrics.add_collectable(std::make_shared<Extra>());
    const std::string text = metrics.render(0);
    const auto extra = text.find("hashwatt_test_extra 3");
    REQUIRE(extra != std::string::npos);
    CHECK(text.find("# TYPE hashwatt_miner_up gauge") < extra);
}

TEST_CASE("route patterns never carry a raw path") {
    CHECK(route_pattern("/metrics") == "/metrics");
    CHECK(route_pattern("/healthz") == "/healthz");
    CHECK(route_pattern("/api/v1/ingest") == "/api/v1/ingest");
    CHECK(route_pattern("/api/v1/miners") == "/api/v1/miners");
    CHECK(route_pattern("/api/v1/sites") == "/api/v1/sites");
    CHECK(route_pattern("/api/v1/miners/aa:bb:cc:dd:ee:ff") == "/api/v1/miners/{id}");
    CHECK(route_pattern("/api/v1/miners/m7/samples") == "/api/v1/miners/{id}/samples");
    CHECK(route_pattern("/api/v1/agents/a1/commands") == "/api/v1/agents/{agent_id}/commands");
    CHECK(route_pattern("/api/v1/commands/42/result") == "/api/v1/commands/{id}/result");
    CHECK(route_pattern("/api/v1/commands") == "/api/v1/commands");
    CHECK(route_pattern("/api/v1/alerts") == "/api/v1/alerts");
    CHECK(route_pattern("/api/v1/alerts/0e8c06c755f9db9f") == "/api/v1/alerts/{fingerprint}");
    CHECK(route_pattern("/api/v1/commands/42") == "/api/v1/commands/{id}");
    CHECK(route_pattern("/api/v1/alerts/0123abcd/ack") == "/api/v1/alerts/{fingerprint}/ack");
    CHECK(route_pattern("/api/v1/alerts/0123abcd/silence") ==
          "/api/v1/alerts/{fingerprint}/silence");
    CHECK(route_pattern("/api/v1/alerts/0123abcd/other") == "unmatched");
    CHECK(route_pattern("/api/v1/miners/m7/other") == "unmatched");
    CHECK(route_pattern("/api/v1/miners//samples") == "unmatched");
    CHECK(route_pattern("/wp-login.php") == "unmatched");
    CHECK(route_pattern("/api/v1/a/b/c/d/e/f") == "unmatched");
    CHECK(route_pattern("") == "unmatched");
}

TEST_CASE("docs/metrics.md lists exactly the families the code emits, with their types") {
    // What the code emits for a fully populated fleet: every miner family and self-metric has
    // at least one series here, so an emitter that silently stopped would also be caught.
    CollectorMetrics metrics({}, [] { return kNow; });
    metrics.latest().update({full_sample("m1", kNow), down_sample("m2", kNow)});
    metrics.record_ingest(IngestOutcome::stored, 1);
    metrics.record_http("/metrics", 200, 0.01);
    metrics.record_agent_ingest("agent-1", kNow);
    // The API's authentication families, registered by its guard.
    AuthGuard auth_guard(AuthLimitOptions{}, metrics);
    // The alert families, as the service registers them, with a firing alert in each.
    struct Alerts : pm::Collectable {
        std::vector<pm::MetricFamily> Collect() const override {
            alerts::AlertRule r;
            r.name = "MinerChipTempHigh";
            alerts::Alert firing;
            firing.alertname = r.name;
            firing.subject = "m1";
            firing.state = alerts::AlertState::firing;
            return build_alert_families({r}, {firing});
        }
    };
    metrics.add_collectable(std::make_shared<Alerts>());
    // The policy families, from a control loop's round with a price.
    struct Policy : pm::Collectable {
        std::vector<pm::MetricFamily> Collect() const override {
            control::PolicySnapshot s;
            s.have_round = true;
            s.price.price_per_mwh = 42.5;
            s.hashprice_per_th_day = 0.05;
            s.miners.push_back({"m1", "north", policies::PointKind::sleep, 70.2});
            s.site_power_w["north"] = 3250;
            s.site_power_cap_w["north"] = 500000;
            return build_policy_families(s);
        }
    };
    metrics.add_collectable(std::make_shared<Policy>());
    metrics.render(0);
    std::map<std::string, std::string> code;
    for (const auto& f : metrics.collect(1)) {
        INFO(f.name);
        CHECK_FALSE(f.metric.empty());
        code[f.name] = type_name(f.type);
    }

    const std::string path = std::string(HASHWATT_SOURCE_DIR) + "/docs/metrics.md";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot open " << path);
    // Rows of the family table: | `name` | type | ...
    std::map<std::string, std::string> doc;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (!line.starts_with("| `hashwatt_")) continue;
        const auto name_end = line.find('`', 3);
        REQUIRE_MESSAGE(name_end != std::string::npos, path << ":" << line_no);
        const std::string name = line.substr(3, name_end - 3);
        const auto type_start = line.find('|', name_end) + 1;
        const auto type_end = line.find('|', type_start);
        std::string type = line.substr(type_start, type_end - type_start);
        type.erase(0, type.find_first_not_of(' '));
        type.erase(type.find_last_not_of(' ') + 1);
        INFO(path << ":" << line_no);
        CHECK_MESSAGE(doc.emplace(name, type).second, "listed twice: " << name);
    }
    REQUIRE(doc.size() > 10);
    for (const auto& [name, type] : code) {
        INFO(name);
        auto it = doc.find(name);
        CHECK_MESSAGE(it != doc.end(), "emitted but not in docs/metrics.md: " << name);
        if (it != doc.end()) CHECK_MESSAGE(it->second == type, "type differs for " << name);
    }
    for (const auto& [name, type] : doc) {
        CHECK_MESSAGE(code.count(name) == 1, "in docs/metrics.md but not emitted: " << name);
    }
}

TEST_CASE("the scrape's own text writer matches TextSerializer byte for byte") {
    std::vector<MinerSample> fleet{full_sample("m1", kNow), down_sample("m2", kNow)};
    auto odd = full_sample("odd \"id\"\\x\ny", kNow - 1s, "s\\\"\n");
    odd.hashrate_ths = 1.0 / 3.0;
    odd.power_w = 0.1;
    odd.power_limit_w = 1e-7;
    odd.inlet_temp_c = -0.0;
    odd.expected_hashrate_ths = 999.999;  // 9.99999e14 H/s: just under the integer fast path
    odd.boards[2].board_temp_max_c = -12.25;
    odd.outlet_temp_c = 1e300;
    odd.hw_errors_total = 9007199254740993;  // beyond a double's exact integers
    odd.uptime_s = 123456789012345678;
    odd.boards[0].chip_temp_max_c = 99.99999999999999;
    odd.boards[1].hashrate_ths = 1e-20;
    odd.fans_rpm = {0, -1, 1000000, 999999999999999, 1000000000000000, 99999999999999999};
    odd.make.reset();
    odd.state = MinerState::booting;
    auto siteless = full_sample("nosite", kNow);
    siteless.site.reset();
    fleet.push_back(odd);
    fleet.push_back(siteless);

    for (bool empty : {false, true}) {
        LatestState state;
        if (!empty) state.update(fleet);
        const auto families = MinerExposition(state, [] { return kNow; }).Collect();
        std::string ours;
        append_miner_text(state.snapshot(kNow), ours);
        INFO("empty fleet: " << empty);
        CHECK(ours == serialize(families));
        if (!empty) CHECK(ours.find(R"(site="s\\\"\n")") != std::string::npos);
    }
}
