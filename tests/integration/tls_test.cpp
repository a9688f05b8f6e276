// TLS on the collector API and certificate verification on its clients, with real sockets on
// loopback and a throwaway CA made at run time (tests/support/test_pki.hpp): an agent that
// trusts the CA delivers; one that trusts another CA is refused, says why, keeps its batches
// and delivers them once it trusts the right CA; plain HTTP to the TLS port is answered at
// once; expired and wrong-host certificates are refused; the HTTP limits hold inside TLS.
#include "common/tls.hpp"

#include "agent/config.hpp"
#include "agent/transport/transport.hpp"
#include "agent/uplink/uplink.hpp"
#include "collector/config/collector_config.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/uplink_harness.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

const std::string kToken = "agent-1-secret-token";
const std::string kAgentId = "agent-1";

// One CA and a server certificate for 127.0.0.1 and localhost, made once for the suite (key
// generation is the slow part).
struct Pki {
    test::TestCa ca{"hashwatt test CA"};
    test::TestCa other_ca{"some other CA"};
    test::PemPair server = ca.issue_server({"localhost"}, {"127.0.0.1", "::1"});
};
const Pki& pki() {
    static const Pki p;
    return p;
}

collector::ApiOptions tls_options(const test::PemPair& cert, std::uint16_t port = 0) {
    collector::ApiOptions o;
    o.port = port;
    o.request_timeout = 5s;
    o.tokens = {{kToken, collector::Role::agent, kAgentId}};
    o.tls = collector::ApiOptions::Tls{"test-server.pem", cert.cert, cert.key};
    return o;
}

struct Collector : test::InProcessCollector {
    explicit Collector(collector::ApiOptions o, const std::string& db = {})
        : InProcessCollector({.api = std::move(o), .db_path = db}) {}
};

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

// An agent side: one Uplink on its own io_context thread, stopped and joined on every path.
struct Agent : test::UplinkAgent {
    explicit Agent(const agent::UplinkConfig& cfg) : UplinkAgent(cfg, kAgentId, "barn") {}
    bool stop() { return UplinkAgent::stop(std::chrono::seconds(10)); }
};

agent::UplinkConfig uplink_config(const std::string& url, const std::string& ca_file,
                                  const std::string& spool_dir) {
    agent::UplinkConfig c;
    c.url = url;
    agent::parse_collector_url(c.url, c);
    c.ca_file = ca_file;
    c.token = kToken;
    c.spool_dir = spool_dir;
    c.batch_max_samples = 5;
    c.batch_max_age = 50ms;
    c.retry_min = 20ms;
    c.retry_max = 200ms;
    c.request_timeout = 5s;
    c.shutdown_timeout = 1s;
    return c;
}

std::vector<MinerSample> samples(int first, int count) {
    return test::synthetic_samples(first, count, 3);
}

// One GET /healthz over HTTPS to `host`:port with agent::http_request, trusting `ca_file`.
agent::HttpResult https_get(const std::string& host, std::uint16_t port, const std::string& ca_file,
                            const std::string& target = "/healthz",
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    agent::HttpRequestSpec spec;
    spec.target = target;
    spec.headers = std::move(headers);
    agent::TransportOptions opts;
    opts.connect_timeout = 3s;
    opts.reply_timeout = 5s;
    opts.deadline = std::chrono::steady_clock::now() + 8s;
    opts.tls = tls::make_client_context(ca_file);
    // Named: the coroutine holds its arguments by reference until io runs it.
    const agent::HttpAuth no_auth{};
    asio::io_context io;
    auto fut =
        asio::co_spawn(io, agent::http_request(io.get_executor(), host, port, spec, no_auth, opts),
                       asio::use_future);
    io.run_for(10s);
    REQUIRE(fut.wait_for(0s) == std::future_status::ready);
    return fut.get();
}

}  // namespace

TEST_CASE("tls: an agent trusting the CA delivers every sample over https") {
    test::TempDir dir;
    const auto ca = dir.write("ca.pem", pki().ca.cert_pem());
    Collector c(tls_options(pki().server));
    // Both an IP literal (IP SAN, no SNI) and a name (DNS SAN and SNI).
    int first = 0;  // each round its own samples: a repeated (miner, time) is stored once
    for (const std::string host : {"127.0.0.1", "localhost"}) {
        CAPTURE(host);
        const auto spool = dir.path() + "/spool-" + host;
        const auto before = c.sample_rows();
        {
            Agent a(uplink_config("https://" + host + ":" + std::to_string(c.port()), ca, spool));
            a.add(samples(first, 12));
            first += 12;
            REQUIRE(test::wait_until([&] { return a.stats().samples_sent == 12; }, 15s));
            CHECK(a.stats().send_failures == 0);
        }
        CHECK(c.sample_rows() - before == 12);
    }
}

TEST_CASE("tls: an agent trusting another CA is refused, keeps its batches, then delivers") {
    test::TempDir dir;
    const auto right_ca = dir.write("ca.pem", pki().ca.cert_pem());
    const auto wrong_ca = dir.write("other-ca.pem", pki().other_ca.cert_pem());
    const auto spool = dir.path() + "/spool";
    Collector c(tls_options(pki().server));
    const auto url = "https://127.0.0.1:" + std::to_string(c.port());
    {
        LogCapture logs;
        Agent a(uplink_config(url, wrong_ca, spool));
        a.add(samples(0, 10));
        REQUIRE(test::wait_until([&] { return a.stats().send_failures >= 2; }, 15s));
        CHECK(a.stats().samples_sent == 0);
        CHECK(logs.has("certificate verify failed: unable to get local issuer certificate"));
        REQUIRE(a.stop());
        CHECK(a.stats().spool.samples == 10);  // nothing lost, nothing sent
    }
    CHECK(c.sample_rows() == 0);
    Agent fixed(uplink_config(url, right_ca, spool));
    REQUIRE(test::wait_until([&] { return fixed.stats().samples_sent == 10; }, 15s));
    CHECK(c.sample_rows() == 10);
}

TEST_CASE("tls: plain HTTP to the TLS port is answered at once, not left hanging") {
    Collector c(tls_options(pki().server));
    const auto r = test::api_request(c.port(), http::verb::get, "/healthz", {}, std::nullopt, 5s);
    CHECK(r.status == 400);
    CHECK(r.body.find("use https://") != std::string::npos);
    CHECK(r.elapsed_s < 2.0);
}

TEST_CASE("tls: a client that never starts the handshake is cut at the handshake deadline") {
    auto o = tls_options(pki().server);
    o.tls_handshake_timeout = 300ms;
    Collector c(std::move(o));
    asio::io_context io;
    auto s = test::connect_loopback(io, c.port());
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(test::read_byte(s, 5s) == asio::error::eof);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("tls: expired and wrong-host certificates are refused with the reason") {
    test::TempDir dir;
    const auto ca = dir.write("ca.pem", pki().ca.cert_pem());
    SUBCASE("expired") {
        Collector c(tls_options(pki().ca.issue_server({"localhost"}, {"127.0.0.1"}, -7200, -3600)));
        const auto r = https_get("127.0.0.1", c.port(), ca);
        REQUIRE(r.error);
        CHECK(r.error->reason == PollError::auth);
        CHECK(r.error->detail.find("certificate verify failed: certificate has expired") !=
              std::string::npos);
    }
    SUBCASE("wrong IP") {
        Collector c(tls_options(pki().ca.issue_server({"collector.example"}, {"10.9.9.9"})));
        const auto r = https_get("127.0.0.1", c.port(), ca);
        REQUIRE(r.error);
        CHECK(r.error->detail.find("certificate verify failed: IP address mismatch") !=
              std::string::npos);
    }
    SUBCASE("wrong name") {
        Collector c(tls_options(pki().ca.issue_server({"collector.example"}, {"127.0.0.1"})));
        const auto r = https_get("localhost", c.port(), ca);
        REQUIRE(r.error);
        CHECK(r.error->detail.find("certificate verify failed: hostname mismatch") !=
              std::string::npos);
    }
    SUBCASE("the system store does not know the test CA") {
        Collector c(tls_options(pki().server));
        const auto r = https_get("127.0.0.1", c.port(), "");
        REQUIRE(r.error);
        CHECK(r.error->detail.find("certificate verify failed") != std::string::npos);
    }
    SUBCASE("a trusted certificate answers") {
        Collector c(tls_options(pki().server));
        const auto r = https_get("127.0.0.1", c.port(), ca);
        REQUIRE_FALSE(r.error);
        CHECK(r.status == 200);
    }
}

TEST_CASE("tls: the header limit and the 404s hold inside TLS") {
    test::TempDir dir;
    const auto ca = dir.write("ca.pem", pki().ca.cert_pem());
    auto o = tls_options(pki().server);
    o.header_limit_bytes = 2048;
    Collector c(std::move(o));
    const auto big =
        https_get("127.0.0.1", c.port(), ca, "/healthz", {{"X-Filler", std::string(4096, 'x')}});
    REQUIRE_FALSE(big.error);
    CHECK(big.status == 431);
    const auto missing = https_get("127.0.0.1", c.port(), ca, "/nope");
    REQUIRE_FALSE(missing.error);
    CHECK(missing.status == 404);
}

TEST_CASE("tls: config keys for the collector and the agent") {
    test::TempDir dir;
    const auto cert = dir.write("server.pem", pki().server.cert);
    const auto key = dir.write("server.key", pki().server.key, 0600);
    const auto ca = dir.write("ca.pem", pki().ca.cert_pem());
    const auto tokens = "\n[[token]]\nrole = \"read\"\nsecret = \"0123456789abcdef0123\"\n";
    SUBCASE("both files") {
        const auto c = collector::parse_collector_config(
            "[api]\ntls_cert_file = \"" + cert + "\"\ntls_key_file = \"" + key + "\"\n" + tokens,
            "collector.toml");
        REQUIRE(c.api.tls);
        CHECK(c.api.tls->cert_file == cert);
    }
    SUBCASE("a key without its certificate") {
        CHECK_THROWS_WITH_AS(collector::parse_collector_config(
                                 "[api]\ntls_key_file = \"" + key + "\"\n" + tokens, "c.toml"),
                             doctest::Contains("needs tls_cert_file too"), config::ConfigError);
    }
    SUBCASE("a key of another certificate") {
        const auto other = dir.write("other.key", pki().ca.issue_server({"x"}, {}).key, 0600);
        CHECK_THROWS_WITH_AS(
            collector::parse_collector_config("[api]\ntls_cert_file = \"" + cert +
                                                  "\"\ntls_key_file = \"" + other + "\"\n" + tokens,
                                              "c.toml"),
            doctest::Contains("does not match the certificate"), config::ConfigError);
    }
    SUBCASE("agent: https with a CA file") {
        const auto a = agent::parse_agent_config(
            "[uplink]\nurl = \"https://collector.example/base/\"\nca_file = \"" + ca +
                "\"\ntoken = \"abc\"\n[[miner]]\nhost = \"10.0.0.7\"\n",
            "agent.toml");
        REQUIRE(a.uplink);
        CHECK(a.uplink->tls);
        CHECK(a.uplink->port == 443);
        CHECK(a.uplink->host == "collector.example");
        CHECK(a.uplink->base_path == "/base");
        CHECK(a.uplink->ca_file == ca);
    }
    SUBCASE("agent: ca_file with http is refused") {
        CHECK_THROWS_WITH_AS(
            agent::parse_agent_config("[uplink]\nurl = \"http://10.0.0.2\"\nca_file = \"" + ca +
                                          "\"\ntoken = \"abc\"\n[[miner]]\nhost = \"10.0.0.7\"\n",
                                      "agent.toml"),
            doctest::Contains("only used with an https:// url"), config::ConfigError);
    }
}

TEST_CASE("tls: the CLI talks https with --ca-file and says why another CA fails") {
    test::TempDir dir;
    const auto ca = dir.write("ca.pem", pki().ca.cert_pem());
    const auto wrong = dir.write("other-ca.pem", pki().other_ca.cert_pem());
    const auto token = dir.write("read.token", "read-token-0123456789\n", 0600);
    auto o = tls_options(pki().server);
    o.tokens.push_back({"read-token-0123456789", collector::Role::read, ""});
    Collector c(std::move(o));
    const auto url = "https://127.0.0.1:" + std::to_string(c.port());
    // No policy runs in this collector: a 503 from it proves the TLS exchange worked.
    auto r = test::run_hashwatt(
        {"policy", "override", "list", "--collector", url, "--ca-file", ca, "--token-file", token});
    CHECK(r.err.find("cannot reach") == std::string::npos);
    CHECK(r.err.find("503") != std::string::npos);
    r = test::run_hashwatt({"policy", "override", "list", "--collector", url, "--ca-file", wrong,
                            "--token-file", token});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("certificate verify failed: unable to get local issuer certificate") !=
          std::string::npos);
    r = test::run_hashwatt({"policy", "override", "list", "--collector",
                            "http://127.0.0.1:" + std::to_string(c.port()), "--ca-file", ca});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--ca-file is only used with an https://") != std::string::npos);
}
