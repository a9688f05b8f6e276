// The collector's HTTP API over real loopback sockets with a real SQLite file: ingest round
// trips, idempotent retries, every bad-input case (status, JSON error and nothing stored),
// the read routes, health and the per-request deadline.
#include "collector/api/server.hpp"
#include "collector/storage/sample_codec.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

const std::string kAgentToken = "agent-secret-0123456789";
const std::string kOtherAgentToken = "agent-secret-other";
const std::string kReadToken = "read-secret-abcdef";
const std::string kAdminToken = "admin-secret-xyz";

ApiOptions test_options() {
    ApiOptions o;
    o.body_limit_bytes = 64 * 1024;
    o.request_timeout = 500ms;
    o.idle_timeout = 2s;
    o.tokens = {{kAgentToken, Role::agent, "agent-1"},
                {kOtherAgentToken, Role::agent, "agent-2"},
                {kReadToken, Role::read, ""},
                {kAdminToken, Role::admin, ""}};
    return o;
}

// The collector as these tests run it: test_options() unless a test says otherwise.
struct Collector : test::InProcessCollector {
    explicit Collector(ApiOptions options = test_options())
        : InProcessCollector({.api = std::move(options)}) {}
};

using Response = test::ApiResponse;

Response post_ingest(const Collector& c, const std::string& body,
                     std::optional<std::string> token = kAgentToken) {
    return test::api_request(c.port(), http::verb::post, "/api/v1/ingest", body, token);
}

Response get(const Collector& c, const std::string& target,
             std::optional<std::string> token = kReadToken) {
    return test::api_request(c.port(), http::verb::get, target, {}, token);
}

const TimePoint kT0 = *parse_time("2026-11-25T09:00:00.000Z");

MinerSample make_sample(const std::string& id, TimePoint at, double ths, double watts,
                        bool up = true, std::optional<std::string> site = std::nullopt) {
    MinerSample s;
    s.miner_id = id;
    s.site = std::move(site);
    s.host = "10.0.0.1";
    s.port = 4028;
    s.model = "Antminer S19 Pro";
    s.observed_at = at;
    s.up = up;
    s.state = up ? MinerState::mining : MinerState::offline;
    if (up) {
        s.hashrate_ths = ths;
        s.power_w = watts;
        s.power_source = PowerSource::measured;
        BoardSample b;
        b.index = 0;
        b.hashrate_ths = ths;
        b.chip_temp_max_c = 71.5;
        b.chips = 76;
        s.boards.push_back(b);
        s.fans_rpm = {5400, 5520};
    }
    return s;
}

std::string batch_json(const std::string& agent, std::int64_t seq,
                       const std::vector<MinerSample>& samples,
                       const std::string& site = "site-a") {
    std::string out = R"({"agent_id":")" + agent + R"(","site":")" + site + R"(","batch_seq":)" +
                      std::to_string(seq) + R"(,"samples":[)";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        if (i) out += ",";
        out += encode_sample(samples[i]);
    }
    return out + "]}";
}

std::vector<MinerSample> three_samples() {
    return {make_sample("m1", kT0, 100.5, 3250), make_sample("m1", kT0 + 30s, 101.25, 3260),
            make_sample("m2", kT0, 95, 3100)};
}

// Asserts the status and that the error body names `message_part` (and `path` when given),
// and that nothing reached the database.
void check_rejected(const Collector& c, const Response& r, unsigned status,
                    const std::string& message_part, std::size_t samples_before,
                    std::size_t miners_before, std::optional<std::string> path = std::nullopt) {
    CHECK(r.status == status);
    CHECK(r.headers[http::field::content_type] == "application/json");
    INFO("body: " << r.body);
    CHECK(r.error().find(message_part) != std::string::npos);
    if (path) CHECK(std::string(r.json().at("path").as_string()) == *path);
    CHECK(c.sample_rows() == samples_before);
    CHECK(c.miner_rows() == miners_before);
}

}  // namespace

TEST_CASE("ingest round trip: POST a batch, GET the same samples back") {
    Collector c;
    const auto samples = three_samples();
    auto r = post_ingest(c, batch_json("agent-1", 1, samples));
    REQUIRE(r.status == 200);
    CHECK(r.json().at("stored").as_int64() == 3);
    CHECK(r.json().at("duplicate").as_bool() == false);
    CHECK(c.sample_rows() == 3);

    auto g = get(c, "/api/v1/miners/m1/samples?from=2026-11-25T08:00:00Z&to=" +
                        std::to_string((kT0 + 1h).time_since_epoch().count()) + "&step=raw");
    REQUIRE(g.status == 200);
    auto doc = g.json();
    CHECK(doc.at("step").as_string() == "raw");
    const auto& arr = doc.at("samples").as_array();
    REQUIRE(arr.size() == 2);
    // The batch's site fills in samples that carry none.
    auto expect0 = samples[0];
    expect0.site = "site-a";
    auto expect1 = samples[1];
    expect1.site = "site-a";
    CHECK(sample_from_json(arr[0]) == expect0);
    CHECK(sample_from_json(arr[1]) == expect1);
}

TEST_CASE("a sample is stored as the text it arrived as, unless the batch fills in its site") {
    Collector c;
    auto own_site = make_sample("t1", kT0, 100.5, 3250);
    own_site.site = "north";
    // A field this version does not know, and spacing an encoder would not write: both kept.
    // Its strings hold brackets, escaped quotes and backslash runs that end a string.
    std::string text = encode_sample(own_site);
    text.insert(1, R"("future_field": {"x": [1, "]", "q\"}\\", "\\", "\\\"]"]}, )");
    const auto no_site = make_sample("t2", kT0, 90, 3000);
    const std::string body = R"({"agent_id":"agent-1","site":"site-a","batch_seq":1,"samples":[ )" +
                             text + " , " + encode_sample(no_site) + "]}";
    REQUIRE(post_ingest(c, body).status == 200);
    collector::sqlite::Database db(c.db_path());
    // The row's text, as the store keeps it (compressed, collector/storage/sample_codec.hpp).
    collector::SampleDecompressor unzip([&](std::int64_t dict_id) {
        auto q = db.prepare("SELECT dict FROM sample_dicts WHERE dict_id = ?1");
        q.bind(1, dict_id);
        REQUIRE(q.step());
        return std::string(q.column_blob(0));
    });
    auto row = [&](const std::string& id) {
        auto q = db.prepare("SELECT sample_zstd, sample_dict FROM samples WHERE miner_id = ?1");
        q.bind(1, id);
        REQUIRE(q.step());
        return unzip.decompress(q.column_blob(0), q.column_opt_int(1));
    };
    CHECK(row("t1") == text);
    auto filled = no_site;
    filled.site = "site-a";
    CHECK(row("t2") == encode_sample(filled));

    // "samples" twice: the texts might not be the samples the decoder kept, so they are
    // encoded from what was decoded, and the row agrees with its columns.
    const auto a = make_sample("t3", kT0, 1, 100);
    auto b = make_sample("t3", kT0, 2, 200);
    b.site = "north";
    auto own_a = a;
    own_a.site = "north";
    const std::string twice = R"({"agent_id":"agent-1","batch_seq":2,"samples":[)" +
                              encode_sample(own_a) + R"(],"samples":[)" + encode_sample(b) + "]}";
    const auto r = post_ingest(c, twice);
    if (r.status == 200) {
        auto q = db.prepare("SELECT hashrate_ths FROM samples WHERE miner_id = 't3'");
        REQUIRE(q.step());
        CHECK(decode_sample(row("t3")).hashrate_ths == q.column_double(0));
    } else {
        CHECK(r.status == 400);
    }
}

TEST_CASE("a retried batch is acknowledged as a duplicate and not stored twice") {
    Collector c;
    const auto body = batch_json("agent-1", 7, three_samples());
    REQUIRE(post_ingest(c, body).status == 200);
    auto again = post_ingest(c, body);
    REQUIRE(again.status == 200);
    CHECK(again.json().at("duplicate").as_bool() == true);
    CHECK(again.json().at("stored").as_int64() == 0);
    CHECK(c.sample_rows() == 3);
    // An admin token may post for any agent.
    auto admin = post_ingest(c, body, kAdminToken);
    CHECK(admin.status == 200);
    CHECK(admin.json().at("duplicate").as_bool() == true);
    CHECK(c.sample_rows() == 3);
}

TEST_CASE("bad ingest input: the right 4xx, a JSON error naming it, nothing stored") {
    Collector c;
    REQUIRE(post_ingest(c, batch_json("agent-1", 1, {make_sample("m0", kT0, 1, 2)})).status == 200);
    const std::size_t samples = c.sample_rows();
    const std::size_t miners = c.miner_rows();
    REQUIRE(samples == 1);
    const auto good = batch_json("agent-1", 2, three_samples());

    SUBCASE("malformed JSON") {
        check_rejected(c, post_ingest(c, good.substr(0, good.size() / 2)), 400, "malformed JSON",
                       samples, miners);
    }
    SUBCASE("not an object") {
        check_rejected(c, post_ingest(c, "[1,2]"), 400, "expected a JSON object", samples, miners);
    }
    SUBCASE("wrong type deep in a sample names its path") {
        auto bad = three_samples();
        std::string body = batch_json("agent-1", 2, bad);
        // The third sample's hashrate as a string: decoding must refuse the whole batch.
        const auto third = body.find(R"("miner_id":"m2")");
        const auto field = body.find(R"("hashrate_ths":95)", third);
        REQUIRE(field != std::string::npos);
        body.replace(field, std::string(R"("hashrate_ths":95)").size(), R"("hashrate_ths":"95")");
        check_rejected(c, post_ingest(c, body), 400, "samples[2].hashrate_ths", samples, miners,
                       "samples[2].hashrate_ths");
    }
    SUBCASE("wrong type of batch_seq") {
        std::string body = R"({"agent_id":"agent-1","batch_seq":"2","samples":[]})";
        check_rejected(c, post_ingest(c, body), 400, "expected an integer", samples, miners,
                       "batch_seq");
    }
    SUBCASE("missing required field") {
        check_rejected(c, post_ingest(c, R"({"agent_id":"agent-1","samples":[]})"), 400,
                       "required field missing", samples, miners, "batch_seq");
    }
    SUBCASE("a sample the store refuses (empty miner_id)") {
        auto bad = three_samples();
        bad[1].miner_id = "";
        check_rejected(c, post_ingest(c, batch_json("agent-1", 2, bad)), 400, "miner_id", samples,
                       miners, "samples[1].miner_id");
    }
    SUBCASE("oversized body -> 413") {
        std::string body = R"({"agent_id":"agent-1","batch_seq":3,"pad":")" +
                           std::string(100 * 1024, 'x') + R"(","samples":[]})";
        check_rejected(c, post_ingest(c, body), 413, "exceeds", samples, miners);
    }
    SUBCASE("missing token -> 401 with WWW-Authenticate") {
        auto r = post_ingest(c, good, std::nullopt);
        check_rejected(c, r, 401, "missing bearer token", samples, miners);
        CHECK(std::string(r.headers[http::field::www_authenticate]).starts_with("Bearer"));
    }
    SUBCASE("unknown agent token -> 401") {
        auto r = post_ingest(c, good, std::string("agent-secret-0123456780"));
        check_rejected(c, r, 401, "unknown token", samples, miners);
        CHECK(std::string(r.headers[http::field::www_authenticate]).starts_with("Bearer"));
    }
    SUBCASE("a token prefix is not the token") {
        check_rejected(c, post_ingest(c, good, kAgentToken.substr(0, 10)), 401, "unknown token",
                       samples, miners);
    }
    SUBCASE("wrong role -> 403") {
        check_rejected(c, post_ingest(c, good, kReadToken), 403, "role read may not ingest",
                       samples, miners);
    }
    SUBCASE("agent token posting for another agent_id -> 403") {
        check_rejected(c, post_ingest(c, good, kOtherAgentToken), 403, "may not post for agent",
                       samples, miners, "agent_id");
    }
    SUBCASE("wrong method -> 405") {
        auto r = test::api_request(c.port(), http::verb::get, "/api/v1/ingest", {}, kAgentToken);
        check_rejected(c, r, 405, "method not allowed", samples, miners);
    }
}

TEST_CASE("read routes: miners, one miner, series at each step, sites") {
    Collector c;
    std::vector<MinerSample> a;
    for (int i = 0; i < 20; ++i) {
        a.push_back(make_sample("m1", kT0 + std::chrono::minutes(i), 100 + i, 3200));
    }
    a.push_back(make_sample("m2", kT0, 90, 3000));
    REQUIRE(post_ingest(c, batch_json("agent-1", 1, a)).status == 200);
    REQUIRE(post_ingest(c,
                        batch_json("agent-2", 1,
                                   {make_sample("m3", kT0 + 2min, 0, 0, false),
                                    make_sample("m4", kT0 + 2min, 80, 2900)},
                                   "site-b"),
                        kOtherAgentToken)
                .status == 200);

    SUBCASE("miners list with latest headline") {
        auto r = get(c, "/api/v1/miners");
        REQUIRE(r.status == 200);
        const auto doc = r.json();
        const auto& miners = doc.at("miners").as_array();
        REQUIRE(miners.size() == 4);
        const auto& m1 = miners[0].as_object();
        CHECK(m1.at("miner_id").as_string() == "m1");
        CHECK(m1.at("site").as_string() == "site-a");
        CHECK(m1.at("latest").at("hashrate_ths").to_number<double>() == 119);
        CHECK(m1.at("latest").at("chip_temp_max_c").to_number<double>() == 71.5);
        CHECK(m1.at("labels").as_object().empty());
        CHECK(miners[2].at("latest").at("up").as_bool() == false);
    }
    SUBCASE("one miner, and an unknown one") {
        auto r = get(c, "/api/v1/miners/m2");
        REQUIRE(r.status == 200);
        CHECK(r.json().at("miner").at("host").as_string() == "10.0.0.1");
        CHECK(sample_from_json(r.json().at("latest")).hashrate_ths == 90);
        auto missing = get(c, "/api/v1/miners/nope");
        CHECK(missing.status == 404);
        CHECK(missing.error().find("unknown miner") != std::string::npos);
        CHECK(get(c, "/api/v1/miners/nope/samples?from=0&to=1").status == 404);
    }
    SUBCASE("samples: range picks the step, step overrides it") {
        const auto from = std::to_string(kT0.time_since_epoch().count());
        const auto to = std::to_string((kT0 + 1h).time_since_epoch().count());
        auto raw = get(c, "/api/v1/miners/m1/samples?from=" + from + "&to=" + to);
        REQUIRE(raw.status == 200);
        CHECK(raw.json().at("step").as_string() == "raw");
        CHECK(raw.json().at("samples").as_array().size() == 20);

        auto five = get(c, "/api/v1/miners/m1/samples?from=" + from + "&to=" + to + "&step=5m");
        REQUIRE(five.status == 200);
        CHECK(five.json().at("step").as_string() == "5m");
        REQUIRE(five.json().as_object().contains("points"));

        auto week = get(c,
                        "/api/v1/miners/m1/samples?from=2026-11-20T00:00:00Z&to=2026-11-26T00:"
                        "00:00Z");
        REQUIRE(week.status == 200);
        CHECK(week.json().at("step").as_string() == "5m");
    }
    SUBCASE("bad query parameters are named") {
        auto r = get(c, "/api/v1/miners/m1/samples?from=yesterday");
        CHECK(r.status == 400);
        CHECK(std::string(r.json().at("path").as_string()) == "from");
        auto s = get(c, "/api/v1/miners/m1/samples?step=2m");
        CHECK(s.status == 400);
        CHECK(std::string(s.json().at("path").as_string()) == "step");
        auto order = get(c, "/api/v1/miners/m1/samples?from=2000&to=1000");
        CHECK(order.status == 400);
        CHECK(order.error().find("before") != std::string::npos);
        auto unknown = get(c, "/api/v1/miners/m1/samples?form=1");
        CHECK(unknown.status == 400);
        CHECK(std::string(unknown.json().at("path").as_string()) == "form");
    }
    SUBCASE("sites totals from latest samples") {
        auto r = get(c, "/api/v1/sites");
        REQUIRE(r.status == 200);
        const auto doc = r.json();
        const auto& sites = doc.at("sites").as_array();
        REQUIRE(sites.size() == 2);
        CHECK(sites[0].at("site").as_string() == "site-a");
        CHECK(sites[0].at("miners").as_int64() == 2);
        CHECK(sites[0].at("up").as_int64() == 2);
        CHECK(sites[0].at("hashrate_ths").to_number<double>() == 119 + 90);
        CHECK(sites[0].at("power_w").to_number<double>() == 3200 + 3000);
        CHECK(sites[1].at("site").as_string() == "site-b");
        CHECK(sites[1].at("miners").as_int64() == 2);
        CHECK(sites[1].at("up").as_int64() == 1);
        CHECK(sites[1].at("hashrate_ths").to_number<double>() == 80);
    }
    SUBCASE("roles, methods and unknown routes") {
        CHECK(get(c, "/api/v1/miners", std::nullopt).status == 401);
        auto agent = get(c, "/api/v1/miners", kAgentToken);
        CHECK(agent.status == 403);
        CHECK(agent.error().find("role agent") != std::string::npos);
        CHECK(get(c, "/api/v1/sites", kAdminToken).status == 200);
        auto post =
            test::api_request(c.port(), http::verb::post, "/api/v1/miners", "{}", kReadToken);
        CHECK(post.status == 405);
        auto none = get(c, "/api/v1/nothing");
        CHECK(none.status == 404);
        CHECK(none.error() == "no such route");
    }
}

TEST_CASE("healthz and readyz need no token; readyz follows the writer") {
    Collector c;
    auto h = get(c, "/healthz", std::nullopt);
    CHECK(h.status == 200);
    CHECK(h.json().at("status").as_string() == "ok");
    CHECK(get(c, "/readyz", std::nullopt).status == 200);
    c.writer().shutdown();
    auto r = get(c, "/readyz", std::nullopt);
    CHECK(r.status == 503);
    CHECK(r.error().find("writer") != std::string::npos);
    CHECK(get(c, "/healthz", std::nullopt).status == 200);
}

TEST_CASE("a client that never finishes its request is cut at the deadline, others are served") {
    Collector c;  // request_timeout 500 ms
    asio::io_context io;
    tcp::socket slow = test::connect_loopback(io, c.port());
    asio::write(slow, asio::buffer(std::string("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n")));
    const auto started = std::chrono::steady_clock::now();

    // While the slow request is pending, another client is answered at once.
    CHECK(get(c, "/healthz", std::nullopt).status == 200);
    CHECK(get(c, "/api/v1/miners").status == 200);

    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    REQUIRE_FALSE(test::read_response(slow, buffer, res));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(res.result_int() == 408);
    CHECK(json::parse(res.body()).at("error").as_string() == "request not completed within 500 ms");
    CHECK(elapsed >= 400ms);
    CHECK(elapsed < 5s);
    CHECK(test::read_byte(slow) == asio::error::eof);  // and closed the connection
}

TEST_CASE("keep-alive: several requests on one connection") {
    Collector c;
    asio::io_context io;
    tcp::socket s = test::connect_loopback(io, c.port());
    beast::flat_buffer buffer;
    for (int i = 0; i < 3; ++i) {
        http::request<http::string_body> req{http::verb::get, "/healthz", 11};
        req.set(http::field::host, "127.0.0.1");
        http::write(s, req);
        http::response<http::string_body> res;
        REQUIRE_FALSE(test::read_response(s, buffer, res));
        CHECK(res.result_int() == 200);
        CHECK(res.keep_alive());
    }
}

TEST_CASE("a client that trickles its request is cut by the request deadline, not the idle one") {
    Collector c;  // request_timeout 500 ms, idle_timeout 2 s
    asio::io_context io;
    tcp::socket slow = test::connect_loopback(io, c.port());
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    asio::write(slow, asio::buffer(head));
    const auto started = std::chrono::steady_clock::now();
    // One byte every 100 ms keeps every single read short of any deadline.
    boost::system::error_code ec;
    bool cut = test::wait_until(
        [&] {
            asio::write(slow, asio::buffer("x", 1), ec);
            return ec.failed() || std::chrono::steady_clock::now() - started > 1500ms;
        },
        3s, 100ms);
    CHECK(cut);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    CHECK_FALSE(test::read_response(slow, buffer, res));
    CHECK(res.result_int() == 408);
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);
}

TEST_CASE("headers beyond the limit -> 431 with a JSON error") {
    ApiOptions o = test_options();
    o.header_limit_bytes = 1024;
    Collector c(o);
    asio::io_context io;
    tcp::socket s = test::connect_loopback(io, c.port());
    http::request<http::string_body> req{http::verb::get, "/api/v1/miners", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set("X-Padding", std::string(4096, 'p'));
    http::write(s, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    REQUIRE_FALSE(test::read_response(s, buffer, res));
    CHECK(res.result_int() == 431);
    CHECK(std::string(json::parse(res.body()).at("error").as_string()).find("headers exceed") !=
          std::string::npos);
}

TEST_CASE("a writer that no longer accepts batches -> 503 with Retry-After, nothing stored") {
    Collector c;
    c.writer().shutdown();
    auto r = post_ingest(c, batch_json("agent-1", 1, three_samples()));
    CHECK(r.status == 503);
    CHECK(!std::string(r.headers[http::field::retry_after]).empty());
    CHECK(r.error().find("retry later") != std::string::npos);
    CHECK(c.sample_rows() == 0);
    CHECK(c.miner_rows() == 0);
}

TEST_CASE("stop() closes kept-alive connections and the listener") {
    Collector c;
    asio::io_context io;
    tcp::socket s = test::connect_loopback(io, c.port());
    http::request<http::string_body> req{http::verb::get, "/healthz", 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    REQUIRE_FALSE(test::read_response(s, buffer, res));
    REQUIRE(res.result_int() == 200);

    const auto started = std::chrono::steady_clock::now();
    asio::post(c.io(), [&] { c.server().stop(); });
    boost::system::error_code ec = test::read_byte(s);
    CHECK(ec.failed());  // closed by the server long before the 2 s idle deadline
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);
    tcp::socket late(io);
    late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), c.port()), ec);
    CHECK(ec == asio::error::connection_refused);
}
