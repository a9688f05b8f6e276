// The shared collector harness keeps its promises: an API exchange with a server that never
// answers ends at its deadline (not at ctest's timeout), a raw read does too, and a collector
// started again on the same database and port serves what the first one stored.
#include "tests/support/collector_harness.hpp"

#include <chrono>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

TEST_CASE("harness: a server that accepts and never answers costs the deadline, no more") {
    // The kernel completes the handshake into the backlog; nobody ever reads or writes.
    asio::io_context io;
    tcp::acceptor silent(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = silent.local_endpoint().port();

    const auto r = test::api_request(port, http::verb::get, "/healthz", {}, std::nullopt, 300ms);
    CHECK(r.status == 0);
    CHECK(r.failure.find("read the answer to GET /healthz") != std::string::npos);
    CHECK(r.elapsed_s >= 0.25);
    CHECK(r.elapsed_s < 3);

    tcp::socket raw = test::connect_loopback(io, port);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    auto t0 = SteadyClock::now();
    CHECK(test::read_response(raw, buffer, res, 300ms) == asio::error::timed_out);
    CHECK(SteadyClock::now() - t0 < 3s);
    t0 = SteadyClock::now();
    CHECK(test::read_byte(raw, 300ms) == asio::error::timed_out);
    CHECK(SteadyClock::now() - t0 >= 250ms);
    CHECK(SteadyClock::now() - t0 < 3s);
}

TEST_CASE("harness: nothing listening is a failure with status 0, not an exception") {
    std::uint16_t port = 0;
    {
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }
    const auto r = test::api_request(port, http::verb::post, "/api/v1/ingest", "{}", "t", 2s);
    CHECK(r.status == 0);
    CHECK(r.failure.find("connect for POST /api/v1/ingest") != std::string::npos);
}

TEST_CASE("harness: a collector started again on the same database and port") {
    test::TempDir dir;
    const std::string db = dir.path() + "/collector.db";
    collector::ApiOptions api;
    api.tokens = {{"read-token", collector::Role::read, ""}};
    std::uint16_t port = 0;
    {
        test::InProcessCollector first({.api = api, .db_path = db, .seed = [](auto& store) {
                                            MinerSample s;
                                            s.miner_id = "m1";
                                            s.host = "10.0.0.1";
                                            s.observed_at = TimePoint{std::chrono::seconds(1)};
                                            store.ingest({"agent-1", std::nullopt, 1, {s}, {}});
                                        }});
        port = first.port();
        CHECK(first.db_path() == db);
        CHECK(first.sample_rows() == 1);
        CHECK(first.miner_rows() == 1);
    }
    api.port = port;
    test::InProcessCollector second({.api = api, .db_path = db});
    CHECK(second.port() == port);
    CHECK(second.sample_keys() == std::multiset<std::string>{"m1|1970-01-01T00:00:01.000Z"});
    const auto r = test::api_request(port, http::verb::get, "/api/v1/miners/m1", {}, "read-token");
    CHECK(r.status == 200);
    second.stop();
    second.stop();  // idempotent
    CHECK(test::api_request(port, http::verb::get, "/healthz", {}, std::nullopt, 2s).status == 0);
}
