// The Avalon parse functions on every real capture in tests/fixtures/avalon/, checked against the
// shared protocol samples' EXPECTED.md, plus synthetic variations (marked as such) of those
// captures for shapes no capture has: soft-off, WALLPOWER, sentinels, error replies.
#include "agent/drivers/avalon/parse.hpp"
#include "agent/drivers/drivers.hpp"

#include <algorithm>
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

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures";

std::string fixture(std::string_view relative) {
    std::ifstream in(kFixtures / "avalon" / relative, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string replaced(std::string s, std::string_view from, std::string_view to) {
    const auto at = s.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "no " << from);
    s.replace(at, from.size(), to);
    return s;
}

// A TH/s figure to 3 decimals as an integer count of GH/s: 80.52110 -> 80521.
long long ths_3dp(const std::optional<double>& v) {
    REQUIRE(v.has_value());
    return std::llround(*v * 1000);
}

double max_chip(const MinerSample& s) {
    double m = -1;
    for (const auto& b : s.boards) m = std::max(m, b.chip_temp_max_c.value_or(-1));
    return m;
}

double max_board(const MinerSample& s) {
    double m = -1;
    for (const auto& b : s.boards) m = std::max(m, b.board_temp_max_c.value_or(-1));
    return m;
}

MinerSample parse_stats(const std::string& stats, const std::string* version = nullptr) {
    AvalonReplies r;
    r.stats = stats;
    if (version) r.version = *version;
    return parse_avalon(r);
}

MinerSample parse_joined(const std::string& joined) {
    AvalonReplies r;
    r.joined = joined;
    return parse_avalon(r);
}

const std::string kInvalid =
    R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command"}],"id":1})";

}  // namespace

TEST_CASE("avalon parse: a1246_estats (libminer capture)") {
    const MinerSample s = parse_stats(fixture("a1246_estats.json"));
    CHECK(s.up);
    CHECK(s.make == "Canaan");
    CHECK(s.firmware == "stock");
    CHECK(s.model == "AvalonMiner 1246");  // from Ver[1246-81-…] when there is no version reply
    CHECK(s.firmware_version == "21030201_4ec6bb0_09b1765");
    CHECK(s.serial == "020100000828a153");
    CHECK_FALSE(s.mac.has_value());
    CHECK(s.state == MinerState::mining);
    CHECK(ths_3dp(s.hashrate_ths) == 80521);           // GHSspd 80521.10
    CHECK(ths_3dp(s.hashrate_avg_ths) == 75782);       // GHSavg 75781.50
    CHECK(ths_3dp(s.expected_hashrate_ths) == 86564);  // GHSmm 86564.08
    CHECK(s.fans_rpm == std::vector<std::int64_t>{3337, 3302, 3302, 3288});
    REQUIRE(s.boards.size() == 3);
    CHECK(ths_3dp(s.boards[0].hashrate_ths) == 25281);
    CHECK(ths_3dp(s.boards[1].hashrate_ths) == 24670);
    CHECK(ths_3dp(s.boards[2].hashrate_ths) == 25831);
    double sum = 0;
    for (const auto& b : s.boards) sum += *b.hashrate_ths;
    CHECK(std::llround(sum * 1000) == 75781);  // Σ MGHS 75.78149
    CHECK(s.boards[0].chip_temp_max_c == 88);
    CHECK(s.boards[1].chip_temp_max_c == 86);
    CHECK(s.boards[2].chip_temp_max_c == 81);
    CHECK(max_chip(s) == 88);   // TMax 88
    CHECK(max_board(s) == 68);  // MTavg 68 / 62 / 67
    CHECK(s.boards[0].index == 0);
    CHECK(s.boards[2].index == 2);
    CHECK(s.boards[0].expected_chips == 120);  // model table
    CHECK(s.boards[0].ok == true);
    // No WALLPOWER: PS[0 1197 1240 261 3239 1240] -> PS[4], the DC output.
    CHECK(s.power_w == 3239);
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(s.power_limit_w == 3200);  // MPO
    CHECK(s.hw_errors_total == 240);
    CHECK(s.uptime_s == 1750);
    CHECK(s.inlet_temp_c == 23);
    CHECK(s.errors.empty());  // ECHU[0 0 0] ECMM[0]
    CHECK(s.pools.empty());
}

TEST_CASE("avalon parse: a1246_stats (asic-rs capture)") {
    const MinerSample s = parse_stats(fixture("a1246_stats.json"));
    CHECK(s.model == "AvalonMiner 1246");
    CHECK(s.firmware_version == "21072802_4ec6bb0_211fc46");
    CHECK(s.serial == "02010000cbd2fd6d");
    CHECK(s.state == MinerState::mining);
    CHECK(ths_3dp(s.hashrate_ths) == 81073);           // GHSspd 81072.68
    CHECK(ths_3dp(s.hashrate_avg_ths) == 79657);       // GHSavg 79656.63
    CHECK(ths_3dp(s.expected_hashrate_ths) == 83923);  // GHSmm 83923.04 (asic-rs 83.92304)
    CHECK(s.fans_rpm == std::vector<std::int64_t>{5344, 5392, 5349, 5309});
    REQUIRE(s.boards.size() == 3);
    double sum = 0;
    for (const auto& b : s.boards) sum += *b.hashrate_ths;
    CHECK(std::llround(sum * 1000) == 79657);
    CHECK(max_chip(s) == 77);
    CHECK(max_board(s) == 66);
    // PS[0 1214 1316 242 3189 1320 3504], no WALLPOWER: 3189 (asic-rs), not PS[6].
    CHECK(s.power_w == 3189);
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(s.power_limit_w == 3200);
    CHECK(s.uptime_s == 24684);
    CHECK(s.hw_errors_total == 2735);
    CHECK(s.inlet_temp_c == 30);
}

TEST_CASE("avalon parse: a1246_version gives the identity") {
    const std::string version = fixture("a1246_version.json");
    const MinerSample s = parse_stats(fixture("a1246_estats.json"), &version);
    CHECK(s.model == "AvalonMiner 1246");  // PROD "AvalonMiner 1246-81"
    CHECK(s.firmware_version == "21030201_4ec6bb0_09b1765");
    CHECK(s.mac == "b4:a2:eb:34:60:fa");  // MAC b4a2eb3460fa
    CHECK(s.serial == "020100000828a153");
    CHECK(avalon_model_name("AvalonMiner 1246-81", "1246-81") == "AvalonMiner 1246");
    CHECK(avalon_model_name("AvalonMiner 15-194", "1566-194") == "AvalonMiner 1566");
    CHECK(avalon_model_name("Avalon Q", "Q") == "Avalon Q");
    CHECK(avalon_model_name("", "1366") == "AvalonMiner 1366");
}

TEST_CASE("avalon parse: a10xx multi-command pools+summary+stats") {
    const MinerSample s = parse_joined(fixture("a10xx_multicommand_pools+summary+stats.json"));
    CHECK(s.state == MinerState::mining);
    CHECK(s.model == "AvalonMiner 1047");  // Ver[1047-20051101_…]
    CHECK(s.firmware_version == "20051101_85dc6f0_0332654");
    CHECK(s.serial == "02010000cb231da8");
    CHECK(s.uptime_s == 155);  // summary Elapsed (the MM string says 157)
    // No GHSspd in this firmware: now = summary MHS 30s, average = summary MHS av.
    CHECK(ths_3dp(s.hashrate_ths) == 32247);
    CHECK(ths_3dp(s.hashrate_avg_ths) == 25537);
    CHECK(ths_3dp(s.expected_hashrate_ths) == 37471);
    REQUIRE(s.boards.size() == 2);  // Hash Board: 2
    CHECK(ths_3dp(s.boards[0].hashrate_ths) == 12363);
    CHECK(ths_3dp(s.boards[1].hashrate_ths) == 12812);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{2896, 2927});
    CHECK(max_chip(s) == 64);
    CHECK(max_board(s) == 58);
    CHECK(s.power_limit_w == 2220);
    // PS[0 0 0 0 0 0] (POW_I2C[FAILED]) and a model outside the table: no power at all, not 0.
    CHECK_FALSE(s.power_w.has_value());
    CHECK_FALSE(s.power_source.has_value());
    CHECK(s.hw_errors_total == 0);
    // ECHU[512 512]: the boards' error flags come through as miner errors.
    REQUIRE(s.errors.size() == 2);
    CHECK(s.errors[0].code == "ECHU0:512");
    CHECK(s.errors[1].code == "ECHU1:512");
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].url == "stratum+tcp://sha256.mining-dutch.nl:9996");
    CHECK(s.pools[0].user == "xxx");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[1].active == false);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[0].accepted == 5);
    CHECK(s.pools[0].rejected == 0);
}

TEST_CASE("avalon parse: the nan capture gives unknown, not 0") {
    const MinerSample s = parse_joined(fixture("a10xx_multicommand_nan.txt"));
    CHECK(s.up);
    // "MHS av":nan (bare token) -> unknown; the MM GHSavg is not substituted for it.
    CHECK_FALSE(s.hashrate_avg_ths.has_value());
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(*s.hashrate_ths == 0);  // MHS 30s 0: reported as 0
    // Not hashing, 155 s after the daemon started, not soft-off: booting.
    CHECK(s.state == MinerState::booting);
    CHECK(s.uptime_s == 155);
    CHECK(s.pools.size() == 3);
    CHECK(s.boards.size() == 2);
}

TEST_CASE("avalon parse: the MM ID tokenizer") {
    const auto t = avalon_mm_tokens(
        "Ver[1246-81-x] SYSTEMSTATU[Work: In Work, Hash Board: 3 ] PVT_T0[ 63  70] FACOPTS0[] "
        "MGHS[1.5 nan -273] Cut[12");
    REQUIRE(t.size() == 5);
    CHECK(t[0].key == "Ver");
    CHECK(t[0].value == "1246-81-x");
    CHECK(t[1].key == "SYSTEMSTATU");
    CHECK(t[1].value == "Work: In Work, Hash Board: 3 ");
    CHECK(t[2].key == "PVT_T0");
    CHECK(t[3].key == "FACOPTS0");
    CHECK(t[3].value.empty());
    CHECK(t[4].key == "MGHS");
    const auto n = avalon_numbers(t[4].value);
    REQUIRE(n.size() == 3);
    CHECK(n[0] == 1.5);
    CHECK_FALSE(n[1].has_value());
    CHECK(n[2] == -273);
    CHECK(avalon_numbers("49%") == std::vector<std::optional<double>>{49.0});
    CHECK(avalon_mm_tokens("").empty());
    CHECK(avalon_mm_tokens("no tokens here").empty());
}

TEST_CASE("avalon parse: sentinels, nan and WALLPOWER (synthetic variations)") {
    std::string st = fixture("a1246_estats.json");
    st = replaced(st, "MTmax[88 86 81]", "MTmax[-273 nan 81]");
    st = replaced(st, "GHSspd[80521.10]", "GHSspd[nan]");
    st = replaced(st, "Temp[23]", "Temp[-273]");
    st = replaced(st, "MPO[3200]", "WALLPOWER[3731] MPO[3200]");
    const MinerSample s = parse_stats(st);
    REQUIRE(s.boards.size() == 3);
    CHECK_FALSE(s.boards[0].chip_temp_max_c.has_value());
    CHECK_FALSE(s.boards[1].chip_temp_max_c.has_value());
    CHECK(s.boards[2].chip_temp_max_c == 81);
    CHECK_FALSE(s.hashrate_ths.has_value());  // nan: unknown, not 0
    CHECK_FALSE(s.inlet_temp_c.has_value());
    CHECK(s.power_w == 3731);  // the wall figure wins over PS[4]
    CHECK(s.power_source == PowerSource::measured);
    CHECK(s.state == MinerState::idle);  // an unknown hash rate is not a failure
}

TEST_CASE("avalon parse: soft-off, idle and boot states (synthetic variations)") {
    const std::string base = fixture("a1246_estats.json");
    // softoff: SoftOFF set and the boards stopped.
    std::string off = replaced(base, "SoftOFF[0]", "SoftOFF[1753434821]");
    off = replaced(off, "GHSspd[80521.10]", "GHSspd[0.00]");
    off = replaced(off, "Work: In Work", "Work: In Idle");
    CHECK(parse_stats(off).state == MinerState::sleeping);
    // Still hashing just after softoff: mining until the boards stop.
    CHECK(parse_stats(replaced(base, "SoftOFF[0]", "SoftOFF[1]")).state == MinerState::mining);
    // Firmware without SoftOFF: "In Idle" is the sleep indicator.
    std::string idle = replaced(base, "SoftOFF[0] ", "");
    idle = replaced(idle, "GHSspd[80521.10]", "GHSspd[0.00]");
    idle = replaced(idle, "Work: In Work", "Work: In Idle");
    CHECK(parse_stats(idle).state == MinerState::sleeping);
    // Not hashing, not soft-off, long past start: the firmware stopped on its own.
    const std::string stopped = replaced(base, "GHSspd[80521.10]", "GHSspd[0.00]");
    CHECK(parse_stats(stopped).state == MinerState::error);
    // ... unless cgminer started moments ago and has not hashed yet.
    std::string early = replaced(stopped, "\"Elapsed\":1750", "\"Elapsed\":12");
    CHECK(parse_stats(early).state == MinerState::error);  // GHSavg > 0: it hashed, then stopped
    const std::string boot = replaced(early, "GHSavg[75781.50]", "GHSavg[0.00]");
    CHECK(parse_stats(boot).state == MinerState::booting);
}

TEST_CASE("avalon parse: error replies and malformed text name the command") {
    auto message = [](const AvalonReplies& r) -> std::string {
        try {
            (void)parse_avalon(r);
        } catch (const AvalonJoinRefused& e) {
            return std::string("join refused: ") + e.what();
        } catch (const AvalonParseError& e) {
            return e.what();
        }
        return "parsed";
    };
    AvalonReplies r;
    CHECK(message(r) == "estats: no reply");
    const std::string garbage = "\x13\x37 not json at all";
    r.stats = garbage;
    CHECK(message(r).starts_with("estats: "));
    r.stats = kInvalid;
    CHECK(message(r) == "estats: error reply");
    const std::string truncated = fixture("a1246_estats.json").substr(0, 3000);
    r.stats = truncated;
    CHECK(message(r).starts_with("estats: "));
    const std::string no_mm =
        R"({"STATUS":[{"STATUS":"S","Code":70,"Msg":"CGMiner stats"}],"STATS":[{"STATS":0,"ID":"AVA100"}],"id":1})";
    r.stats = no_mm;
    CHECK(message(r) == "estats: STATS has no MM ID0 string");
    const std::string q =
        R"({"STATUS":[{"STATUS":"S","Code":70}],"STATS":[{"STATS":0,"MM ID0:Summary":"'STATS':{}"}],"id":1})";
    r.stats = q;
    CHECK(message(r).find("Avalon Q") != std::string::npos);
    const std::string empty_mm =
        R"({"STATUS":[{"STATUS":"S","Code":70}],"STATS":[{"STATS":0,"MM ID0":"nothing"}],"id":1})";
    r.stats = empty_mm;
    CHECK(message(r) == "estats: MM ID0 holds no Key[value] tokens");
    AvalonReplies j;
    j.joined = kInvalid;
    CHECK(message(j).starts_with("join refused: multi-command reply without estats"));
    CHECK(message(j).find("Invalid command") != std::string::npos);
    const std::string bad_join = "{\"summary\":[{\"STATUS\"";
    j.joined = bad_join;
    CHECK(message(j).starts_with("summary+estats+pools: "));
    // Error replies to the optional commands mean "not available", not a failure.
    AvalonReplies partial;
    const std::string stats = fixture("a1246_estats.json");
    partial.stats = stats;
    partial.summary = kInvalid;
    partial.pools = kInvalid;
    partial.version = kInvalid;
    const MinerSample s = parse_avalon(partial);
    CHECK(s.up);
    CHECK(s.pools.empty());
    CHECK(ths_3dp(s.hashrate_avg_ths) == 75782);
}

TEST_CASE("avalon parse: ascset replies") {
    AscsetReply r = parse_avalon_ascset(fixture("ascset_softoff_reply.json"), "softoff");
    CHECK(r.ok);
    CHECK(r.status == 'I');
    CHECK(r.code == 118);
    CHECK(r.message == "ASC 0 set info: success softoff:1753434821");
    r = parse_avalon_ascset(fixture("ascset_softon_reply.json"), "softon");
    CHECK(r.ok);
    CHECK(r.message == "ASC 0 set info: success softon:1753434757");
    r = parse_avalon_ascset(fixture("ascset_workmode_reply.json"), "workmode");
    CHECK(r.ok);
    CHECK(r.status == 'S');
    CHECK(r.code == 119);
    CHECK(r.message == "ASC 0 set OK");
    r = parse_avalon_ascset(fixture("ascset_help_reply.json"), "help");
    CHECK(r.ok);
    CHECK(r.message.find("|workmode|") != std::string::npos);
    CHECK(r.message.find("|softoff|") != std::string::npos);
    // An info reply without "success" is not a soft-off.
    CHECK_FALSE(parse_avalon_ascset(fixture("ascset_help_reply.json"), "softoff").ok);
    r = parse_avalon_ascset(fixture("ascset_hashpower_reply.json"), "hashpower");
    CHECK(r.ok);
    auto info = avalon_ascset_info(r.message);
    REQUIRE(info.size() == 1);
    CHECK(info[0].key == "PS");
    const auto ps = avalon_numbers(info[0].value);
    REQUIRE(ps.size() == 6);
    CHECK(ps[4] == 3247);
    r = parse_avalon_ascset(fixture("ascset_led_query_reply.json"), "led");
    info = avalon_ascset_info(r.message);
    REQUIRE(info.size() == 1);
    CHECK(info[0].key == "LED");
    CHECK(info[0].value == "0");  // locate LED off
    const std::string failed =
        R"({"STATUS":[{"STATUS":"E","When":1,"Code":120,"Msg":"ASC 0 set failed: invalid workmode value, valid range 0-2","Description":"cgminer 4.11.1"}],"id":1})";
    r = parse_avalon_ascset(failed, "workmode");
    CHECK_FALSE(r.ok);
    CHECK(r.code == 120);
    CHECK_THROWS_AS(parse_avalon_ascset("garbage", "softoff"), AvalonParseError);
}

TEST_CASE("avalon parse: work modes for power targets") {
    // AvalonMiner 1246: nominal 3420 W, max 3500 W.
    CHECK(avalon_work_mode_power_w(kAvalonWorkModeLow, 3420, 3500) == doctest::Approx(2736));
    CHECK(avalon_work_mode_power_w(kAvalonWorkModeNormal, 3420, 3500) == 3420);
    CHECK(avalon_work_mode_power_w(kAvalonWorkModeHigh, 3420, 3500) == 3500);
    CHECK(avalon_work_mode_for(3500, 3420, 3500) == kAvalonWorkModeHigh);
    CHECK(avalon_work_mode_for(3419, 3420, 3500) == kAvalonWorkModeLow);
    CHECK(avalon_work_mode_for(3420, 3420, 3500) == kAvalonWorkModeNormal);
    CHECK(avalon_work_mode_for(2736, 3420, 3500) == kAvalonWorkModeLow);
    CHECK(avalon_work_mode_for(2700, 3420, 3500) == std::nullopt);
}

TEST_CASE("avalon driver: detection and registry order") {
    const MinerDriver& d = avalon_driver();
    CHECK(d.name() == "avalon");
    ProbeResult p;
    p.version_reply = fixture("a1246_version.json");
    CHECK(d.claims(p));
    CHECK_FALSE(antminer_driver().claims(p));
    CHECK_FALSE(whatsminer_driver().claims(p));
    ProbeResult other;
    other.version_reply =
        R"({"STATUS":[{"STATUS":"S","Code":22}],"VERSION":[{"Type":"Antminer S19 Pro"}],"id":1})";
    CHECK_FALSE(d.claims(other));
    const auto& all = all_drivers();
    const auto pos = [&](std::string_view n) {
        return std::find_if(all.begin(), all.end(), [&](auto* x) { return x->name() == n; }) -
               all.begin();
    };
    CHECK(pos("avalon") > pos("antminer"));
    CHECK(find_driver("avalon") == &d);

    MinerSample id;
    id.model = "AvalonMiner 1246";
    const Capabilities c = d.capabilities(id);
    CHECK(c.sleep);
    CHECK(c.wake);
    CHECK(c.reboot);
    CHECK(c.power_target_min_w == 2736);
    CHECK(c.power_target_max_w == 3500);
    MinerSample unknown;
    unknown.model = "AvalonMiner 1047";
    const Capabilities u = d.capabilities(unknown);
    CHECK(u.sleep);
    CHECK_FALSE(u.power_target_min_w.has_value());
}
