// `hashwatt agent` with [metrics] listen, through the real binary against `hashwatt sim`: the
// scrape's values follow the fleet (miners up and down, rounds counting), the uplink families
// show a collector that cannot be reached, the listener refuses what it does not serve, and a
// taken port is an error naming it. Addresses: 127.54.x.x.
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <csignal>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = HASHWATT_BINARY;

// The URL the agent logged ('msg="metrics listening" url=http://IP:PORT/metrics').
std::optional<std::pair<std::string, unsigned>> metrics_address(const Child& agent) {
    const std::string err = agent.stderr_text();
    const auto at = err.find("msg=\"metrics listening\" url=http://");
    if (at == std::string::npos) return std::nullopt;
    const auto start = err.find("http://", at);
    const auto end = err.find("/metrics", start);
    if (end == std::string::npos) return std::nullopt;
    return split_url(err.substr(start, end - start));
}

// Sample lines of one scrape: "name{labels}" -> value.
std::map<std::string, double> parse_scrape(const std::string& body) {
    std::map<std::string, double> out;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line.front() == '#') continue;
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

double value(const std::map<std::string, double>& m, const std::string& series) {
    const auto it = m.find(series);
    return it == m.end() ? -1 : it->second;
}

std::string agent_config(const SimProcess& sim, const std::string& prefix, int miners,
                         const std::string& listen, const std::string& extra = {}) {
    std::string text =
        "[agent]\nid = \"barn\"\ninterval = \"1s\"\njitter = 0.0\npoll_timeout = \"800ms\"\n"
        "connect_timeout = \"500ms\"\nmax_backoff = \"4s\"\n[metrics]\nlisten = \"" +
        listen + "\"\n" + extra;
    for (int i = 1; i <= miners; ++i) {
        text += "[[miner]]\nhost = \"" + prefix + std::to_string(i) +
                "\"\nhttp_port = " + std::to_string(sim.http_port()) + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("agent /metrics: miners up and down, rounds counting, and only GET /metrics") {
    TempDir dir;
    SimProcess sim(
        kBinary,
        {"--miners", "3", "--mix", "s19pro:1", "--base-ip", "127.54.1.1", "--http-port", "0"},
        dir.path() + "/sim");
    REQUIRE(sim.post("/api/v1/miners/127.54.1.3/faults", R"({"kind":"offline"})") == 200);
    // A fourth address has no miner at all (refused).
    const std::string cfg =
        dir.write("agent.toml", agent_config(sim, "127.54.1.", 4, "127.54.1.100:0"));
    Child agent({kBinary, "agent", "--config", cfg}, dir.path() + "/agent");
    std::optional<std::pair<std::string, unsigned>> addr;
    REQUIRE_MESSAGE(wait_until([&] { return (addr = metrics_address(agent)).has_value(); }, 20s),
                    agent.stderr_text());
    const auto& [ip, port] = *addr;
    CHECK(ip == "127.54.1.100");

    std::map<std::string, double> m;
    HttpResult r;
    auto scrape = [&] {
        r = http_request(ip, port, "GET", "/metrics");
        m = parse_scrape(r.body);
        return r.status == 200;
    };
    REQUIRE(scrape());
    CHECK(r.headers.find("text/plain; version=0.0.4") != std::string::npos);
    CHECK(r.body.find("hashwatt_agent_build_info{version=\"") != std::string::npos);
    // No [uplink]: no spool, uplink or command families.
    CHECK(r.body.find("hashwatt_agent_spool_batches") == std::string::npos);
    CHECK(r.body.find("hashwatt_agent_commands_total") == std::string::npos);

    // The first round ends once all four have been polled (within about one interval).
    REQUIRE_MESSAGE(
        wait_until([&] { return scrape() && value(m, "hashwatt_agent_poll_rounds_total") >= 1; },
                   20s, 100ms),
        r.body);
    CHECK(value(m, "hashwatt_agent_miners{result=\"up\"}") == 2);
    CHECK(value(m, "hashwatt_agent_miners{result=\"down\"}") == 2);
    const double duration = value(m, "hashwatt_agent_poll_round_duration_seconds");
    CHECK(duration > 0);
    CHECK(duration < 5);

    // Rounds keep coming about every interval, the dead ones backed off without holding them up.
    const double rounds = value(m, "hashwatt_agent_poll_rounds_total");
    REQUIRE_MESSAGE(
        wait_until(
            [&] { return scrape() && value(m, "hashwatt_agent_poll_rounds_total") >= rounds + 3; },
            20s, 100ms),
        r.body);
    CHECK(value(m, "hashwatt_agent_miners{result=\"up\"}") == 2);
    CHECK(value(m, "hashwatt_agent_poll_round_duration_seconds") < 3);

    // A miner that recovers is counted up again.
    REQUIRE(sim.del("/api/v1/miners/127.54.1.3/faults") == 200);
    CHECK_MESSAGE(
        wait_until(
            [&] { return scrape() && value(m, "hashwatt_agent_miners{result=\"up\"}") == 3; }, 20s,
            100ms),
        r.body);

    CHECK(http_request(ip, port, "GET", "/").status == 404);
    CHECK(http_request(ip, port, "GET", "/api/v1/miners").status == 404);
    const auto post = http_request(ip, port, "POST", "/metrics", "x");
    CHECK(post.status == 405);
    CHECK(post.headers.find("Allow: GET") != std::string::npos);
    // Headers beyond the bound are refused, not buffered.
    const auto big =
        http_request(ip, port, "GET", "/metrics", {}, {"X-Filler: " + std::string(16 * 1024, 'a')});
    CHECK(big.status == 431);
    CHECK(scrape());  // and the listener is still there

    CHECK(agent.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("agent /metrics: the uplink families show a collector that cannot be reached") {
    TempDir dir;
    SimProcess sim(
        kBinary,
        {"--miners", "2", "--mix", "s19pro:1", "--base-ip", "127.54.2.1", "--http-port", "0"},
        dir.path() + "/sim");
    // Nothing listens on 127.54.2.250:9: every POST is refused and the batches stay spooled.
    const std::string uplink =
        "[uplink]\nurl = \"http://127.54.2.250:9\"\ntoken = \"agent-token-0123456789\"\n"
        "spool_dir = \"spool\"\nbatch_max_age = \"100ms\"\nretry_min = \"100ms\"\n"
        "retry_max = \"200ms\"\nshutdown_timeout = \"0s\"\n";
    const std::string cfg =
        dir.write("agent.toml", agent_config(sim, "127.54.2.", 2, "127.54.2.100:0", uplink));
    Child agent({kBinary, "agent", "--config", cfg}, dir.path() + "/agent");
    std::optional<std::pair<std::string, unsigned>> addr;
    REQUIRE_MESSAGE(wait_until([&] { return (addr = metrics_address(agent)).has_value(); }, 20s),
                    agent.stderr_text());
    std::map<std::string, double> m;
    HttpResult r;
    auto scrape = [&] {
        r = http_request(addr->first, addr->second, "GET", "/metrics");
        m = parse_scrape(r.body);
        return r.status == 200;
    };
    REQUIRE_MESSAGE(
        wait_until(
            [&] {
                return scrape() && value(m, "hashwatt_agent_spool_batches") >= 2 &&
                       value(m, "hashwatt_agent_uplink_batches_total{result=\"failed\"}") >= 2;
            },
            20s, 100ms),
        r.body);
    CHECK(value(m, "hashwatt_agent_spool_bytes") > 0);
    CHECK(value(m, "hashwatt_agent_uplink_batches_total{result=\"sent\"}") == 0);
    CHECK(value(m, "hashwatt_agent_uplink_batches_total{result=\"dropped\"}") == 0);
    CHECK(value(m, "hashwatt_agent_commands_total{result=\"succeeded\"}") == 0);
    CHECK(spooled_samples(dir.path() + "/spool") > 0);
    CHECK(agent.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("agent /metrics: a listen address already taken is an error that names it") {
    TempDir dir;
    SimProcess sim(
        kBinary,
        {"--miners", "1", "--mix", "s19pro:1", "--base-ip", "127.54.3.1", "--http-port", "0"},
        dir.path() + "/sim");
    const std::string first_cfg =
        dir.write("first.toml", agent_config(sim, "127.54.3.", 1, "127.54.3.100:0"));
    Child first({kBinary, "agent", "--config", first_cfg}, dir.path() + "/first");
    std::optional<std::pair<std::string, unsigned>> addr;
    REQUIRE_MESSAGE(wait_until([&] { return (addr = metrics_address(first)).has_value(); }, 20s),
                    first.stderr_text());
    const std::string taken = "127.54.3.100:" + std::to_string(addr->second);
    const std::string second_cfg =
        dir.write("second.toml", agent_config(sim, "127.54.3.", 1, taken));
    const RunResult r = run({kBinary, "agent", "--config", second_cfg}, 20s);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("metrics: cannot listen on " + taken) != std::string::npos);
    CHECK(first.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("agent --check-config: the shipped example listens where Prometheus scrapes") {
    // deploy/prometheus/prometheus.yml's hashwatt-agent job scrapes 127.0.0.1:9468.
    const RunResult r =
        run({kBinary, "agent", "--config",
             std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/agent.toml", "--check-config"},
            20s);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("metrics: 127.0.0.1:9468\n") != std::string::npos);
}
