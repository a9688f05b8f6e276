// Tests for the Braiins OS front-end: the shapes of the BOSminer RPC captures (S9) and of the
// 25.07 REST captures (S19 XP), REST login, pause/resume and the power target.
#include "sim/fleet.hpp"
#include "sim/frontend.hpp"
#include "tests/support/json_shape.hpp"

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::sim;
namespace json = boost::json;

namespace {

const TimePoint kBoot{std::chrono::seconds(1776376799)};
const TimePoint kNow = kBoot + std::chrono::seconds(69725);  // the REST capture's uptime

std::string read_fixture(std::string_view name) {
    const std::string path =
        std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/braiins/" + std::string(name);
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json::value parse_body(std::string_view body) {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    REQUIRE_MESSAGE(!ec, "not JSON: " << body);
    return v;
}

// One simulated Braiins OS miner; the config outlives it because the physics keeps a reference.
struct Rig {
    FleetConfig cfg;
    std::unique_ptr<SimMiner> m;
    std::string token;

    explicit Rig(std::string_view model) {
        cfg.physics.wake_ramp = std::chrono::seconds(2);
        cfg.physics.sleep_ramp = std::chrono::seconds(1);
        cfg.physics.boot_time = std::chrono::seconds(3);
        cfg.physics.hashrate_noise = 0;
        cfg.braiins_password = "s3cret";
        const ModelSpec* spec = find_model(model);
        REQUIRE(spec != nullptr);
        m = make_miner(*spec, Family::braiins, 0, *parse_ipv4("127.1.0.9"), cfg, kBoot);
    }

    const Frontend& fe() const { return frontend_for(Family::braiins); }

    std::string raw(std::string_view request, TimePoint now = kNow) {
        RpcRequest req;
        parse_rpc_request(request, req);
        return fe().rpc(*m, req, now).body;
    }

    json::value cmd(std::string_view command, TimePoint now = kNow) {
        return parse_body(raw(std::string(R"({"command":")") + std::string(command) + "\"}", now));
    }

    HttpResponse http(std::string_view method, std::string_view path, std::string_view body = {},
                      std::string_view auth = {}, TimePoint now = kNow) {
        HttpRequest req;
        req.method = method;
        req.path = path;
        req.body = body;
        req.authorization = auth;
        req.content_type = "application/json";
        return fe().http(*m, req, now);
    }

    // An authenticated request with the token of the last login().
    HttpResponse api(std::string_view method, std::string_view path, std::string_view body = {},
                     TimePoint now = kNow) {
        return http(method, path, body, token, now);
    }

    void login(TimePoint now = kNow) {
        const auto r = http("POST", "/api/v1/auth/login",
                            R"({"username":"root","password":"s3cret"})", {}, now);
        REQUIRE(r.status == 200);
        const auto v = parse_body(r.body);
        token = std::string(v.at("token").as_string());
        CHECK(v.at("timeout_s").as_int64() == 3600);
    }

    Snapshot truth(TimePoint now) const { return m->physics.snapshot(now, m->faults); }
};

void check_shape(std::string_view fixture, const json::value& reply) {
    const auto reference = json::parse(read_fixture(fixture));
    // Strict: a float in the capture must be a float in the reply, an integer an integer.
    const auto diffs = test::shape_differences(reference, reply, {.number_kinds_strict = true});
    INFO("fixture: " << fixture);
    INFO("reply: " << json::serialize(reply));
    for (const auto& d : diffs) INFO(d);
    CHECK_MESSAGE(diffs.empty(), diffs.size() << " difference(s), first: "
                                              << (diffs.empty() ? "" : diffs.front()));
}

const json::object& status_of(const json::value& v) {
    return v.at("STATUS").as_array().at(0).as_object();
}

}  // namespace

TEST_CASE("braiins: BOSminer RPC replies have the shape of the S9 captures") {
    Rig rig("s9");
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"s9_bosplus_bosminer_version.json", "version"},
        {"s9_bosplus_bosminer_summary.json", "summary"},
        {"s9_bosplus_bosminer_devs.json", "devs"},
        {"s9_bosplus_bosminer_temps.json", "temps"},
        {"s9_bosplus_bosminer_fans.json", "fans"},
        {"s9_bosplus_bosminer_pools.json", "pools"},
    };
    for (const auto& [fixture, command] : cases) {
        SUBCASE(std::string(command).c_str()) { check_shape(fixture, rig.cmd(command)); }
    }
}

TEST_CASE("braiins: BOSminer RPC figures come from the physics and the model") {
    Rig rig("s9");
    const auto truth = rig.truth(kNow);
    const auto version = rig.cmd("version");
    CHECK(version.at("VERSION").at(0).at("BOSminer+").as_string() == "0.2.0-36c56a9363");
    CHECK(std::string(status_of(version).at("Description").as_string()).find("BOSminer") == 0);

    const auto summary = rig.cmd("summary").at("SUMMARY").at(0);
    CHECK(summary.at("MHS 5s").as_double() == doctest::Approx(truth.hashrate_ths * 1e6));
    CHECK(summary.at("MHS 1m").as_double() == doctest::Approx(truth.hashrate_1m_ths * 1e6));

    // S9 chains are 6..8 on BOSminer, in devs and temps alike.
    const auto devs = rig.cmd("devs").at("DEVS").as_array();
    REQUIRE(devs.size() == 3);
    CHECK(devs[0].at("ID").as_int64() == 6);
    CHECK(devs[2].at("ID").as_int64() == 8);
    const auto temps = rig.cmd("temps").at("TEMPS").as_array();
    CHECK(temps[1].at("ID").as_int64() == 7);
    CHECK(temps[1].at("Board").as_double() == truth.boards[1].board_temp_max_c);

    // Four fan headers, the S9's two fans populated.
    const auto fans = rig.cmd("fans").at("FANS").as_array();
    REQUIRE(fans.size() == 4);
    CHECK(fans[0].at("RPM").as_int64() == truth.fans_rpm[0]);
    CHECK(fans[3].at("RPM").as_int64() == 0);

    const auto details = rig.cmd("devdetails");
    CHECK(status_of(details).at("Code").as_int64() == 69);
    CHECK(details.at("DEVDETAILS").at(0).at("Model").as_string() == "Bitmain Antminer S9");
    CHECK(details.at("DEVDETAILS").at(0).at("Chips").as_int64() == 63);

    const auto tuner = rig.cmd("tunerstatus");
    CHECK(status_of(tuner).at("Code").as_int64() == 203);
    const auto t0 = tuner.at("TUNERSTATUS").at(0);
    CHECK(t0.at("PowerLimit").as_int64() == std::llround(truth.power_target_w));
    CHECK(t0.at("ApproximateMinerPowerConsumption").as_int64() == std::llround(truth.power_w));
    CHECK(t0.at("TunerChainStatus").as_array().size() == 3);
    CHECK(t0.at("TunerChainStatus").at(0).at("Status").as_string() == "Stable");
    CHECK(t0.at("TunerChainStatus").at(0).at("HashchainIndex").as_int64() == 6);

    Rig xp("s19xp");
    CHECK(xp.cmd("devdetails").at("DEVDETAILS").at(0).at("Model").as_string() ==
          "Bitmain Antminer S19XP");
    CHECK(xp.cmd("devs").at("DEVS").at(0).at("ID").as_int64() == 1);
}

TEST_CASE("braiins: RPC pause and resume change the true state") {
    Rig rig("s9");
    const auto paused = rig.cmd("pause");
    CHECK(status_of(paused).at("STATUS").as_string() == "S");
    CHECK(paused.at("PAUSE").at(0).at("PAUSE").as_bool());
    const TimePoint later = kNow + std::chrono::seconds(5);
    CHECK(rig.truth(later).state == SimState::sleeping);
    CHECK(rig.truth(later).power_w < 100);
    CHECK(rig.cmd("tunerstatus", later)
              .at("TUNERSTATUS")
              .at(0)
              .at("TunerChainStatus")
              .at(0)
              .at("Status")
              .as_string()
              .find("paused") != json::string::npos);

    const auto resumed = rig.cmd("resume", later);
    CHECK(resumed.at("RESUME").at(0).at("RESUME").as_bool());
    CHECK(rig.truth(later + std::chrono::seconds(10)).state == SimState::mining);

    Rig stubborn("s9");
    stubborn.m->faults.set(FaultKind::sleep_ignored, {}, kBoot);
    CHECK(stubborn.cmd("pause").at("PAUSE").is_array());
    CHECK(stubborn.truth(later).state == SimState::mining);
}

TEST_CASE("braiins: REST replies have the shape of the 25.07 S19 XP captures") {
    Rig rig("s19xp");
    rig.login();
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"bos2507_s19xp_rest_miner_details.json", "/api/v1/miner/details"},
        {"bos2507_s19xp_rest_miner_stats.json", "/api/v1/miner/stats"},
        {"bos2507_s19xp_rest_miner_hw_hashboards.json", "/api/v1/miner/hw/hashboards"},
        {"bos2507_s19xp_rest_cooling_state.json", "/api/v1/cooling/state"},
        {"bos2507_s19xp_rest_configuration_miner.json", "/api/v1/configuration/miner"},
        {"bos2507_s19xp_rest_performance_tuner_state.json", "/api/v1/performance/tuner-state"},
        {"bos2507_s19xp_rest_pools.json", "/api/v1/pools/"},
        {"bos2507_s19xp_rest_network.json", "/api/v1/network/"},
        {"bos2507_s19xp_rest_version.json", "/api/v1/version/"},
    };
    for (const auto& [fixture, path] : cases) {
        SUBCASE(std::string(path).c_str()) {
            const auto r = rig.api("GET", path);
            REQUIRE(r.status == 200);
            CHECK(r.content_type == "application/json");
            check_shape(fixture, parse_body(r.body));
        }
    }
}

TEST_CASE("braiins: REST figures come from the physics and the miner") {
    Rig rig("s19xp");
    rig.login();
    const auto truth = rig.truth(kNow);
    const auto details = parse_body(rig.api("GET", "/api/v1/miner/details").body);
    CHECK(details.at("status").as_int64() == 2);
    CHECK(details.at("miner_identity").at("miner_model").as_string() == "Antminer S19 XP");
    CHECK(details.at("mac_address").as_string() == rig.m->mac);
    CHECK(details.at("bos_version").at("current").as_string() == rig.m->firmware_version);
    CHECK(details.at("system_uptime_s").as_int64() == truth.uptime_s);

    const auto stats = parse_body(rig.api("GET", "/api/v1/miner/stats").body);
    CHECK(stats.at("miner_stats")
              .at("real_hashrate")
              .at("last_5s")
              .at("gigahash_per_second")
              .as_double() == doctest::Approx(truth.hashrate_ths * 1e3));
    CHECK(stats.at("power_stats").at("approximated_consumption").at("watt").as_int64() ==
          std::llround(truth.power_w));

    const auto boards = parse_body(rig.api("GET", "/api/v1/miner/hw/hashboards").body);
    CHECK(boards.at("hashboards").at(0).at("id").as_string() == "1");
    CHECK(boards.at("hashboards").at(0).at("chip_type").as_string() == "BM1366");
    CHECK(boards.at("hashboards").at(0).at("chips_count").as_int64() == 110);

    const auto config = parse_body(rig.api("GET", "/api/v1/configuration/miner").body);
    CHECK(config.at("tuner").at("power_target").at("watt").as_int64() ==
          std::llround(truth.power_target_w));
}

TEST_CASE("braiins: REST login and the token") {
    Rig rig("s19xp");
    // Everything but login and the API version needs a token.
    CHECK(rig.http("GET", "/api/v1/version/").status == 200);
    CHECK(rig.http("GET", "/api/v1/miner/details").status == 401);
    CHECK(rig.http("PUT", "/api/v1/actions/pause").status == 401);
    CHECK(rig.truth(kNow + std::chrono::seconds(5)).state == SimState::mining);

    const auto bad =
        rig.http("POST", "/api/v1/auth/login", R"({"username":"root","password":"root"})");
    CHECK(bad.status == 401);
    parse_body(bad.body);
    CHECK(rig.http("POST", "/api/v1/auth/login", R"({"username":"admin","password":"s3cret"})")
              .status == 401);
    CHECK(rig.http("POST", "/api/v1/auth/login", "{not json").status == 400);
    CHECK(rig.http("POST", "/api/v1/auth/login", R"({"username":"root"})").status == 400);

    rig.login();
    CHECK(rig.token.size() == 16);
    CHECK(rig.api("GET", "/api/v1/miner/details").status == 200);
    CHECK(rig.http("GET", "/api/v1/miner/details", {}, "Bearer " + rig.token).status == 401);
    CHECK(rig.http("GET", "/api/v1/miner/details", {}, "not-the-token").status == 401);

    // The token lives an hour from its last use.
    const TimePoint t1 = kNow + std::chrono::minutes(50);
    CHECK(rig.api("GET", "/api/v1/cooling/state", {}, t1).status == 200);
    CHECK(rig.api("GET", "/api/v1/cooling/state", {}, t1 + std::chrono::minutes(59)).status == 200);
    CHECK(rig.api("GET", "/api/v1/cooling/state", {}, t1 + std::chrono::minutes(121)).status ==
          401);

    // After the password changed, neither the old token nor the old password work.
    Rig changed("s19xp");
    changed.login();
    changed.m->faults.set(FaultKind::password_changed, {}, kNow);
    CHECK(changed.api("GET", "/api/v1/miner/details").status == 401);
    CHECK(changed.http("POST", "/api/v1/auth/login", R"({"username":"root","password":"s3cret"})")
              .status == 401);
}

TEST_CASE("braiins: REST pause and resume change the true state") {
    Rig rig("s19xp");
    rig.login();
    const auto paused = rig.api("PUT", "/api/v1/actions/pause");
    CHECK(paused.status == 200);
    CHECK(paused.body == "false");  // was not paused before
    const TimePoint later = kNow + std::chrono::seconds(5);
    CHECK(rig.truth(later).state == SimState::sleeping);
    CHECK(rig.truth(later).power_w < 100);
    CHECK(parse_body(rig.api("GET", "/api/v1/miner/details", {}, later).body)
              .at("status")
              .as_int64() == 3);
    CHECK(rig.api("PUT", "/api/v1/actions/pause", {}, later).body == "true");

    const auto resumed = rig.api("PUT", "/api/v1/actions/resume", {}, later);
    CHECK(resumed.status == 200);
    CHECK(resumed.body == "false");  // was not mining before
    const TimePoint awake = later + std::chrono::seconds(10);
    CHECK(rig.truth(awake).state == SimState::mining);
    CHECK(rig.truth(awake).power_w > 2500);
    CHECK(parse_body(rig.api("GET", "/api/v1/miner/details", {}, awake).body)
              .at("status")
              .as_int64() == 2);

    Rig stubborn("s19xp");
    stubborn.m->faults.set(FaultKind::sleep_ignored, {}, kBoot);
    stubborn.login();
    CHECK(stubborn.api("PUT", "/api/v1/actions/pause").status == 200);
    CHECK(stubborn.truth(later).state == SimState::mining);

    const auto reboot = rig.api("PUT", "/api/v1/actions/reboot", {}, awake);
    CHECK(reboot.status == 204);
    CHECK(reboot.body.empty());
    CHECK(rig.truth(awake + std::chrono::seconds(1)).state == SimState::booting);
    const auto restart =
        rig.api("PUT", "/api/v1/actions/restart", {}, awake + std::chrono::seconds(30));
    CHECK(restart.status == 200);
    CHECK(restart.body == "true");
}

TEST_CASE("braiins: the power target must lie within the constraints") {
    Rig rig("s19xp");
    rig.login();
    const auto c = parse_body(rig.api("GET", "/api/v1/configuration/constraints").body);
    const auto& pt = c.at("tuner_constraints").at("power_target");
    const auto min_w = pt.at("min").at("watt").as_int64();
    const auto max_w = pt.at("max").at("watt").as_int64();
    CHECK(min_w == 1800);
    CHECK(max_w == 3500);
    CHECK(pt.at("default").at("watt").as_int64() == 3010);

    const auto ok = rig.api("PUT", "/api/v1/performance/power-target", R"({"watt":2500})");
    CHECK(ok.status == 200);
    CHECK(parse_body(ok.body).at("watt").as_int64() == 2500);
    CHECK(rig.truth(kNow).power_target_w == doctest::Approx(2500));
    CHECK(rig.truth(kNow + std::chrono::seconds(10)).power_w ==
          doctest::Approx(2500).epsilon(0.02));
    CHECK(parse_body(rig.api("GET", "/api/v1/configuration/miner").body)
              .at("tuner")
              .at("power_target")
              .at("watt")
              .as_int64() == 2500);
    CHECK(rig.cmd("tunerstatus").at("TUNERSTATUS").at(0).at("PowerLimit").as_int64() == 2500);

    for (const std::string_view body : {R"({"watt":1000})", R"({"watt":9000})", R"({"watt":-5})",
                                        R"({"watt":"2500"})", R"({})", "garbage", R"([2500])"}) {
        CAPTURE(body);
        const auto r = rig.api("PUT", "/api/v1/performance/power-target", body);
        CHECK(r.status == 400);
        CHECK(parse_body(r.body).as_object().contains("message"));
    }
    CHECK(rig.truth(kNow).power_target_w == doctest::Approx(2500));
    CHECK(rig.api("PUT", "/api/v1/performance/power-target", R"({"watt":1800})").status == 200);
    CHECK(rig.api("PUT", "/api/v1/performance/power-target", R"({"watt":3500})").status == 200);
}

TEST_CASE("braiins: web root, unknown routes and garbage") {
    Rig rig("s19xp");
    CHECK(rig.fe().has_http());
    const auto page = rig.http("GET", "/");
    CHECK(page.status == 200);
    CHECK(page.body.find("Braiins OS") != std::string::npos);
    rig.login();
    CHECK(rig.api("GET", "/api/v1/no/such/thing").status == 404);
    CHECK(rig.api("GET", "/api/v1/actions/pause").status == 405);
    CHECK(rig.api("DELETE", "/api/v1/miner/details").status == 405);
    CHECK(rig.http("GET", "/cgi-bin/luci").status == 404);

    const auto unknown = rig.cmd("frobnicate");
    CHECK(status_of(unknown).at("Code").as_int64() == 14);
    const auto joined = parse_body(rig.raw(R"({"command":"summary+devs"})"));
    CHECK(joined.at("devs").at(0).at("DEVS").is_array());

    const std::string_view garbage[] = {
        "",
        "{",
        "not json",
        "{\"command\":7}",
        "{\"parameter\":1}",
        "[]",
        "{\"command\":\"+\"}",
        "{\"command\":\"pause+resume+\"}",
        "\xff\xfe",
        "pools|0",
    };
    for (const auto g : garbage) {
        CAPTURE(g);
        std::string body;
        CHECK_NOTHROW(body = rig.raw(g));
        parse_body(body);
    }
    for (const std::string_view path :
         {"", "/api", "/api/", "/api/v1/", "//", "/api/v1/auth/login/../../x", "/api/v1/pools//"}) {
        CAPTURE(path);
        CHECK_NOTHROW(rig.api("GET", path));
        CHECK_NOTHROW(rig.http("POST", path, "\x01\x02"));
    }
    CHECK_NOTHROW(rig.http("POST", "/api/v1/auth/login", "\xff"));
    CHECK_NOTHROW(rig.api("PUT", "/api/v1/performance/power-target", "{\"watt\":1e400}"));
}
