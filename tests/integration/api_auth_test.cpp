// Authentication and authorization of the collector API over real loopback sockets and a real
// SQLite file: every route against every kind of caller (the matrix below is the contract of
// docs/api.md's roles table), the agent token's agent and site scope, and the lockout of an
// address after repeated failed authentication, with 127.0.0.x source addresses as clients.
#include "collector/api/server.hpp"
#include "collector/storage/store.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

const std::string kAgentWest = "agent-west-secret-0123";  // agent-1, scoped to site west
const std::string kAgent2 = "agent-two-secret-01234";     // agent-2, any site
const std::string kRead = "read-secret-0123456789";
const std::string kAdmin = "admin-secret-012345678";

ApiOptions api_options(std::size_t max_failures = 0) {
    ApiOptions o;
    o.request_timeout = 5s;
    o.idle_timeout = 5s;
    o.metrics_require_token = true;
    Token west{kAgentWest, Role::agent, "agent-1"};
    west.site = "west";
    o.tokens = {west,
                {kAgent2, Role::agent, "agent-2"},
                {kRead, Role::read, ""},
                {kAdmin, Role::admin, ""}};
    o.auth_limit.max_failures = max_failures;  // 0: the matrix makes many failures on purpose
    o.auth_limit.window = 60s;
    o.auth_limit.lockout = 60s;
    return o;
}

std::int64_t g_seq = 0;

std::string batch(const std::string& agent, const std::vector<MinerSample>& samples,
                  const std::optional<std::string>& site = std::nullopt) {
    std::string body = R"({"agent_id":")" + agent + "\"";
    if (site) body += R"(,"site":")" + *site + "\"";
    body += R"(,"batch_seq":)" + std::to_string(++g_seq) + R"(,"samples":[)";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        body += (i ? "," : "") + encode_sample(samples[i]);
    }
    return body + "]}";
}

MinerSample sample(const std::string& id, std::optional<std::string> site) {
    return test::state_sample(id, now_ms() - 5s, MinerState::mining, 3000, std::move(site));
}

// The callers of the matrix, each a way of presenting (or not) an Authorization header.
enum Caller { kNone, kMalformed, kUnknown, kAgent, kReadRole, kAdminRole, kCallers };
constexpr const char* kCallerNames[kCallers] = {"no token",    "malformed header", "unknown token",
                                                "agent token", "read token",       "admin token"};

std::optional<std::string> header_of(Caller c) {
    switch (c) {
        case kNone:
            return std::nullopt;
        case kMalformed:
            return "Basic " + kAdmin;  // a valid secret under the wrong scheme is not a bearer
        case kUnknown:
            return "Bearer unknown-secret-0123456789";
        case kAgent:
            return "Bearer " + kAgentWest;
        case kReadRole:
            return "Bearer " + kRead;
        case kAdminRole:
            return "Bearer " + kAdmin;
        default:
            return std::nullopt;
    }
}

struct Route {
    http::verb method;
    std::string target;
    std::string body;
    // Expected status for the agent, read and admin tokens; the three without a valid token
    // get 401 unless `open`.
    unsigned agent, read, admin;
    bool open = false;  // needs no token: every caller gets `admin`'s status
};

}  // namespace

TEST_CASE("api auth: every route against every caller") {
    test::InProcessCollector c({.api = api_options()});
    const auto seeded = test::api_request(c.port(), http::verb::post, "/api/v1/ingest",
                                          batch("agent-1", {sample("m1", "west")}), kAgentWest);
    REQUIRE(seeded.status == 200);
    REQUIRE(test::api_request(c.port(), http::verb::post, "/api/v1/ingest",
                              batch("agent-2", {sample("m2", "east")}), kAgent2)
                .status == 200);

    const auto G = http::verb::get;
    const auto P = http::verb::post;
    const auto D = http::verb::delete_;
    // Writes are sent with bodies the route refuses (400) or for things that do not exist
    // (404), so that an allowed caller shows it got past the role check without changing
    // state the next rows read. 503: the alert engine and the policy loop are not attached
    // here, which the route reports only to a caller allowed to use it.
    const std::vector<Route> routes = {
        {G, "/healthz", "", 200, 200, 200, true},
        {G, "/readyz", "", 200, 200, 200, true},
        {G, "/metrics", "", 403, 200, 200},  // metrics_require_token = true
        {P, "/api/v1/ingest", batch("agent-1", {sample("m1", "west")}), 200, 403, 200},
        {G, "/api/v1/miners", "", 403, 200, 200},
        {G, "/api/v1/miners/m1", "", 403, 200, 200},
        {G, "/api/v1/miners/m1/samples", "", 403, 200, 200},
        {G, "/api/v1/sites", "", 403, 200, 200},
        {G, "/api/v1/alerts", "", 403, 200, 200},
        {G, "/api/v1/alerts/0123456789abcdef", "", 403, 404, 404},
        {P, "/api/v1/alerts/0123456789abcdef/ack", "{}", 403, 403, 503},
        {P, "/api/v1/alerts/0123456789abcdef/silence", "{}", 403, 403, 503},
        {D, "/api/v1/alerts/0123456789abcdef/silence", "", 403, 403, 503},
        {G, "/api/v1/policy", "", 403, 503, 503},
        {G, "/api/v1/decisions", "", 403, 200, 200},
        {G, "/api/v1/policy/overrides", "", 403, 503, 503},
        {P, "/api/v1/policy/overrides", "{}", 403, 403, 503},
        {D, "/api/v1/policy/overrides/1", "", 403, 403, 503},
        {G, "/api/v1/miners/m1/explanation", "", 403, 404, 404},
        {P, "/api/v1/commands", "{}", 403, 403, 400},
        {G, "/api/v1/commands", "", 403, 200, 200},
        {G, "/api/v1/commands/no-such-command", "", 403, 404, 404},
        {G, "/api/v1/agents/agent-1/commands?wait=0s", "", 200, 403, 200},
        {G, "/api/v1/agents/agent-2/commands?wait=0s", "", 403, 403, 200},
        {P, "/api/v1/commands/no-such-command/result", R"({"status":"succeeded"})", 404, 403, 404},
    };
    for (const auto& r : routes) {
        for (int k = 0; k < kCallers; ++k) {
            const auto caller = static_cast<Caller>(k);
            unsigned want = 401;
            if (r.open) want = r.admin;
            if (caller == kAgent) want = r.agent;
            if (caller == kReadRole) want = r.read;
            if (caller == kAdminRole) want = r.admin;
            const auto got =
                test::api_request_raw(c.port(), r.method, r.target, r.body, header_of(caller));
            INFO(http::to_string(r.method), " ", r.target, " as ", kCallerNames[k], ": ", got.body,
                 got.failure);
            CHECK(got.status == want);
            if (want == 401) {
                CHECK(
                    std::string(got.headers[http::field::www_authenticate]).starts_with("Bearer"));
            }
        }
    }
}

TEST_CASE("api auth: an agent token acknowledges only its own agent's commands") {
    test::InProcessCollector c({.api = api_options()});
    REQUIRE(test::api_request(c.port(), http::verb::post, "/api/v1/ingest",
                              batch("agent-1", {sample("m1", "west")}), kAgentWest)
                .status == 200);
    REQUIRE(test::api_request(c.port(), http::verb::post, "/api/v1/ingest",
                              batch("agent-2", {sample("m2", "east")}), kAgent2)
                .status == 200);
    const auto made = test::api_request(c.port(), http::verb::post, "/api/v1/commands",
                                        R"({"type":"sleep","miners":["m2"]})", kAdmin);
    REQUIRE(made.status == 201);
    const std::string id(made.json().at("commands").at(0).at("id").as_string());

    // agent-1 may neither fetch agent-2's queue nor report on its command.
    CHECK(test::api_request(c.port(), http::verb::get, "/api/v1/agents/agent-2/commands?wait=0s",
                            {}, kAgentWest)
              .status == 403);
    const std::string result = R"({"command_id":")" + id +
                               R"(","miner_id":"m2","status":"succeeded","finished_at":")" +
                               format_time(now_ms()) + R"("})";
    const auto foreign = test::api_request(
        c.port(), http::verb::post, "/api/v1/commands/" + id + "/result", result, kAgentWest);
    CHECK(foreign.status == 403);
    CHECK(foreign.error().find("belongs to agent \"agent-2\"") != std::string::npos);
    // agent-2 fetches it and reports it.
    const auto mine = test::api_request(c.port(), http::verb::get,
                                        "/api/v1/agents/agent-2/commands?wait=0s", {}, kAgent2);
    REQUIRE(mine.status == 200);
    CHECK(mine.json().at("commands").as_array().size() == 1);
    const auto own = test::api_request(c.port(), http::verb::post,
                                       "/api/v1/commands/" + id + "/result", result, kAgent2);
    INFO(own.body);
    CHECK(own.status == 200);
}

TEST_CASE("api auth: a site-scoped agent token posts for its own site only") {
    test::InProcessCollector c({.api = api_options()});
    const auto post = [&](const std::string& body, const std::string& token = kAgentWest) {
        return test::api_request(c.port(), http::verb::post, "/api/v1/ingest", body, token);
    };
    SUBCASE("a batch naming another site is refused, and nothing is stored") {
        const auto r = post(batch("agent-1", {sample("m1", std::nullopt)}, "east"));
        CHECK(r.status == 403);
        CHECK(r.error() ==
              "this token is scoped to site \"west\" and may not post for site \"east\"");
        CHECK(r.json().at("path") == "site");
        CHECK(c.sample_rows() == 0);
    }
    SUBCASE("a sample naming another site is refused, whatever the batch says") {
        const auto r = post(batch("agent-1", {sample("m1", "west"), sample("m9", "east")}, "west"));
        CHECK(r.status == 403);
        CHECK(r.json().at("path") == "samples[1].site");
        CHECK(c.sample_rows() == 0);
    }
    SUBCASE("a batch without a site is stored under the token's") {
        REQUIRE(post(batch("agent-1", {sample("m1", std::nullopt)})).status == 200);
        const auto m = test::api_request(c.port(), http::verb::get, "/api/v1/miners/m1", {}, kRead);
        REQUIRE(m.status == 200);
        CHECK(m.json().at("miner").at("site") == "west");
    }
    SUBCASE("its own site is stored; an unscoped agent token may name any site") {
        CHECK(post(batch("agent-1", {sample("m1", "west")}, "west")).status == 200);
        CHECK(post(batch("agent-2", {sample("m2", "east")}, "north"), kAgent2).status == 200);
    }
}

TEST_CASE("api auth: failed authentication locks out the address, not its neighbours") {
    auto options = api_options(3);
    options.auth_limit.lockout = 2s;
    test::InProcessCollector c({.api = options});
    const auto from = [&](const std::string& source, const std::optional<std::string>& token,
                          const std::string& target = "/api/v1/miners") {
        return test::api_request_raw(c.port(), http::verb::get, target, {},
                                     token ? std::optional("Bearer " + *token) : std::nullopt,
                                     source);
    };
    // Successes do not count: many from one address never lock it out.
    for (int i = 0; i < 20; ++i) REQUIRE(from("127.0.0.4", kRead).status == 200);

    CHECK(from("127.0.0.2", std::string("guess-0000000000000001")).status == 401);
    CHECK(from("127.0.0.2", std::nullopt).status == 401);
    CHECK(from("127.0.0.2", std::string("guess-0000000000000003")).status == 401);
    // The third failure locked 127.0.0.2 out: even the right token is refused now.
    const auto locked = from("127.0.0.2", kRead);
    CHECK(locked.status == 429);
    const std::string retry(locked.headers[http::field::retry_after]);
    CHECK((retry == "1" || retry == "2"));
    CHECK(locked.error().find("too many failed authentications") != std::string::npos);
    CHECK(from("127.0.0.2", kAdmin, "/api/v1/commands").status == 429);
    // Health checks need no credential and stay open.
    CHECK(from("127.0.0.2", std::nullopt, "/healthz").status == 200);
    // Another address is unaffected, and still the successes never count.
    CHECK(from("127.0.0.3", kRead).status == 200);
    CHECK(from("127.0.0.4", kRead).status == 200);

    const auto scrape = from("127.0.0.5", kAdmin, "/metrics");
    REQUIRE(scrape.status == 200);
    CHECK(scrape.body.find("hashwatt_collector_auth_failures_total{reason=\"unknown\"} 2") !=
          std::string::npos);
    CHECK(scrape.body.find("hashwatt_collector_auth_failures_total{reason=\"missing\"} 1") !=
          std::string::npos);
    CHECK(scrape.body.find("hashwatt_collector_auth_lockouts_total 1") != std::string::npos);
    CHECK(scrape.body.find("hashwatt_collector_auth_locked_requests_total 2") != std::string::npos);

    // The lockout ends on its own (2 s); polled with a deadline, not slept through.
    CHECK(test::wait_until([&] { return from("127.0.0.2", kRead).status == 200; }, 10s, 100ms));
}
