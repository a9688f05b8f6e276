// The whole pipeline as an operator runs it: `hashwatt sim`, `hashwatt agent` with an uplink
// and `hashwatt collector`, each its own process on loopback. The collector is SIGKILLed and
// restarted mid-run; the agent's spool must deliver the gap so that every sample the agent
// produced is stored exactly once, and the database must pass PRAGMA integrity_check.
#include "collector/storage/store.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "pipeline-agent-token-0123";
constexpr int kMiners = 16;

// A port that was free a moment ago, so the collector can come back on the same one.
unsigned free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

// Batches waiting in the spool: the files the agent would still send.
std::size_t spooled_batches(const std::string& dir) {
    std::size_t n = 0;
    if (!fs::exists(dir)) return 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".json") ++n;
    }
    return n;
}

std::size_t stored_miners(unsigned port) {
    const auto r = http_request("127.0.0.1", port, "GET", "/api/v1/sites", {},
                                {"Authorization: Bearer " + kAgentToken + "-read"});
    if (r.status != 200) return 0;
    const auto pos = r.body.find("\"miners\":");
    return pos == std::string::npos ? 0 : std::stoul(r.body.substr(pos + 9));
}

std::unique_ptr<Child> start_collector(const std::string& cfg, const std::string& log) {
    return std::make_unique<Child>(std::vector<std::string>{kBinary, "collector", "--config", cfg},
                                   log);
}

}  // namespace

TEST_CASE("sim + agent + collector: SIGKILL of the collector loses and duplicates nothing") {
    TempDir dir;
    SimProcess sim(kBinary,
                   {"--miners", std::to_string(kMiners), "--mix",
                    "s19pro:4,m30s++:3,s19xp@braiins:2,s19kpro@luxos:2,s19jpro@vnish:2,"
                    "avalon1246:3",
                    "--base-ip", "127.37.0.1", "--http-port", "0"},
                   dir.path() + "/sim");
    const unsigned port = free_port();
    dir.write("agent.token", kAgentToken + "\n", 0600);
    const std::string collector_cfg =
        dir.write("collector.toml",
                  "[storage]\npath = \"collector.db\"\n"
                  "[api]\nlisten = \"127.0.0.1:" +
                      std::to_string(port) +
                      "\"\n"
                      "[[token]]\nrole = \"agent\"\nagent_id = \"pipe\"\n"
                      "secret_file = \"agent.token\"\n"
                      "[[token]]\nrole = \"read\"\nsecret = \"" +
                      kAgentToken + "-read\"\n");
    const std::string spool = dir.path() + "/spool";
    const std::string agent_cfg =
        dir.write("agent.toml",
                  "[agent]\nid = \"pipe\"\nsite = \"lab\"\ninterval = \"2s\"\n"
                  "poll_timeout = \"1500ms\"\nconnect_timeout = \"500ms\"\n"
                  "max_backoff = \"2s\"\njitter = 0.0\n"
                  "[[scan]]\nranges = [\"127.37.0.0/27\"]\nhttp_port = " +
                      std::to_string(sim.http_port()) +
                      "\n"
                      "[uplink]\nurl = \"http://127.0.0.1:" +
                      std::to_string(port) +
                      "\"\ntoken_file = \"agent.token\"\nspool_dir = \"spool\"\n"
                      "batch_max_samples = 8\nbatch_max_age = \"500ms\"\n"
                      "retry_min = \"100ms\"\nretry_max = \"1s\"\nrequest_timeout = \"3s\"\n"
                      "shutdown_timeout = \"10s\"\n");

    auto collector = start_collector(collector_cfg, dir.path() + "/c1");
    REQUIRE(wait_until(
        [&] { return http_request("127.0.0.1", port, "GET", "/readyz").status == 200; }, 20s));
    Child agent({kBinary, "agent", "--config", agent_cfg, "--output", "json"},
                dir.path() + "/agent");

    // Every simulated miner arrives.
    REQUIRE_MESSAGE(wait_until([&] { return stored_miners(port) == kMiners; }, 60s, 200ms),
                    agent.stderr_text());

    // Twice: kill the collector without warning while the agent keeps polling into its spool
    // (three rounds of the fleet at least), check the file, restart on the same port and let
    // the spool drain.
    for (int cycle = 1; cycle <= 2; ++cycle) {
        CAPTURE(cycle);
        collector->stop(SIGKILL, 0ms);
        collector.reset();
        CHECK(wait_until([&] { return spooled_samples(spool) >= 3 * kMiners; }, 60s, 100ms));
        {
            collector::Store store(dir.path() + "/collector.db");
            CHECK(store.integrity_check() == "ok");
        }
        collector = start_collector(collector_cfg, dir.path() + "/c" + std::to_string(cycle + 1));
        CHECK(wait_until([&] { return spooled_batches(spool) == 0; }, 60s, 100ms));
    }

    // Stop the agent: it flushes what it buffered and delivers it before exiting.
    CHECK(agent.stop(SIGTERM, 30s) == 0);
    CHECK(spooled_batches(spool) == 0);
    collector->stop(SIGTERM);
    collector.reset();

    // What the agent printed is what was stored: each sample exactly once.
    std::map<std::string, std::multiset<std::string>> printed;
    std::istringstream lines(agent.stdout_text());
    std::string line;
    std::size_t printed_count = 0;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        const MinerSample s = decode_sample(line);
        printed[s.miner_id].insert(format_time(s.observed_at));
        ++printed_count;
    }
    REQUIRE(printed.size() == kMiners);
    collector::Store store(dir.path() + "/collector.db");
    CHECK(store.integrity_check() == "ok");
    std::size_t stored_count = 0;
    for (const auto& [miner, times] : printed) {
        std::multiset<std::string> stored;
        for (const auto& s : store.samples(miner, TimePoint{}, now_ms() + 1h)) {
            stored.insert(format_time(s.observed_at));
        }
        stored_count += stored.size();
        CHECK_MESSAGE(stored == times, miner);
    }
    CHECK(stored_count == printed_count);
    CHECK(printed_count >= 7 * kMiners);  // three rounds per outage, and the rounds between
    MESSAGE("samples produced and stored: " << printed_count);
}

TEST_CASE("collector with an embedded [[agent]]: one process polls, stores and carries commands") {
    namespace json = boost::json;
    TempDir dir;
    SimProcess sim(kBinary,
                   {"--miners", "4", "--mix", "s19pro:2,m30s++:2", "--base-ip", "127.37.1.1",
                    "--http-port", "0", "--sleep-ramp", "1s", "--wake-ramp", "2s"},
                   dir.path() + "/sim");
    const std::string admin = "pipeline-admin-token-0123";
    const std::string cfg =
        dir.write("collector.toml",
                  "[storage]\npath = \"state/collector.db\"\n"
                  "[api]\nlisten = \"127.0.0.1:0\"\n"
                  "[[token]]\nrole = \"admin\"\nsecret = \"" +
                      admin +
                      "\"\n"
                      "[[agent]]\nid = \"barn\"\nsite = \"barn-1\"\ninterval = \"1s\"\n"
                      "poll_timeout = \"800ms\"\nconnect_timeout = \"400ms\"\n"
                      "[[agent.scan]]\nranges = [\"127.37.1.0/29\"]\nhttp_port = " +
                      std::to_string(sim.http_port()) + "\n");
    fs::create_directories(dir.path() + "/state");
    const RunResult check = run({kBinary, "collector", "--config", cfg, "--check-config"}, 20s);
    CHECK(check.exit_code == 0);
    CHECK(
        check.out.find("embedded agent barn: site barn-1, 0 miners, 1 scan ranges, interval 1s") !=
        std::string::npos);

    Child collector({kBinary, "collector", "--config", cfg}, dir.path() + "/collector");
    std::string base;
    REQUIRE(wait_until(
        [&] {
            const auto out = collector.stdout_text();
            if (!out.starts_with("api: ") || out.find('\n') == std::string::npos) return false;
            base = out.substr(5, out.find('\n') - 5);
            return true;
        },
        20s));
    const auto [ip, port] = split_url(base.substr(0, base.size() - 7));
    const std::vector<std::string> auth{"Authorization: Bearer " + admin};
    json::object site;
    REQUIRE_MESSAGE(wait_until(
                        [&] {
                            const auto r = http_request(ip, port, "GET", "/api/v1/sites", {}, auth);
                            if (r.status != 200) return false;
                            const auto sites = json::parse(r.body).at("sites").as_array();
                            if (sites.size() != 1) return false;
                            site = sites[0].as_object();
                            return site.at("up").to_number<int>() == 4;
                        },
                        30s, 200ms),
                    collector.stderr_text());
    CHECK(site.at("site").as_string() == "barn-1");

    // A command for one miner goes to the embedded agent by long poll, and is verified.
    const auto miners = http_request(ip, port, "GET", "/api/v1/miners", {}, auth);
    const std::string miner(json::parse(miners.body).at("miners").at(0).at("miner_id").as_string());
    const auto created = http_request(ip, port, "POST", "/api/v1/commands",
                                      R"({"type":"sleep","miners":[")" + miner + R"("]})", auth);
    REQUIRE_MESSAGE(created.status == 201, created.body);
    const std::string id(json::parse(created.body).at("commands").at(0).at("id").as_string());
    std::string status;
    CHECK(wait_until(
        [&] {
            const auto r = http_request(ip, port, "GET", "/api/v1/commands/" + id, {}, auth);
            if (r.status != 200) return false;
            status = std::string(json::parse(r.body).at("command").at("status").as_string());
            return status == "succeeded" || status == "failed" || status == "timed_out";
        },
        60s, 200ms));
    CHECK(status == "succeeded");
    CHECK(collector.stop(SIGTERM) == 0);
    CHECK(collector.stderr_text().find("samples_dropped=0") != std::string::npos);
}
