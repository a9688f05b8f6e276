// `hashwatt poll --json` end to end for LuxOS: the S19k Pro capture set in tests/fixtures/luxos is
// served by `hashwatt sim --replay`, polled by `hashwatt poll` in a child process (firmware
// auto-detection included), and the printed sample is checked against the shared EXPECTED.md
// (hash rates to 3 decimals in TH/s, max chip and board temperatures, fans, power and limit,
// uptime, model/firmware, state).
//
// Addresses: 127.34.1.200 and up (the integration suite uses 127.34.1.1 .. 127.34.1.99).
//
// luxos/atm.json is a reply to `atm`, which a poll does not send (the driver reads it only before
// a power target); its values are checked by tests/unit/agent/luxos_parse_test.cpp.
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sample_json.hpp"
#include "tests/support/sim_process.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "luxos";

// A replay directory holding the S19k Pro capture of each command in `commands`, named as the
// replay answers them (`<command>.json`).
fs::path capture_set(const TempDir& root, const std::string& name,
                     const std::vector<std::string>& commands) {
    const fs::path dir = fs::path(root.path()) / name;
    fs::create_directories(dir);
    for (const auto& c : commands) {
        fs::copy_file(kFixtures / ("s19kpro_luxos_" + c + ".json"), dir / (c + ".json"));
    }
    return dir;
}

// EXPECTED.md, "LuxOS (LUXminer 2025.4.8, Antminer S19k Pro)": what every capture set carries.
void check_s19kpro(const Polled& p) {
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    INFO("stderr: " << p.run.err);
    CHECK(p.run.exit_code == 0);
    CHECK(s.at("up").as_bool());
    CHECK_FALSE(has(s, "error"));
    CHECK(str(s, "driver") == "luxos");
    CHECK(str(s, "make") == "Bitmain");
    CHECK(str(s, "firmware") == "luxos");
    CHECK(str(s, "model") == "Antminer S19k Pro");
    CHECK(str(s, "firmware_version") == "2025.4.8.220305");
    CHECK(str(s, "serial") == "JYZZB0UBDJABF06RB");
    CHECK(str(s, "mac") == "62:f7:5e:b7:10:46");
    CHECK(str(s, "miner_id") == "62:f7:5e:b7:10:46");
    CHECK(str(s, "state") == "mining");                   // CurtailMode "None", hashing
    CHECK(ths_3dp(s, "hashrate_ths") == 59756);           // GHS 5s 59756.06
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 56918);       // GHS av 56917.91
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 61954);  // total_rateideal 61954.2 GH
    CHECK(integer(s, "uptime_s") == 3453);
    CHECK(integer(s, "hw_errors_total") == 0);
    CHECK(text(s, "fans_rpm") == "[1920,1920,2340,2340]");
    // Boards 1..3 (devs IDs 2, 0, 1 unsorted): 77 chips, max chip and board 47 °C, MHS 5s
    // 19.774 / 19.231 / 20.752 TH/s (Σ 59.756).
    const json::array& boards = array_of(s, "boards");
    REQUIRE(boards.size() == 3);
    const std::int64_t rate[] = {19774, 19231, 20752};
    std::int64_t sum = 0;
    double chip_max = 0, board_max = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        CAPTURE(i);
        const json::object& b = boards[i].as_object();
        CHECK(integer(b, "index") == static_cast<std::int64_t>(i) + 1);
        CHECK(integer(b, "chips") == 77);
        CHECK(ths_3dp(b, "hashrate_ths") == rate[i]);
        sum += ths_3dp(b, "hashrate_ths");
        chip_max = std::max(chip_max, num(b, "chip_temp_max_c"));
        board_max = std::max(board_max, num(b, "board_temp_max_c"));
    }
    CHECK(sum == 59757);  // the per-board figures rounded; unrounded Σ 59.75607
    CHECK(chip_max == 47);
    CHECK(board_max == 47);
    // 4 pools in 2 groups, POOL 0 and POOL 2 active.
    const json::array& pools = array_of(s, "pools");
    REQUIRE(pools.size() == 4);
    CHECK(str(pools[0].as_object(), "url") == "stratum+tcp://ca.stratum.braiins.com:3333");
    CHECK(integer(pools[0].as_object(), "accepted") == 724);
    CHECK(str(pools[2].as_object(), "active") == "true");
    CHECK(integer(pools[2].as_object(), "accepted") == 759);
}

}  // namespace

TEST_CASE("poll --json: LuxOS S19k Pro captures (every command) through replay") {
    TempDir root;
    const fs::path dir = capture_set(root, "s19kpro",
                                     {"version", "summary", "stats", "devs", "pools", "fans",
                                      "temps", "power", "config", "profiles", "events"});
    const std::string ip = "127.34.1.200";
    SimProcess sim = start_replay(root, dir, ip);
    // Auto-detection: "LUXminer" in the version reply. Every command has a capture, so the
    // driver's joined request is answered as one multi-command reply.
    const Polled p = poll_replay_json(sim, ip);
    check_s19kpro(p);
    const json::object& s = p.sample;
    CHECK(num(s, "power_w") == 1051);
    CHECK(str(s, "power_source") == "estimated");  // PSU false
    CHECK(num(s, "power_limit_w") == 1188);        // profile 290MHz
    CHECK(num(s, "inlet_temp_c") == 34);           // the intake-side sensors
    CHECK(num(s, "outlet_temp_c") == 47);
    // The events capture (another run, When 1775756069) lists events from the day before: older
    // than this daemon's start, so history and not current errors.
    // (The wire format leaves an empty list out.)
    CHECK((!has(s, "errors") || array_of(s, "errors").empty()));
}

TEST_CASE("poll --json: LuxOS captures without power, profiles and events (join refused)") {
    TempDir root;
    const fs::path dir =
        capture_set(root, "s19kpro-partial",
                    {"version", "summary", "stats", "devs", "pools", "fans", "temps", "config"});
    const std::string ip = "127.34.1.201";
    SimProcess sim = start_replay(root, dir, ip);
    // The replay refuses a join with any part missing ("Invalid command"), as firmware without
    // joins would: the driver asks the commands one by one and the missing ones count as absent.
    const Polled p = poll_replay_json(sim, ip, {"--driver", "luxos"});
    check_s19kpro(p);
    const json::object& s = p.sample;
    CHECK_FALSE(has(s, "power_w"));  // not reported: absent, not 0
    CHECK_FALSE(has(s, "power_limit_w"));
}
