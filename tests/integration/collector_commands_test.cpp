// The command routes over real loopback sockets and a real SQLite file: creation by each
// selector and every refusal, roles, the agent's long poll (at once, woken by a new command,
// empty after its wait, ended by stop()), results, and verdicts from later samples and
// deadlines.
#include "collector/api/server.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/command_samples.hpp"
#include "tests/support/process.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

const std::string kAgent1 = "agent-1-secret";
const std::string kAgent2 = "agent-2-secret";
const std::string kRead = "read-secret";
const std::string kAdmin = "admin-secret";

ApiOptions api_options() {
    ApiOptions o;
    o.request_timeout = 2s;
    o.idle_timeout = 5s;
    o.tokens = {{kAgent1, Role::agent, "agent-1"},
                {kAgent2, Role::agent, "agent-2"},
                {kRead, Role::read, ""},
                {kAdmin, Role::admin, ""}};
    return o;
}

struct Collector : test::InProcessCollector {
    Collector() : InProcessCollector({.api = api_options(), .writer = writer_options()}) {}
    static StoreWriterOptions writer_options() {
        StoreWriterOptions o = test::quiet_writer_options();
        o.verify_interval = 200ms;  // deadlines are settled within this
        return o;
    }
};

using Response = test::ApiResponse;

Response post(const Collector& c, const std::string& target, const std::string& body,
              const std::string& token = kAdmin) {
    return test::api_request(c.port(), http::verb::post, target, body, token);
}
// The whole exchange gives up after `deadline` (status 0).
Response get(const Collector& c, const std::string& target, const std::string& token = kRead,
             std::chrono::seconds deadline = 10s) {
    return test::api_request(c.port(), http::verb::get, target, {}, token, deadline);
}

MinerSample sample(const std::string& id, TimePoint at, MinerState state, double power_w,
                   const std::string& site) {
    return test::state_sample(id, at, state, power_w, site, "10.0.0.1");
}

std::int64_t g_seq = 0;

void ingest(const Collector& c, const std::string& agent, const std::string& token,
            const std::vector<MinerSample>& samples) {
    std::string body = R"({"agent_id":")" + agent + R"(","batch_seq":)" + std::to_string(++g_seq) +
                       R"(,"samples":[)";
    for (std::size_t i = 0; i < samples.size(); ++i) {
        body += (i ? "," : "") + encode_sample(samples[i]);
    }
    body += "]}";
    const auto r = post(c, "/api/v1/ingest", body, token);
    REQUIRE(r.status == 200);
}

// m1, m2 at north through agent-1 (labels rack=r1 on both, row 2 and 3); m3 at south through
// agent-2.
void seed(Collector& c) {
    const auto t = now_ms() - 10s;
    ingest(c, "agent-1", kAgent1,
           {sample("m1", t, MinerState::mining, 3250, "north"),
            sample("m2", t, MinerState::mining, 3100, "north")});
    ingest(c, "agent-2", kAgent2, {sample("m3", t, MinerState::mining, 3000, "south")});
    c.store().set_labels("m1", {{"rack", "r1"}, {"row", "2"}});
    c.store().set_labels("m2", {{"rack", "r1"}, {"row", "3"}});
}

std::vector<std::string> ids_of(const json::value& v, std::string_view key = "id") {
    std::vector<std::string> out;
    for (const auto& c : v.at("commands").as_array()) out.emplace_back(c.at(key).as_string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string status_of(const Collector& c, const std::string& id) {
    const auto r = get(c, "/api/v1/commands/" + id);
    REQUIRE(r.status == 200);
    return std::string(r.json().at("command").at("status").as_string());
}

// Polls GET /api/v1/commands/{id} until its status is `want` or `within` passes.
bool wait_for_status(const Collector& c, const std::string& id, const std::string& want,
                     std::chrono::milliseconds within) {
    const auto until = SteadyClock::now() + within;
    while (SteadyClock::now() < until) {
        if (status_of(c, id) == want) return true;
        std::this_thread::sleep_for(50ms);
    }
    return status_of(c, id) == want;
}

std::string create_one(const Collector& c, const std::string& miner,
                       const std::string& type = "sleep") {
    const auto r =
        post(c, "/api/v1/commands", R"({"type":")" + type + R"(","miners":[")" + miner + R"("]})");
    REQUIRE(r.status == 201);
    return std::string(r.json().at("commands").at(0).at("id").as_string());
}

}  // namespace

TEST_CASE("POST /api/v1/commands: one command per selected miner") {
    Collector c;
    seed(c);
    SUBCASE("by miner ids") {
        const auto r = post(
            c, "/api/v1/commands",
            R"({"type":"set_power_target","power_target_w":2800,"miners":["m1","m3"],"deadline_s":120})");
        REQUIRE(r.status == 201);
        const auto v = r.json();
        CHECK(ids_of(v, "miner_id") == std::vector<std::string>{"m1", "m3"});
        const auto& first = v.at("commands").at(0).as_object();
        CHECK(first.at("status").as_string() == "queued");
        CHECK(first.at("type").as_string() == "set_power_target");
        CHECK(first.at("power_target_w").to_number<double>() == 2800);
        CHECK(first.at("verified").as_bool() == false);
        const auto created = parse_time(first.at("created_at").as_string());
        const auto deadline = parse_time(first.at("deadline").as_string());
        REQUIRE(created);
        REQUIRE(deadline);
        CHECK(*deadline - *created == 120s);
        // The read routes see them.
        const auto one = get(c, "/api/v1/commands/" + std::string(first.at("id").as_string()));
        REQUIRE(one.status == 200);
        const std::string miner(first.at("miner_id").as_string());
        CHECK(std::string(one.json().at("command").at("agent_id").as_string()) ==
              (miner == "m1" ? "agent-1" : "agent-2"));
        CHECK(ids_of(get(c, "/api/v1/commands?miner=m3").json(), "miner_id") ==
              std::vector<std::string>{"m3"});
        CHECK(ids_of(get(c, "/api/v1/commands?status=queued&limit=1").json()).size() == 1);
        CHECK(ids_of(get(c, "/api/v1/commands?status=sent").json()).empty());
    }
    SUBCASE("by site") {
        const auto r = post(c, "/api/v1/commands", R"({"type":"wake","site":"north"})");
        REQUIRE(r.status == 201);
        CHECK(ids_of(r.json(), "miner_id") == std::vector<std::string>{"m1", "m2"});
    }
    SUBCASE("by labels: all pairs must match") {
        auto r = post(c, "/api/v1/commands", R"({"type":"reboot","labels":{"rack":"r1"}})");
        REQUIRE(r.status == 201);
        CHECK(ids_of(r.json(), "miner_id") == std::vector<std::string>{"m1", "m2"});
        r = post(c, "/api/v1/commands", R"({"type":"reboot","labels":{"rack":"r1","row":"3"}})");
        REQUIRE(r.status == 201);
        CHECK(ids_of(r.json(), "miner_id") == std::vector<std::string>{"m2"});
    }
}

TEST_CASE("POST /api/v1/commands refusals: status, a message naming it, nothing created") {
    Collector c;
    seed(c);
    struct Case {
        std::string body;
        unsigned status;
        std::string names;
    };
    const Case cases[] = {
        {"{", 400, "malformed JSON"},
        {R"([])", 400, "JSON object"},
        {R"({"miners":["m1"]})", 400, "type"},
        {R"({"type":"dance","miners":["m1"]})", 400, "dance"},
        {R"({"type":"sleep"})", 400, "exactly one of miners, site or labels"},
        {R"({"type":"sleep","miners":["m1"],"site":"north"})", 400, "exactly one"},
        {R"({"type":"sleep","miners":[]})", 400, "names no miner"},
        {R"({"type":"sleep","miners":[7]})", 400, "miners[0]"},
        {R"({"type":"sleep","miners":["m1"],"power_target_w":3000})", 400,
         "only for set_power_target"},
        {R"({"type":"set_power_target","miners":["m1"]})", 400, "required for set_power_target"},
        {R"({"type":"set_power_target","miners":["m1"],"power_target_w":0})", 400, "above 0"},
        {R"({"type":"sleep","miners":["m1"],"deadline_s":5})", 400, "between 10 and 86400"},
        {R"({"type":"sleep","miners":["m1"],"deadline_s":"10m"})", 400, "deadline_s"},
        {R"({"type":"sleep","miners":["m1"],"deadline":600})", 400, "unknown field"},
        {R"({"type":"sleep","miners":["m1","ghost"]})", 404, "unknown miner \"ghost\""},
        {R"({"type":"sleep","site":"west"})", 404, "no miner at site \"west\""},
        {R"({"type":"sleep","labels":{"rack":"r9"}})", 404, "rack=r9"},
    };
    for (const auto& k : cases) {
        CAPTURE(k.body);
        const auto r = post(c, "/api/v1/commands", k.body);
        CHECK(r.status == k.status);
        CHECK(r.error().find(k.names) != std::string::npos);
    }
    CHECK(ids_of(get(c, "/api/v1/commands").json()).empty());

    // Roles: only admin creates.
    CHECK(post(c, "/api/v1/commands", R"({"type":"sleep","miners":["m1"]})", kRead).status == 403);
    CHECK(post(c, "/api/v1/commands", R"({"type":"sleep","miners":["m1"]})", kAgent1).status ==
          403);
    CHECK(get(c, "/api/v1/commands", kAgent1).status == 403);
    CHECK(get(c, "/api/v1/commands/nope").status == 404);
    CHECK(get(c, "/api/v1/commands?limit=0").status == 400);
    CHECK(get(c, "/api/v1/commands?status=bogus").status == 400);
    CHECK(get(c, "/api/v1/commands?colour=red").status == 400);
    CHECK(test::api_request(c.port(), http::verb::delete_, "/api/v1/commands", {}, kAdmin).status ==
          405);
}

TEST_CASE("a miner no agent has reported cannot get a command: 409") {
    Collector c;
    seed(c);
    {
        collector::sqlite::Database raw(c.db_path());
        raw.exec("UPDATE miners SET agent_id = NULL WHERE miner_id = 'm2'");
    }
    const auto r = post(c, "/api/v1/commands", R"({"type":"sleep","site":"north"})");
    CHECK(r.status == 409);
    CHECK(r.error().find("\"m2\"") != std::string::npos);
    CHECK(ids_of(get(c, "/api/v1/commands").json()).empty());
}

TEST_CASE("long poll: at once when queued, woken by a new command, empty after its wait") {
    Collector c;
    seed(c);
    const std::string poll1 = "/api/v1/agents/agent-1/commands";

    SUBCASE("queued commands come at once, marked sent, and only once") {
        const auto id = create_one(c, "m1");
        create_one(c, "m3");  // agent-2's
        const auto r = get(c, poll1 + "?wait=20s", kAgent1);
        REQUIRE(r.status == 200);
        CHECK(r.elapsed_s < 2);
        const auto v = r.json();
        REQUIRE(v.at("commands").as_array().size() == 1);
        const Command cmd = command_from_json(v.at("commands").at(0));
        CHECK(cmd.id == id);
        CHECK(cmd.miner_id == "m1");
        CHECK(cmd.type == CommandType::sleep);
        CHECK(cmd.deadline);
        CHECK(status_of(c, id) == "sent");
        const auto again = get(c, poll1 + "?wait=0s", kAgent1);
        CHECK(again.json().at("commands").as_array().empty());
    }
    SUBCASE("a command created during the wait wakes it well before the wait ends") {
        auto pending = std::async(std::launch::async,
                                  [&] { return get(c, poll1 + "?wait=20s", kAgent1, 30s); });
        std::this_thread::sleep_for(300ms);
        const auto t0 = SteadyClock::now();
        const auto id = create_one(c, "m2");
        const auto r = pending.get();
        const double after_create_s =
            std::chrono::duration<double>(SteadyClock::now() - t0).count();
        REQUIRE(r.status == 200);
        MESSAGE("long poll answered " << after_create_s * 1000
                                      << " ms after the create returned; total " << r.elapsed_s
                                      << " s of a 20 s wait");
        CHECK(r.elapsed_s < 3);
        CHECK(ids_of(r.json()) == std::vector<std::string>{id});
    }
    SUBCASE("another agent's command does not wake it; it ends empty after wait=1s") {
        auto pending =
            std::async(std::launch::async, [&] { return get(c, poll1 + "?wait=1s", kAgent1); });
        std::this_thread::sleep_for(200ms);
        create_one(c, "m3");
        const auto r = pending.get();
        REQUIRE(r.status == 200);
        CHECK(r.json().at("commands").as_array().empty());
        CHECK(r.elapsed_s >= 0.9);
        CHECK(r.elapsed_s < 3);
    }
    SUBCASE("a wait longer than the server's request timeout (2 s) is not cut by it") {
        const auto r = get(c, poll1 + "?wait=3s", kAgent1);
        REQUIRE(r.status == 200);
        CHECK(r.json().at("commands").as_array().empty());
        CHECK(r.elapsed_s >= 2.9);
        CHECK(r.elapsed_s < 5);
    }
    SUBCASE("roles and parameters") {
        CHECK(get(c, poll1 + "?wait=0s", kAgent2).status == 403);  // another agent's
        CHECK(get(c, poll1 + "?wait=0s", kRead).status == 403);
        CHECK(get(c, poll1 + "?wait=0s", kAdmin).status == 200);
        auto r = get(c, poll1 + "?wait=61s", kAgent1);
        CHECK(r.status == 400);
        CHECK(r.error().find("at most 60s") != std::string::npos);
        CHECK(get(c, poll1 + "?wait=soon", kAgent1).status == 400);
        CHECK(get(c, poll1 + "?since=1", kAgent1).status == 400);
        CHECK(test::api_request(c.port(), http::verb::post, poll1, "{}", kAgent1).status == 405);
    }
}

TEST_CASE("stop() ends a waiting long poll promptly") {
    Collector c;
    seed(c);
    auto pending = std::async(std::launch::async, [&] {
        return get(c, "/api/v1/agents/agent-1/commands?wait=30s", kAgent1, 20s);
    });
    std::this_thread::sleep_for(300ms);
    const auto t0 = SteadyClock::now();
    c.stop();
    const auto r = pending.get();
    CHECK(std::chrono::duration<double>(SteadyClock::now() - t0).count() < 2);
    CHECK(r.elapsed_s < 5);
}

TEST_CASE("results: the owning agent reports; a later sample verifies; refusals are final") {
    Collector c;
    seed(c);
    const auto id = create_one(c, "m1");
    REQUIRE(get(c, "/api/v1/agents/agent-1/commands?wait=0s", kAgent1).status == 200);
    const auto result = [&](const std::string& status, const std::string& message,
                            const std::string& cid) {
        return R"({"command_id":")" + cid + R"(","miner_id":"m1","status":")" + status +
               R"(","message":")" + message + R"(","finished_at":")" + format_time(now_ms()) +
               R"("})";
    };
    const std::string route = "/api/v1/commands/" + id + "/result";

    CHECK(post(c, route, result("succeeded", "ok", id), kAgent2).status == 403);
    CHECK(post(c, route, result("succeeded", "ok", id), kRead).status == 403);
    CHECK(post(c, "/api/v1/commands/nope/result", result("failed", "x", "nope"), kAgent1).status ==
          404);
    CHECK(post(c, route, "{", kAgent1).status == 400);
    CHECK(post(c, route, R"({"command_id":")" + id + R"("})", kAgent1).status == 400);
    CHECK(post(c, route, result("queued", "x", id), kAgent1).status == 400);
    CHECK(post(c, route, result("succeeded", "x", "other"), kAgent1).status == 400);

    auto r = post(c, route, result("succeeded", "acknowledged", id), kAgent1);
    REQUIRE(r.status == 200);
    auto cmd = r.json().at("command").as_object();
    CHECK(cmd.at("status").as_string() == "sent");  // the agent's word is not the verdict
    CHECK(cmd.at("agent_result").at("status").as_string() == "succeeded");

    // A later sample shows it asleep: verified when that batch is committed.
    ingest(c, "agent-1", kAgent1, {sample("m1", now_ms() + 1s, MinerState::sleeping, 25, "north")});
    CHECK(wait_for_status(c, id, "succeeded", 5s));
    cmd = get(c, "/api/v1/commands/" + id).json().at("command").as_object();
    CHECK(cmd.at("verified").as_bool());
    CHECK(cmd.contains("verified_at"));
    CHECK(std::string(cmd.at("message").as_string()).find("sleeping") != std::string::npos);
    r = post(c, route, result("succeeded", "again", id), kAgent1);
    CHECK(r.status == 409);

    // The samples may settle a command before its agent's report arrives: the report is still
    // recorded next to the verdict, and only a second one is refused.
    const auto early = create_one(c, "m1");
    REQUIRE(get(c, "/api/v1/agents/agent-1/commands?wait=0s", kAgent1).status == 200);
    ingest(c, "agent-1", kAgent1, {sample("m1", now_ms() + 2s, MinerState::sleeping, 25, "north")});
    REQUIRE(wait_for_status(c, early, "succeeded", 5s));
    const std::string early_route = "/api/v1/commands/" + early + "/result";
    r = post(c, early_route, result("succeeded", "acknowledged", early), kAgent1);
    REQUIRE(r.status == 200);
    cmd = r.json().at("command").as_object();
    CHECK(cmd.at("status").as_string() == "succeeded");
    CHECK(cmd.at("verified").as_bool());
    CHECK(cmd.at("agent_result").at("message").as_string() == "acknowledged");
    CHECK(post(c, early_route, result("succeeded", "again", early), kAgent1).status == 409);

    // An agent's refusal is final at once; admin may report too.
    const auto id2 = create_one(c, "m2", "reboot");
    r = post(
        c, "/api/v1/commands/" + id2 + "/result",
        R"({"command_id":")" + id2 +
            R"(","miner_id":"m2","status":"unsupported","message":"no reboot here","finished_at":")" +
            format_time(now_ms()) + R"("})",
        kAdmin);
    REQUIRE(r.status == 200);
    CHECK(status_of(c, id2) == "unsupported");
}

TEST_CASE(
    "deadlines: reported but not in effect -> failed; never fetched or no result -> timed_out") {
    Collector c;
    seed(c);
    // Short deadlines straight through the store (the API's minimum is 10 s).
    CommandRequest req;
    req.type = CommandType::sleep;
    req.deadline = 1500ms;
    req.selector.miners = {"m1", "m2", "m3"};
    const auto created = c.store().create_commands(req, now_ms());
    REQUIRE(created.size() == 3);
    std::string m1, m2, m3;
    for (const auto& rec : created) {
        (rec.command.miner_id == "m1"   ? m1
         : rec.command.miner_id == "m2" ? m2
                                        : m3) = rec.command.id;
    }
    REQUIRE(get(c, "/api/v1/agents/agent-1/commands?wait=0s", kAgent1)
                .json()
                .at("commands")
                .as_array()
                .size() == 2);
    REQUIRE(
        post(c, "/api/v1/commands/" + m1 + "/result",
             R"({"command_id":")" + m1 +
                 R"(","miner_id":"m1","status":"timed_out","message":"not seen","finished_at":")" +
                 format_time(now_ms()) + R"("})",
             kAgent1)
            .status == 200);
    ingest(c, "agent-1", kAgent1,
           {sample("m1", now_ms() + 200ms, MinerState::mining, 3250, "north")});

    CHECK(wait_for_status(c, m1, "failed", 5s));
    const auto failed = get(c, "/api/v1/commands/" + m1).json().at("command");
    const std::string message(failed.at("message").as_string());
    INFO(message);
    CHECK(message.find("state mining") != std::string::npos);
    CHECK(message.find("3250 W") != std::string::npos);
    CHECK(wait_for_status(c, m2, "timed_out", 5s));  // sent, no result
    CHECK(wait_for_status(c, m3, "timed_out", 5s));  // never fetched
    CHECK(
        std::string(get(c, "/api/v1/commands/" + m3).json().at("command").at("message").as_string())
            .find("fetched") != std::string::npos);
}
