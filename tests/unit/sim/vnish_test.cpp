// Tests for the Vnish front-end: /api/v1 replies shaped like tests/fixtures/vnish/, the bearer
// token, control through the API, the bundled cgminer's RPC, and robustness.
#include "sim/fleet.hpp"
#include "sim/frontend.hpp"
#include "tests/support/json_shape.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string read_fixture(std::string_view relative) {
    const std::string path =
        std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/" + std::string(relative);
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

void check_shape(const json::value& reference, const std::string& reply, bool strict = true) {
    boost::system::error_code ec;
    const json::value candidate = json::parse(reply, ec);
    INFO("reply: " << reply);
    REQUIRE_FALSE(ec);
    test::ShapeOptions options;
    options.number_kinds_strict = strict;
    const auto diffs = test::shape_differences(reference, candidate, options);
    INFO("differences:\n" << joined(diffs));
    CHECK(diffs.empty());
}

json::value parse(const std::string& text) { return json::parse(text); }

std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : ""; }

double number(const json::value& v) {
    if (v.is_double()) return v.get_double();
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    FAIL("not a number");
    return 0;
}

struct VnishRig {
    FleetConfig cfg;
    TimePoint now;
    std::unique_ptr<SimMiner> m;

    explicit VnishRig(std::string_view model = "s19jpro") {
        cfg.physics.wake_ramp = 2s;
        cfg.physics.sleep_ramp = 1s;
        cfg.physics.boot_time = 5s;
        const TimePoint boot{std::chrono::milliseconds(1'755'600'000'000)};
        now = boot + 1h;
        const ModelSpec* spec = find_model(model);
        REQUIRE(spec != nullptr);
        m = make_miner(*spec, Family::vnish, 0, *parse_ipv4("127.1.0.1"), cfg, boot);
    }
    VnishRig(const VnishRig&) = delete;
    VnishRig& operator=(const VnishRig&) = delete;

    const Frontend& fe() const { return frontend_for(Family::vnish); }

    HttpResponse http(std::string method, std::string path, std::string body = {},
                      std::string authorization = {}) {
        HttpRequest req;
        req.method = method;
        req.path = path;
        req.body = body;
        req.authorization = authorization;
        req.content_type = "application/json";
        return fe().http(*m, req, now);
    }
    json::value get(std::string path) {
        const auto r = http("GET", "/api/v1/" + path);
        REQUIRE(r.status == 200);
        return parse(r.body);
    }
    std::string unlock() {
        const auto r = http("POST", "/api/v1/unlock", R"({"pw":"admin"})");
        REQUIRE(r.status == 200);
        return str(parse(r.body).at("token"));
    }
    HttpResponse post(std::string path, std::string body, const std::string& token) {
        return http("POST", "/api/v1/" + path, std::move(body), "Bearer " + token);
    }
    std::string rpc(std::string_view raw) {
        const std::string copy(raw);
        RpcRequest req;
        parse_rpc_request(copy, req);
        return fe().rpc(*m, req, now).body;
    }
    Snapshot snap() const { return m->physics.snapshot(now, m->faults); }
};

TEST_CASE("vnish: GET /api/v1/summary matches the 1.2.0-rc3 capture") {
    VnishRig r;
    const auto reply = r.http("GET", "/api/v1/summary");
    REQUIRE(reply.status == 200);
    CHECK(reply.content_type == "application/json");
    check_shape(parse(read_fixture("vnish/s19jpro_vnish120rc3_api_v1_summary.json")), reply.body);

    const auto summary = parse(reply.body);
    const auto& miner = summary.at("miner");
    CHECK(str(miner.at("miner_type")) == "Antminer S19j Pro (Vnish 1.2.0-rc3)");
    CHECK(str(miner.at("miner_status").at("miner_state")) == "mining");
    const Snapshot s = r.snap();
    CHECK(number(miner.at("power_consumption")) == doctest::Approx(s.power_w).epsilon(0.001));
    CHECK(str(summary.at("system").at("uptime")) == " 1:00");
    const auto& pools = miner.at("pools").as_array();
    REQUIRE(pools.size() == r.m->pools.size() + 1);
    CHECK(str(pools.back().at("pool_type")) == "DevFee");
}

TEST_CASE("vnish: the top-level hash rate is 0.7 x the chains, as on the real firmware") {
    VnishRig r;
    const Snapshot s = r.snap();
    const auto miner = r.get("summary").at("miner");
    double chains = 0;
    for (const auto& c : miner.at("chains").as_array()) chains += number(c.at("hashrate_rt"));
    // The chains carry the true rate ...
    CHECK(chains == doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
    // ... and the headline figures are 0.7 of it, in GH/s and in TH/s.
    CHECK(number(miner.at("hr_realtime")) == doctest::Approx(0.7 * chains).epsilon(0.0001));
    CHECK(number(miner.at("instant_hashrate")) ==
          doctest::Approx(0.7 * chains / 1000).epsilon(0.0001));
    CHECK(number(miner.at("hr_average")) ==
          doctest::Approx(0.7 * s.hashrate_avg_ths * 1000).epsilon(0.0001));
    // power_efficiency is W per reported GH/s, as 1.2.0-rc3 computes it.
    CHECK(number(miner.at("power_efficiency")) ==
          doctest::Approx(s.power_w / number(miner.at("hr_realtime"))).epsilon(0.001));
}

TEST_CASE("vnish: settings and autotune presets match the captures") {
    VnishRig r;
    const auto settings = r.http("GET", "/api/v1/settings");
    REQUIRE(settings.status == 200);
    check_shape(parse(read_fixture("vnish/api_v1_settings.json")), settings.body);
    const auto presets = r.http("GET", "/api/v1/autotune/presets");
    REQUIRE(presets.status == 200);
    check_shape(parse(read_fixture("vnish/api_v1_autotune_presets.json")), presets.body);

    // The default preset is the nominal power, and the list spans the model's range.
    const ModelSpec& model = *r.m->model;
    CHECK(str(parse(settings.body).at("miner").at("overclock").at("preset")) == "3068");
    const auto list = parse(presets.body).as_array();
    CHECK(str(list.front().at("name")) == "disabled");
    CHECK(std::stod(str(list[1].at("name"))) == doctest::Approx(model.min_power_w));
    CHECK(std::stod(str(list.back().at("name"))) == doctest::Approx(model.max_power_w));
    int tuned = 0;
    for (const auto& p : list) tuned += str(p.at("status")) == "tuned" ? 1 : 0;
    CHECK(tuned == 1);
}

TEST_CASE("vnish: GET /api/v1/info and /status") {
    VnishRig r;
    const auto info = r.get("info");
    CHECK(str(info.at("fw_version")) == "1.2.0-rc3");
    CHECK(str(info.at("hr_measure")) == "GH/s");
    CHECK(str(info.at("serial")) == r.m->serial);
    CHECK(str(info.at("system").at("network_status").at("mac")).size() == 17);
    const auto status = r.get("status");
    CHECK(str(status.at("miner_state")) == "mining");
    CHECK(status.at("unlocked") == false);
    const std::string token = r.unlock();
    const auto unlocked = r.http("GET", "/api/v1/status", {}, "Bearer " + token);
    CHECK(parse(unlocked.body).at("unlocked") == true);
}

TEST_CASE("vnish: unlock and the bearer token") {
    VnishRig r;
    SUBCASE("wrong password is 403") {
        const auto reply = r.http("POST", "/api/v1/unlock", R"({"pw":"nope"})");
        CHECK(reply.status == 403);
        CHECK(parse(reply.body).as_object().contains("err"));
        CHECK(r.m->control.api_token.empty());
    }
    SUBCASE("malformed unlock bodies are 400") {
        CHECK(r.http("POST", "/api/v1/unlock", "pw=admin").status == 400);
        CHECK(r.http("POST", "/api/v1/unlock", R"({"pw":1})").status == 400);
    }
    SUBCASE("password_changed makes the known password fail") {
        r.m->faults.set(FaultKind::password_changed, {}, r.now);
        CHECK(r.http("POST", "/api/v1/unlock", R"({"pw":"admin"})").status == 403);
    }
    SUBCASE("password_changed revokes a token issued before it") {
        const std::string token = r.unlock();
        r.m->faults.set(FaultKind::password_changed, {}, r.now);
        CHECK(r.post("mining/stop", {}, token).status == 401);
        CHECK(r.snap().hashing);
    }
    SUBCASE("writes need the token") {
        CHECK(r.http("POST", "/api/v1/mining/stop").status == 401);
        CHECK(r.http("POST", "/api/v1/mining/stop", {}, "Bearer wrong").status == 401);
        r.now += 5s;
        CHECK(r.snap().hashing);
        const std::string token = r.unlock();
        CHECK(token.size() == 32);
        CHECK(r.post("mining/stop", {}, token).status == 200);
        // pyasic sends the bare token without "Bearer ": accepted too.
        CHECK(r.http("POST", "/api/v1/mining/start", {}, token).status == 200);
    }
}

TEST_CASE("vnish: mining stop/start/pause/resume change the true state") {
    VnishRig r;
    const std::string token = r.unlock();
    const auto stop = r.post("mining/stop", {}, token);
    CHECK(stop.status == 200);
    CHECK(stop.body.empty());
    r.now += 5s;
    CHECK_FALSE(r.snap().hashing);
    CHECK(r.snap().power_w < 100);
    CHECK(str(r.get("status").at("miner_state")) == "stopped");
    CHECK(str(r.get("summary").at("miner").at("miner_status").at("miner_state")) == "stopped");
    CHECK(number(r.get("summary").at("miner").at("hr_realtime")) == 0.0);

    CHECK(r.post("mining/start", {}, token).status == 200);
    r.now += 5s;
    CHECK(r.snap().hashing);
    CHECK(str(r.get("status").at("miner_state")) == "mining");

    CHECK(r.post("mining/pause", {}, token).status == 200);
    r.now += 5s;
    CHECK_FALSE(r.snap().hashing);
    CHECK(r.post("mining/resume", {}, token).status == 200);
    r.now += 5s;
    CHECK(r.snap().hashing);

    CHECK(r.post("mining/stop", {}, token).status == 200);
    r.now += 5s;
    CHECK(r.post("mining/restart", {}, token).status == 200);
    r.now += 5s;
    CHECK(r.snap().hashing);
}

TEST_CASE("vnish: sleep_ignored acknowledges the stop but keeps hashing") {
    VnishRig r;
    r.m->faults.set(FaultKind::sleep_ignored, {}, r.now);
    const std::string token = r.unlock();
    CHECK(r.post("mining/stop", {}, token).status == 200);
    r.now += 5s;
    CHECK(r.snap().hashing);
    CHECK(str(r.get("status").at("miner_state")) == "mining");
}

TEST_CASE("vnish: POST settings with a preset sets the power target") {
    VnishRig r;
    const std::string token = r.unlock();
    const auto reply = r.post("settings", R"({"miner":{"overclock":{"preset":"2400"}}})", token);
    CHECK(reply.status == 200);
    r.now += 5s;
    CHECK(r.snap().power_target_w == doctest::Approx(2400));
    CHECK(r.snap().power_w == doctest::Approx(2400).epsilon(0.02));
    CHECK(str(r.get("settings").at("miner").at("overclock").at("preset")) == "2400");
    bool tuned_2400 = false;
    const auto presets = r.get("autotune/presets");
    for (const auto& p : presets.as_array()) {
        if (str(p.at("name")) == "2400") tuned_2400 = str(p.at("status")) == "tuned";
    }
    CHECK(tuned_2400);

    SUBCASE("the whole overclock object, as asic-rs re-sends it, with a number") {
        auto settings = r.get("settings");
        auto overclock = settings.at("miner").at("overclock");
        overclock.as_object()["preset"] = 3200;
        json::object miner;
        miner["overclock"] = overclock;
        json::object body;
        body["miner"] = miner;
        CHECK(r.post("settings", json::serialize(body), token).status == 200);
        CHECK(r.snap().power_target_w == doctest::Approx(3200));
    }
    SUBCASE("disabled is stock: nominal power") {
        CHECK(
            r.post("settings", R"({"miner":{"overclock":{"preset":"disabled"}}})", token).status ==
            200);
        CHECK(r.snap().power_target_w == doctest::Approx(r.m->model->nominal_w));
    }
    SUBCASE("unknown presets and bad bodies are refused") {
        CHECK(r.post("settings", R"({"miner":{"overclock":{"preset":"2401"}}})", token).status ==
              400);
        CHECK(r.post("settings", R"({"miner":{"overclock":{"preset":true}}})", token).status ==
              400);
        CHECK(r.post("settings", "{", token).status == 400);
        CHECK(r.post("settings", R"({"miner":[]})", token).status == 400);
        CHECK(r.snap().power_target_w == doctest::Approx(2400));
    }
    SUBCASE("without a token") {
        CHECK(r.http("POST", "/api/v1/settings", R"({"miner":{"overclock":{"preset":"2000"}}})")
                  .status == 401);
        CHECK(r.snap().power_target_w == doctest::Approx(2400));
    }
}

TEST_CASE("vnish: system/reboot reboots and forgets the token") {
    VnishRig r;
    const std::string token = r.unlock();
    CHECK(r.post("system/reboot", {}, token).status == 200);
    r.now += 1s;
    CHECK(r.snap().state == SimState::booting);
    CHECK(r.snap().uptime_s <= 1);
    CHECK(str(r.get("status").at("miner_state")) == "initializing");
    CHECK(r.post("mining/stop", {}, token).status == 401);
    r.now += 20s;
    CHECK(r.snap().hashing);
}

TEST_CASE("vnish: the bundled cgminer answers like stock bmminer") {
    VnishRig r;
    const auto version = parse(r.rpc(R"({"command":"version"})"));
    CHECK(str(version.at("VERSION").at(0).at("Type")) == "Antminer S19j Pro (Vnish 1.2.0-rc3)");
    CHECK(str(version.at("VERSION").at(0).at("CompileTime")) == "Sat Jul 22 16:41:12 UTC 2023");
    check_shape(parse(read_fixture("antminer/s19pro_bmminer_version.json")),
                r.rpc(R"({"command":"version"})"));
    check_shape(parse(read_fixture("antminer/s19pro_bmminer_stats.json")),
                r.rpc(R"({"command":"stats"})"));
    check_shape(parse(read_fixture("antminer/s19pro_bmminer_summary.json")),
                r.rpc(R"({"command":"summary"})"));
    const auto stats = parse(r.rpc(R"({"command":"stats"})"));
    CHECK(str(stats.at("STATS").at(0).at("Type")).ends_with("(Vnish 1.2.0-rc3)"));
    CHECK(parse(r.rpc(R"({"command":"bogus"})")).at("STATUS").at(0).at("Code") == 14);
}

TEST_CASE("vnish: GET / is the AnthillOS web UI") {
    VnishRig r;
    CHECK(r.fe().has_http());
    const auto reply = r.http("GET", "/");
    CHECK(reply.status == 200);
    CHECK(reply.body.find("AnthillOS") != std::string::npos);
    CHECK(r.http("GET", "/api/v1/nothing").status == 404);
    CHECK(r.http("DELETE", "/api/v1/mining/stop").status == 405);
}

TEST_CASE("vnish: garbage never throws") {
    VnishRig r;
    const std::string token = r.unlock();
    const std::vector<std::string> bodies = {"",
                                             "{",
                                             "null",
                                             "[]",
                                             std::string(4000, '{'),
                                             R"({"miner":{"pools":[1,2]}})",
                                             R"({"miner":{"overclock":[]}})",
                                             "\xff\xfe"};
    for (const auto& b : bodies) {
        CAPTURE(b);
        CHECK_NOTHROW(r.http("POST", "/api/v1/unlock", b));
        CHECK_NOTHROW(r.post("settings", b, token));
    }
    for (const std::string path : {"", "/api", "/api/v1/", "/api/v1//summary", "/../../etc"}) {
        CHECK_NOTHROW(r.http("GET", path));
    }
    const std::vector<std::string> auths = {"Bearer", "Bearer ", std::string(5000, 'B'), "\x01"};
    for (const auto& auth : auths) {
        CHECK(r.http("POST", "/api/v1/mining/stop", {}, auth).status == 401);
    }
    CHECK_NOTHROW(r.rpc("{\"command\":\"stats+summary+version\"}"));
    CHECK_NOTHROW(r.rpc(std::string(3000, '{')));
}

}  // namespace
}  // namespace hashwatt::sim
