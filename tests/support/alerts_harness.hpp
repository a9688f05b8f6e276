// Pieces the alert integration tests share: an in-process collector with an agent and a read
// token, an in-process agent (a Poller whose samples are posted to it), condition waits with
// deadlines, and readers of the alerts API and of the engine's announcements.
#pragma once

#include "agent/commands/command_loop.hpp"
#include "agent/poller.hpp"
#include "agent/transport/transport.hpp"
#include "collector/alerts/engine.hpp"
#include "common/json_codec.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/net.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::test::alerts_harness {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

inline const std::string kAgentToken = "alerts-agent-token";
inline const std::string kReadToken = "alerts-read-token";
inline const std::string kAgentId = "agent-alerts";

struct Collector : test::InProcessCollector {
    Collector() : InProcessCollector({.api = api_options()}) {}
    static collector::ApiOptions api_options() {
        collector::ApiOptions o;
        o.tokens = {{kAgentToken, collector::Role::agent, kAgentId},
                    {kReadToken, collector::Role::read, ""}};
        return o;
    }
};

struct Upload {
    agent::HttpRequestSpec spec;
    agent::HttpAuth auth;
    agent::TransportOptions opts;
    std::uint16_t port = 0;
};

inline asio::awaitable<void> post_batch(asio::any_io_executor ex, std::shared_ptr<Upload> up) {
    const auto r =
        co_await agent::http_request(ex, "127.0.0.1", up->port, up->spec, up->auth, up->opts);
    if (r.error || r.status != 200) MESSAGE("ingest post failed: " << r.status << " " << r.body);
}

// Command-loop options quick enough for tests: short long polls, retries and watch steps.
// host, port, token and agent_id are the Agent's own.
inline agent::CommandLoopOptions test_command_options(std::size_t concurrency) {
    agent::CommandLoopOptions o;
    o.wait = 5s;
    o.request_timeout = 5s;
    o.concurrency = concurrency;
    o.verify.wait = 30s;
    o.verify.poll_every = 300ms;
    o.retry_initial = 200ms;
    o.retry_max = 2s;
    return o;
}

struct AgentOptions {
    std::string agent_id = kAgentId;
    std::string token = kAgentToken;  // role agent, issued to agent_id
    // Set: the agent also runs a command loop with these options.
    std::optional<agent::CommandLoopOptions> commands;
    // Batches are numbered from here: a restarted agent carries on its numbering, as the real
    // agent's spool does, or the collector would drop its batches as duplicates.
    std::int64_t first_seq = 1;
};

// The agent: a Poller whose every sample is posted to the collector as its own batch, and
// the command loop when options.commands is set.
struct Agent {
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    AgentOptions options;
    agent::Poller poller;
    std::optional<agent::CommandLoop> loop;
    std::int64_t batch_seq;
    std::uint16_t port;
    std::thread thread;

    Agent(agent::AgentConfig cfg, std::uint16_t collector_port, AgentOptions o = {})
        : options(std::move(o))
        , poller(io.get_executor(), std::move(cfg))
        , batch_seq(options.first_seq - 1)
        , port(collector_port) {
        if (options.commands) {
            auto co = *options.commands;
            co.host = "127.0.0.1";
            co.port = port;
            co.token = options.token;
            co.agent_id = options.agent_id;
            loop.emplace(io.get_executor(), co,
                         [this](const std::string& id) { return poller.find_target(id); });
            asio::co_spawn(io, loop->run(), asio::detached);
        }
        asio::co_spawn(io, poller.run([this](MinerSample&& s) { upload(s); }), asio::detached);
        thread = std::thread([this] { io.run(); });
    }
    ~Agent() {
        asio::post(io, [this] {
            if (loop) loop->stop();
            poller.stop();
            work.reset();
        });
        thread.join();
    }
    void upload(const MinerSample& s) {
        auto up = std::make_shared<Upload>();
        up->port = port;
        up->spec.method = "POST";
        up->spec.target = "/api/v1/ingest";
        up->spec.body = R"({"agent_id":")" + options.agent_id + R"(","batch_seq":)" +
                        std::to_string(++batch_seq) + R"(,"samples":[)" + encode_sample(s) + "]}";
        up->auth.kind = agent::HttpAuth::Kind::bearer;
        up->auth.token = options.token;
        asio::co_spawn(io, post_batch(io.get_executor(), up), asio::detached);
    }
};

// Polls `pred` every 100 ms until it holds or `within` has passed; returns its last value.
template <typename Pred>
bool eventually(std::chrono::milliseconds within, Pred pred) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return pred();
}

inline json::value get(const Collector& c, const std::string& path) {
    const auto r = test::http_request("127.0.0.1", c.port(), "GET", path, "",
                                      {"Authorization: Bearer " + kReadToken}, 10s);
    INFO("GET ", path, " -> ", r.status, " ", r.body, r.error);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
}

// The alerts the API lists for `query` ("state=firing&miner=...").
inline json::array alerts_of(const Collector& c, const std::string& query) {
    return get(c, "/api/v1/alerts?" + query).at("alerts").as_array();
}

// The states in an alert's history, oldest first: "pending,firing,resolved".
inline std::string history(const Collector& c, const std::string& fingerprint) {
    std::string out;
    const auto reply = get(c, "/api/v1/alerts/" + fingerprint);
    for (const auto& e : reply.at("events").as_array()) {
        if (!out.empty()) out += ",";
        out += std::string(e.at("state").as_string());
    }
    return out;
}

// Announcements the engine made, by fingerprint: "firing,resolved".
struct Sink {
    std::mutex mu;
    std::map<std::string, std::string> by_fingerprint;
    void operator()(const collector::alerts::Notification& n) {
        std::lock_guard lock(mu);
        auto& s = by_fingerprint[n.fingerprint];
        if (!s.empty()) s += ",";
        s += n.resolved ? "resolved" : "firing";
    }
    std::string of(const std::string& fp) {
        std::lock_guard lock(mu);
        return by_fingerprint.count(fp) ? by_fingerprint[fp] : "";
    }
};

}  // namespace hashwatt::test::alerts_harness
