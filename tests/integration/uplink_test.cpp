// The agent's uplink against a real collector (ApiServer + Store + StoreWriter on loopback,
// a real SQLite file): every sample arrives exactly once, also across a collector outage and a
// lost acknowledgement; a poison batch goes to rejected/ without holding up the rest; a wrong
// token keeps batches spooled; stop() flushes and is bounded even when the collector hangs.
#include "agent/uplink/uplink.hpp"

#include "agent/config.hpp"
#include "agent/uplink/spool.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/uplink_harness.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {

const std::string kToken = "agent-1-secret-token";
const std::string kAgentId = "agent-1";

const std::string kBinary = HASHWATT_BINARY;

// A collector on 127.0.0.1 in this process, on the test's database file (which outlives it, so
// a collector started again on the same port finds what the last one stored).
struct Collector : test::InProcessCollector {
    static collector::ApiOptions options(std::uint16_t port) {
        collector::ApiOptions o;
        o.port = port;
        o.request_timeout = 5s;
        o.tokens = {{kToken, collector::Role::agent, kAgentId}};
        // A wrong token's retries lock 127.0.0.1 out (429 + Retry-After) like any other
        // failed authentication; short here so the fixed agent's retries get through soon.
        o.auth_limit.lockout = 1s;
        return o;
    }
    explicit Collector(const std::string& db, std::uint16_t port = 0)
        : InProcessCollector({.api = options(port), .db_path = db}) {}
};

// An agent side: one Uplink on its own io_context thread.
struct Agent : test::UplinkAgent {
    explicit Agent(const agent::UplinkConfig& cfg) : UplinkAgent(cfg, kAgentId, "barn") {}
};

agent::UplinkConfig uplink_config(std::uint16_t port, const std::string& spool_dir) {
    agent::UplinkConfig c;
    c.url = "http://127.0.0.1:" + std::to_string(port);
    agent::parse_collector_url(c.url, c);
    c.token = kToken;
    c.spool_dir = spool_dir;
    c.batch_max_samples = 10;
    c.batch_max_age = 100ms;
    c.retry_min = 20ms;
    c.retry_max = 200ms;
    c.request_timeout = 5s;
    c.shutdown_timeout = 2s;
    return c;
}

// Samples `first`..`first+count-1`, spread over five miners, each at its own instant.
std::vector<MinerSample> samples(int first, int count) {
    return test::synthetic_samples(first, count, 5);
}

std::multiset<std::string> keys(int first, int count) {
    std::multiset<std::string> out;
    for (const auto& s : samples(first, count)) {
        out.insert(s.miner_id + "|" + format_time(s.observed_at));
    }
    return out;
}

std::size_t files_in(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".json") ++n;
    }
    return n;
}

// Log lines from every thread, for the length of a test.
struct LogCapture {
    mutable std::mutex mutex;
    std::vector<std::string> lines;
    LogCapture() {
        log::set_sink([this](std::string_view l) {
            std::lock_guard lock(mutex);
            lines.emplace_back(l);
        });
    }
    ~LogCapture() { log::set_sink(nullptr); }
    bool has(std::string_view text) const {
        std::lock_guard lock(mutex);
        for (const auto& l : lines)
            if (l.find(text) != std::string::npos) return true;
        return false;
    }
};

}  // namespace

TEST_CASE("uplink: every sample reaches the collector exactly once, in batches") {
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    Agent a(uplink_config(c.port(), dir.path() + "/spool"));
    a.add(samples(0, 95));
    // 9 full batches at once, the last 5 samples once their batch is 100 ms old.
    REQUIRE(test::wait_until([&] { return c.sample_rows() == 95 && a.stats().spool.batches == 0; },
                             20s));
    CHECK(c.sample_keys() == keys(0, 95));
    const auto st = a.stats();
    CHECK(st.samples_spooled == 95);
    CHECK(st.samples_sent == 95);
    CHECK(st.batches_sent == 10);
    CHECK(st.batches_duplicate == 0);
    CHECK(st.samples_dropped == 0);
    CHECK(st.buffered_samples == 0);
    CHECK(files_in(dir.path() + "/spool") == 0);
    CHECK(a.stop(5s));
}

TEST_CASE("uplink: the spool carries samples across a collector outage, none lost or doubled") {
    test::TempDir dir;
    const std::string db = dir.path() + "/collector.db";
    auto c = std::make_unique<Collector>(db);
    const std::uint16_t port = c->port();
    Agent a(uplink_config(port, dir.path() + "/spool"));
    a.add(samples(0, 20));
    REQUIRE(test::wait_until([&] { return c->sample_rows() == 20; }, 20s));

    c.reset();  // the collector goes away
    a.add(samples(20, 30));
    REQUIRE(test::wait_until(
        [&] { return a.stats().spool.batches == 3 && a.stats().send_failures >= 2; }, 20s));
    CHECK(a.stats().spool.samples == 30);
    CHECK(files_in(dir.path() + "/spool") == 3);

    c = std::make_unique<Collector>(db, port);  // back, same port and database
    a.add(samples(50, 10));
    REQUIRE(test::wait_until([&] { return c->sample_rows() == 60 && a.stats().spool.batches == 0; },
                             20s));
    CHECK(c->sample_keys() == keys(0, 60));
    CHECK(a.stats().samples_sent == 60);
    CHECK(a.stats().batches_duplicate == 0);
    CHECK(a.stop(5s));
}

TEST_CASE("uplink: a batch stored before its acknowledgement was lost is not stored twice") {
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    const std::string spool_dir = dir.path() + "/spool";
    {
        // What an agent that crashed after the collector committed, but before the 200 reached
        // it, leaves behind: the batch is stored, and still in the spool.
        agent::Spool spool(spool_dir, {});
        const auto seq = spool.reserve_seq();
        const auto body = agent::encode_ingest_batch(kAgentId, "barn", seq, samples(0, 5));
        const auto r = test::http_request("127.0.0.1", c.port(), "POST", "/api/v1/ingest", body,
                                          {"Authorization: Bearer " + kToken});
        REQUIRE(r.status == 200);
        REQUIRE(c.sample_rows() == 5);
        spool.push(seq, body, 5);
    }
    Agent a(uplink_config(c.port(), spool_dir));
    REQUIRE(test::wait_until([&] { return a.stats().batches_sent == 1; }, 20s));
    CHECK(a.stats().batches_duplicate == 1);
    CHECK(a.stats().spool.batches == 0);
    CHECK(c.sample_rows() == 5);

    a.add(samples(5, 10));  // and the next batch takes the next seq, stored as usual
    REQUIRE(test::wait_until([&] { return c.sample_rows() == 15; }, 20s));
    CHECK(c.sample_keys() == keys(0, 15));
    CHECK(a.stats().batches_duplicate == 1);
    CHECK(a.stop(5s));
}

TEST_CASE("uplink: a batch the collector refuses goes to rejected/ and the rest still flow") {
    LogCapture logs;
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    const std::string spool_dir = dir.path() + "/spool";
    {
        agent::Spool spool(spool_dir, {});
        const auto seq = spool.reserve_seq();
        spool.push(seq,
                   "{\"agent_id\":\"" + kAgentId + "\",\"batch_seq\":" + std::to_string(seq) +
                       ",\"samples\":[{\"miner_id\":\"m-x\",\"hashrate_ths\":\"fast\"}]}",
                   1);
    }
    Agent a(uplink_config(c.port(), spool_dir));
    a.add(samples(0, 20));
    REQUIRE(test::wait_until([&] { return c.sample_rows() == 20 && a.stats().spool.batches == 0; },
                             20s));
    CHECK(c.sample_keys() == keys(0, 20));
    CHECK(a.stats().batches_rejected == 1);
    CHECK(files_in(spool_dir + "/rejected") == 1);
    CHECK(files_in(spool_dir) == 0);
    // The operator learns why, in the collector's words.
    CHECK(logs.has("rejected a batch for good"));
    CHECK(logs.has("samples[0]"));
    CHECK(a.stop(5s));
}

TEST_CASE("uplink: a wrong token keeps the batches spooled until the token is fixed") {
    LogCapture logs;
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    const std::string spool_dir = dir.path() + "/spool";
    auto cfg = uplink_config(c.port(), spool_dir);
    {
        auto bad = cfg;
        bad.token = "not-the-token";
        Agent a(bad);
        a.add(samples(0, 20));
        REQUIRE(test::wait_until([&] { return a.stats().send_failures >= 3; }, 20s));
        CHECK(a.stats().spool.batches == 2);
        CHECK(a.stats().batches_rejected == 0);
        CHECK(c.sample_rows() == 0);
        CHECK(logs.has("refuses the agent's token"));
        CHECK(a.stop(5s));
    }
    CHECK(files_in(spool_dir) == 2);
    Agent fixed(cfg);  // restarted with the right token: the spool drains
    REQUIRE(test::wait_until([&] { return c.sample_rows() == 20; }, 20s));
    CHECK(c.sample_keys() == keys(0, 20));
    CHECK(fixed.stop(5s));
}

TEST_CASE("uplink: stop() flushes the buffer and delivers it before returning") {
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    auto cfg = uplink_config(c.port(), dir.path() + "/spool");
    cfg.batch_max_age = std::chrono::hours(1);  // only stop() cuts this batch
    Agent a(cfg);
    a.add(samples(0, 3));
    REQUIRE(test::wait_until([&] { return a.stats().buffered_samples == 3; }, 5s));
    CHECK(c.sample_rows() == 0);
    REQUIRE(a.stop(5s));
    CHECK(c.sample_rows() == 3);
    CHECK(a.stats().spool.batches == 0);
}

TEST_CASE("uplink: stop() is bounded by shutdown_timeout when the collector hangs") {
    // Accepts connections and never answers.
    asio::io_context hung_io;
    tcp::acceptor acceptor(hung_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::vector<std::shared_ptr<tcp::socket>> held;
    std::atomic<int> accepted{0};
    std::function<void()> accept_next = [&] {
        auto s = std::make_shared<tcp::socket>(hung_io);
        acceptor.async_accept(*s, [&, s](const boost::system::error_code& ec) {
            if (ec) return;
            held.push_back(s);
            ++accepted;
            accept_next();
        });
    };
    accept_next();
    std::thread hung([&] { hung_io.run(); });
    struct Join {
        asio::io_context& io;
        std::thread& t;
        ~Join() {
            io.stop();
            t.join();
        }
    } join{hung_io, hung};

    test::TempDir dir;
    auto cfg = uplink_config(acceptor.local_endpoint().port(), dir.path() + "/spool");
    cfg.request_timeout = 60s;
    cfg.shutdown_timeout = 300ms;
    Agent a(cfg);
    a.add(samples(0, 10));
    REQUIRE(test::wait_until([&] { return accepted.load() >= 1; }, 5s));
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(a.stop(10s));
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 250ms);
    CHECK(took < 3s);
    CHECK(a.stats().spool.batches == 1);  // kept for the next run
    CHECK(files_in(dir.path() + "/spool") == 1);
}

TEST_CASE("hashwatt agent with [uplink]: samples go to the collector, SIGTERM flushes the rest") {
    test::TempDir dir;
    Collector c(dir.path() + "/collector.db");
    test::SimProcess sim(kBinary,
                         {"--miners", "2", "--mix", "s19pro:1,m30s++:1", "--base-ip", "127.38.7.1",
                          "--http-port", "0"},
                         dir.path() + "/sim");
    dir.write("agent.token", kToken + "\n", 0600);
    std::string cfg = "[agent]\nid = \"" + kAgentId +
                      "\"\nsite = \"lab\"\ninterval = \"1s\"\njitter = 0.0\n"
                      "poll_timeout = \"800ms\"\nconnect_timeout = \"500ms\"\n";
    for (int i = 1; i <= 2; ++i) {
        cfg += "[[miner]]\nhost = \"127.38.7." + std::to_string(i) +
               "\"\nhttp_port = " + std::to_string(sim.http_port()) + "\n";
    }
    // A batch neither full nor old enough while the agent runs: it goes only because SIGTERM
    // makes the uplink flush its buffer and deliver the spool.
    cfg += "[uplink]\nurl = \"http://127.0.0.1:" + std::to_string(c.port()) +
           "\"\ntoken_file = \"agent.token\"\nspool_dir = \"spool\"\nbatch_max_samples = 1000\n"
           "batch_max_age = \"1h\"\nretry_min = \"100ms\"\nretry_max = \"1s\"\n";
    const std::string path = dir.write("agent.toml", cfg);

    const auto checked = test::run({kBinary, "agent", "--config", path, "--check-config"}, 20s);
    CHECK(checked.exit_code == 0);
    CHECK(checked.out.find("uplink: http://127.0.0.1:") != std::string::npos);

    test::Child agent({kBinary, "agent", "--config", path}, dir.path() + "/agent");
    // Two summary lines (one a second), which carry the uplink's figures: a few polls are in.
    auto summaries = [&] {
        const auto e = agent.stderr_text();
        std::size_t n = 0;
        for (auto at = e.find("spool_batches="); at != std::string::npos;
             at = e.find("spool_batches=", at + 1)) {
            ++n;
        }
        return n;
    };
    REQUIRE(test::wait_until([&] { return summaries() >= 2; }, 30s, 100ms));
    CHECK(c.sample_rows() == 0);
    CHECK(agent.stop(SIGTERM, 15s) == 0);
    CHECK(agent.stdout_text().empty());  // with an uplink nothing is printed by default
    const auto err = agent.stderr_text();
    INFO(err);
    // Everything polled was spooled at the stop and delivered before the exit.
    const auto figure = [&](const std::string& key) -> long {
        const auto line = err.find("msg=\"uplink stopped\"");
        if (line == std::string::npos) return -1;
        const auto at = err.find(" " + key + "=", line);
        return at == std::string::npos ? -1 : std::stol(err.substr(at + key.size() + 2));
    };
    CHECK(figure("spooled_batches") == 0);
    CHECK(figure("samples_spooled") >= 2);
    CHECK(figure("samples_sent") == figure("samples_spooled"));
    CHECK(static_cast<long>(c.sample_rows()) == figure("samples_sent"));
    CHECK(c.store().miners().size() == 2);
    CHECK(files_in(dir.path() + "/spool") == 0);
}
