// The stock Antminer parse functions on every real capture in tests/fixtures/antminer/, checked
// against the shared protocol samples' EXPECTED.md, plus synthetic variations (marked as such)
// of those captures for shapes no capture has: error replies, sleep by `Mode` 254, web errors.
#include "agent/drivers/antminer/parse.hpp"
#include "agent/drivers/drivers.hpp"
#include "common/models.hpp"

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
    std::ifstream in(kFixtures / "antminer" / relative, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string other_fixture(std::string_view relative) {
    std::ifstream in(kFixtures / relative, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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

struct S19Pro {
    std::string version = fixture("s19pro_bmminer_version.json");
    std::string summary = fixture("s19pro_bmminer_summary.json");
    std::string stats = fixture("s19pro_bmminer_stats.json");
    std::string pools = fixture("s19pro_bmminer_pools.json");
    AntminerReplies replies() const {
        AntminerReplies r;
        r.version = version;
        r.summary = summary;
        r.stats = stats;
        r.pools = pools;
        return r;
    }
};

struct S19Sleeping {
    std::string version = fixture("s19_sleeping_version.json");
    std::string stats = fixture("s19_sleeping_stats.json");
    std::string pools = fixture("s19_sleeping_pools.json");
    std::string conf = fixture("s19_sleeping_web_get_miner_conf.json");
    AntminerReplies replies(bool with_conf = true) const {
        AntminerReplies r;
        r.version = version;
        r.stats = stats;
        r.pools = pools;
        if (with_conf) r.miner_conf = conf;
        return r;
    }
};

struct S9Hiveon {
    std::string version = fixture("s9_hiveon_version.json");
    std::string stats = fixture("s9_hiveon_stats.txt");
    std::string pools = fixture("s9_hiveon_pools.json");
    AntminerReplies replies() const {
        AntminerReplies r;
        r.version = version;
        r.stats = stats;
        r.pools = pools;
        return r;
    }
};

void check_s19pro(const MinerSample& s) {
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    CHECK(s.make == "Bitmain");
    CHECK(s.model == "Antminer S19 Pro");
    CHECK(s.firmware == "stock");
    CHECK(s.firmware_version == "Tue Dec  6 16:12:30 CST 2022");
    REQUIRE(s.hashrate_ths);
    CHECK(*s.hashrate_ths == doctest::Approx(110.56689).epsilon(1e-9));
    CHECK(*s.hashrate_avg_ths == doctest::Approx(111.83485).epsilon(1e-9));
    CHECK(*s.expected_hashrate_ths == doctest::Approx(110.0));
    CHECK(s.hw_errors_total == 562);
    CHECK(s.uptime_s == 50474);
    REQUIRE(s.boards.size() == 3);
    const double rates[] = {37.60330, 35.53622, 37.42738};
    const std::int64_t hw[] = {183, 195, 184};
    const double board_max[] = {73, 66, 64};
    const double chip_max[] = {78, 71, 69};
    double sum = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& b = s.boards[i];
        CAPTURE(i);
        CHECK(b.index == static_cast<int>(i) + 1);
        CHECK(*b.hashrate_ths == doctest::Approx(rates[i]).epsilon(1e-9));
        CHECK(b.chips == 114);
        CHECK(b.expected_chips == 114);
        CHECK(b.hw_errors == hw[i]);
        CHECK(b.board_temp_max_c == board_max[i]);
        CHECK(b.chip_temp_max_c == chip_max[i]);
        CHECK(b.ok == true);
        CHECK(!b.expected_hashrate_ths);  // S19 stats have no per-chain ideal rate
        sum += *b.hashrate_ths;
    }
    CHECK(sum == doctest::Approx(110.5669).epsilon(1e-6));
    CHECK(s.fans_rpm == std::vector<std::int64_t>{6000, 5880, 5040, 5040});
    // Stock S19 measures no power: the model table estimates it.
    CHECK(s.power_source == PowerSource::estimated);
    REQUIRE(s.power_w);
    CHECK(*s.power_w == doctest::Approx(estimated_power_w(*find_model("s19pro"), 110.56689)));
    CHECK(!s.power_limit_w);
    CHECK(!s.inlet_temp_c);
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].url == "stratum+tcp://btc.global.luxor.tech:700");
    CHECK(s.pools[0].user == "satokierepair.H04YK");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[0].accepted == 4057);
    CHECK(s.pools[0].rejected == 11);
    CHECK(s.pools[0].stale == 1);
    CHECK(s.pools[1].active == false);
    CHECK(s.pools[2].active == false);
    CHECK(s.pools[2].alive == true);
    CHECK(s.errors.empty());
    CHECK(!s.serial);
    CHECK(!s.mac);
}

}  // namespace

TEST_CASE("antminer parse: S19 Pro captures (version, summary, stats, pools)") {
    const S19Pro cap;
    check_s19pro(parse_antminer(cap.replies()));
}

TEST_CASE("antminer parse: S19 Pro captures joined as one multi-command reply") {
    const S19Pro cap;
    const std::string all = joined({{"summary", cap.summary},
                                    {"stats", cap.stats},
                                    {"pools", cap.pools},
                                    {"version", cap.version}});
    AntminerReplies r;
    r.joined = all;
    const MinerSample s = parse_antminer(r);
    check_s19pro(s);
    CHECK(s == parse_antminer(cap.replies()));
    // Without version in the join, the stats version block still names the model.
    const std::string three =
        joined({{"summary", cap.summary}, {"stats", cap.stats}, {"pools", cap.pools}});
    r.joined = three;
    check_s19pro(parse_antminer(r));
}

TEST_CASE("antminer parse: devs is the BTM_SOC pseudo-device and is not needed") {
    // EXPECTED.md: devs reports MHS 5s 0.0 and the typo key Tenperature; the sample comes from
    // summary and stats alone, so the capture's zero cannot leak into the hash rate.
    const std::string devs = fixture("s19pro_bmminer_devs.json");
    CHECK(devs.find("Tenperature") != std::string::npos);
    const S19Pro cap;
    CHECK(*parse_antminer(cap.replies()).hashrate_ths > 100);
}

TEST_CASE("antminer parse: S9 Hiveon captures (stats with `}{`, chains 6..8, fans 5/6)") {
    const S9Hiveon cap;
    const MinerSample s = parse_antminer(cap.replies());
    CHECK(s.state == MinerState::mining);
    CHECK(s.model == "Antminer S9");
    CHECK(s.firmware == "hiveon");
    CHECK(s.firmware_version == "Tue Nov 20 10:12:30 UTC 2019");
    // No summary capture: the hash rates come from stats (GHS 5s is a string here).
    CHECK(*s.hashrate_ths == doctest::Approx(11.7814).epsilon(1e-9));
    CHECK(*s.hashrate_avg_ths == doctest::Approx(11.60955).epsilon(1e-9));
    CHECK(*s.expected_hashrate_ths == doctest::Approx(11.8503).epsilon(1e-9));
    CHECK(s.uptime_s == 69);
    REQUIRE(s.boards.size() == 3);
    const double rates[] = {3.91164, 3.91370, 3.95605};
    const double board_max[] = {59, 50, 57};
    const double chip_max[] = {74, 65, 72};
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& b = s.boards[i];
        CAPTURE(i);
        CHECK(b.index == static_cast<int>(i) + 6);
        CHECK(*b.hashrate_ths == doctest::Approx(rates[i]).epsilon(1e-9));
        CHECK(*b.expected_hashrate_ths == doctest::Approx(3.9501).epsilon(1e-9));
        CHECK(b.chips == 63);
        CHECK(b.expected_chips == 63);
        CHECK(b.hw_errors == 0);
        CHECK(b.board_temp_max_c == board_max[i]);
        CHECK(b.chip_temp_max_c == chip_max[i]);
        CHECK(b.ok == true);
    }
    CHECK(s.fans_rpm == std::vector<std::int64_t>{3840, 4920});
    CHECK(s.hw_errors_total == 0);
    // chain_power "34.65 (AB)" is not the miner's watts.
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(*s.power_w == doctest::Approx(estimated_power_w(*find_model("s9"), 11.7814)));
    REQUIRE(s.pools.size() == 5);
    CHECK(s.pools[0].url == "stratum+tcp://dash-eu.coinmine.pl:6099");
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].accepted == 3038);
    CHECK(s.pools[0].rejected == 8);
    CHECK(s.pools[0].stale == 5);
    CHECK(s.pools[1].url.empty());
    CHECK(s.pools[1].alive == false);
    CHECK(s.pools[2].alive == false);
    CHECK(s.pools[3].user == "devFeeMiner.9");
    CHECK(s.pools[3].alive == true);
    CHECK(s.pools[3].active == false);
    CHECK(s.pools[4].active == false);
}

TEST_CASE("antminer parse: sleeping S19 captures (bitmain-work-mode 1)") {
    const S19Sleeping cap;
    const MinerSample s = parse_antminer(cap.replies());
    CHECK(s.up);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.model == "Antminer S19");
    CHECK(s.firmware == "stock");
    CHECK(s.firmware_version == "Fri Dec 11 11:15:40 CST 2020");
    CHECK(*s.hashrate_ths == 0.0);
    CHECK(*s.hashrate_avg_ths == 0.0);
    CHECK(*s.expected_hashrate_ths == doctest::Approx(63.919));
    CHECK(s.uptime_s == 735);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{1560, 1560, 600, 720});
    // Chains 2 and 3 report; the S19's third board (chain 1) is missing: reported, not hidden.
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[0].index == 1);
    CHECK(s.boards[0].chips == 0);
    CHECK(s.boards[0].expected_chips == 76);
    CHECK(s.boards[0].ok == false);
    CHECK(!s.boards[0].hashrate_ths);
    CHECK(!s.boards[0].chip_temp_max_c);
    for (std::size_t i = 1; i < 3; ++i) {
        const auto& b = s.boards[i];
        CAPTURE(i);
        CHECK(b.index == static_cast<int>(i) + 1);
        CHECK(b.chips == 76);
        CHECK(*b.hashrate_ths == 0.0);
        CHECK(b.chip_temp_max_c == 40);
        CHECK(b.board_temp_max_c == 40);
        CHECK(b.ok == true);
    }
    // Asleep: the control board and fans only.
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(*s.power_w == doctest::Approx(estimated_power_w(*find_model("s19"), 0)));
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[1].alive == true);
    CHECK(s.pools[2].alive == false);  // "Deed"
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[1].active == false);
    CHECK(s.pools[0].url == "stratum+tcp://aaa:700");
}

TEST_CASE("antminer parse: zero hash rate alone is not sleep") {
    const S19Sleeping cap;
    SUBCASE("no sleep indicator fetched: idle") {
        CHECK(parse_antminer(cap.replies(false)).state == MinerState::idle);
    }
    SUBCASE("work mode normal (synthetic): error") {
        const std::string conf =
            replaced(cap.conf, R"("bitmain-work-mode" : "1")", R"("bitmain-work-mode" : "0")");
        AntminerReplies r = cap.replies(false);
        r.miner_conf = conf;
        CHECK(parse_antminer(r).state == MinerState::error);
    }
    SUBCASE("low-power mode (synthetic) is a mining mode: not asleep") {
        const std::string conf =
            replaced(cap.conf, R"("bitmain-work-mode" : "1")", R"("bitmain-work-mode" : "3")");
        AntminerReplies r = cap.replies(false);
        r.miner_conf = conf;
        CHECK(parse_antminer(r).state == MinerState::error);
    }
    SUBCASE("daemon just started (synthetic Elapsed 20): booting") {
        const std::string stats = replaced(cap.stats, R"("Elapsed": 735)", R"("Elapsed": 20)");
        AntminerReplies r = cap.replies(false);
        r.stats = stats;
        CHECK(parse_antminer(r).state == MinerState::booting);
    }
    SUBCASE("stats Mode 254 (synthetic, X17 stock): sleeping without the web") {
        const std::string stats = replaced(cap.stats, R"("Mode": 2)", R"("Mode": 254)");
        AntminerReplies r = cap.replies(false);
        r.stats = stats;
        MinerSample s = parse_antminer(r);
        CHECK(s.state == MinerState::sleeping);
        // The web cannot undo it.
        apply_antminer_web_state(s, std::nullopt, std::nullopt);
        CHECK(s.state == MinerState::sleeping);
    }
    SUBCASE("apply_antminer_web_state decides later, as the driver does") {
        MinerSample s = parse_antminer(cap.replies(false));
        CHECK(s.state == MinerState::idle);
        apply_antminer_web_state(s, std::string_view(cap.conf), std::nullopt);
        CHECK(s.state == MinerState::sleeping);
    }
    SUBCASE("work mode 1 while still hashing (ramping down, or sleep ignored): mining") {
        const S19Pro pro;
        AntminerReplies r = pro.replies();
        r.miner_conf = cap.conf;
        CHECK(parse_antminer(r).state == MinerState::mining);
    }
}

TEST_CASE("antminer parse: summary.cgi status items are the miner's errors (synthetic)") {
    const S19Sleeping cap;
    const std::string web_summary =
        R"({"STATUS":{"STATUS":"S","when":1,"Msg":"summary","api_version":"1.0.0"},)"
        R"("INFO":{"miner_version":"49.0.1.3","CompileTime":"x","type":"Antminer S19"},)"
        R"("SUMMARY":[{"elapsed":735,"status":[{"type":"rate","status":"s","code":0,"msg":""},)"
        R"({"type":"fans","status":"s","code":0,"msg":""},)"
        R"({"type":"temp","status":"e","code":3,"msg":"over max temp"}]}]})";
    const std::string conf =
        replaced(cap.conf, R"("bitmain-work-mode" : "1")", R"("bitmain-work-mode" : "0")");
    AntminerReplies r = cap.replies(false);
    r.miner_conf = conf;
    r.web_summary = web_summary;
    const MinerSample s = parse_antminer(r);
    CHECK(s.state == MinerState::error);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == "3");
    CHECK(s.errors[0].message == "temp: over max temp");
    // Unreadable web bodies change nothing.
    MinerSample t = parse_antminer(cap.replies(false));
    apply_antminer_web_state(t, std::string_view("<html>"), std::string_view("{\"x\":"));
    CHECK(t.state == MinerState::idle);
    CHECK(t.errors.empty());
}

TEST_CASE("antminer parse: S21 get_system_info.cgi (serial, firmware build, invalid MAC)") {
    const std::string info = fixture("s21_web_get_system_info.json");
    const S19Pro cap;
    AntminerReplies r = cap.replies();
    r.system_info = info;
    const MinerSample s = parse_antminer(r);
    CHECK(s.serial == "THQING0BDJAB024NF");
    CHECK(s.firmware_version == "FR-1.12(251009-S21)");
    // "02:55:97:22:3M:72" is anonymised and not hex: left out, not a crash.
    CHECK(!s.mac);
    CHECK(s.model == "Antminer S19 Pro");  // the RPC's Type comes first
    CHECK(make_miner_id("", s.mac.value_or(""), "10.0.0.7", 4028) == "10.0.0.7:4028");

    SUBCASE("a valid MAC (synthetic) is normalized; serial_no is read too") {
        std::string other = replaced(info, "02:55:97:22:3M:72", "02:55:97:22:3A:72");
        other = replaced(other, "\"serinum\"", "\"serial_no\"");
        r.system_info = other;
        const MinerSample t = parse_antminer(r);
        CHECK(t.mac == "02:55:97:22:3a:72");
        CHECK(t.serial == "THQING0BDJAB024NF");
    }
    SUBCASE("without a Type anywhere, minertype names the model (synthetic)") {
        AntminerReplies w;
        const std::string stats =
            replaced(cap.stats, R"("Type": "Antminer S19 Pro")", R"("X": "")");
        w.stats = stats;
        w.system_info = info;
        CHECK(parse_antminer(w).model == "Antminer S21");
    }
}

TEST_CASE("antminer parse: cached identity fills what this poll did not fetch") {
    MinerSample id;
    id.make = "Bitmain";
    id.model = "Antminer S19 Pro";
    id.firmware = "stock";
    id.firmware_version = "FR-1.12(251009-S21)";
    id.serial = "SN1";
    id.mac = "02:55:97:22:3a:72";
    const S19Pro cap;
    AntminerReplies r = cap.replies();
    r.identity = &id;
    const MinerSample s = parse_antminer(r);
    CHECK(s.serial == "SN1");
    CHECK(s.mac == "02:55:97:22:3a:72");
    // The web's build string is kept rather than flipping to stats' CompileTime.
    CHECK(s.firmware_version == "FR-1.12(251009-S21)");
}

TEST_CASE("antminer parse: broken replies name the command") {
    const S19Pro cap;
    SUBCASE("garbage summary") {
        AntminerReplies r = cap.replies();
        const std::string bad = "\x01\x02garbage";
        r.summary = bad;
        CHECK_THROWS_WITH_AS(parse_antminer(r), doctest::Contains("summary:"), AntminerParseError);
    }
    SUBCASE("truncated stats") {
        AntminerReplies r = cap.replies();
        const std::string half = cap.stats.substr(0, cap.stats.size() / 2);
        r.stats = half;
        CHECK_THROWS_WITH_AS(parse_antminer(r), doctest::Contains("stats:"), AntminerParseError);
    }
    SUBCASE("nothing usable") {
        AntminerReplies r;
        const std::string err =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"cgminer 1.0.0"}],"id":1})";
        r.summary = err;
        r.stats = err;
        CHECK_THROWS_AS(parse_antminer(r), AntminerParseError);
        CHECK_THROWS_AS(parse_antminer(AntminerReplies{}), AntminerParseError);
    }
    SUBCASE("an error summary falls back to stats") {
        AntminerReplies r = cap.replies();
        const std::string err =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"cgminer 1.0.0"}],"id":1})";
        r.summary = err;
        const MinerSample s = parse_antminer(r);
        CHECK(*s.hashrate_ths == doctest::Approx(110.56689));
        CHECK(*s.hashrate_avg_ths == doctest::Approx(111.83463));  // stats' GHS av
        CHECK(s.uptime_s == 50474);
        CHECK(s.hw_errors_total == 562);  // Σ chain_hw
    }
    SUBCASE("a join the firmware refuses") {
        AntminerReplies r;
        const std::string err =
            R"({"STATUS":[{"STATUS":"E","When":1,"Code":14,"Msg":"Invalid command","Description":"cgminer 1.0.0"}],"id":1})";
        r.joined = err;
        CHECK_THROWS_WITH_AS(parse_antminer(r), doctest::Contains("Invalid command"),
                             AntminerJoinRefused);
        // A join with a section missing is refused too.
        const std::string partial = joined({{"summary", cap.summary}, {"stats", cap.stats}});
        r.joined = partial;
        CHECK_THROWS_AS(parse_antminer(r), AntminerJoinRefused);
        // A garbled join is a parse error, not a refusal.
        r.joined = std::string_view("{\"summary\":[{");
        try {
            parse_antminer(r);
            FAIL("no throw");
        } catch (const AntminerJoinRefused&) {
            FAIL("garbage is not a refusal");
        } catch (const AntminerParseError&) {
        }
    }
}

TEST_CASE("antminer parse: temperatures with negatives and sentinels (synthetic)") {
    const S19Pro cap;
    std::string stats =
        replaced(cap.stats, R"("temp_pcb1": "73-45-64-65")", R"("temp_pcb1": "2--1-20-22")");
    stats = replaced(stats, R"("temp1": 73)", R"("temp1": -273)");
    stats = replaced(stats, R"("temp_chip2": "52-55-70-71")", R"("temp_chip2": "-")");
    stats = replaced(stats, R"("temp2_2": 71)", R"("temp2_2": -83)");
    stats = replaced(stats, R"("temp_chip3": "51-49-69-68")", R"("temp_chip3": "250-49-69-68")");
    AntminerReplies r = cap.replies();
    r.stats = stats;
    const MinerSample s = parse_antminer(r);
    CHECK(s.boards[0].board_temp_max_c == 22);
    CHECK(!s.boards[1].chip_temp_max_c);
    CHECK(s.boards[2].chip_temp_max_c == 69);
}

TEST_CASE("antminer parse: a dead board on a mining miner (synthetic)") {
    const S19Pro cap;
    std::string stats = replaced(cap.stats, R"("chain_acn2": 114)", R"("chain_acn2": 0)");
    stats = replaced(stats, R"("chain_rate2": "35536.22")", R"("chain_rate2": "")");
    stats = replaced(stats, R"("chain_acn3": 114)", R"("chain_acn3": 100)");
    AntminerReplies r = cap.replies();
    r.stats = stats;
    const MinerSample s = parse_antminer(r);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].ok == false);
    CHECK(s.boards[1].chips == 0);
    CHECK(s.boards[2].ok == false);  // 100 of 114 chips
    CHECK(s.boards[0].ok == true);
    // Two boards hash: the estimate is for two boards' worth of chips, not three slower ones.
    const ModelSpec& m = *find_model("s19pro");
    CHECK(*s.power_w == doctest::Approx(2.0 / 3.0 * estimated_power_w(m, 110.56689 * 1.5)));
}

TEST_CASE("antminer parse: model names and firmware tags") {
    CHECK(antminer_model_name("Antminer S19 Pro") == "Antminer S19 Pro");
    CHECK(antminer_model_name("Antminer S9 (vnish 3.8.6)") == "Antminer S9");
    CHECK(antminer_model_name("Antminer S9\nV1.3.58") == "Antminer S9");
    CHECK(antminer_model_name("Antminer S9 Hiveon") == "Antminer S9");
    CHECK(antminer_model_name("Antminer S19j Pro (Vnish 1.2.0-rc3)") == "Antminer S19j Pro");
    CHECK(antminer_firmware("Antminer S19 Pro", "1.0.0") == "stock");
    CHECK(antminer_firmware("Antminer S9 (vnish 3.8.6)", "") == "vnish");
    CHECK(antminer_firmware("Antminer S9 Hiveon", "2.0.0 rwglr") == "hiveon");
}

TEST_CASE("antminer parse: set_miner_conf body is the read configuration with a new mode") {
    // The sleeping S19's get_miner_conf with the pools of the capture where the REQUEST was
    // recorded (the two captures come from different test cases of the same project).
    std::string conf = fixture("s19_sleeping_web_get_miner_conf.json");
    for (const char* p : {"aaa", "bbb", "ccc"}) {
        conf = replaced(conf, std::string(p) + ".248x75", std::string(p) + ".226x94");
    }
    conf = replaced(conf, "ccc:1314", "ccc:443");
    std::string expected = fixture("s19_web_set_miner_conf_sleep_REQUEST.json");
    while (!expected.empty() && (expected.back() == '\n' || expected.back() == '\r'))
        expected.pop_back();
    CHECK(antminer_set_conf_body(conf, 1) == expected);
    CHECK(antminer_set_conf_body(conf, 0) ==
          replaced(expected, "\"miner-mode\":1", "\"miner-mode\":0"));
    CHECK(antminer_set_conf_body(conf, 3, true) ==
          replaced(expected, "\"miner-mode\":1", "\"miner-mode\":\"3\""));
    CHECK(antminer_work_mode(conf) == 1);
    CHECK(!antminer_work_mode("<html>"));
    // No pools read: writing would erase them.
    CHECK_THROWS_AS(antminer_set_conf_body(R"({"bitmain-work-mode":"0"})", 1), AntminerParseError);
    CHECK_THROWS_AS(antminer_set_conf_body("garbage", 1), AntminerParseError);
}

TEST_CASE("antminer parse: set_miner_conf replies") {
    CHECK(antminer_set_conf_ok("ok"));
    CHECK(antminer_set_conf_ok("ok\n"));
    CHECK(antminer_set_conf_ok(R"({"stats":"success","code":"M000","msg":"OK!"})"));
    CHECK(!antminer_set_conf_ok(R"({"stats":"error","code":"M001","msg":"Invalid parameter!"})"));
    CHECK(!antminer_set_conf_ok("<html>500</html>"));
    CHECK(!antminer_set_conf_ok(""));
}

TEST_CASE("antminer driver: claims stock replies and the antMiner realm, not other firmware") {
    const MinerDriver& d = antminer_driver();
    ProbeResult p;
    for (const char* f :
         {"s19pro_bmminer_version.json", "s19_sleeping_version.json", "s9_hiveon_version.json"}) {
        p.version_reply = fixture(f);
        CAPTURE(f);
        CHECK(d.claims(p));
    }
    for (const char* f :
         {"braiins/s9_bosplus_bosminer_version.json", "luxos/s19kpro_luxos_version.json",
          "whatsminer/apiv205_get_version.json"}) {
        p.version_reply = other_fixture(f);
        CAPTURE(f);
        CHECK(!d.claims(p));
    }
    p = {};
    p.http_root_status = 401;
    p.http_www_authenticate = R"(Digest realm="antMiner Configuration", nonce="abc", qop="auth")";
    CHECK(d.claims(p));
    p.http_www_authenticate = R"(Digest realm="other", nonce="abc")";
    CHECK(!d.claims(p));
}

TEST_CASE("antminer driver: capabilities by firmware and model") {
    const MinerDriver& d = antminer_driver();
    MinerSample id;
    id.firmware = "stock";
    id.model = "Antminer S19 Pro";
    Capabilities c = d.capabilities(id);
    CHECK(c.sleep);
    CHECK(c.wake);
    CHECK(c.reboot);
    CHECK(!c.power_target_reboots);
    REQUIRE(c.power_target_min_w);
    CHECK(*c.power_target_min_w == doctest::Approx(0.75 * 3250).epsilon(1e-3));
    CHECK(*c.power_target_max_w == 3600);
    CHECK(c.notes.find("work mode") != std::string::npos);

    id.model = "Antminer S9";
    c = d.capabilities(id);
    CHECK(!c.sleep);
    CHECK(!c.wake);
    CHECK(c.reboot);
    CHECK(!c.power_target_min_w);

    id.model = "Antminer S17 Pro";  // not in the model table
    c = d.capabilities(id);
    CHECK(c.sleep);
    CHECK(!c.power_target_min_w);

    id.firmware = "hiveon";
    c = d.capabilities(id);
    CHECK(!c.sleep);
    CHECK(!c.reboot);
    CHECK(!c.notes.empty());
}
