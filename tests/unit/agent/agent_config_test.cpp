// agent.toml loading and the back-off schedule: the pure parts of the agent's poller.
#include "agent/config.hpp"
#include "agent/poller.hpp"
#include "common/config.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace std::chrono_literals;

namespace {

std::string error_of(const std::string& text) {
    try {
        (void)parse_agent_config(text, "agent.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("parse_host_port reads the address forms and names what is wrong") {
    CHECK(parse_host_port("10.0.0.7", 4028) ==
          std::pair<std::string, std::uint16_t>{"10.0.0.7", 4028});
    CHECK(parse_host_port("10.0.0.7:4029", 4028).second == 4029);
    CHECK(parse_host_port("[fd00::7]:4030", 4028) ==
          std::pair<std::string, std::uint16_t>{"fd00::7", 4030});
    CHECK(parse_host_port("fd00::7", 4028).first == "fd00::7");  // bare IPv6: no port
    CHECK(parse_host_port("miner-17.barn", 4028).first == "miner-17.barn");
    CHECK_THROWS_WITH_AS(parse_host_port("10.0.0.7:99999", 4028), doctest::Contains("bad port"),
                         std::invalid_argument);
    CHECK_THROWS_AS(parse_host_port("10.0.0.7:", 4028), std::invalid_argument);
    CHECK_THROWS_AS(parse_host_port("[fd00::7", 4028), std::invalid_argument);
    CHECK_THROWS_AS(parse_host_port(":4028", 4028), std::invalid_argument);
}

TEST_CASE("agent config: defaults, overrides and every entry kind") {
    test::TempDir dir;
    dir.write("pw", "s3cret\n", 0600);
    const std::string path = dir.write("agent.toml", R"(
[agent]
id = "a1"
site = "barn"
interval = "15s"
jitter = 0.2
concurrency = 64
command_concurrency = 200
poll_timeout = "4s"
connect_timeout = "1s"
max_reply_size = "256KiB"
max_backoff = "2m"

[[miner]]
host = "10.0.0.7:4029"
id = "rack1"
driver = "antminer"
http_port = 8080
username = "root"
password_file = "pw"

[[miner]]
host = "10.0.0.8"
site = "annex"

[[scan]]
ranges = ["10.0.1.0/24"]
rescan = "1h"
)");
    const AgentConfig c = load_agent_config(path);
    CHECK(c.agent_id == "a1");
    CHECK(c.site == "barn");
    CHECK(c.interval == 15s);
    CHECK(c.jitter == doctest::Approx(0.2));
    CHECK(c.concurrency == 64);
    CHECK(c.command_concurrency == 200);
    CHECK(c.poll_timeout == 4s);
    CHECK(c.connect_timeout == 1s);
    CHECK(c.max_reply_bytes == 256 * 1024);
    CHECK(c.max_backoff == 2min);
    REQUIRE(c.miners.size() == 2);
    CHECK(c.miners[0].endpoint.host == "10.0.0.7");
    CHECK(c.miners[0].endpoint.rpc_port == 4029);
    CHECK(c.miners[0].endpoint.http_port == 8080);
    CHECK(c.miners[0].endpoint.configured_id == "rack1");
    CHECK(c.miners[0].driver == "antminer");
    REQUIRE(c.miners[0].endpoint.credentials.has_value());
    CHECK(c.miners[0].endpoint.credentials->password == "s3cret");  // read relative to the file
    CHECK(c.miners[1].endpoint.site == "annex");
    CHECK(c.miners[1].endpoint.rpc_port == 4028);
    CHECK(c.miners[1].driver == "auto");
    CHECK_FALSE(c.miners[1].endpoint.credentials);
    REQUIRE(c.scans.size() == 1);
    CHECK(c.scans[0].site == "barn");
    CHECK(c.scans[0].rescan == 1h);

    const AgentConfig d = parse_agent_config("[[miner]]\nhost = \"10.0.0.1\"\n", "agent.toml");
    CHECK(d.interval == 30s);
    CHECK(d.concurrency == 512);
    CHECK(d.command_concurrency == 64);
    CHECK(d.poll_timeout == 10s);
    CHECK(d.site == "default");
    CHECK_FALSE(d.agent_id.empty());  // the host name
}

TEST_CASE("agent config: mistakes are named with file, line, column and key") {
    CHECK(error_of("[agent]\nintervall = \"30s\"\n[[miner]]\nhost = \"h\"\n") ==
          "agent.toml:2:1: agent.intervall: unknown key (did you mean 'interval'?)");
    CHECK(error_of("[[miner]]\nhost = \"h\"\npasword_file = \"x\"\n")
              .find("miner[0].pasword_file: unknown key (did you mean 'password_file'?)") !=
          std::string::npos);
    CHECK(error_of("[agent]\nsite = \"x\"\n").find("nothing to poll") != std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h:70000\"\n").find("miner[0].host: bad port") !=
          std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h\"\ndriver = \"antminr\"\n")
              .find("unknown driver 'antminr' (one of: auto,") != std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h\"\n[[miner]]\nhost = \"h:4028\"\n")
              .find("miner[1].host: this miner is already listed") != std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"a\"\nid = \"x\"\n[[miner]]\nhost = \"b\"\nid = \"x\"\n")
              .find("id 'x' is used twice") != std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h\"\nusername = \"root\"\n").find("needs password_file") !=
          std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h\"\npassword_file = \"/nonexistent/pw\"\n")
              .find("cannot read secret file") != std::string::npos);
    CHECK(error_of("[agent]\ninterval = \"10s\"\npoll_timeout = \"10s\"\n[[miner]]\nhost = \"h\"\n")
              .find("agent.poll_timeout: must be shorter than interval") != std::string::npos);
    CHECK(error_of("[agent]\njitter = 0.9\n[[miner]]\nhost = \"h\"\n").find("agent.jitter") !=
          std::string::npos);
    CHECK(error_of("[[scan]]\nranges = [\"10.0.0.0/33\"]\n").find("scan[0].ranges") !=
          std::string::npos);
    CHECK(error_of("[[scan]]\nranges = []\n").find("needs at least one CIDR range") !=
          std::string::npos);
    CHECK(error_of("[[miner]]\nhost = \"h:4029\"\nport = 4030\n").find("given twice") !=
          std::string::npos);
}

TEST_CASE("agent config: [metrics] listen, and its mistakes with their place") {
    const std::string miner = "[[miner]]\nhost = \"h\"\n";
    CHECK_FALSE(parse_agent_config(miner, "agent.toml").metrics);
    const auto c = parse_agent_config("[metrics]\nlisten = \"127.0.0.1:9468\"\n" + miner, "a");
    REQUIRE(c.metrics);
    CHECK(c.metrics->address == "127.0.0.1");
    CHECK(c.metrics->port == 9468);
    const auto any = parse_agent_config("[metrics]\nlisten = \"[::1]:0\"\n" + miner, "a");
    REQUIRE(any.metrics);
    CHECK(any.metrics->address == "::1");
    CHECK(any.metrics->port == 0);

    CHECK(error_of("[metrics]\nlisten = \"127.0.0.1\"\n" + miner) ==
          "agent.toml:2:10: metrics.listen: expected IP:PORT (no port), got '127.0.0.1'");
    CHECK(error_of("[metrics]\nlisten = \"127.0.0.1:70000\"\n" + miner) ==
          "agent.toml:2:10: metrics.listen: expected IP:PORT (the port is 0..65535), got "
          "'127.0.0.1:70000'");
    CHECK(error_of("\n[metrics]\nlisten = \"agent.example:9468\"\n" + miner) ==
          "agent.toml:3:10: metrics.listen: expected IP:PORT ('agent.example' is not an IP "
          "address), got 'agent.example:9468'");
    CHECK(error_of("[metrics]\nlisten = \"::1:9468\"\n" + miner)
              .find("an IPv6 address goes in brackets") != std::string::npos);
    CHECK(error_of("[metrics]\nlisten = 9468\n" + miner)
              .starts_with("agent.toml:2:10: metrics.listen"));
    CHECK(error_of("[metrics]\n" + miner) ==
          "agent.toml:1:1: metrics.listen: missing: the IP:PORT to serve /metrics on");
    CHECK(error_of("[metrics]\nlisten = \"127.0.0.1:1\"\nlistn = 1\n" + miner) ==
          "agent.toml:3:1: metrics.listn: unknown key (did you mean 'listen'?)");
}

TEST_CASE("next_poll_delay: the interval, jittered; failing miners back off up to the cap") {
    AgentConfig c;
    c.interval = 30s;
    c.jitter = 0.1;
    c.max_backoff = 5min;
    using Secs = std::chrono::duration<double>;
    auto secs = [&](int failures, double draw) {
        return Secs(next_poll_delay(c, failures, draw)).count();
    };
    CHECK(secs(0, 0) == doctest::Approx(30));
    CHECK(secs(0, 1) == doctest::Approx(33));
    CHECK(secs(0, -1) == doctest::Approx(27));
    CHECK(secs(1, 0) == doctest::Approx(30));  // one failure: no back-off yet
    CHECK(secs(2, 0) == doctest::Approx(60));
    CHECK(secs(3, 0) == doctest::Approx(120));
    CHECK(secs(4, 0) == doctest::Approx(240));
    CHECK(secs(5, 0) == doctest::Approx(300));  // capped
    CHECK(secs(1000, 0) == doctest::Approx(300));
    c.max_backoff = 0s;  // no back-off at all: still the interval
    CHECK(secs(10, 0) == doctest::Approx(30));
}
