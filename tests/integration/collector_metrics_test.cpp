// GET /metrics over real loopback sockets with a real SQLite file: samples ingested over HTTP
// show up (and are updated, never moved back), the store seeds the state at startup, the
// token rule, request counting by route pattern, and promtool's verdict on a real scrape.
#include "collector/metrics/collector_metrics.hpp"

#include "collector/api/server.hpp"
#include "collector/config/collector_config.hpp"
#include "collector/service.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include <boost/beast/http.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

const std::string kAgentToken = "agent-secret-0123456789";
const std::string kReadToken = "read-secret-abcdef";

ApiOptions options(bool require_token = false) {
    ApiOptions o;
    o.request_timeout = 2s;
    o.idle_timeout = 2s;
    o.tokens = {{kAgentToken, Role::agent, "agent-1"}, {kReadToken, Role::read, ""}};
    o.metrics_require_token = require_token;
    return o;
}

// The collector as these tests run it; `seed` is ingested into the store before the server
// starts.
struct Collector : test::InProcessCollector {
    explicit Collector(ApiOptions o = options(), const std::vector<MinerSample>& seed = {})
        : InProcessCollector({.api = std::move(o), .seed = [seed](Store& store) {
                                  if (!seed.empty())
                                      store.ingest(IngestBatch{"seeder", "north", 1, seed, {}});
                              }}) {}
};

using Response = test::ApiResponse;

Response scrape(const test::InProcessCollector& c,
                std::optional<std::string> token = std::nullopt) {
    return test::api_request(c.port(), http::verb::get, "/metrics", {}, std::move(token));
}

MinerSample sample(const std::string& id, TimePoint at, double ths, double watts) {
    MinerSample s;
    s.miner_id = id;
    s.host = "10.1.2.3";
    s.port = 4028;
    s.make = "Bitmain";
    s.model = "Antminer S19 Pro";
    s.driver = "antminer";
    s.observed_at = at;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = ths;
    s.expected_hashrate_ths = 110;
    s.power_w = watts;
    s.power_source = PowerSource::measured;
    for (int i = 0; i < 3; ++i) {
        BoardSample b;
        b.index = i;
        b.hashrate_ths = ths / 3;
        b.chip_temp_max_c = 70 + i;
        b.board_temp_max_c = 60 + i;
        s.boards.push_back(b);
    }
    s.fans_rpm = {5400, 5520, 5460, 5580};
    s.hw_errors_total = 3;
    s.uptime_s = 3600;
    PoolSample p;
    p.url = "stratum+tcp://pool.example:3333";
    p.accepted = 100;
    p.rejected = 1;
    p.stale = 0;
    s.pools = {p};
    return s;
}

// Every batch comes from site `north "B"`: a quote in a label value on the way through.
std::string batch(std::int64_t seq, const std::vector<MinerSample>& samples) {
    std::string out = R"({"agent_id":"agent-1","site":"north \"B\"","batch_seq":)" +
                      std::to_string(seq) + R"(,"samples":[)";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        if (i) out += ",";
        out += encode_sample(samples[i]);
    }
    return out + "]}";
}

Response ingest(const test::InProcessCollector& c, std::int64_t seq,
                const std::vector<MinerSample>& samples) {
    return test::api_request(c.port(), http::verb::post, "/api/v1/ingest", batch(seq, samples),
                             kAgentToken);
}

// The value on the sample line that starts with `series` (name and labels exactly as
// serialized); nullopt if there is no such line.
std::optional<double> series_value(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ')
            return std::stod(line.substr(series.size() + 1));
    }
    return std::nullopt;
}

const std::string kSite = R"(site="north \"B\"")";

}  // namespace

TEST_CASE("ingest over HTTP shows in /metrics without a token; a newer batch updates it") {
    Collector c;
    const TimePoint t = now_ms() - 20s;
    REQUIRE(ingest(c, 1, {sample("m1", t, 100, 3250), sample("m2", t, 95, 3100)}).status == 200);

    auto r = scrape(c);
    REQUIRE(r.status == 200);
    CHECK(r.headers[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
    const std::string m1 = R"({miner="m1",)" + kSite;
    CHECK(series_value(r.body, "hashwatt_miner_up" + m1 + "}") == 1.0);
    CHECK(series_value(r.body, "hashwatt_miner_power_watts" + m1 + "}") == 3250.0);
    CHECK(series_value(r.body, "hashwatt_miner_hashrate_hashes_per_second" + m1 + "}") ==
          doctest::Approx(100e12));
    CHECK(series_value(r.body, "hashwatt_miner_fan_speed_rpm" + m1 + R"(,fan="3"})") == 5580.0);
    CHECK(series_value(r.body, "hashwatt_collector_miners") == 2.0);
    CHECK(series_value(r.body, R"(hashwatt_collector_ingest_batches_total{result="stored"})") ==
          1.0);
    CHECK(series_value(r.body, "hashwatt_collector_ingest_samples_total") == 2.0);
    CHECK(r.body.find("10.1.2.3") == std::string::npos);  // no IPs anywhere

    // A newer sample replaces it; an older one (a late retry of old data) does not.
    REQUIRE(ingest(c, 2, {sample("m1", t + 10s, 80, 2900)}).status == 200);
    REQUIRE(ingest(c, 3, {sample("m1", t - 60s, 1, 1)}).status == 200);
    REQUIRE(ingest(c, 2, {sample("m1", t + 10s, 80, 2900)}).status == 200);  // duplicate
    REQUIRE(
        test::api_request(c.port(), http::verb::post, "/api/v1/ingest", "{", kAgentToken).status ==
        400);
    r = scrape(c);
    REQUIRE(r.status == 200);
    CHECK(series_value(r.body, "hashwatt_miner_power_watts" + m1 + "}") == 2900.0);
    CHECK(series_value(r.body, "hashwatt_miner_last_seen_timestamp_seconds" + m1 + "}") ==
          doctest::Approx(static_cast<double>((t + 10s).time_since_epoch().count()) / 1000.0));
    CHECK(series_value(r.body, R"(hashwatt_collector_ingest_batches_total{result="stored"})") ==
          3.0);
    CHECK(series_value(r.body, R"(hashwatt_collector_ingest_batches_total{result="duplicate"})") ==
          1.0);
    CHECK(series_value(r.body, R"(hashwatt_collector_ingest_batches_total{result="rejected"})") ==
          1.0);
    // Every answered request is counted under its route pattern, never the raw path.
    CHECK(series_value(r.body,
                       R"(hashwatt_collector_http_requests_total{code="200",route="/metrics"})") ==
          1.0);
    CHECK(series_value(
              r.body,
              R"(hashwatt_collector_http_requests_total{code="400",route="/api/v1/ingest"})") ==
          1.0);
    REQUIRE(
        test::api_request(c.port(), http::verb::get, "/api/v1/miners/m1", {}, kReadToken).status ==
        200);
    REQUIRE(test::api_request(c.port(), http::verb::get, "/api/v1/miners/m2?x=1", {}, kReadToken)
                .status == 200);
    r = scrape(c);
    CHECK(
        series_value(
            r.body,
            R"(hashwatt_collector_http_requests_total{code="200",route="/api/v1/miners/{id}"})") ==
        2.0);
    CHECK(r.body.find("/api/v1/miners/m1") == std::string::npos);
    CHECK(series_value(r.body, "hashwatt_collector_scrape_duration_seconds") > 0.0);
}

TEST_CASE("the store seeds /metrics at startup; stale miners are not exported") {
    const TimePoint t = now_ms() - 5s;
    Collector c(options(), {sample("seeded", t, 90, 3000), sample("ancient", t - 3h, 90, 3000)});
    auto r = scrape(c);
    REQUIRE(r.status == 200);
    CHECK(series_value(r.body, R"(hashwatt_miner_up{miner="seeded",site="north"})") == 1.0);
    CHECK(r.body.find(R"(miner="ancient")") == std::string::npos);
    CHECK(series_value(r.body, "hashwatt_collector_miners") == 1.0);
}

TEST_CASE("store errors: 0 from the start; a failed ingest and a failed query are counted") {
    Collector c;
    auto r = scrape(c);
    REQUIRE(r.status == 200);
    for (const char* op : {"ingest", "maintenance", "query"}) {
        CHECK(series_value(
                  r.body, std::string(R"(hashwatt_collector_store_errors_total{operation=")") + op +
                              "\"}") == 0.0);
    }
    // SQLite refuses every sample from now on: the batch is answered 503 and counted.
    c.store().with_write([](sqlite::Database& db) {
        db.exec(
            "CREATE TRIGGER refuse BEFORE INSERT ON samples BEGIN "
            "SELECT RAISE(ABORT, 'injected failure'); END");
    });
    CHECK(ingest(c, 1, {sample("m1", now_ms() - 5s, 100, 3250)}).status == 503);
    // A read route whose table is gone answers 500 and counts a query error.
    c.store().with_write(
        [](sqlite::Database& db) { db.exec("ALTER TABLE miners RENAME TO miners_gone"); });
    CHECK(test::api_request(c.port(), http::verb::get, "/api/v1/miners", {}, kReadToken).status ==
          500);
    r = scrape(c);
    CHECK(series_value(r.body, R"(hashwatt_collector_store_errors_total{operation="ingest"})") ==
          1.0);
    CHECK(series_value(r.body, R"(hashwatt_collector_store_errors_total{operation="query"})") ==
          1.0);
    CHECK(series_value(r.body,
                       R"(hashwatt_collector_store_errors_total{operation="maintenance"})") == 0.0);
    // A refused batch is no contact: the agent has no last-ingest series.
    CHECK(r.body.find("hashwatt_collector_agent_last_ingest_timestamp_seconds{") ==
          std::string::npos);
}

TEST_CASE("agent last ingest: set by each stored batch, seeded from the store at startup") {
    const TimePoint received = now_ms() - 10min;
    test::InProcessCollector c(
        {.api = options(), .seed = [received](Store& store) {
             store.ingest(
                 IngestBatch{"old-agent", "north", 1, {sample("m9", received - 1s, 90, 3000)}, {}},
                 received);
         }});
    auto r = scrape(c);
    REQUIRE(r.status == 200);
    CHECK(series_value(
              r.body,
              R"(hashwatt_collector_agent_last_ingest_timestamp_seconds{agent="old-agent"})") ==
          doctest::Approx(static_cast<double>(received.time_since_epoch().count()) / 1000.0));
    CHECK(r.body.find(R"(agent="agent-1")") == std::string::npos);

    const double before = static_cast<double>(now_ms().time_since_epoch().count()) / 1000.0;
    REQUIRE(test::api_request(c.port(), http::verb::post, "/api/v1/ingest",
                              batch(1, {sample("m1", now_ms() - 1s, 100, 3250)}), kAgentToken)
                .status == 200);
    const double after = static_cast<double>(now_ms().time_since_epoch().count()) / 1000.0;
    r = scrape(c);
    const auto v = series_value(
        r.body, R"(hashwatt_collector_agent_last_ingest_timestamp_seconds{agent="agent-1"})");
    REQUIRE(v);
    CHECK(*v >= before);
    CHECK(*v <= after);
}

TEST_CASE("collector service: a failed maintenance job counts as a maintenance store error") {
    test::TempDir dir;
    CollectorConfig cfg;
    cfg.database_path = dir.path() + "/c.db";
    cfg.api.address = "127.0.0.1";
    cfg.api.port = 0;
    cfg.alerts.enabled = false;
    cfg.writer.maintenance_interval.reset();
    cfg.writer.verify_interval = 20ms;  // command verification, a maintenance job, fails below
    CollectorService svc(cfg);
    svc.store().with_write(
        [](sqlite::Database& db) { db.exec("ALTER TABLE commands RENAME TO commands_gone"); });
    const std::string series = R"(hashwatt_collector_store_errors_total{operation="maintenance"})";
    std::optional<double> seen;
    const bool counted = test::wait_until(
        [&] {
            auto r = test::api_request(svc.port(), http::verb::get, "/metrics", {});
            seen = series_value(r.body, series);
            return seen && *seen >= 1.0;
        },
        10s, 50ms);
    INFO("last value: " << (seen ? std::to_string(*seen) : "none"));
    CHECK(counted);
}

TEST_CASE("metrics_require_token: 401 without a token, 403 for an agent, 200 for read") {
    Collector c(options(true));
    CHECK(scrape(c).status == 401);
    CHECK(scrape(c, "not-a-token").status == 401);
    CHECK(scrape(c, kAgentToken).status == 403);
    auto r = scrape(c, kReadToken);
    CHECK(r.status == 200);
    CHECK(r.headers[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(test::api_request(c.port(), http::verb::post, "/metrics", "{}", kReadToken).status ==
          405);
}

TEST_CASE("the default: no token needed, other methods refused") {
    Collector c;
    CHECK(scrape(c).status == 200);
    CHECK(test::api_request(c.port(), http::verb::post, "/metrics", "{}").status == 405);
}

TEST_CASE("promtool check metrics accepts a real scrape without lint complaints") {
    const std::string promtool = "/usr/bin/promtool";
    if (!std::filesystem::exists(promtool)) {
        MESSAGE("promtool not installed (Debian package prometheus); skipped");
        return;
    }
    Collector c;
    const TimePoint t = now_ms() - 10s;
    auto down = sample("m3", t, 0, 0);
    down.up = false;
    down.state = MinerState::offline;
    down.hashrate_ths.reset();
    down.power_w.reset();
    down.boards.clear();
    REQUIRE(ingest(c, 1, {sample("m1", t, 100, 3250), sample("m2", t, 95, 3100), down}).status ==
            200);
    REQUIRE(test::api_request(c.port(), http::verb::get, "/api/v1/miners", {}, kReadToken).status ==
            200);
    auto r = scrape(c);
    REQUIRE(r.status == 200);
    auto result = test::run({promtool, "check", "metrics"}, 30s, r.body);
    INFO("promtool stdout: " << result.out);
    INFO("promtool stderr: " << result.err);
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    CHECK(result.out.empty());
    CHECK(result.err.empty());
}
