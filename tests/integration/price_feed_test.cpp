// HttpPriceFeed against a feed server run by the test on loopback (127.48.0.0/16): a good
// price, a JSON path that does not match, a 500, a server that never answers, a body over the
// size bound, staleness after stale_after (on an injected clock) and recovery.
#include "collector/control/price_feed.hpp"

#include "common/log.hpp"
#include "common/time.hpp"
#include "policies/prices/sources.hpp"
#include "tests/support/process.hpp"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector::control;
using namespace std::chrono;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* kHost = "127.48.0.1";

// Answers every GET with the body and status the test sets; with `hang`, reads the request
// and never answers (the connection is held until the server stops).
class FeedServer {
  public:
    FeedServer() {
        const tcp::endpoint ep(asio::ip::make_address(kHost), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~FeedServer() {
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }
    FeedServer(const FeedServer&) = delete;
    FeedServer& operator=(const FeedServer&) = delete;

    std::string url(const std::string& path = "/price") const {
        return "http://" + std::string(kHost) + ":" + std::to_string(port_) + path;
    }
    void answer(unsigned status, std::string body) {
        std::lock_guard lock(mu_);
        status_ = status;
        body_ = std::move(body);
        hang_ = false;
    }
    void hang() {
        std::lock_guard lock(mu_);
        hang_ = true;
    }
    std::size_t requests() const { return requests_.load(); }

  private:
    asio::awaitable<void> serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buf;
        try {
            http::request<http::string_body> req;
            stream.expires_after(seconds(5));
            co_await http::async_read(stream, buf, req, asio::use_awaitable);
            ++requests_;
            unsigned status;
            std::string body;
            bool hang;
            {
                std::lock_guard lock(mu_);
                status = status_;
                body = body_;
                hang = hang_;
            }
            if (hang) {
                asio::steady_timer t(io_, hours(1));
                co_await t.async_wait(asio::use_awaitable);
                co_return;
            }
            http::response<http::string_body> res{static_cast<http::status>(status), 11};
            res.set(http::field::content_type, "application/json");
            res.body() = std::move(body);
            res.keep_alive(false);
            res.prepare_payload();
            stream.expires_after(seconds(5));
            co_await http::async_write(stream, res, asio::use_awaitable);
        } catch (const std::exception&) {
            // The client went away: nothing to do.
        }
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(io_, serve(std::move(s)), asio::detached);
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    unsigned status_ = 200;
    std::string body_ = "{}";
    bool hang_ = false;
    std::atomic<std::size_t> requests_{0};
};

policies::prices::PriceSourceConfig http_config(const std::string& url, Duration interval,
                                                Duration stale_after, double adder = 0) {
    policies::prices::PriceSourceConfig c;
    c.kind = policies::prices::SourceKind::http;
    c.adder_per_mwh = adder;
    policies::prices::HttpSource h;
    h.url = url;
    h.json_path = "data[0].price";
    h.interval = interval;
    h.stale_after = stale_after;
    c.source = h;
    return c;
}

// A clock the test moves; the feed stamps prices and failures with it.
struct TestClock {
    std::atomic<TimePoint::rep> ms{1'764'000'000'000};
    TimePoint now() const { return TimePoint(Duration(ms.load())); }
    void advance(Duration d) { ms += d.count(); }
};

// Log lines at or above warn, captured for the test's duration.
class LogCapture {
  public:
    LogCapture() {
        log::set_sink([this](std::string_view line) {
            std::lock_guard lock(mu_);
            lines_.emplace_back(line);
        });
    }
    ~LogCapture() { log::set_sink(nullptr); }
    std::size_t count(const std::string& needle) const {
        std::lock_guard lock(mu_);
        std::size_t n = 0;
        for (const auto& l : lines_) n += l.find(needle) != std::string::npos;
        return n;
    }

  private:
    mutable std::mutex mu_;
    std::vector<std::string> lines_;
};

bool polled(const HttpPriceFeed& feed, std::uint64_t n, milliseconds within = seconds(5)) {
    return test::wait_until([&] { return feed.polls() >= n; }, within);
}

}  // namespace

TEST_CASE("a good price is read, with the adder, and is fresh") {
    FeedServer server;
    server.answer(200, R"({"data":[{"price":"42.5"}]})");
    TestClock clock;
    HttpFeedOptions o;
    o.clock = [&] { return clock.now(); };
    HttpPriceFeed feed(http_config(server.url(), seconds(60), minutes(10), 3.0), o);
    CHECK(feed.describe() == "http feed " + server.url() + " data[0].price every 1m");
    // Before the first poll: no price, stale, and it says so.
    const auto before = feed.current(clock.now());
    CHECK_FALSE(before.price_per_mwh);
    CHECK(before.stale);
    CHECK(before.why == "no price received yet");

    feed.start();
    REQUIRE(polled(feed, 1));
    const auto p = feed.current(clock.now());
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == doctest::Approx(45.5));
    CHECK_FALSE(p.stale);
    CHECK(p.why.empty());
    CHECK(feed.failures() == 0);
}

TEST_CASE("polls repeat every interval and pick up a new price") {
    FeedServer server;
    server.answer(200, R"({"data":[{"price":10}]})");
    HttpPriceFeed feed(http_config(server.url(), milliseconds(100), minutes(10)));
    feed.start();
    REQUIRE(polled(feed, 1));
    server.answer(200, R"({"data":[{"price":77}]})");
    REQUIRE(test::wait_until(
        [&] {
            const auto p = feed.current(now_ms());
            return p.price_per_mwh && *p.price_per_mwh == 77;
        },
        seconds(5)));
    CHECK(server.requests() >= 2);
}

TEST_CASE("a JSON path that does not match is a failed poll that says where") {
    FeedServer server;
    server.answer(200, R"({"data":[]})");
    LogCapture logs;
    TestClock clock;
    HttpFeedOptions o;
    o.clock = [&] { return clock.now(); };
    HttpPriceFeed feed(http_config(server.url(), milliseconds(50), minutes(10)), o);
    feed.start();
    REQUIRE(test::wait_until([&] { return feed.failures() >= 3; }, seconds(5)));
    const auto p = feed.current(clock.now());
    CHECK_FALSE(p.price_per_mwh);
    CHECK(p.stale);
    CHECK(p.why.find("no price received yet; last error at") != std::string::npos);
    CHECK(p.why.find("bad reply: data[0]: out of range") != std::string::npos);
    // Logged once for three failures with the same reason, with the URL.
    CHECK(logs.count("price feed poll failed") == 1);
    CHECK(logs.count(server.url()) >= 1);
}

TEST_CASE("a 500 fails the poll; the last good price is kept until it is stale") {
    FeedServer server;
    server.answer(200, R"({"data":[{"price":50}]})");
    LogCapture logs;
    TestClock clock;
    HttpFeedOptions o;
    o.clock = [&] { return clock.now(); };
    o.on_stale = "hold";
    HttpPriceFeed feed(http_config(server.url(), milliseconds(50), minutes(10)), o);
    feed.start();
    REQUIRE(polled(feed, 1));
    server.answer(500, "upstream down");
    const auto f0 = feed.failures();
    REQUIRE(test::wait_until([&] { return feed.failures() >= f0 + 3; }, seconds(5)));
    CHECK(logs.count("price feed poll failed") == 1);
    CHECK(logs.count("HTTP 500: upstream down") == 1);

    // Within stale_after the last price still counts.
    clock.advance(minutes(9));
    auto p = feed.current(clock.now());
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 50);
    CHECK_FALSE(p.stale);
    CHECK(logs.count("price feed stale") == 0);

    // Past it: stale, with the last price, the reason and the last error; logged once.
    clock.advance(minutes(2));
    p = feed.current(clock.now());
    CHECK(p.stale);
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 50);
    CHECK(p.why.find("(stale after 10m); last error at") != std::string::npos);
    CHECK(p.why.find("HTTP 500") != std::string::npos);
    feed.current(clock.now());
    const auto polls_now = feed.polls();
    REQUIRE(polled(feed, polls_now + 2));
    CHECK(logs.count("level=error") == 1);
    CHECK(logs.count("price feed stale: no price since") == 1);
    CHECK(logs.count("HTTP 500: upstream down; policy on_stale=hold") == 1);

    // Recovery: the next good poll makes it fresh again, and that is logged too.
    server.answer(200, R"({"data":[{"price":"61"}]})");
    REQUIRE(test::wait_until([&] { return !feed.current(clock.now()).stale; }, seconds(5)));
    p = feed.current(clock.now());
    REQUIRE(p.price_per_mwh);
    CHECK(*p.price_per_mwh == 61);
    CHECK(logs.count("price feed answering again") == 1);
    CHECK(logs.count("price feed fresh again") == 1);
}

TEST_CASE("a server that never answers: the poll ends by its deadline") {
    FeedServer server;
    server.hang();
    LogCapture logs;
    HttpFeedOptions o;
    o.timeout = milliseconds(300);
    HttpPriceFeed feed(http_config(server.url(), seconds(60), minutes(10)), o);
    const auto started = steady_clock::now();
    feed.start();
    REQUIRE(polled(feed, 1, seconds(3)));
    const auto took = steady_clock::now() - started;
    CHECK(took >= milliseconds(250));
    CHECK(took < seconds(2));
    CHECK(feed.failures() == 1);
    CHECK(feed.reading(now_ms()).reason.find("timeout") != std::string::npos);
    CHECK(logs.count("reason=\"timeout") == 1);
    // current() answers at once while a poll hangs, and stop() does not wait for it.
    server.hang();
    const auto t0 = steady_clock::now();
    feed.current(now_ms());
    feed.stop();
    CHECK(steady_clock::now() - t0 < milliseconds(200));
}

TEST_CASE("a body over the size bound is refused") {
    FeedServer server;
    std::string big = R"({"data":[{"price":1}],"pad":")" + std::string(4096, 'x') + "\"}";
    server.answer(200, big);
    HttpFeedOptions o;
    o.max_body_bytes = 1024;
    HttpPriceFeed feed(http_config(server.url(), seconds(60), minutes(10)), o);
    feed.start();
    REQUIRE(polled(feed, 1));
    CHECK(feed.failures() == 1);
    CHECK_FALSE(feed.current(now_ms()).price_per_mwh);
    CHECK(feed.reading(now_ms()).reason.find("too_large") != std::string::npos);
}

TEST_CASE("a body over the default bound (the feed library's 1 MiB) is refused") {
    FeedServer server;
    const std::string pad(policies::prices::kMaxFeedBodyBytes, ' ');
    server.answer(200, R"({"data":[{"price":1}]})" + pad);
    HttpPriceFeed feed(http_config(server.url(), seconds(60), minutes(10)));
    feed.start();
    REQUIRE(polled(feed, 1));
    CHECK(feed.failures() == 1);
    CHECK(feed.reading(now_ms()).reason.find("too_large: HTTP body exceeds 1048576") !=
          std::string::npos);
    // Just under the bound is read.
    server.answer(200, R"({"data":[{"price":1}]})" + pad.substr(0, pad.size() - 64));
    HttpPriceFeed small(http_config(server.url(), seconds(60), minutes(10)));
    small.start();
    REQUIRE(polled(small, 1));
    CHECK(small.failures() == 0);
    CHECK(small.current(now_ms()).price_per_mwh == 1.0);
}

TEST_CASE("the default bound is the feed library's") {
    CHECK(HttpFeedOptions{}.max_body_bytes == policies::prices::kMaxFeedBodyBytes);
    CHECK(HttpFeedOptions{}.timeout == seconds(10));
}

TEST_CASE("a refused connection fails the poll; a first failure makes the feed stale at once") {
    std::uint16_t port = 0;
    {
        // Bound and released: nobody listens there now.
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address(kHost), 0));
        port = a.local_endpoint().port();
    }
    LogCapture logs;
    HttpPriceFeed feed(
        http_config("http://127.48.0.1:" + std::to_string(port) + "/p", seconds(60), minutes(10)));
    feed.start();
    REQUIRE(polled(feed, 1));
    const auto p = feed.current(now_ms());
    CHECK(p.stale);
    CHECK(p.why.find("refused") != std::string::npos);
    CHECK(logs.count("price feed stale: no price received yet") == 1);
}

TEST_CASE("a feed of another kind or a bad URL is refused when made") {
    policies::prices::PriceSourceConfig fixed;
    CHECK_THROWS_WITH_AS(make_http_price_feed(fixed),
                         "price feed: a fixed price source is not an http feed",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        make_http_price_feed(http_config("https://127.48.0.1/p", seconds(1), seconds(10))),
        doctest::Contains("price feed url: https is not supported"), std::invalid_argument);
    const auto ok =
        make_http_price_feed(http_config("http://127.48.0.1:9/p", seconds(1), seconds(10)));
    CHECK(ok->describe() == "http feed http://127.48.0.1:9/p data[0].price every 1s");
}
