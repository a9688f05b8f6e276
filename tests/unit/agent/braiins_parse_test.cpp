// The Braiins OS parse functions on every real capture in tests/fixtures/braiins/, checked against
// the shared protocol samples' EXPECTED.md, plus malformed and error replies (synthetic ones are
// marked as such: derived from a capture by one edit).
#include "agent/drivers/braiins/parse.hpp"
#include "agent/drivers/drivers.hpp"

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

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "braiins";

std::string fixture(std::string_view name) {
    std::ifstream in(kFixtures / name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

#define CHECK_3(opt, value)                              \
    do {                                                 \
        REQUIRE((opt).has_value());                      \
        CHECK(round3(*(opt)) == doctest::Approx(value)); \
    } while (false)

std::string replace_once(std::string s, std::string_view from, std::string_view to) {
    const auto pos = s.find(from);
    REQUIRE_MESSAGE(pos != std::string::npos, "no " << from << " in the capture");
    s.replace(pos, from.size(), to);
    return s;
}

struct RpcSet {
    std::string version = fixture("s9_bosplus_bosminer_version.json");
    std::string summary = fixture("s9_bosplus_bosminer_summary.json");
    std::string devs = fixture("s9_bosplus_bosminer_devs.json");
    std::string temps = fixture("s9_bosplus_bosminer_temps.json");
    std::string fans = fixture("s9_bosplus_bosminer_fans.json");
    std::string pools = fixture("s9_bosplus_bosminer_pools.json");

    BraiinsReplies replies() const {
        BraiinsReplies r;
        r.version = version;
        r.summary = summary;
        r.devs = devs;
        r.temps = temps;
        r.fans = fans;
        r.pools = pools;
        return r;
    }
    // As BOSminer joins them: every sub-reply wrapped in a one-element array.
    std::string joined() const {
        return R"({"summary":[)" + summary + R"(],"devs":[)" + devs + R"(],"temps":[)" + temps +
               R"(],"fans":[)" + fans + R"(],"pools":[)" + pools + R"(],"version":[)" + version +
               R"(],"id":1})";
    }
};

struct RestSet {
    std::string details = fixture("bos2507_s19xp_rest_miner_details.json");
    std::string stats = fixture("bos2507_s19xp_rest_miner_stats.json");
    std::string hashboards = fixture("bos2507_s19xp_rest_miner_hw_hashboards.json");
    std::string cooling = fixture("bos2507_s19xp_rest_cooling_state.json");
    std::string configuration = fixture("bos2507_s19xp_rest_configuration_miner.json");
    std::string pools = fixture("bos2507_s19xp_rest_pools.json");

    BraiinsReplies replies() const {
        BraiinsReplies r;
        r.details = details;
        r.stats = stats;
        r.hashboards = hashboards;
        r.cooling = cooling;
        r.configuration = configuration;
        r.rest_pools = pools;
        return r;
    }
};

// EXPECTED.md, braiins/s9_bosplus_bosminer_*.
void check_s9(const MinerSample& s) {
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    CHECK(s.make == "Bitmain");
    CHECK(s.firmware == "braiins");
    CHECK(s.firmware_version == "0.2.0-36c56a9363");  // VERSION "BOSminer+"
    CHECK_FALSE(s.model.has_value());                 // no devdetails captured: not guessed
    CHECK_FALSE(s.mac.has_value());
    CHECK_3(s.hashrate_ths, 15.741);  // MHS 5s 15740915.84
    CHECK_3(s.hashrate_avg_ths, 11.988);
    CHECK_3(s.expected_hashrate_ths, 14.005);  // Nominal MHS 4668300 x 3
    CHECK(s.uptime_s == 3680);
    CHECK(s.hw_errors_total == 186);
    REQUIRE(s.boards.size() == 3);
    const int ids[] = {6, 7, 8};
    const double rate[] = {4.683, 4.688, 4.213};
    const double board[] = {75, 63, 70};
    const std::int64_t hw[] = {0, 0, 1};
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(s.boards[i].index == ids[i]);
        CHECK_3(s.boards[i].hashrate_ths, rate[i]);
        CHECK(s.boards[i].board_temp_max_c == board[i]);
        CHECK_FALSE(s.boards[i].chip_temp_max_c.has_value());  // Chip 0.0 = not measured
        CHECK(s.boards[i].hw_errors == hw[i]);
        CHECK(s.boards[i].ok == true);
        CHECK_3(s.boards[i].expected_hashrate_ths, 4.668);
    }
    CHECK(s.fans_rpm == std::vector<std::int64_t>{2820, 3780});  // two empty headers dropped
    CHECK_FALSE(s.power_w.has_value());                          // no tunerstatus captured
    CHECK_FALSE(s.power_limit_w.has_value());
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].url == "stratum+tcp://stratum.antpool.com:3333");
    CHECK(s.pools[0].user == "antminer_1");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[0].accepted == 152);
    CHECK(s.pools[1].active == false);
    CHECK(s.errors.empty());
}

// EXPECTED.md, braiins/bos2507_s19xp_rest_*.
void check_s19xp(const MinerSample& s) {
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);  // status 2 NORMAL, hashing
    CHECK(s.make == "Bitmain");
    CHECK(s.model == "Antminer S19 XP");
    CHECK(s.firmware == "braiins");
    CHECK(s.firmware_version == "2025-08-06-0-3881c51d-25.07-plus");
    CHECK(s.mac == "02:ee:da:a9:b6:4a");
    CHECK_FALSE(s.serial.has_value());  // serial_number null
    CHECK(s.uptime_s == 69725);         // system_uptime_s
    CHECK_3(s.hashrate_ths, 141.464);   // real_hashrate.last_5s 141463.57 GH/s
    CHECK_3(s.hashrate_avg_ths, 138.207);
    CHECK_3(s.expected_hashrate_ths, 141.0);  // sticker_hashrate
    CHECK(s.power_w == 3137);
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(s.power_limit_w == 3031);
    REQUIRE(s.boards.size() == 3);
    const double rate[] = {50.138, 47.859, 50.363};
    const double board[] = {55.5, 52.0, 54.0};
    const double chip[] = {70.5, 67.0, 69.0};
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(s.boards[i].index == static_cast<int>(i) + 1);
        CHECK_3(s.boards[i].hashrate_ths, rate[i]);
        CHECK(s.boards[i].board_temp_max_c == board[i]);
        CHECK(s.boards[i].chip_temp_max_c == chip[i]);
        CHECK(s.boards[i].chips == 110);
        CHECK(s.boards[i].ok == true);
    }
    CHECK(s.inlet_temp_c == 40.0);
    CHECK(s.outlet_temp_c == 55.5);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{5904, 5874, 5874, 5904});
    REQUIRE(s.pools.size() == 2);
    CHECK(s.pools[0].url == "stratum+tcp://example.pool.com:3333");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].accepted == 10460);
    CHECK(s.pools[0].rejected == 18);
    CHECK(s.pools[1].active == false);
}

}  // namespace

TEST_CASE("braiins parse: S9 BOSminer+ RPC captures, one reply each") {
    const RpcSet set;
    check_s9(parse_braiins(set.replies()));
    CHECK_FALSE(braiins_has_rest("0.2.0-36c56a9363"));
    const Capabilities c = braiins_driver().capabilities(parse_braiins(set.replies()));
    CHECK_FALSE(c.sleep);
    CHECK_FALSE(c.wake);
    CHECK_FALSE(c.reboot);
    CHECK_FALSE(c.power_target_max_w.has_value());
    CHECK(c.notes.find("read-only") != std::string::npos);
}

TEST_CASE("braiins parse: S9 RPC captures as one joined reply") {
    const RpcSet set;
    BraiinsReplies r;
    const std::string joined = set.joined();
    r.joined = joined;
    check_s9(parse_braiins(r));
}

TEST_CASE("braiins parse: S19 XP REST 25.07 captures") {
    const RestSet set;
    const MinerSample s = parse_braiins(set.replies());
    check_s19xp(s);
    CHECK(braiins_has_rest(*s.firmware_version));
    CHECK(braiins_miner_status(set.details) == 2);
    const Capabilities c = braiins_driver().capabilities(s);
    CHECK(c.sleep);
    CHECK(c.wake);
    CHECK(c.reboot);
    CHECK(c.power_target_min_w.has_value());
    CHECK(c.power_target_max_w.has_value());
    CHECK_FALSE(c.power_target_reboots);
}

TEST_CASE("braiins parse: the RPC wins for telemetry, REST details add identity") {
    const RpcSet rpc;
    const RestSet rest;
    BraiinsReplies r = rpc.replies();
    r.details = rest.details;
    const MinerSample s = parse_braiins(r);
    CHECK_3(s.hashrate_ths, 15.741);  // from summary, not miner/stats
    CHECK(s.uptime_s == 3680);        // bosminer's Elapsed
    CHECK(s.model == "Antminer S19 XP");
    CHECK(s.firmware_version == "2025-08-06-0-3881c51d-25.07-plus");
    CHECK(s.mac == "02:ee:da:a9:b6:4a");
}

TEST_CASE("braiins parse: sleep state from miner/details status 3 (PAUSED)") {
    const RestSet set;
    RestSet paused = set;
    // Synthetic: the captures with status 3 and the hash rate at 0, as after actions/pause.
    paused.details = replace_once(set.details, "\"status\": 2", "\"status\": 3");
    paused.stats = replace_once(
        set.stats, "\"last_5s\": {\n        \"gigahash_per_second\": 141463.56540072063",
        "\"last_5s\": {\n        \"gigahash_per_second\": 0.0");
    MinerSample s = parse_braiins(paused.replies());
    CHECK(s.state == MinerState::sleeping);
    CHECK(braiins_miner_status(paused.details) == 3);
    // Still hashing while the pause ramps down: mining until the hash rate is gone.
    RestSet ramping = set;
    ramping.details = paused.details;
    CHECK(parse_braiins(ramping.replies()).state == MinerState::mining);
    // Not hashing and NORMAL, long after start: the firmware stopped by itself.
    RestSet stopped = paused;
    stopped.details = set.details;
    CHECK(parse_braiins(stopped.replies()).state == MinerState::error);
    // NOT_STARTED: booting.
    RestSet booting = paused;
    booting.details = replace_once(set.details, "\"status\": 2", "\"status\": 1");
    CHECK(parse_braiins(booting.replies()).state == MinerState::booting);
}

TEST_CASE("braiins parse: tunerstatus gives power, limit and chain errors (synthetic)") {
    const RpcSet set;
    BraiinsReplies r = set.replies();
    // Shape of the BOSminer API documentation's tunerstatus (no capture of it exists).
    const std::string tuner =
        R"({"STATUS":[{"STATUS":"S","When":1,"Code":203,"Msg":"Tuner Status","Description":"BOSminer+ 0.2.0-36c56a9363"}],)"
        R"("TUNERSTATUS":[{"ApproximateChainPowerConsumption":1200,"ApproximateMinerPowerConsumption":1300,)"
        R"("PowerLimit":1350,"TunerChainStatus":[{"HashchainIndex":6,"Status":"Stable"},)"
        R"({"HashchainIndex":7,"Status":"Failed: chain lost"}]}],"id":1})";
    r.tunerstatus = tuner;
    MinerSample s = parse_braiins(r);
    CHECK(s.power_w == 1300);
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(s.power_limit_w == 1350);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].message == "chain 7: Failed: chain lost");
    CHECK(s.state == MinerState::mining);  // hashing: errors do not change that

    // Paused (old firmware, no REST): the tuner's chain status says so.
    const std::string paused_tuner =
        replace_once(replace_once(tuner, "Failed: chain lost", "Mining paused"), "\"Stable\"",
                     "\"Mining paused\"");
    r.tunerstatus = paused_tuner;
    const std::string idle_summary =
        replace_once(set.summary, "\"MHS 5s\":15740915.842676325", "\"MHS 5s\":0.0");
    r.summary = idle_summary;
    s = parse_braiins(r);
    CHECK(s.errors.empty());
    CHECK(s.state == MinerState::sleeping);
}

TEST_CASE("braiins parse: dead-sensor sentinels are dropped (synthetic)") {
    const RpcSet set;
    RpcSet bad = set;
    bad.temps = replace_once(replace_once(set.temps, "\"Board\":75.0", "\"Board\":-273.0"),
                             "\"Chip\":0.0", "\"Chip\":255.0");
    const MinerSample s = parse_braiins(bad.replies());
    REQUIRE(s.boards.size() == 3);
    CHECK_FALSE(s.boards[0].board_temp_max_c.has_value());
    CHECK_FALSE(s.boards[0].chip_temp_max_c.has_value());
    CHECK(s.boards[1].board_temp_max_c == 63);
}

TEST_CASE("braiins parse: malformed and error replies name the command and the problem") {
    const RpcSet set;
    auto error_of = [](const BraiinsReplies& r) -> std::string {
        try {
            (void)parse_braiins(r);
        } catch (const BraiinsParseError& e) {
            return e.what();
        }
        return "no error";
    };
    BraiinsReplies r = set.replies();
    const std::string truncated = set.summary.substr(0, set.summary.size() / 2);
    r.summary = truncated;
    CHECK(error_of(r).starts_with("summary: "));

    r = set.replies();
    const std::string garbage = "\x01\x02not json at all";
    r.temps = garbage;
    CHECK(error_of(r).starts_with("temps: "));

    r = set.replies();
    const std::string not_array = replace_once(set.temps, "\"TEMPS\":[", "\"TEMPS\":{\"x\":[");
    const std::string fixed = replace_once(not_array, "}],\"id\"", "}]},\"id\"");
    r.temps = fixed;
    CHECK(error_of(r) == "temps: TEMPS is not an array");

    // "Invalid command" for summary and nothing from REST: no telemetry.
    r = set.replies();
    const std::string invalid =
        R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"BOSminer+ 0.2.0"}],"id":1})";
    r.summary = invalid;
    CHECK(error_of(r) == "summary: error reply, no telemetry");

    // A join answered with one error envelope: refused, so the driver asks one by one.
    BraiinsReplies j;
    j.joined = invalid;
    try {
        (void)parse_braiins(j);
        FAIL("no error");
    } catch (const BraiinsJoinRefused& e) {
        CHECK(std::string(e.what()) == "multi-command reply without summary (Invalid command)");
    }

    // A failed optional part (old BOSminer without tunerstatus) costs only its fields.
    r = set.replies();
    r.tunerstatus = invalid;
    check_s9(parse_braiins(r));

    const RestSet rest;
    BraiinsReplies rr = rest.replies();
    const std::string list = "[]";
    rr.stats = list;
    CHECK(error_of(rr) == "miner/stats: not a JSON object");
    rr = rest.replies();
    const std::string empty = "{}";
    rr.stats = empty;
    CHECK(error_of(rr) == "miner/stats: no miner_stats object");
    rr = rest.replies();
    const std::string half = rest.hashboards.substr(0, 100);
    rr.hashboards = half;
    CHECK(error_of(rr).starts_with("miner/hw/hashboards: "));

    BraiinsReplies none;
    CHECK(error_of(none) == "summary, miner/stats: no reply");
}

TEST_CASE("braiins parse: helpers") {
    CHECK(braiins_model_name("Bitmain Antminer S19XP") == "Antminer S19 XP");
    CHECK(braiins_model_name("Antminer S19 XP") == "Antminer S19 XP");
    CHECK(braiins_model_name("Bitmain Antminer Z15") == "Antminer Z15");  // unknown: as reported
    CHECK(braiins_has_rest("2025-08-06-0-3881c51d-25.07-plus"));
    CHECK(braiins_has_rest("2026-01-10-0-aaaaaaaa-26.01"));
    CHECK_FALSE(braiins_has_rest("2024-06-01-0-bbbbbbbb-24.06-plus"));
    CHECK_FALSE(braiins_has_rest(""));
    CHECK(braiins_login_token(R"({"token":"abc123","timeout_s":3600})") == "abc123");
    CHECK_FALSE(braiins_login_token(R"({"code":401,"message":"no"})").has_value());
    // Modelled on the 25.07 OpenAPI GetConstraintsResponse (no capture exists).
    const auto range = braiins_power_constraints(
        R"({"tuner_constraints":{"power_target":{"default":{"watt":3010},"max":{"watt":3600},"min":{"watt":1500}}}})");
    REQUIRE(range.has_value());
    CHECK(range->min_w == 1500);
    CHECK(range->max_w == 3600);
    CHECK_FALSE(braiins_power_constraints("{}").has_value());
}

TEST_CASE("braiins driver: claims BOSminer/BOSer replies and the Braiins OS web root") {
    const auto& d = braiins_driver();
    ProbeResult p;
    p.version_reply = fixture("s9_bosplus_bosminer_version.json");
    CHECK(d.claims(p));
    CHECK_FALSE(antminer_driver().claims(p));
    // The registry asks Braiins before stock Antminer.
    const auto& all = all_drivers();
    const auto pos = [&](std::string_view n) {
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (all[i]->name() == n) return i;
        }
        return all.size();
    };
    CHECK(pos("braiins") < pos("antminer"));
    ProbeResult web;
    web.http_root_status = 200;
    web.http_root_body = "<html><title>Braiins OS</title></html>";
    CHECK(d.claims(web));
    ProbeResult other;
    other.version_reply =
        R"({"STATUS":[{"STATUS":"S","Description":"cgminer 1.0.0"}],"VERSION":[{"Type":"Antminer S19 Pro"}]})";
    CHECK_FALSE(d.claims(other));
}
