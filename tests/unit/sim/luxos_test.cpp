// Tests for the LuxOS front-end: every capture's shape, the single-session rule, curtailment,
// profiles under ATM, and garbage that must not throw.
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

const TimePoint kBoot{std::chrono::seconds(1760238941)};
const TimePoint kNow = kBoot + std::chrono::seconds(3453);  // the capture's Elapsed

std::string read_fixture(std::string_view name) {
    const std::string path =
        std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/luxos/" + std::string(name);
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// One simulated LuxOS miner; the config outlives it because the physics keeps a reference.
struct Rig {
    FleetConfig cfg;
    std::unique_ptr<SimMiner> m;

    explicit Rig(std::string_view model = "s19kpro") {
        cfg.physics.wake_ramp = std::chrono::seconds(2);
        cfg.physics.sleep_ramp = std::chrono::seconds(1);
        cfg.physics.boot_time = std::chrono::seconds(3);
        cfg.physics.hashrate_noise = 0;
        const ModelSpec* spec = find_model(model);
        REQUIRE(spec != nullptr);
        m = make_miner(*spec, Family::luxos, 0, *parse_ipv4("127.1.0.1"), cfg, kBoot);
    }

    std::string raw(std::string_view request, TimePoint now = kNow) {
        RpcRequest req;
        parse_rpc_request(request, req);
        return frontend_for(Family::luxos).rpc(*m, req, now).body;
    }

    json::value cmd(std::string_view command, std::string_view parameter = {},
                    TimePoint now = kNow) {
        json::object o;
        o["command"] = command;
        if (!parameter.empty()) o["parameter"] = parameter;
        const std::string body = raw(json::serialize(o), now);
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        REQUIRE_MESSAGE(!ec, "reply is not JSON: " << body);
        return v;
    }

    Snapshot truth(TimePoint now) const { return m->physics.snapshot(now, m->faults); }
};

const json::object& status_of(const json::value& v) {
    return v.at("STATUS").as_array().at(0).as_object();
}

std::string msg_of(const json::value& v) { return std::string(status_of(v).at("Msg").as_string()); }
std::int64_t code_of(const json::value& v) {
    return status_of(v).at("Code").to_number<std::int64_t>();
}
char letter_of(const json::value& v) { return status_of(v).at("STATUS").as_string()[0]; }

std::string logon(Rig& rig, TimePoint now = kNow) {
    const auto v = rig.cmd("logon", {}, now);
    REQUIRE(letter_of(v) == 'S');
    return std::string(v.at("SESSION").as_array().at(0).at("SessionID").as_string());
}

void check_shape(Rig& rig, std::string_view fixture, std::string_view command) {
    const auto reference = json::parse(read_fixture(fixture));
    const auto reply = rig.cmd(command);
    // Strict: a float in the capture must be a float in the reply, an integer an integer.
    const auto diffs = test::shape_differences(reference, reply, {.number_kinds_strict = true});
    INFO("fixture: " << fixture);
    INFO("reply: " << json::serialize(reply));
    for (const auto& d : diffs) INFO(d);
    CHECK_MESSAGE(diffs.empty(), diffs.size() << " difference(s), first: "
                                              << (diffs.empty() ? "" : diffs.front()));
}

}  // namespace

TEST_CASE("luxos: every reply has the shape of the S19k Pro capture") {
    Rig rig;
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"s19kpro_luxos_version.json", "version"},
        {"s19kpro_luxos_summary.json", "summary"},
        {"s19kpro_luxos_stats.json", "stats"},
        {"s19kpro_luxos_devs.json", "devs"},
        {"s19kpro_luxos_fans.json", "fans"},
        {"s19kpro_luxos_temps.json", "temps"},
        {"s19kpro_luxos_power.json", "power"},
        {"s19kpro_luxos_pools.json", "pools"},
        {"s19kpro_luxos_config.json", "config"},
        {"s19kpro_luxos_profiles.json", "profiles"},
        {"atm.json", "atm"},
    };
    for (const auto& [fixture, command] : cases) {
        SUBCASE(std::string(command).c_str()) { check_shape(rig, fixture, command); }
    }
}

TEST_CASE("luxos: events has the capture's shape with a miner-wide and a board event") {
    Rig rig;
    // The capture lists a MINER event (no ID) and then a BOARD event (with ID).
    rig.m->faults.set(FaultKind::overheating, {}, kBoot);
    rig.m->faults.set(FaultKind::dead_board, {.index = 1}, kBoot);
    check_shape(rig, "s19kpro_luxos_events.json", "events");
    const auto v = rig.cmd("events");
    const auto& events = v.at("EVENTS").as_array();
    REQUIRE(events.size() == 2);
    CHECK(events[0].at("Code").as_string() == "OVERTEMP_PROTECTION");
    CHECK(events[1].at("Code").as_string() == "REBOOT_NOT_HASHING");
    CHECK(events[1].at("ID").as_int64() == 1);
    CHECK(events[1].at("DocUrl").as_string() ==
          "https://docs.luxor.tech/firmware/kb/eventstroubleshooting#reboot-not-hashing");
}

TEST_CASE("luxos: identity and headline figures come from the miner and its physics") {
    Rig rig;
    const auto truth = rig.truth(kNow);
    const auto version = rig.cmd("version");
    CHECK(status_of(version).at("Description").as_string() == "LUXminer 2025.4.8.220305-57b389c7");
    CHECK(version.at("VERSION").at(0).at("Type").as_string() == "Antminer S19k Pro");

    const auto summary = rig.cmd("summary");
    CHECK(summary.at("SUMMARY").at(0).at("GHS 5s").as_double() ==
          doctest::Approx(truth.hashrate_ths * 1e3).epsilon(1e-4));
    CHECK(summary.at("SUMMARY").at(0).at("Elapsed").as_int64() == truth.elapsed_s);

    const auto stats = rig.cmd("stats").at("STATS").at(1);
    // chain_rateN is each board's average in GH/s, as a string; slot 4 is the empty connector.
    CHECK(std::stod(std::string(stats.at("chain_rate1").as_string())) ==
          doctest::Approx(truth.boards[0].avg_hashrate_ths * 1e3).epsilon(1e-3));
    CHECK(stats.at("chain_rate4").as_string() == "0");
    CHECK(stats.at("chain_acn1").as_int64() == 77);
    CHECK(stats.at("fan1").as_int64() == truth.fans_rpm[0]);

    const auto devs = rig.cmd("devs").at("DEVS").as_array();
    REQUIRE(devs.size() == 3);
    // Not sorted by ID, as LUXminer sends them.
    CHECK(devs[0].at("ID").as_int64() == 2);
    CHECK(devs[1].at("ID").as_int64() == 0);

    const auto power = rig.cmd("power").at("POWER").at(0);
    CHECK(power.at("Watts").as_int64() == std::llround(truth.power_w));
    CHECK(power.at("PSU").as_bool() == false);

    const auto config = rig.cmd("config").at("CONFIG").at(0);
    CHECK(config.at("OS").as_string() == "LuxOS");
    CHECK(config.at("MACAddr").as_string() == rig.m->mac);
    CHECK(config.at("SerialNumber").as_string() == rig.m->serial);
    CHECK(config.at("CurtailMode").as_string() == "None");
    CHECK(config.at("IsAtmEnabled").as_bool() == true);

    // The default profile is the one nearest nominal power, and it is what the miner runs.
    const auto profiles = rig.cmd("profiles").at("PROFILES").as_array();
    CHECK(profiles.size() == 25);
    CHECK(profiles.front().at("Profile Name").as_string() == "190MHz");
    CHECK(config.at("Profile").as_string() == "default");
    for (const auto& p : profiles) {
        if (p.at("Profile Name").as_string() == "default") {
            CHECK(p.at("Watts").as_int64() == std::llround(rig.m->model->nominal_w));
            CHECK(p.at("Hashrate").as_double() == doctest::Approx(rig.m->model->nominal_ths));
        }
    }
    CHECK(truth.power_target_w == doctest::Approx(rig.m->model->nominal_w));
}

TEST_CASE("luxos: only one session at a time") {
    Rig rig;
    CHECK(rig.cmd("session").at("SESSION").at(0).at("SessionID").as_string() == "");
    const auto first = rig.cmd("logon");
    CHECK(code_of(first) == 316);
    CHECK(msg_of(first) == "Session created");
    const std::string sid(first.at("SESSION").at(0).at("SessionID").as_string());
    CHECK(sid.size() == 8);
    CHECK(rig.m->control.luxos_session == sid);

    // A second logon is refused with 402 and no SESSION section (luxos-tooling checks both).
    const auto second = rig.cmd("logon");
    CHECK(letter_of(second) == 'E');
    CHECK(code_of(second) == 402);
    CHECK(msg_of(second) == "Another session is active");
    CHECK(!second.as_object().contains("SESSION"));

    const auto session = rig.cmd("session");
    CHECK(code_of(session) == 319);
    CHECK(session.at("SESSION").at(0).at("SessionID").as_string() == sid);

    // Ending someone else's session needs its id.
    CHECK(letter_of(rig.cmd("logoff", "wrongid1")) == 'E');
    CHECK(letter_of(rig.cmd("logoff")) == 'E');
    CHECK(rig.m->control.luxos_session == sid);
    CHECK(letter_of(rig.cmd("logoff", sid)) == 'S');
    CHECK(rig.cmd("session").at("SESSION").at(0).at("SessionID").as_string() == "");

    // kill drops whatever session there is.
    const std::string again = logon(rig);
    CHECK(letter_of(rig.cmd("kill")) == 'S');
    CHECK(rig.m->control.luxos_session.empty());
    CHECK(letter_of(rig.cmd("curtail", again + ",sleep")) == 'E');

    // An idle session expires after a minute; a used one is refreshed.
    const std::string third = logon(rig, kNow);
    CHECK(letter_of(rig.cmd("atmset", third + ",enabled=true", kNow + std::chrono::seconds(50))) ==
          'S');
    CHECK(letter_of(rig.cmd("logon", {}, kNow + std::chrono::seconds(100))) == 'E');
    CHECK(letter_of(rig.cmd("logon", {}, kNow + std::chrono::seconds(111))) == 'S');
}

TEST_CASE("luxos: curtail sleep and wakeup change the true power") {
    Rig rig;
    const std::string sid = logon(rig);
    const double awake_w = rig.truth(kNow).power_w;
    CHECK(awake_w > 2000);

    const auto slept = rig.cmd("curtail", sid + ",sleep");
    CHECK(code_of(slept) == 335);
    CHECK(msg_of(slept) == "Curtailment command sent");
    CHECK(slept.at("CURTAIL").at(0).at("Action").as_string() == "sleep mode");
    const TimePoint later = kNow + std::chrono::seconds(5);
    const auto asleep = rig.truth(later);
    CHECK(asleep.state == SimState::sleeping);
    CHECK(asleep.power_w < 100);
    CHECK(asleep.hashrate_ths == 0);
    CHECK(rig.cmd("config", {}, later).at("CONFIG").at(0).at("CurtailMode").as_string() == "Sleep");
    CHECK(rig.cmd("events", {}, later).at("EVENTS").at(0).at("Code").as_string() == "SLEEP");

    const auto woke = rig.cmd("curtail", sid + ",wakeup", later);
    CHECK(woke.at("CURTAIL").at(0).at("Action").as_string() == "wake up");
    const auto awake = rig.truth(later + std::chrono::seconds(10));
    CHECK(awake.state == SimState::mining);
    CHECK(awake.power_w == doctest::Approx(awake_w).epsilon(0.01));

    CHECK(letter_of(rig.cmd("curtail", sid + ",nap")) == 'E');
}

TEST_CASE("luxos: a sleep_ignored miner acknowledges curtail and keeps hashing") {
    Rig rig;
    rig.m->faults.set(FaultKind::sleep_ignored, {}, kBoot);
    const std::string sid = logon(rig);
    const auto reply = rig.cmd("curtail", sid + ",sleep");
    CHECK(letter_of(reply) == 'S');
    CHECK(rig.truth(kNow + std::chrono::seconds(5)).state == SimState::mining);
}

TEST_CASE("luxos: writes without the open session are refused and change nothing") {
    Rig rig;
    CHECK(letter_of(rig.cmd("curtail", "sleep")) == 'E');  // no session at all
    const std::string sid = logon(rig);
    CHECK(letter_of(rig.cmd("curtail")) == 'E');
    CHECK(letter_of(rig.cmd("curtail", "notmine1,sleep")) == 'E');
    CHECK(letter_of(rig.cmd("rebootdevice", "notmine1")) == 'E');
    CHECK(letter_of(rig.cmd("atmset", "notmine1,enabled=false")) == 'E');
    CHECK(rig.m->control.luxos_atm_enabled);
    CHECK(rig.truth(kNow + std::chrono::seconds(5)).state == SimState::mining);
    CHECK(rig.m->control.luxos_session == sid);
}

TEST_CASE("luxos: profileset is refused while ATM runs and sets the power target after") {
    Rig rig;
    const std::string sid = logon(rig);
    const auto profiles = rig.cmd("profiles").at("PROFILES").as_array();
    std::int64_t watts_440 = 0;
    for (const auto& p : profiles) {
        if (p.at("Profile Name").as_string() == "440MHz") watts_440 = p.at("Watts").as_int64();
    }
    REQUIRE(watts_440 > rig.m->model->min_power_w);
    REQUIRE(watts_440 < rig.m->model->nominal_w);

    const auto refused = rig.cmd("profileset", sid + ",440MHz");
    CHECK(letter_of(refused) == 'E');
    CHECK(rig.truth(kNow).power_target_w == doctest::Approx(rig.m->model->nominal_w));

    // Clients switch ATM off first (pyasic set_power_limit, luxos-tooling with_atm).
    const auto off = rig.cmd("atmset", sid + ",enabled=false");
    CHECK(letter_of(off) == 'S');
    CHECK(code_of(off) == 340);
    CHECK(rig.cmd("atm").at("ATM").at(0).at("Enabled").as_bool() == false);
    CHECK(rig.cmd("config").at("CONFIG").at(0).at("IsAtmEnabled").as_bool() == false);

    const auto set = rig.cmd("profileset", sid + ",440MHz");
    CHECK(letter_of(set) == 'S');
    CHECK(code_of(set) == 321);
    CHECK(set.at("PROFILE").at(0).at("Profile").as_string() == "440MHz");
    CHECK(rig.truth(kNow).power_target_w == doctest::Approx(static_cast<double>(watts_440)));
    const auto settled = rig.truth(kNow + std::chrono::seconds(10));
    CHECK(settled.power_w == doctest::Approx(static_cast<double>(watts_440)).epsilon(0.02));
    CHECK(rig.cmd("config").at("CONFIG").at(0).at("Profile").as_string() == "440MHz");
    CHECK(rig.cmd("devs").at("DEVS").at(0).at("Profile").as_string() == "440MHz");

    // The legacy "<sid>,<board>,<profile>" form applies to the whole machine too.
    CHECK(letter_of(rig.cmd("profileset", sid + ",0,default")) == 'S');
    CHECK(rig.truth(kNow).power_target_w == doctest::Approx(rig.m->model->nominal_w));

    CHECK(letter_of(rig.cmd("profileset", sid + ",999MHz")) == 'E');
    CHECK(letter_of(rig.cmd("atmset", sid + ",enabled=maybe")) == 'E');
    CHECK(letter_of(rig.cmd("atmset", sid + ",colour=blue")) == 'E');
    CHECK(letter_of(rig.cmd("atmset", sid + ",enabled=true")) == 'S');
    CHECK(rig.m->control.luxos_atm_enabled);
}

TEST_CASE("luxos: rebootdevice restarts the miner and keeps a curtailed one asleep") {
    Rig rig;
    const std::string sid = logon(rig);
    CHECK(letter_of(rig.cmd("rebootdevice", sid)) == 'S');
    const auto booting = rig.truth(kNow + std::chrono::seconds(1));
    CHECK(booting.state == SimState::booting);
    CHECK(booting.uptime_s <= 1);
    CHECK(rig.truth(kNow + std::chrono::seconds(20)).state == SimState::mining);

    CHECK(letter_of(rig.cmd("curtail", sid + ",sleep")) == 'S');
    CHECK(letter_of(rig.cmd("resetminer", sid)) == 'S');
    CHECK(rig.truth(kNow + std::chrono::seconds(30)).state == SimState::sleeping);
}

TEST_CASE("luxos: unknown commands, multi-commands, the web root and garbage") {
    Rig rig;
    const auto unknown = rig.cmd("frobnicate");
    CHECK(letter_of(unknown) == 'E');
    CHECK(code_of(unknown) == 14);
    CHECK(status_of(unknown).at("Description").as_string() == "LUXminer 2025.4.8.220305-57b389c7");

    const auto joined = json::parse(rig.raw(R"({"command":"summary+version"})"));
    CHECK(joined.at("summary").at(0).at("SUMMARY").is_array());
    CHECK(joined.at("version").at(0).at("VERSION").is_array());

    const auto& fe = frontend_for(Family::luxos);
    CHECK(fe.has_http());
    HttpRequest root;
    root.method = "GET";
    root.path = "/";
    const auto page = fe.http(*rig.m, root, kNow);
    CHECK(page.status == 200);
    CHECK(page.body.find("Luxor Firmware") != std::string::npos);
    HttpRequest other = root;
    other.path = "/cgi-bin/get_miner_conf.cgi";
    CHECK(fe.http(*rig.m, other, kNow).status == 404);

    const std::string_view garbage[] = {
        "",
        "{",
        "}{",
        "not json",
        "{\"command\":42}",
        "{\"parameter\":\"x\"}",
        "[1,2,3]",
        "{\"command\":\"curtail\",\"parameter\":\",,,,\"}",
        "{\"command\":\"profileset\",\"parameter\":\",\"}",
        "{\"command\":\"atmset\",\"parameter\":\"x,=,==,enabled\"}",
        "{\"command\":\"+++\"}",
        "{\"command\":\"summary+\"}",
        "{\"command\":\"logoff\",\"parameter\":{\"a\":1}}",
        "\x01\x02\xff",
        "summary|",
        "curtail|,sleep",
    };
    for (const auto g : garbage) {
        CAPTURE(g);
        std::string body;
        CHECK_NOTHROW(body = rig.raw(g));
        boost::system::error_code ec;
        json::parse(body, ec);
        CHECK_MESSAGE(!ec, body);
    }
    CHECK(code_of(json::parse(rig.raw("not json"))) ==
          14);  // the text form of a command "not json"
    CHECK(code_of(json::parse(rig.raw("{not json"))) == 23);
    CHECK(code_of(json::parse(rig.raw("{\"parameter\":\"x\"}"))) == 24);
}
