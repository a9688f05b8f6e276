// The Vnish parse functions on every real capture in tests/fixtures/vnish/, checked against the
// shared protocol samples' EXPECTED.md, plus synthetic variations (marked as such) of those
// captures for shapes no capture has: the 1.2.0-beta10 key names, sentinels, a stopped miner,
// error replies and malformed bodies.
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/vnish/parse.hpp"

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

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "vnish";

std::string fixture(std::string_view name) {
    std::ifstream in(kFixtures / name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the one occurrence of `from` (synthetic variations of captures).
std::string replaced(std::string s, std::string_view from, std::string_view to) {
    const auto at = s.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "no " << from);
    s.replace(at, from.size(), to);
    return s;
}

// A TH/s figure to 3 decimals as whole GH/s, for exact comparisons: 77.82649 -> 77826.
long long ths_3dp(const std::optional<double>& v) {
    REQUIRE(v.has_value());
    return std::llround(*v * 1000);
}

const std::string kSummary = "s19jpro_vnish120rc3_api_v1_summary.json";

VnishParsed parse_summary(const std::string& body) {
    VnishReplies r;
    r.summary = body;
    return parse_vnish(r);
}

}  // namespace

TEST_CASE("vnish parse: S19j Pro 1.2.0-rc3 summary (EXPECTED.md)") {
    const std::string body = fixture(kSummary);
    const VnishParsed p = parse_summary(body);
    const MinerSample& s = p.sample;
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);  // miner_state "mining"
    CHECK(s.make == "Bitmain");
    CHECK(s.model == "Antminer S19j Pro");  // miner_type without the parentheses
    CHECK(s.firmware == "vnish");
    CHECK(s.firmware_version == "1.2.0-rc3");
    CHECK(s.mac == "b4:10:7b:a1:b1:e6");
    CHECK_FALSE(s.serial);         // only /info has it
    CHECK_FALSE(s.power_limit_w);  // only /settings has it
    CHECK(s.uptime_s == 3600);     // system.uptime " 1:00"
    // Top level: hr_realtime 54478.543 GH, hr_average 54508.21 GH (= instant/average_hashrate).
    CHECK(ths_3dp(p.top_level.hashrate_ths) == 54479);
    CHECK(ths_3dp(p.top_level.hashrate_avg_ths) == 54508);
    // The sample reports the miner-level figures (EXPECTED.md hr_now, hr_avg); the chains'
    // hashrate_rt 25275.506 + 26131.725 + 26419.26 = 77826.491 GH (exactly 1/0.7 x hr_realtime)
    // stay in the boards; expected = hashrate_ideal 3 x 25905.6.
    CHECK(ths_3dp(s.hashrate_ths) == 54479);
    CHECK(ths_3dp(s.hashrate_avg_ths) == 54508);
    CHECK(ths_3dp(s.expected_hashrate_ths) == 77717);
    double boards_ghs = 0;
    for (const auto& b : s.boards) boards_ghs += b.hashrate_ths.value_or(0) * 1000.0;
    CHECK(std::llround(boards_ghs) == 77826);
    CHECK(s.power_w == 2631);  // power_consumption (power_usage also 2631)
    CHECK(s.power_source == PowerSource::measured);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{5820, 5880, 5850, 5790});
    CHECK(s.hw_errors_total == 0);
    REQUIRE(s.boards.size() == 3);
    const long long rate[] = {25276, 26132, 26419};
    const double chip[] = {65, 64, 64}, pcb[] = {50, 49, 49};
    double chip_max = 0, pcb_max = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        const BoardSample& b = s.boards[i];
        CHECK(b.index == static_cast<int>(i) + 1);  // chains[].id is 1-based
        CHECK(ths_3dp(b.hashrate_ths) == rate[i]);
        CHECK(ths_3dp(b.expected_hashrate_ths) == 25906);
        CHECK(b.chip_temp_max_c == chip[i]);
        CHECK(b.board_temp_max_c == pcb[i]);
        CHECK(b.chips == 126);  // grey + orange (chain 2: 125 + 1)
        CHECK(b.expected_chips == 126);
        CHECK(b.hw_errors == 0);
        CHECK(b.ok == true);
        chip_max = std::max(chip_max, *b.chip_temp_max_c);
        pcb_max = std::max(pcb_max, *b.board_temp_max_c);
    }
    CHECK(chip_max == 65);  // chip_temp max
    CHECK(pcb_max == 50);   // pcb_temp max
    // 3 Foundry pools; the DevFee pseudo-pool is left out.
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].url == "btc.foundryusapool.com:3333");
    CHECK(s.pools[0].user == "pcs19jpro.19.36x55");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[0].accepted == 258);
    CHECK(s.pools[0].rejected == 0);
    CHECK(s.pools[1].url == "btc.foundryusapool.com:443");
    CHECK(s.pools[1].active == false);
    CHECK(s.pools[1].alive == true);
    CHECK(s.pools[2].url == "btc.foundryusapool.com:25");
}

TEST_CASE("vnish parse: settings and info add the power limit and the serial") {
    const std::string summary = fixture(kSummary);
    const std::string settings = fixture("api_v1_settings.json");
    CHECK(vnish_settings_preset(settings) == "3486");  // miner.overclock.preset
    const std::string info =
        R"({"miner":"Antminer S19j Pro","model":"s19jpro","fw_name":"Vnish","fw_version":"1.2.0-rc3",)"
        R"("hr_measure":"GH/s","serial":"JYZZB1CBCJBJG04TX"})";  // synthetic (no capture)
    VnishReplies r;
    r.summary = summary;
    r.settings = settings;
    r.info = info;
    const MinerSample s = parse_vnish(r).sample;
    CHECK(s.power_limit_w == 3486);
    CHECK(s.serial == "JYZZB1CBCJBJG04TX");

    // "disabled" (stock clocks) is no limit; later polls keep the cached identity's values.
    const std::string stock = replaced(settings, R"("preset":"3486")", R"("preset":"disabled")");
    r.settings = stock;
    r.info.reset();
    CHECK_FALSE(parse_vnish(r).sample.power_limit_w);
    MinerSample cached;
    cached.serial = "S1";
    cached.power_limit_w = 3000;
    VnishReplies later;
    later.summary = summary;
    later.identity = &cached;
    const MinerSample s2 = parse_vnish(later).sample;
    CHECK(s2.serial == "S1");
    CHECK(s2.power_limit_w == 3000);

    // Unreadable identity bodies do not spoil the telemetry.
    r.settings = std::string_view("<html>");
    r.info = std::string_view("{\"serial\":");
    const MinerSample s3 = parse_vnish(r).sample;
    CHECK(ths_3dp(s3.hashrate_ths) == 54479);
    CHECK_FALSE(s3.serial);
    CHECK_FALSE(s3.power_limit_w);
}

TEST_CASE("vnish parse: autotune presets and the preset choice") {
    const auto presets = vnish_presets(fixture("api_v1_autotune_presets.json"));
    // "disabled" is not a wattage; the other seven ascending.
    REQUIRE(presets.size() == 7);
    CHECK(presets.front().name == "2710");
    CHECK(presets.front().watts == 2710);
    CHECK(presets.back().name == "3640");
    CHECK(presets[3].name == "3150");
    CHECK(presets[2].tuned);  // 3000 is the tuned one
    CHECK_FALSE(presets[3].tuned);
    // Between two presets: the lower one; exactly on one: that one; above all: the highest.
    CHECK(vnish_choose_preset(presets, 2900)->name == "2850");
    CHECK(vnish_choose_preset(presets, 3000)->name == "3000");
    CHECK(vnish_choose_preset(presets, 3459.9)->name == "3320");
    CHECK(vnish_choose_preset(presets, 9000)->name == "3640");
    CHECK(vnish_choose_preset(presets, 2710)->name == "2710");
    // Below the lowest: none.
    CHECK(vnish_choose_preset(presets, 2709) == nullptr);
    // Presets that need a modded PSU are never chosen (synthetic).
    const auto modded =
        vnish_presets(R"([{"name":"3000","status":"tuned","modded_psu_required":false},)"
                      R"({"name":"3500","status":"untuned","modded_psu_required":true}])");
    REQUIRE(modded.size() == 1);
    CHECK(vnish_choose_preset(modded, 4000)->name == "3000");
    CHECK_THROWS_WITH_AS(vnish_presets(R"({"err":"Unauthorized"})"),
                         doctest::Contains("autotune/presets: the miner answered an error"),
                         VnishParseError);
    CHECK_THROWS_WITH_AS(vnish_presets("[{\"name\":"),
                         doctest::Contains("autotune/presets: not JSON"), VnishParseError);
    CHECK(vnish_preset_settings_body("2850") == R"({"miner":{"overclock":{"preset":"2850"}}})");
}

TEST_CASE("vnish parse: 1.2.0-beta10 key names, sentinels and a stopped miner (synthetic)") {
    std::string body = fixture(kSummary);
    // beta10: power_usage only, no hr_realtime/hr_average (TH/s fields instead).
    body = replaced(body, R"("power_consumption": 2631,"power_usage": 2631)",
                    R"("power_usage": 3733)");
    body = replaced(body, R"("hr_realtime": 54478.543,"hr_average": 54508.21,)", "");
    VnishParsed p = parse_summary(body);
    CHECK(p.sample.power_w == 3733);
    CHECK(p.sample.power_source == PowerSource::measured);
    CHECK(ths_3dp(p.top_level.hashrate_ths) == 54479);  // instant_hashrate 54.478542 TH/s
    CHECK(ths_3dp(p.sample.hashrate_ths) == 54479);
    CHECK(ths_3dp(p.sample.hashrate_avg_ths) == 54508);  // average_hashrate 54.50821 TH/s

    // Dead sensors: a 0 max falls back to the live per-sensor readings, -273 is dropped.
    std::string dead = fixture(kSummary);
    dead = replaced(dead, R"("chip_temp": {"min": 51,"max": 65},"chip_statuses")",
                    R"("chip_temp": {"min": 0,"max": 0},"chip_statuses")");
    dead = replaced(dead, R"({"status": "measure","temp": 65}],"pcb_temp")",
                    R"({"status": "measure","temp": -273}],"pcb_temp")");
    p = parse_summary(dead);
    CHECK(p.sample.boards[0].chip_temp_max_c == 63);
    CHECK(p.sample.boards[1].chip_temp_max_c == 64);

    // mining/stop: miner_state "stopped", nothing hashing -> sleeping; the average since start
    // is still the firmware's.
    std::string stopped = fixture(kSummary);
    stopped = replaced(stopped, R"("miner_state": "mining")", R"("miner_state": "stopped")");
    stopped = replaced(stopped, R"("hr_realtime": 54478.543)", R"("hr_realtime": 0.0)");
    for (const char* rt : {R"("hashrate_rt": 25275.506)", R"("hashrate_rt": 26131.725)",
                           R"("hashrate_rt": 26419.26)"}) {
        stopped = replaced(stopped, rt, R"("hashrate_rt": 0.0)");
    }
    p = parse_summary(stopped);
    CHECK(p.sample.state == MinerState::sleeping);
    CHECK(p.sample.hashrate_ths == 0.0);
    CHECK(ths_3dp(p.sample.hashrate_avg_ths) == 54508);

    // A dead chain: status "failure", every chip red.
    std::string failed = fixture(kSummary);
    failed = replaced(
        failed,
        R"("chip_statuses": {"red": 0,"orange": 0,"grey": 126},"status": {"state": "mining"}},{"id": 2)",
        R"("chip_statuses": {"red": 126,"orange": 0,"grey": 0},"status": {"state": "failure"}},{"id": 2)");
    p = parse_summary(failed);
    CHECK(p.sample.boards[0].ok == false);
    CHECK(p.sample.boards[0].chips == 0);
    CHECK(p.sample.boards[1].ok == true);
}

TEST_CASE("vnish parse: miner states") {
    CHECK(vnish_state("mining", true) == MinerState::mining);
    CHECK(vnish_state("stopped", false) == MinerState::sleeping);
    CHECK(vnish_state("initializing", false) == MinerState::booting);
    CHECK(vnish_state("starting", false) == MinerState::booting);
    CHECK(vnish_state("restarting", false) == MinerState::booting);
    CHECK(vnish_state("auto-tuning", true) == MinerState::mining);
    CHECK(vnish_state("auto-tuning", false) == MinerState::booting);
    CHECK(vnish_state("shutting-down", false) == MinerState::idle);
    CHECK(vnish_state("failure", false) == MinerState::error);
    CHECK(vnish_state("", true) == MinerState::mining);
    CHECK(vnish_state("", false) == MinerState::idle);
}

TEST_CASE("vnish parse: miner_type and uptime text") {
    VnishType t = vnish_type("Antminer S19j Pro (Vnish 1.2.0-rc3)");
    CHECK(t.model == "Antminer S19j Pro");
    CHECK(t.firmware_version == "1.2.0-rc3");
    t = vnish_type("Antminer S19");
    CHECK(t.model == "Antminer S19");
    CHECK_FALSE(t.firmware_version);
    CHECK(vnish_uptime_s(" 1:00") == 3600);
    CHECK(vnish_uptime_s("12:34") == 12 * 3600 + 34 * 60);
    CHECK(vnish_uptime_s("5 min") == 300);
    CHECK(vnish_uptime_s("3 days, 18:00") == 3 * 86400 + 18 * 3600);
    CHECK(vnish_uptime_s("1 day,  0:07") == 86400 + 7 * 60);
    CHECK(vnish_uptime_s("2 days, 5 min") == 2 * 86400 + 300);
    CHECK_FALSE(vnish_uptime_s(""));
    CHECK_FALSE(vnish_uptime_s("soon"));
    CHECK_FALSE(vnish_uptime_s("1:75"));
    // Found by fuzz/vnish_fuzz.cpp: a huge day count overflowed days * 86400 (UB).
    CHECK_FALSE(vnish_uptime_s("92233720368547184 days"));
    CHECK_FALSE(vnish_uptime_s("2233720368547184467 day"));
    CHECK_FALSE(vnish_uptime_s("9223372036854775807 min"));
    CHECK_FALSE(vnish_uptime_s("9223372036854775807:00"));
    CHECK(vnish_uptime_s("36500 days") == std::int64_t{36'500} * 86400);
}

TEST_CASE("vnish parse: detection claims Vnish with /api/v1, not Vnish 3.x or stock") {
    const std::string vnish =
        R"j({"STATUS":[{"STATUS":"S","Code":22,"Msg":"CGMiner versions","Description":"cgminer 1.0.0"}],)j"
        R"j("VERSION":[{"BMMiner":"4.11.1","API":"3.1","Type":"Antminer S19j Pro (Vnish 1.2.0-rc3)"}],"id":1})j";
    CHECK(vnish_version_claims(vnish));
    const std::string old =
        replaced(vnish, "Antminer S19j Pro (Vnish 1.2.0-rc3)", "Antminer S9 (vnish 3.8.6)");
    CHECK_FALSE(vnish_version_claims(old));
    const std::string stock = replaced(vnish, " (Vnish 1.2.0-rc3)", "");
    CHECK_FALSE(vnish_version_claims(stock));

    ProbeResult probe;
    probe.version_reply = vnish;
    CHECK(vnish_driver().claims(probe));
    // The registry asks vnish before antminer, which also claims anything "Antminer".
    for (const auto* d : all_drivers()) {
        if (d->claims(probe)) {
            CHECK(d->name() == "vnish");
            break;
        }
    }
    probe.version_reply = old;
    CHECK_FALSE(vnish_driver().claims(probe));
    CHECK(find_driver("antminer")->claims(probe));  // read-only there, firmware "vnish"
    ProbeResult web;
    web.http_root_status = 200;
    web.http_root_body = "<html><head><title>AnthillOS</title></head></html>";
    CHECK(vnish_driver().claims(web));
}

TEST_CASE("vnish parse: malformed and error replies name the request and the problem") {
    const std::string body = fixture(kSummary);
    CHECK_THROWS_WITH_AS(parse_summary(body.substr(0, body.size() / 2)),
                         doctest::Contains("summary: not JSON"), VnishParseError);
    CHECK_THROWS_WITH_AS(parse_summary("\x8b\x13<html>garbage"),
                         doctest::Contains("summary: not JSON"), VnishParseError);
    CHECK_THROWS_WITH_AS(parse_summary(""), doctest::Contains("summary: not JSON"),
                         VnishParseError);
    CHECK_THROWS_WITH_AS(parse_summary(R"({"err":"Unauthorized"})"),
                         doctest::Contains("summary: the miner answered an error: Unauthorized"),
                         VnishParseError);
    CHECK_THROWS_WITH_AS(parse_summary("[1,2]"), doctest::Contains("summary: not a JSON object"),
                         VnishParseError);
    CHECK_THROWS_WITH_AS(parse_summary(R"({"system":{}})"),
                         doctest::Contains("summary: no \"miner\" object"), VnishParseError);
    CHECK_THROWS_WITH_AS(vnish_settings_preset("nope"), doctest::Contains("settings: not JSON"),
                         VnishParseError);
    CHECK(vnish_unlock_token(R"({"token":"abc123"})") == "abc123");
    CHECK_THROWS_WITH_AS(vnish_unlock_token(R"({"err":"Wrong password"})"),
                         doctest::Contains("unlock: the miner answered an error: Wrong password"),
                         VnishParseError);
    CHECK_THROWS_WITH_AS(vnish_unlock_token("{}"), doctest::Contains("unlock: no token"),
                         VnishParseError);
    // Trailing bytes after the first value are ignored, as for every reply (PROTOCOLS.md §10).
    CHECK(ths_3dp(parse_summary(body + "}\"}").sample.hashrate_ths) == 54479);
}
