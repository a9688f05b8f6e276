// The LuxOS parse functions on every real capture in tests/fixtures/luxos/, checked against the
// shared protocol samples' EXPECTED.md, plus synthetic variations (marked as such) of those
// captures for shapes no capture has: curtailed, booting, error replies, malformed replies.
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/luxos/parse.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "luxos";

std::string fixture(std::string_view name) {
    std::ifstream in(kFixtures / name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string capture(std::string_view command) {
    return fixture("s19kpro_luxos_" + std::string(command) + ".json");
}

// Replaces the one occurrence of `from` (synthetic variations of captures).
std::string replaced(std::string s, std::string_view from, std::string_view to) {
    const auto at = s.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "no " << from);
    s.replace(at, from.size(), to);
    return s;
}

// The way cgminer joins replies: {"a":[<a>],"b":[<b>],"id":1}.
std::string joined(std::initializer_list<std::pair<std::string_view, std::string>> parts) {
    std::string out = "{";
    for (const auto& [name, body] : parts) {
        out += "\"" + std::string(name) + "\":[" + body + "],";
    }
    return out + "\"id\":1}";
}

// A TH/s figure to 3 decimals as an exact integer (59.75606 -> 59756).
long long ths3(const std::optional<double>& v) {
    REQUIRE(v.has_value());
    return std::llround(*v * 1000);
}

struct S19kPro {
    std::string version = capture("version");
    std::string summary = capture("summary");
    std::string stats = capture("stats");
    std::string devs = capture("devs");
    std::string pools = capture("pools");
    std::string fans = capture("fans");
    std::string temps = capture("temps");
    std::string power = capture("power");
    std::string config = capture("config");
    std::string profiles = capture("profiles");
    std::string events = capture("events");

    luxos::Replies replies() const {
        luxos::Replies r;
        r.version = version;
        r.summary = summary;
        r.stats = stats;
        r.devs = devs;
        r.pools = pools;
        r.fans = fans;
        r.temps = temps;
        r.power = power;
        r.config = config;
        r.profiles = profiles;
        return r;
    }
    std::string all_joined() const {
        return joined({{"summary", summary},
                       {"stats", stats},
                       {"devs", devs},
                       {"pools", pools},
                       {"fans", fans},
                       {"temps", temps},
                       {"power", power},
                       {"config", config},
                       {"profiles", profiles},
                       {"version", version}});
    }
};

// EXPECTED.md, "LuxOS (LUXminer 2025.4.8, Antminer S19k Pro)".
void check_s19kpro(const MinerSample& s) {
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    CHECK(s.make == "Bitmain");
    CHECK(s.firmware == "luxos");
    CHECK(s.model == "Antminer S19k Pro");
    CHECK(s.firmware_version == "2025.4.8.220305");
    CHECK(s.serial == "JYZZB0UBDJABF06RB");
    CHECK(s.mac == "62:f7:5e:b7:10:46");
    CHECK(ths3(s.hashrate_ths) == 59756);
    CHECK(ths3(s.hashrate_avg_ths) == 56918);
    CHECK(ths3(s.expected_hashrate_ths) == 61954);
    CHECK(s.uptime_s == 3453);
    CHECK(s.hw_errors_total == 0);
    CHECK(s.power_w == 1051);
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(s.power_limit_w == 1188);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{1920, 1920, 2340, 2340});
    CHECK(s.inlet_temp_c == 34);
    CHECK(s.outlet_temp_c == 47);

    // devs lists IDs 2, 0, 1: boards come out in chain order 1..3 (= ID + 1).
    REQUIRE(s.boards.size() == 3);
    double sum = 0, chip_max = 0, board_max = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        const BoardSample& b = s.boards[i];
        CAPTURE(i);
        CHECK(b.index == static_cast<int>(i) + 1);
        CHECK(b.chips == 77);
        CHECK(b.expected_chips == 77);
        CHECK(b.hw_errors == 0);
        CHECK(b.ok == true);
        CHECK(ths3(b.expected_hashrate_ths) == 20651);
        REQUIRE(b.hashrate_ths.has_value());
        sum += *b.hashrate_ths;
        REQUIRE(b.chip_temp_max_c.has_value());
        REQUIRE(b.board_temp_max_c.has_value());
        chip_max = std::max(chip_max, *b.chip_temp_max_c);
        board_max = std::max(board_max, *b.board_temp_max_c);
    }
    CHECK(ths3(s.boards[0].hashrate_ths) == 19774);  // ID 0, MHS 5s 19773825.7
    CHECK(ths3(s.boards[1].hashrate_ths) == 19231);  // ID 1
    CHECK(ths3(s.boards[2].hashrate_ths) == 20752);  // ID 2, listed first
    CHECK(std::llround(sum * 1000) == 59756);
    CHECK(chip_max == 47);
    CHECK(board_max == 47);

    REQUIRE(s.pools.size() == 4);
    CHECK(s.pools[0].url == "stratum+tcp://ca.stratum.braiins.com:3333");
    CHECK(s.pools[0].user == "asic-rs.user1");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[0].accepted == 724);
    CHECK(s.pools[1].alive == false);
    CHECK(s.pools[1].active == false);
    CHECK(s.pools[2].active == true);  // the second group's pool
    CHECK(s.pools[2].accepted == 759);
    CHECK(s.pools[2].rejected == 1);
}

}  // namespace

TEST_CASE("luxos parse: the S19k Pro captures, one reply per command") {
    const S19kPro c;
    const MinerSample s = luxos::parse_luxos(c.replies());
    check_s19kpro(s);
    CHECK(s.errors.empty());
}

TEST_CASE("luxos parse: the same captures joined as one multi-command reply") {
    const S19kPro c;
    const std::string all = c.all_joined();
    luxos::Replies r;
    r.joined = all;
    const MinerSample s = luxos::parse_luxos(r);
    check_s19kpro(s);
    CHECK(s == luxos::parse_luxos(c.replies()));
}

TEST_CASE("luxos parse: events of this run are the miner's own error reports") {
    S19kPro c;
    luxos::Replies r = c.replies();
    r.events = c.events;
    // The capture's events (2026-04-08T03:38:27) are 136562 s older than its When
    // (1775756069); with the summary's Elapsed 3453 they predate the daemon: history, not errors.
    CHECK(luxos::parse_luxos(r).errors.empty());
    // Up for longer than that (synthetic): the same events are current.
    c.summary = replaced(c.summary, "\"Elapsed\": 3453", "\"Elapsed\": 136700");
    r = c.replies();
    r.events = c.events;
    const MinerSample s = luxos::parse_luxos(r);
    CHECK(s.uptime_s == 136700);
    REQUIRE(s.errors.size() == 2);
    CHECK(s.errors[0].code == "NOPIC_PROTECTION");
    CHECK(s.errors[0].message == "Miner shutdown due to NOPIC protection.");
    CHECK(s.errors[1].code == "REBOOT_NOT_HASHING");
    CHECK(s.errors[1].message == "Board reboot due to it not hashing. (board 0)");
    CHECK(s.state == MinerState::mining);  // hashing: the events do not change that
}

TEST_CASE("luxos parse: the power limit from the cached profile when profiles is not fetched") {
    const S19kPro c;
    luxos::Replies r = c.replies();
    r.profiles.reset();
    luxos::Reading got = luxos::read_luxos(r);
    CHECK(got.active_profile == "290MHz");
    CHECK_FALSE(got.profiles_read);
    CHECK_FALSE(got.sample.power_limit_w.has_value());  // nothing known: absent, not 0
    r.known_profile = "290MHz";
    r.known_profile_w = 1188;
    CHECK(luxos::read_luxos(r).sample.power_limit_w == 1188);
    r.known_profile = "265MHz";  // the profile changed since: the cached Watts are not its
    r.known_profile_w = 1080;
    CHECK_FALSE(luxos::read_luxos(r).sample.power_limit_w.has_value());
    // With the table, the table decides.
    r.profiles = c.profiles;
    got = luxos::read_luxos(r);
    CHECK(got.profiles_read);
    CHECK(got.sample.power_limit_w == 1188);
    CHECK(luxos::luxos_identity(got.sample).power_limit_w == 1188);
}

TEST_CASE("luxos parse: identity from stats and config when version was not fetched") {
    S19kPro c;
    luxos::Replies r = c.replies();
    r.version.reset();
    const MinerSample s = luxos::parse_luxos(r);
    CHECK(s.model == "Antminer S19k Pro");
    CHECK(s.firmware_version == "2025.4.8.220305");  // stats' version block
    CHECK(s.mac == "62:f7:5e:b7:10:46");
    const MinerSample id = luxos::luxos_identity(s);
    CHECK(id.model == s.model);
    CHECK(id.serial == s.serial);
    CHECK_FALSE(id.hashrate_ths.has_value());
}

TEST_CASE("luxos parse: not hashing without a config reply is idle (synthetic)") {
    S19kPro c;
    luxos::Replies r;
    const std::string summary = replaced(c.summary, "\"GHS 5s\": 59756.06", "\"GHS 5s\": 0.0");
    r.summary = summary;
    CHECK(luxos::parse_luxos(r).state == MinerState::idle);  // the curtail mode is unknown
}

TEST_CASE("luxos parse: fallbacks when fans, temps, devs and profiles are missing") {
    const S19kPro c;
    luxos::Replies r;
    r.summary = c.summary;
    r.stats = c.stats;
    const MinerSample s = luxos::parse_luxos(r);
    // stats alone: fans from fan1..fan_num, boards from the chains with chips (chain 4 empty),
    // board temperatures from temp_pcbN, no 5 s board rate (chain_rate is the average).
    CHECK(s.fans_rpm == std::vector<std::int64_t>{1920, 1920, 2340, 2340});
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[2].index == 3);
    CHECK(s.boards[2].board_temp_max_c == 47);
    CHECK(s.boards[2].chip_temp_max_c == 47);
    CHECK_FALSE(s.boards[2].hashrate_ths.has_value());
    CHECK(s.boards[2].ok == true);
    CHECK_FALSE(s.power_w.has_value());
    CHECK_FALSE(s.power_limit_w.has_value());
    CHECK_FALSE(s.serial.has_value());
    CHECK(s.mac == "62:f7:5e:b7:10:46");   // stats miner_id "62f75eb71046"
    CHECK(s.state == MinerState::mining);  // hashing; no config says nothing of curtailment
}

TEST_CASE("luxos parse: curtailed, booting and stopped (synthetic variations)") {
    S19kPro c;
    c.summary = replaced(c.summary, "\"GHS 5s\": 59756.06", "\"GHS 5s\": 0.0");
    c.stats = replaced(c.stats, "\"GHS 5s\": 59756.06", "\"GHS 5s\": 0.0");
    SUBCASE("CurtailMode other than None: sleeping") {
        c.config = replaced(c.config, "\"CurtailMode\": \"None\"", "\"CurtailMode\": \"Sleep\"");
        const MinerSample s = luxos::parse_luxos(c.replies());
        CHECK(s.state == MinerState::sleeping);
        CHECK(s.hashrate_ths == 0.0);
    }
    SUBCASE("curtailed but still hashing (ramping down): mining") {
        S19kPro h;
        h.config = replaced(h.config, "\"CurtailMode\": \"None\"", "\"CurtailMode\": \"Sleep\"");
        CHECK(luxos::parse_luxos(h.replies()).state == MinerState::mining);
    }
    SUBCASE("not curtailed, daemon just started: booting") {
        c.summary = replaced(c.summary, "\"Elapsed\": 3453", "\"Elapsed\": 12");
        CHECK(luxos::parse_luxos(c.replies()).state == MinerState::booting);
    }
    SUBCASE("not curtailed, long up, not hashing: error") {
        CHECK(luxos::parse_luxos(c.replies()).state == MinerState::error);
    }
    SUBCASE("not hashing with a current event, even in the first minutes: error") {
        c.summary = replaced(c.summary, "\"Elapsed\": 3453", "\"Elapsed\": 12");
        luxos::Replies r = c.replies();
        // An event from 2 s before the reply (When 1775756069 = 2026-04-09T17:34:29Z).
        const std::string events = replaced(
            c.events,
            "\"CreatedAt\": \"2026-04-08T03:38:27+00:00\",\n      \"Description\": \"Miner",
            "\"CreatedAt\": \"2026-04-09T17:34:27+00:00\",\n      \"Description\": \"Miner");
        r.events = events;
        const MinerSample s = luxos::parse_luxos(r);
        REQUIRE(s.errors.size() == 1);
        CHECK(s.errors[0].code == "NOPIC_PROTECTION");
        CHECK(s.state == MinerState::error);
    }
}

TEST_CASE("luxos parse: sentinels, PSU telemetry and dead boards (synthetic variations)") {
    S19kPro c;
    c.temps =
        replaced(c.temps, "\"BottomLeft\": 47.0,\n      \"BottomRight\": 34.0,\n      \"ID\": 0",
                 "\"BottomLeft\": -273.0,\n      \"BottomRight\": 34.0,\n      \"ID\": 0");
    c.temps = replaced(c.temps,
                       "\"TopLeft\": 47.0,\n      \"TopRight\": 34.0\n    },\n    {\n      "
                       "\"BottomLeft\": 47.0,\n      \"BottomRight\": 33.0",
                       "\"TopLeft\": 0.0,\n      \"TopRight\": 34.0\n    },\n    {\n      "
                       "\"BottomLeft\": 47.0,\n      \"BottomRight\": 33.0");
    c.stats =
        replaced(c.stats, "\"temp_chip1\": \"47-34-34-47\"", "\"temp_chip1\": \"40--83-34-255\"");
    c.power = replaced(c.power, "\"PSU\": false", "\"PSU\": true");
    c.devs = replaced(c.devs,
                      "\"Status\": \"Alive\",\n      \"Temperature\": 47.0,\n      \"Total MH\": "
                      "18939953.79818343",
                      "\"Status\": \"Dead\",\n      \"Temperature\": 47.0,\n      \"Total MH\": "
                      "18939953.79818343");
    const MinerSample s = luxos::parse_luxos(c.replies());
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[0].board_temp_max_c == 34);  // exhausts -273 and 0 dropped, intakes 34
    CHECK(s.outlet_temp_c == 47);               // the other boards' exhausts
    CHECK(s.boards[0].chip_temp_max_c == 40);   // -83 and 255 dropped
    CHECK(s.boards[1].ok == false);             // ID 1 reports Dead
    CHECK(s.boards[0].ok == true);
    CHECK(s.power_source == PowerSource::measured);
    CHECK(s.power_w == 1051);
}

TEST_CASE("luxos parse: the board temperature is the hottest of the four sensors") {
    S19kPro c;
    const MinerSample s = luxos::parse_luxos(c.replies());
    CHECK(s.boards[0].board_temp_max_c == 47);
    c.temps = replaced(c.temps, "\"BottomRight\": 33.0,\n      \"ID\": 1",
                       "\"BottomRight\": 61.5,\n      \"ID\": 1");
    const MinerSample t = luxos::parse_luxos(c.replies());
    CHECK(t.boards[1].board_temp_max_c == 61.5);
    CHECK(t.inlet_temp_c == 61.5);  // an intake-side sensor (METADATA "Board Intake (bottom)")
}

TEST_CASE("luxos parse: malformed and error replies") {
    const S19kPro c;
    SUBCASE("truncated summary names the command") {
        luxos::Replies r = c.replies();
        const std::string cut = c.summary.substr(0, c.summary.size() / 2);
        r.summary = cut;
        try {
            (void)luxos::parse_luxos(r);
            FAIL("no error");
        } catch (const luxos::ParseError& e) {
            CHECK(std::string(e.what()).starts_with("summary: "));
        }
    }
    SUBCASE("garbage joined reply") {
        luxos::Replies r;
        const std::string garbage = "\x01\x02 not json at all";
        r.joined = garbage;
        CHECK_THROWS_AS(luxos::parse_luxos(r), luxos::ParseError);
    }
    SUBCASE("a refused join is JoinRefused, with the firmware's words") {
        luxos::Replies r;
        const std::string refused =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"LUXminer 2025.4.8"}],"id":1})";
        r.joined = refused;
        try {
            (void)luxos::parse_luxos(r);
            FAIL("no error");
        } catch (const luxos::JoinRefused& e) {
            CHECK(std::string(e.what()) == "multi-command reply without summary (Invalid command)");
        }
    }
    SUBCASE("error STATUS for summary and stats: no sample") {
        luxos::Replies r;
        const std::string err =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"LUXminer"}],"id":1})";
        r.summary = err;
        r.stats = err;
        CHECK_THROWS_WITH_AS(luxos::parse_luxos(r),
                             "summary, stats: neither has a usable SUMMARY or device block",
                             luxos::ParseError);
    }
    SUBCASE("an error STATUS for one command leaves only its fields out") {
        luxos::Replies r = c.replies();
        const std::string err =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"LUXminer"}],"id":1})";
        r.power = err;
        const MinerSample s = luxos::parse_luxos(r);
        CHECK_FALSE(s.power_w.has_value());
        CHECK(ths3(s.hashrate_ths) == 59756);
    }
    SUBCASE("DEVS not an array") {
        luxos::Replies r = c.replies();
        const std::string bad = replaced(c.devs, "\"DEVS\": [", "\"DEVS\": {\"x\":[");
        const std::string fixed = replaced(bad, "  ],\n  \"STATUS\"", "  ]},\n  \"STATUS\"");
        r.devs = fixed;
        CHECK_THROWS_WITH_AS(luxos::parse_luxos(r), "devs: DEVS is not an array",
                             luxos::ParseError);
    }
    SUBCASE("no reply at all") {
        CHECK_THROWS_WITH_AS(luxos::parse_luxos({}), "summary, stats: no reply", luxos::ParseError);
    }
}

TEST_CASE("luxos parse: profiles and the power-target choice") {
    const std::vector<luxos::Profile> all = luxos::read_profiles(capture("profiles"));
    REQUIRE(all.size() == 25);
    CHECK(all[0].name == "190MHz");
    CHECK(all[0].watts == 784);
    CHECK(all[16].name == "default");
    CHECK(all[16].watts == 2794);
    CHECK(all[4].hashrate_ths == 59.8);
    auto pick = [&](double w) { return luxos::choose_profile(all, w); };
    CHECK(pick(1188)->name == "290MHz");  // exactly a profile's Watts
    CHECK(pick(1187)->name == "265MHz");
    CHECK(pick(2800)->name == "default");
    CHECK(pick(99999)->name == "790MHz");
    CHECK_FALSE(pick(783).has_value());
}

TEST_CASE("luxos parse: control state from profiles+atm+config") {
    const std::string reply = joined({{"profiles", capture("profiles")},
                                      {"atm", fixture("atm.json")},
                                      {"config", capture("config")}});
    const luxos::ControlState cs = luxos::read_control_state(reply);
    CHECK(cs.profiles.size() == 25);
    // atm.json (luxos-tooling) says Enabled false; its ATM reply wins over config.IsAtmEnabled.
    CHECK(cs.atm_enabled == false);
    CHECK(cs.active_profile == "290MHz");
    const std::string no_atm =
        joined({{"profiles", capture("profiles")}, {"config", capture("config")}});
    CHECK(luxos::read_control_state(no_atm).atm_enabled == true);  // config IsAtmEnabled
    const std::string refused =
        R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"LUXminer"}],"id":1})";
    CHECK_THROWS_AS(luxos::read_control_state(refused), luxos::JoinRefused);

    // Separate replies (firmware without joins); without `atm` the config flag decides.
    const std::string profiles = capture("profiles"), atm = fixture("atm.json"),
                      config = capture("config");
    const luxos::ControlState sep = luxos::read_control_state(profiles, atm, config);
    CHECK(sep.profiles.size() == 25);
    CHECK(sep.atm_enabled == false);
    CHECK(sep.active_profile == "290MHz");
    CHECK(luxos::read_control_state(profiles, std::nullopt, config).atm_enabled == true);
    CHECK_THROWS_WITH_AS(luxos::read_control_state(profiles, atm, refused),
                         "config: refused or not an object", luxos::ParseError);
}

TEST_CASE("luxos parse: session replies") {
    const std::string logon =
        R"({"SESSION":[{"SessionID":"Ab3dE6gH"}],"STATUS":[{"Code":316,"Description":"LUXminer 2025.4.8","Msg":"Session created","STATUS":"S","When":1}],"id":1})";
    const luxos::SessionReply ok = luxos::read_session_reply(logon, "logon");
    CHECK(ok.status.ok);
    CHECK(ok.status.code == 316);
    CHECK(ok.session_id == "Ab3dE6gH");

    const std::string busy =
        R"({"STATUS":[{"Code":402,"Description":"LUXminer 2025.4.8","Msg":"Another session is active","STATUS":"E","When":1}],"id":1})";
    const luxos::SessionReply b = luxos::read_session_reply(busy, "logon");
    CHECK_FALSE(b.status.ok);
    CHECK(b.status.code == luxos::kCodeSessionBusy);
    CHECK(b.status.msg == "Another session is active");

    const std::string none =
        R"({"SESSION":[{"SessionID":""}],"STATUS":[{"Code":319,"Msg":"Session information","STATUS":"S","When":1}],"id":1})";
    const luxos::SessionReply n = luxos::read_session_reply(none, "session");
    CHECK(n.status.ok);
    CHECK(n.session_id.empty());

    const std::string empty_logon =
        R"({"STATUS":[{"Code":316,"Msg":"Session created","STATUS":"S","When":1}],"id":1})";
    CHECK_THROWS_WITH_AS(luxos::read_session_reply(empty_logon, "logon"),
                         "logon: success without a SessionID", luxos::ParseError);
    CHECK_THROWS_AS(luxos::read_session_reply("{\"SESS", "logon"), luxos::ParseError);

    const luxos::Status curtail = luxos::read_status(
        R"({"CURTAIL":[{"Action":"sleep mode"}],"STATUS":[{"Code":335,"Msg":"Curtailment command sent","STATUS":"S","When":1}],"id":1})",
        "curtail");
    CHECK(curtail.ok);
    CHECK(curtail.code == 335);
    CHECK(luxos::rpc_json("curtail", "Ab3dE6gH,sleep") ==
          R"({"command":"curtail","parameter":"Ab3dE6gH,sleep"})");
    CHECK(luxos::rpc_json("logon") == R"({"command":"logon"})");
    CHECK(luxos::rpc_json("profileset", "a\"b") ==
          R"({"command":"profileset","parameter":"a\"b"})");
}

TEST_CASE("luxos driver: detection and capabilities") {
    const MinerDriver& d = luxos_driver();
    CHECK(d.name() == "luxos");
    ProbeResult p;
    p.version_reply = capture("version");
    CHECK(d.claims(p));
    CHECK(find_driver("luxos") == &d);
    // Detection order (PROTOCOLS.md §8): LuxOS before the stock Antminer driver, whose marker
    // ("Antminer" in Type) a LuxOS version reply also carries.
    for (const MinerDriver* x : all_drivers()) {
        if (x->claims(p)) {
            CHECK(x->name() == "luxos");
            break;
        }
    }
    ProbeResult web;
    web.http_root_status = 200;
    web.http_root_body = "<title>Luxor Firmware</title>";
    CHECK(d.claims(web));
    ProbeResult stock;
    stock.version_reply =
        R"({"STATUS":[{"STATUS":"S","Description":"cgminer 1.0.0"}],"VERSION":[{"Type":"Antminer S19 Pro"}]})";
    CHECK_FALSE(d.claims(stock));

    MinerSample id;
    id.firmware = "luxos";
    id.model = "Antminer S19k Pro";
    const Capabilities c = d.capabilities(id);
    CHECK(c.sleep);
    CHECK(c.wake);
    CHECK(c.reboot);
    CHECK(c.power_target_min_w == 1000);
    CHECK(c.power_target_max_w == 3100);
    CHECK_FALSE(c.power_target_reboots);
    id.model = "Antminer S99 Unknown";
    const Capabilities u = d.capabilities(id);
    CHECK(u.sleep);
    CHECK_FALSE(u.power_target_min_w.has_value());
}
