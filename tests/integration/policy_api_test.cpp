// The power policy's routes (collector/api/policy.cpp) on an in-process collector with a real
// Store and a fake PolicyControl standing in for the control loop: status, decisions with their
// filters, overrides (validation naming the field, roles, saved in the store and handed to the
// loop, kept across a restart, removed), a miner's explanation, and the CLI that talks to them
// (`hashwatt policy explain`, `hashwatt policy override`). Loopback 127.47.0.1 only.
#include "agent/transport/transport.hpp"
#include "collector/control/decision_store.hpp"
#include "collector/control/override_store.hpp"
#include "collector/control/policy_control.hpp"
#include "common/time.hpp"
#include "tests/support/collector_harness.hpp"
#include "tests/support/process.hpp"

#include <algorithm>
#include <mutex>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kHost = "127.47.0.1";
const std::string kAdmin = "policy-admin-token";
const std::string kRead = "policy-read-token";
const std::string kAgent = "policy-agent-token";

// The loop as the API sees it, set by the test.
class FakeControl : public control::PolicyControl {
  public:
    control::ControlStatus status() const override {
        std::lock_guard l(m_);
        return status_;
    }
    std::vector<policies::Decision> last_decisions() const override {
        std::lock_guard l(m_);
        return decisions_;
    }
    void add_override(const policies::Override& o) override {
        std::lock_guard l(m_);
        std::erase_if(added_, [&](const auto& x) { return x.id == o.id; });
        added_.push_back(o);
    }
    bool remove_override(const std::string& id) override {
        std::lock_guard l(m_);
        return std::erase_if(added_, [&](const auto& x) { return x.id == id; }) > 0;
    }
    std::vector<policies::Override> overrides(TimePoint now) const override {
        std::lock_guard l(m_);
        std::vector<policies::Override> out;
        for (const auto* list : {&file_, &added_}) {
            for (const auto& o : *list) {
                if (o.end > now) out.push_back(o);
            }
        }
        return out;
    }

    void set_status(control::ControlStatus s) {
        std::lock_guard l(m_);
        status_ = std::move(s);
    }
    void set_decisions(std::vector<policies::Decision> d) {
        std::lock_guard l(m_);
        decisions_ = std::move(d);
    }
    void add_file_override(policies::Override o) {
        std::lock_guard l(m_);
        file_.push_back(std::move(o));
    }
    std::vector<policies::Override> added() const {
        std::lock_guard l(m_);
        return added_;
    }

  private:
    mutable std::mutex m_;
    control::ControlStatus status_;
    std::vector<policies::Decision> decisions_;
    std::vector<policies::Override> file_;
    std::vector<policies::Override> added_;
};

ApiOptions options(std::uint16_t port = 0) {
    ApiOptions o;
    o.address = kHost;
    o.port = port;
    o.tokens = {{kAdmin, Role::admin, ""}, {kRead, Role::read, ""}, {kAgent, Role::agent, "a1"}};
    return o;
}

struct Answer {
    unsigned status = 0;
    std::string body;
    json::value json() const { return json::parse(body); }
    std::string error() const { return std::string(json().at("error").as_string()); }
    std::string field() const { return std::string(json().at("path").as_string()); }
};

Answer call(std::uint16_t port, const std::string& method, const std::string& target,
            const std::string& token, const std::string& body = {}) {
    boost::asio::io_context io;
    agent::HttpRequestSpec spec;
    spec.method = method;
    spec.target = target;
    spec.body = body;
    agent::HttpAuth auth;
    auth.kind = agent::HttpAuth::Kind::bearer;
    auth.token = token;
    agent::TransportOptions opts;
    opts.connect_timeout = 5s;
    opts.reply_timeout = 10s;
    const std::string host = kHost;
    auto fut = boost::asio::co_spawn(
        io, agent::http_request(io.get_executor(), host, port, spec, auth, opts),
        boost::asio::use_future);
    io.run();
    const auto r = fut.get();
    REQUIRE_MESSAGE(!r.error, (r.error ? r.error->detail : ""));
    return {r.status, r.body};
}

control::DecisionRecord row(const std::string& miner, TimePoint at, const std::string& target,
                            control::DecisionOutcome outcome, const std::string& reason) {
    control::DecisionRecord d;
    d.at = at;
    d.miner_id = miner;
    d.site = "west";
    d.target = target;
    d.outcome = outcome;
    d.rule = outcome == control::DecisionOutcome::held ? "safety:min_off" : "break_even";
    d.reason = reason;
    d.price_per_mwh = 212;
    d.break_even_per_mwh = 71;
    return d;
}

std::string hhmm(TimePoint t) { return format_time(t).substr(11, 5); }

}  // namespace

TEST_CASE("policy routes without a loop: 503 for status and overrides, decisions still read") {
    test::InProcessCollector c({.api = options()});
    const auto p = c.port();
    auto a = call(p, "GET", "/api/v1/policy", kRead);
    CHECK(a.status == 503);
    CHECK(a.error().find("no power policy runs") != std::string::npos);
    CHECK(call(p, "GET", "/api/v1/policy/overrides", kRead).status == 503);
    CHECK(call(p, "POST", "/api/v1/policy/overrides", kAdmin,
               R"({"id":"x","target":"sleep","end":"2099-01-01T00:00:00Z"})")
              .status == 503);
    a = call(p, "GET", "/api/v1/decisions", kRead);
    REQUIRE(a.status == 200);
    CHECK(a.json().at("decisions").as_array().empty());
    // Roles: an agent token reads nothing here; no token at all is 401.
    CHECK(call(p, "GET", "/api/v1/decisions", kAgent).status == 403);
    CHECK(call(p, "GET", "/api/v1/decisions", "nope").status == 401);
    // Methods.
    CHECK(call(p, "POST", "/api/v1/policy", kAdmin).status == 405);
    CHECK(call(p, "PUT", "/api/v1/policy/overrides", kAdmin).status == 405);
    CHECK(call(p, "GET", "/api/v1/policy/overrides/x", kAdmin).status == 405);
    CHECK(call(p, "GET", "/api/v1/policy/nothing", kAdmin).status == 404);
}

TEST_CASE("GET /api/v1/policy: the loop's status") {
    test::InProcessCollector c({.api = options()});
    FakeControl fake;
    control::ControlStatus s;
    s.running = true;
    s.policy_file = "policy.toml";
    s.price_source = "ercot HB_WEST from prices.csv";
    s.dry_run = true;
    s.last_round = TimePoint{std::chrono::milliseconds(1'795'597'200'000)};
    s.last_price.price_per_mwh = 212.5;
    s.miners = 40;
    s.changes_last_round = 3;
    s.held_last_round = 1;
    s.last_error = "reload: policy.toml:3:1: unknown key";
    fake.set_status(s);
    c.server().set_policy_control(&fake);

    const auto a = call(c.port(), "GET", "/api/v1/policy", kRead);
    REQUIRE(a.status == 200);
    const auto j = a.json().as_object();
    CHECK(j.at("running").as_bool());
    CHECK(j.at("policy_file").as_string() == "policy.toml");
    CHECK(j.at("price_source").as_string() == "ercot HB_WEST from prices.csv");
    CHECK(j.at("dry_run").as_bool());
    CHECK_FALSE(j.at("kill_switch").as_bool());
    CHECK(j.at("last_round").as_string() == "2026-11-25T09:00:00.000Z");
    CHECK(j.at("price").at("price_per_mwh").to_number<double>() == 212.5);
    CHECK_FALSE(j.at("price").at("stale").as_bool());
    CHECK(j.at("miners").to_number<int>() == 40);
    CHECK(j.at("changes_last_round").to_number<int>() == 3);
    CHECK(j.at("held_last_round").to_number<int>() == 1);
    CHECK(j.at("last_error").as_string() == "reload: policy.toml:3:1: unknown key");

    fake.set_status({});  // before the first round: nulls, not absent keys
    const auto b = call(c.port(), "GET", "/api/v1/policy", kAdmin).json().as_object();
    CHECK(b.at("last_round").is_null());
    CHECK(b.at("price").at("price_per_mwh").is_null());
    CHECK(b.at("last_error").is_null());
    c.server().set_policy_control(nullptr);
}

TEST_CASE("GET /api/v1/decisions: newest first, filters, bad parameters named") {
    test::InProcessCollector c({.api = options()});
    const TimePoint t0 = now_ms() - 3h;
    auto m3 = row("m3", t0 + 2h, "full", control::DecisionOutcome::dry_run, "price 20.00 low");
    m3.site = "east";
    control::record_decisions(
        c.store(), {row("m1", t0, "sleep", control::DecisionOutcome::commanded, "price high"),
                    row("m2", t0 + 1h, "sleep", control::DecisionOutcome::held, "min off"), m3});
    const auto p = c.port();
    auto all = call(p, "GET", "/api/v1/decisions", kRead).json().at("decisions").as_array();
    REQUIRE(all.size() == 3);
    CHECK(all[0].at("miner").as_string() == "m3");
    CHECK(all[0].at("outcome").as_string() == "dry_run");
    CHECK(all[0].at("site").as_string() == "east");
    CHECK(all[2].at("miner").as_string() == "m1");
    CHECK(all[2].at("reason").as_string() == "price high");
    CHECK(all[2].at("price_per_mwh").to_number<double>() == 212);
    CHECK(all[2].at("at").as_string() == format_time(t0));

    const auto count = [&](const std::string& q) {
        const auto a = call(p, "GET", "/api/v1/decisions?" + q, kRead);
        REQUIRE(a.status == 200);
        return a.json().at("decisions").as_array().size();
    };
    CHECK(count("miner=m2") == 1);
    CHECK(count("site=west") == 2);
    CHECK(count("outcome=held") == 1);
    CHECK(count("from=" + format_time(t0 + 30min)) == 2);
    CHECK(count("to=" + format_time(t0 + 30min)) == 1);
    CHECK(count("limit=1") == 1);
    CHECK(count("miner=nobody") == 0);

    const auto bad = [&](const std::string& q, const std::string& field) {
        const auto a = call(p, "GET", "/api/v1/decisions?" + q, kRead);
        CHECK(a.status == 400);
        CHECK(a.field() == field);
        CHECK(a.error().starts_with(field + ": "));
    };
    bad("outcome=maybe", "outcome");
    bad("limit=0", "limit");
    bad("limit=1001", "limit");
    bad("from=yesterday", "from");
    bad("from=2026-11-25T10:00:00Z&to=2026-11-25T09:00:00Z", "to");
    bad("colour=red", "colour");
}

TEST_CASE("overrides: validated, saved and handed to the loop, listed, kept, removed") {
    test::TempDir dir;
    const std::string db = dir.path() + "/c.db";
    FakeControl fake;
    policies::Override file_ov;
    file_ov.id = "file-dr";
    file_ov.start = now_ms() - 1h;
    file_ov.end = now_ms() + 5h;
    fake.add_file_override(file_ov);
    const auto start = format_time(now_ms() + 1h);
    const auto end = format_time(now_ms() + 3h);
    std::uint16_t port = 0;
    {
        test::InProcessCollector c({.api = options(), .db_path = db});
        c.server().set_policy_control(&fake);
        port = c.port();
        const auto post = [&](const std::string& body, const std::string& token = kAdmin) {
            return call(port, "POST", "/api/v1/policy/overrides", token, body);
        };
        const auto bad = [&](const std::string& body, const std::string& field) {
            const auto a = post(body);
            CHECK_MESSAGE(a.status == 400, body);
            CHECK_MESSAGE(a.field() == field, a.body);
        };
        bad("not json", "body");
        bad("[1]", "body");
        bad(R"({"target":"sleep","end":")" + end + R"("})", "id");
        bad(R"({"id":"a/b","target":"sleep","end":")" + end + R"("})", "id");
        bad(R"({"id":"x","end":")" + end + R"("})", "target");
        bad(R"({"id":"x","target":"nap","end":")" + end + R"("})", "target");
        bad(R"({"id":"x","target":"sleep"})", "end");
        bad(R"({"id":"x","target":"sleep","end":"tomorrow"})", "end");
        bad(R"({"id":"x","target":"sleep","start":")" + end + R"(","end":")" + start + R"("})",
            "end");
        bad(R"({"id":"x","target":"sleep","start":"2020-01-01T00:00:00Z","end":"2020-01-01T01:00:00Z"})",
            "end");
        bad(R"({"id":"x","target":"sleep","end":")" + end + R"(","priority":"high"})", "priority");
        bad(R"({"id":"x","target":"sleep","end":")" + end + R"(","miners":["m1","m1"]})",
            "miners[1]");
        bad(R"({"id":"x","target":"sleep","end":")" + end + R"(","site":""})", "site");
        bad(R"({"id":"x","target":"sleep","end":")" + end + R"(","colour":"red"})", "colour");
        CHECK(fake.added().empty());
        CHECK(control::load_overrides(c.store(), now_ms()).empty());

        const std::string body =
            R"({"id":"dr-7","target":"reduced","start":")" + start + R"(","end":")" + end +
            R"(","priority":5,"site":"west","miners":["m1","m2"],"by":"grid-ops"})";
        CHECK(post(body, kRead).status == 403);
        const auto a = post(body);
        REQUIRE(a.status == 201);
        const auto o = a.json().at("override").as_object();
        CHECK(o.at("id").as_string() == "dr-7");
        CHECK(o.at("target").as_string() == "reduced");
        CHECK(o.at("start").as_string() == start);
        CHECK(o.at("end").as_string() == end);
        CHECK_FALSE(o.at("active").as_bool());
        CHECK(o.at("created_by").as_string() == "grid-ops");

        REQUIRE(fake.added().size() == 1);
        const auto added = fake.added()[0];  // a copy: added() returns by value
        CHECK(added.target == policies::PointKind::reduced);
        CHECK(added.priority == 5);
        CHECK(added.site == "west");
        CHECK(added.miners == std::vector<std::string>{"m1", "m2"});
        CHECK(format_time(added.start) == start);
        const auto saved = control::load_overrides(c.store(), now_ms());
        REQUIRE(saved.size() == 1);
        CHECK(saved[0].value.miners == added.miners);

        // start defaults to now.
        REQUIRE(post(R"({"id":"now","target":"sleep","end":")" + end + R"("})").status == 201);
        CHECK(fake.added().back().start <= now_ms());
        CHECK(call(port, "DELETE", "/api/v1/policy/overrides/now", kAdmin).status == 200);
    }
    // A restarted collector (same file, a fresh loop that knows only its file) still lists it.
    FakeControl fresh;
    fresh.add_file_override(file_ov);
    test::InProcessCollector c({.api = options(), .db_path = db});
    c.server().set_policy_control(&fresh);
    const auto p = c.port();
    auto list = call(p, "GET", "/api/v1/policy/overrides", kRead).json().at("overrides").as_array();
    REQUIRE(list.size() == 2);
    CHECK(list[0].at("id").as_string() == "file-dr");  // by start
    CHECK(list[0].at("source").as_string() == "policy");
    CHECK(list[0].at("active").as_bool());
    CHECK(list[1].at("id").as_string() == "dr-7");
    CHECK(list[1].at("source").as_string() == "api");
    CHECK(list[1].at("miners").as_array().size() == 2);

    CHECK(call(p, "DELETE", "/api/v1/policy/overrides/dr-7", kRead).status == 403);
    auto d = call(p, "DELETE", "/api/v1/policy/overrides/dr-7", kAdmin);
    CHECK(d.status == 200);
    CHECK(d.json().at("deleted").as_string() == "dr-7");
    CHECK(control::load_overrides(c.store(), now_ms()).empty());
    d = call(p, "DELETE", "/api/v1/policy/overrides/dr-7", kAdmin);
    CHECK(d.status == 404);
    CHECK(d.error() == "unknown override \"dr-7\"");
    d = call(p, "DELETE", "/api/v1/policy/overrides/file-dr", kAdmin);
    CHECK(d.status == 409);
    CHECK(d.error().find("policy file") != std::string::npos);
    c.server().set_policy_control(nullptr);
}

TEST_CASE("GET /api/v1/miners/{id}/explanation: the target, since when, and why") {
    test::InProcessCollector c({.api = options()});
    const TimePoint now = now_ms();
    const TimePoint slept = now - 50min;
    control::record_decisions(
        c.store(),
        {row("m1", now - 3h, "full", control::DecisionOutcome::commanded, "price 30.00 low"),
         row("m1", slept - 10min, "sleep", control::DecisionOutcome::commanded, "price high"),
         row("m1", slept, "sleep", control::DecisionOutcome::commanded, "price higher"),
         row("m1", now - 20min, "full", control::DecisionOutcome::held, "min off 30m")});
    const auto p = c.port();

    // Without a loop: the rows alone.
    auto a = call(p, "GET", "/api/v1/miners/m1/explanation", kRead);
    REQUIRE(a.status == 200);
    auto j = a.json().as_object();
    CHECK(j.at("target").as_string() == "sleep");
    CHECK(j.at("since").as_string() == format_time(slept - 10min));
    CHECK(j.at("decision").at("outcome").as_string() == "held");  // the newest row
    CHECK(j.at("text").as_string() ==
          "sleeping since " + hhmm(slept - 10min) + " UTC because price higher (rule break_even)");

    // With the loop: its last decision says why now.
    FakeControl fake;
    policies::Decision d;
    d.miner_id = "m1";
    d.target = policies::PointKind::sleep;
    d.rule = "break_even";
    d.reason = "price 212.00 > break-even 71.00 + 2%";
    d.price_per_mwh = 212;
    d.break_even_per_mwh = 71;
    fake.set_decisions({d});
    c.server().set_policy_control(&fake);
    j = call(p, "GET", "/api/v1/miners/m1/explanation", kRead).json().as_object();
    CHECK(j.at("text").as_string() ==
          "sleeping since " + hhmm(slept - 10min) +
              " UTC because price 212.00 > break-even 71.00 + 2% (rule break_even)");
    CHECK(j.at("price_per_mwh").to_number<double>() == 212);

    d.held = true;
    d.rule = "safety:min_off";
    d.reason = "wants full; min off 30m";
    fake.set_decisions({d});
    j = call(p, "GET", "/api/v1/miners/m1/explanation", kRead).json().as_object();
    CHECK(j.at("held").as_bool());
    CHECK(j.at("text").as_string().find("a change is held back: wants full; min off 30m (rule "
                                        "safety:min_off)") != std::string::npos);

    a = call(p, "GET", "/api/v1/miners/ghost/explanation", kRead);
    CHECK(a.status == 404);
    CHECK(a.error() == "unknown miner \"ghost\"");
    CHECK(call(p, "GET", "/api/v1/miners/m1/explanation", kAgent).status == 403);
    c.server().set_policy_control(nullptr);
}

// The CLI (the real binary) against the same in-process collector.
namespace {

test::RunResult hashwatt_cli(std::vector<std::string> args) {
    args.insert(args.begin(), HASHWATT_BINARY);
    return test::run(args, 30s);
}

}  // namespace

TEST_CASE("hashwatt policy explain and override add|list|remove against a collector") {
    test::TempDir dir;
    const auto admin = dir.write("admin.token", kAdmin + "\n", 0600);
    const auto read = dir.write("read.token", kRead, 0600);
    test::InProcessCollector c({.api = options()});
    FakeControl fake;
    c.server().set_policy_control(&fake);
    const std::string url = "http://" + kHost + ":" + std::to_string(c.port());
    const TimePoint slept = now_ms() - 30min;
    control::record_decisions(c.store(),
                              {row("m1", slept, "sleep", control::DecisionOutcome::commanded,
                                   "price 212.00 > break-even 71.00 + 2%")});

    auto r = hashwatt_cli({"policy", "explain", "m1", "--collector", url, "--token-file", read});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "m1: sleeping since " + hhmm(slept) +
                       " UTC because price 212.00 > break-even 71.00 + 2% (rule break_even)\n");
    r = hashwatt_cli(
        {"policy", "explain", "m1", "--collector", url, "--token-file", read, "--json"});
    CHECK(r.exit_code == 0);
    CHECK(json::parse(r.out).at("target").as_string() == "sleep");

    // Refusals and failures: 1 with the collector's reason; usage: 2.
    r = hashwatt_cli({"policy", "explain", "ghost", "--collector", url, "--token-file", read});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("404: unknown miner \"ghost\"") != std::string::npos);
    r = hashwatt_cli({"policy", "explain", "m1", "--collector", url});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("401") != std::string::npos);
    {
        // A port nothing listens on: bind one, then close it.
        boost::asio::io_context io;
        boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address(kHost), 0});
        const auto closed = a.local_endpoint().port();
        a.close();
        r = hashwatt_cli({"policy", "explain", "m1", "--collector",
                          "http://" + kHost + ":" + std::to_string(closed)});
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("cannot reach the collector") != std::string::npos);
    }
    CHECK(hashwatt_cli({"policy", "explain"}).exit_code == 2);
    r = hashwatt_cli({"policy", "explain", "m1", "--collector", "ftp://x"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("only http") != std::string::npos);
    r = hashwatt_cli({"policy", "explain", "m1", "--token-file", dir.path() + "/none"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("cannot be read") != std::string::npos);
    // A token file others may read is refused like the configs' secret files, with the fix.
    const auto loose = dir.write("loose.token", kRead, 0644);
    r = hashwatt_cli({"policy", "explain", "m1", "--collector", url, "--token-file", loose});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("chmod 600") != std::string::npos);
    CHECK(r.err.find(kRead) == std::string::npos);

    // override add, list, remove.
    r = hashwatt_cli({"policy", "override", "add", "dr-9", "--target", "sleep", "--for", "2h",
                      "--site", "west", "--miner", "m1", "--collector", url, "--token-file",
                      admin});
    CHECK(r.exit_code == 0);
    CHECK(r.out.starts_with("added: dr-9\tsleep\t"));
    REQUIRE(fake.added().size() == 1);
    CHECK(fake.added()[0].site == "west");
    CHECK(fake.added()[0].end - fake.added()[0].start == 2h);
    r = hashwatt_cli({"policy", "override", "add", "dr-10", "--target", "sleep", "--for", "1h",
                      "--collector", url, "--token-file", read});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("403") != std::string::npos);
    r = hashwatt_cli({"policy", "override", "add", "dr-10", "--target", "nap", "--for", "1h",
                      "--collector", url, "--token-file", admin});
    CHECK(r.exit_code == 2);
    r = hashwatt_cli({"policy", "override", "add", "dr-10", "--target", "sleep", "--collector", url,
                      "--token-file", admin});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--end TIME or --for DURATION") != std::string::npos);
    r = hashwatt_cli({"policy", "override", "add", "bad/id", "--target", "sleep", "--for", "1h",
                      "--collector", url, "--token-file", admin});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("id: only letters") != std::string::npos);

    r = hashwatt_cli({"policy", "override", "list", "--collector", url, "--token-file", read});
    CHECK(r.exit_code == 0);
    CHECK(r.out.starts_with("dr-9\tsleep\t"));
    CHECK(r.out.find("site west, 1 miner(s)\tapi\tactive\n") != std::string::npos);

    r = hashwatt_cli(
        {"policy", "override", "remove", "dr-9", "--collector", url, "--token-file", admin});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "removed: dr-9\n");
    CHECK(fake.added().empty());
    r = hashwatt_cli(
        {"policy", "override", "remove", "dr-9", "--collector", url, "--token-file", admin});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("404: unknown override \"dr-9\"") != std::string::npos);
    r = hashwatt_cli({"policy", "override", "list", "--collector", url, "--token-file", read});
    CHECK(r.out == "no overrides\n");
    c.server().set_policy_control(nullptr);
}
