// Commands end to end: `hashwatt sim` miners, an in-process collector (Store, StoreWriter,
// ApiServer), and an in-process agent (Poller posting its samples, CommandLoop long-polling).
// An operator's sleep reaches the miner and is verified by the collector from a later sample;
// a sleep the miner ignores is marked failed at its deadline. Addresses: 127.36.0.0/28.
#include "agent/commands/command_loop.hpp"
#include "agent/poller.hpp"
#include "agent/transport/transport.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "e2e-agent-token";
const std::string kAdminToken = "e2e-admin-token";
const std::string kAgentId = "agent-e2e";

struct Collector : test::InProcessCollector {
    Collector() : InProcessCollector({.api = api_options(), .writer = writer_options()}) {}
    static collector::StoreWriterOptions writer_options() {
        collector::StoreWriterOptions o = test::quiet_writer_options();
        o.verify_interval = 250ms;
        return o;
    }
    static collector::ApiOptions api_options() {
        collector::ApiOptions o;
        o.tokens = {{kAgentToken, collector::Role::agent, kAgentId},
                    {kAdminToken, collector::Role::admin, ""}};
        return o;
    }
};

// What the agent's sink hands the uplink stand-in: one sample, posted as its own batch.
struct Upload {
    std::string host;
    std::uint16_t port = 0;
    agent::HttpRequestSpec spec;
    agent::HttpAuth auth;
    agent::TransportOptions opts;
};

asio::awaitable<void> post_batch(asio::any_io_executor ex, std::shared_ptr<Upload> up) {
    const auto r =
        co_await agent::http_request(ex, up->host, up->port, up->spec, up->auth, up->opts);
    if (r.error || r.status != 200) MESSAGE("ingest post failed: " << r.status << " " << r.body);
}

// The agent: a Poller over the sim's miners, each sample posted to the collector, and the
// command loop, on their own io_context thread.
struct Agent {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    agent::Poller poller;
    agent::CommandLoop loop;
    std::int64_t batch_seq = 0;
    std::uint16_t collector_port;
    std::thread thread;
    bool stopped = false;

    Agent(agent::AgentConfig cfg, std::uint16_t port)
        : poller(io.get_executor(), std::move(cfg))
        , loop(io.get_executor(), loop_options(port),
               [this](const std::string& id) { return poller.find_target(id); })
        , collector_port(port) {
        asio::co_spawn(io, poller.run([this](MinerSample&& s) { upload(std::move(s)); }),
                       asio::detached);
        asio::co_spawn(io, loop.run(), asio::detached);
        thread = std::thread([this] { io.run(); });
    }
    ~Agent() { stop(); }

    // Returns how long the loop and poller took to stop.
    double stop() {
        if (stopped) return 0;
        stopped = true;
        const auto t0 = SteadyClock::now();
        asio::post(io, [this] {
            loop.stop();
            poller.stop();
            work.reset();
        });
        thread.join();
        return std::chrono::duration<double>(SteadyClock::now() - t0).count();
    }

    // The loop's counters, read on its own thread.
    agent::CommandLoopStats stats() {
        std::promise<agent::CommandLoopStats> p;
        asio::post(io, [&] { p.set_value(loop.stats()); });
        return p.get_future().get();
    }

    static agent::CommandLoopOptions loop_options(std::uint16_t port) {
        agent::CommandLoopOptions o;
        o.host = "127.0.0.1";
        o.port = port;
        o.token = kAgentToken;
        o.agent_id = kAgentId;
        o.wait = 5s;
        o.request_timeout = 5s;
        o.concurrency = 2;
        o.verify.wait = 30s;
        o.verify.poll_every = 300ms;
        o.retry_initial = 200ms;
        o.retry_max = 2s;
        return o;
    }

    void upload(MinerSample&& s) {
        auto up = std::make_shared<Upload>();
        up->host = "127.0.0.1";
        up->port = collector_port;
        up->spec.method = "POST";
        up->spec.target = "/api/v1/ingest";
        up->spec.body = R"({"agent_id":")" + kAgentId + R"(","batch_seq":)" +
                        std::to_string(++batch_seq) + R"(,"samples":[)" + encode_sample(s) + "]}";
        up->auth.kind = agent::HttpAuth::Kind::bearer;
        up->auth.token = kAgentToken;
        asio::co_spawn(io, post_batch(io.get_executor(), up), asio::detached);
    }
};

json::value api(const Collector& c, const std::string& method, const std::string& path,
                const std::string& body, int want_status) {
    const auto r = test::http_request(
        "127.0.0.1", c.port(), method, path, body,
        {"Authorization: Bearer " + kAdminToken, "Content-Type: application/json"}, 10s);
    INFO(method, " ", path, " -> ", r.status, " ", r.body, r.error);
    REQUIRE(r.status == want_status);
    return json::parse(r.body);
}

json::object command(const Collector& c, const std::string& id) {
    return api(c, "GET", "/api/v1/commands/" + id, "", 200).at("command").as_object();
}

template <typename Pred>
bool eventually(std::chrono::milliseconds within, Pred pred) {
    const auto until = SteadyClock::now() + within;
    while (SteadyClock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return pred();
}

std::string str(const json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A stand-in collector for the result retries: the first long poll gets one command, later ones
// an empty list after 200 ms; result posts get the statuses in `result_statuses` in turn (the
// last one repeated).
struct FakeCollector {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    std::vector<unsigned> result_statuses;
    std::atomic<int> result_posts{0};
    std::atomic<bool> command_given{false};
    std::thread thread;

    explicit FakeCollector(std::vector<unsigned> statuses) : result_statuses(std::move(statuses)) {
        asio::co_spawn(io, accept_loop(), asio::detached);
        thread = std::thread([this] { io.run(); });
    }
    ~FakeCollector() {
        asio::post(io, [this] { io.stop(); });
        thread.join();
    }
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            boost::system::error_code ec;
            auto socket =
                co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            asio::co_spawn(io, serve(std::move(socket)), asio::detached);
        }
    }
    asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
        namespace http = boost::beast::http;
        boost::beast::tcp_stream stream(std::move(socket));
        stream.expires_after(5s);
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> req;
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, req,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        if (req.method() == http::verb::get) {
            if (!command_given.exchange(true)) {
                res.body() =
                    R"({"commands":[{"id":"c1","miner_id":"ghost","type":"wake","created_at":")" +
                    format_time(now_ms()) + R"("}]})";
            } else {
                asio::steady_timer pause(io, 200ms);
                co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                res.body() = R"({"commands":[]})";
            }
        } else {
            const auto n = static_cast<std::size_t>(result_posts++);
            const unsigned status = result_statuses[std::min(n, result_statuses.size() - 1)];
            res.result(status);
            res.body() = status == 200 ? R"({"command":{}})" : R"({"error":"busy"})";
        }
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
};

}  // namespace

TEST_CASE("a sleep from the collector reaches the miner and is verified; an ignored one fails") {
    test::TempDir dir;
    test::SimProcess sim(kBinary,
                         {"--miners", "2", "--mix", "s19pro:2", "--base-ip", "127.36.0.1",
                          "--http-port", "0", "--sleep-ramp", "1s", "--wake-ramp", "2s"},
                         dir.path() + "/sim");
    REQUIRE(sim.post("/api/v1/miners/127.36.0.2/faults", R"({"kind":"sleep_ignored"})") == 200);
    Collector c;

    agent::AgentConfig cfg;
    cfg.agent_id = kAgentId;
    cfg.site = "lab";
    cfg.interval = 1s;
    cfg.jitter = 0;
    cfg.poll_timeout = 5s;
    for (const std::string host : {"127.36.0.1", "127.36.0.2"}) {
        agent::MinerEntry m;
        m.endpoint.host = host;
        m.endpoint.http_port = static_cast<std::uint16_t>(sim.http_port());
        m.endpoint.site = "lab";
        cfg.miners.push_back(m);
    }
    auto agent = std::make_unique<Agent>(cfg, c.port());

    // Both miners reach the collector, under their own ids, through this agent.
    REQUIRE(eventually(20s, [&] { return c.store().miners().size() == 2; }));
    std::string good, stubborn;
    for (const auto& m : c.store().miners()) {
        CHECK(m.agent_id == kAgentId);
        (m.host == "127.36.0.1" ? good : stubborn) = m.miner_id;
    }
    REQUIRE_FALSE(good.empty());
    REQUIRE_FALSE(stubborn.empty());

    // Sleep the healthy miner: it sleeps, and the collector says so from a later sample.
    const auto t0 = SteadyClock::now();
    auto created =
        api(c, "POST", "/api/v1/commands", R"({"type":"sleep","miners":[")" + good + R"("]})", 201);
    const std::string id(created.at("commands").at(0).at("id").as_string());
    CHECK(eventually(20s, [&] {
        return str(json::parse(sim.get("/api/v1/miners/127.36.0.1")).as_object(), "state") ==
               "sleeping";
    }));
    CHECK(eventually(20s, [&] { return str(command(c, id), "status") == "succeeded"; }));
    // The collector may see the sleeping sample before the agent's own report arrives.
    CHECK(eventually(20s, [&] { return command(c, id).contains("agent_result"); }));
    const auto done = command(c, id);
    MESSAGE("sleep verified by the collector "
            << std::chrono::duration<double>(SteadyClock::now() - t0).count()
            << " s after it was created");
    CHECK(done.at("verified").as_bool());
    CHECK(str(done, "message").find("sleeping") != std::string::npos);
    CHECK(str(done.at("agent_result").as_object(), "status") == "succeeded");

    // The miner that acknowledges a sleep and keeps mining: failed at the deadline, with what
    // the last sample showed.
    created = api(c, "POST", "/api/v1/commands",
                  R"({"type":"sleep","deadline_s":10,"miners":[")" + stubborn + R"("]})", 201);
    const std::string id2(created.at("commands").at(0).at("id").as_string());
    const auto t1 = SteadyClock::now();
    CHECK(eventually(25s, [&] { return str(command(c, id2), "status") == "failed"; }));
    const double took = std::chrono::duration<double>(SteadyClock::now() - t1).count();
    const auto failed = command(c, id2);
    INFO(str(failed, "message"));
    CHECK(took >= 9);  // not before its deadline
    CHECK(str(failed, "message").find("deadline passed") != std::string::npos);
    CHECK(str(failed, "message").find("state mining") != std::string::npos);
    CHECK_FALSE(failed.at("verified").as_bool());
    CHECK(str(json::parse(sim.get("/api/v1/miners/127.36.0.2")).as_object(), "state") == "mining");

    CHECK(eventually(5s, [&] { return agent->stats().results_posted == 2; }));
    CHECK(agent->stats().results_dropped == 0);

    // The loop stops promptly, with a command in flight (watching a sleep that never comes)
    // and its long poll waiting; the cut-short command is left to its deadline.
    created = api(c, "POST", "/api/v1/commands",
                  R"({"type":"sleep","deadline_s":60,"miners":[")" + stubborn + R"("]})", 201);
    const std::string id3(created.at("commands").at(0).at("id").as_string());
    CHECK(eventually(10s, [&] { return str(command(c, id3), "status") == "sent"; }));
    const double stop_s = agent->stop();
    MESSAGE("agent stopped in " << stop_s << " s with a command in flight");
    CHECK(stop_s < 3);
    CHECK(agent->loop.stats().finished == 2);
    CHECK(str(command(c, id3), "status") == "sent");
}

TEST_CASE("the command loop backs off while the collector is away and reports unknown miners") {
    Collector c;
    // A miner the collector knows through this agent but the agent does not poll (yet).
    MinerSample s;
    s.miner_id = "ghost";
    s.host = "127.36.0.14";
    s.observed_at = now_ms();
    s.up = false;
    c.store().ingest({kAgentId, std::nullopt, 1, {s}, {}});
    const auto created =
        api(c, "POST", "/api/v1/commands", R"({"type":"wake","miners":["ghost"]})", 201);
    const std::string id(created.at("commands").at(0).at("id").as_string());

    agent::AgentConfig cfg;  // no miners
    cfg.agent_id = kAgentId;
    Agent agent(cfg, c.port());
    CHECK(eventually(10s, [&] { return str(command(c, id), "status") == "failed"; }));
    CHECK(str(command(c, id), "message").find("does not poll miner \"ghost\"") !=
          std::string::npos);
    CHECK(agent.stop() < 3);

    // Nothing listens: the loop keeps retrying with back-off and still stops at once.
    std::uint16_t free_port = 0;
    {
        asio::io_context io;
        asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
        free_port = a.local_endpoint().port();
    }
    Agent lonely(cfg, free_port);
    const auto t0 = SteadyClock::now();
    CHECK(eventually(10s, [&] { return lonely.stats().poll_failures >= 3; }));
    const double failing_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    CHECK(failing_s >= 0.5);  // 200 ms, 400 ms, ...: backed off, not a busy loop
    CHECK(lonely.stop() < 3);
    const auto& st = lonely.loop.stats();
    CHECK(st.poll_failures >= 3);
    CHECK(st.polls == 0);
}

TEST_CASE(
    "a result the collector cannot take is retried with back-off, a bounded number of times") {
    agent::AgentConfig cfg;  // no miners: the command fails at once, the post is what is tested
    cfg.agent_id = kAgentId;
    SUBCASE("503 twice, then accepted") {
        FakeCollector fake({503, 503, 200});
        Agent agent(cfg, fake.port());
        CHECK(eventually(10s, [&] { return agent.stats().results_posted == 1; }));
        CHECK(fake.result_posts == 3);
        CHECK(agent.stats().results_dropped == 0);
    }
    SUBCASE("always 503: dropped after result_attempts (5), and logged") {
        FakeCollector fake({503});
        Agent agent(cfg, fake.port());
        const auto t0 = SteadyClock::now();
        CHECK(eventually(15s, [&] { return agent.stats().results_dropped == 1; }));
        // Back-off between the five attempts: 200 + 400 + 800 + 1600 ms.
        CHECK(std::chrono::duration<double>(SteadyClock::now() - t0).count() >= 2.5);
        CHECK(fake.result_posts == 5);
        CHECK(agent.stats().results_posted == 0);
    }
    SUBCASE("a refusal (404) is not retried") {
        FakeCollector fake({404});
        Agent agent(cfg, fake.port());
        CHECK(eventually(10s, [&] { return agent.stats().results_dropped == 1; }));
        CHECK(fake.result_posts == 1);
    }
}
