// `hashwatt poll --json` end to end on the Braiins OS captures: each capture set in
// tests/fixtures/braiins is served by `hashwatt sim --replay`, polled by `hashwatt poll` in a child
// process (firmware detection included), and the printed sample is checked against the shared
// EXPECTED.md. The two sets come from two machines:
// - the S9 on BOSminer+ 0.2.0: RPC only (old firmware, read-only), identified by `BOSminer+` in
//   the version reply;
// - the S19 XP on Braiins OS 25.07: REST only (files under http/api/v1/). The replay answers every
//   RPC command with "Invalid command", so the driver reads the REST API; the web root, identified
//   by "Braiins OS", is the page the simulator's Braiins front-end serves (not a capture).
// Captures no poll brings out (checked by tests/unit/agent/braiins_parse_test.cpp only):
// rest_network.json and rest_version.json (the driver reads the MAC and version from
// miner/details) and rest_performance_tuner_state.json (the limit comes from configuration/miner;
// it is served anyway).
//
// Addresses: 127.34.2.1 and 127.34.2.2.
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sample_json.hpp"
#include "tests/support/sim_process.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const fs::path kBraiins = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "braiins";

void serve(const fs::path& dir, const std::string& fixture, const std::string& as) {
    const fs::path to = dir / as;
    fs::create_directories(to.parent_path());
    fs::copy_file(kBraiins / fixture, to);
}

json::object poll_json(const SimProcess& sim, const std::string& ip, int& exit_code) {
    const RunResult r = run({HASHWATT_BINARY, "poll", ip + ":" + std::to_string(sim.rpc_port()),
                             "--json", "--http-port", std::to_string(sim.http_port())},
                            30s);
    REQUIRE_MESSAGE(!r.timed_out, "hashwatt poll timed out");
    INFO("stdout: " << r.out);
    INFO("stderr: " << r.err);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    boost::system::error_code ec;
    json::value v = json::parse(r.out, ec);
    REQUIRE_MESSAGE(!ec, "stdout is not JSON: " << ec.message());
    REQUIRE(v.is_object());
    exit_code = r.exit_code;
    return std::move(v.as_object());
}

}  // namespace

TEST_CASE("poll --json: Braiins OS S9 BOSminer+ RPC captures through replay (no REST)") {
    TempDir root;
    const fs::path dir = fs::path(root.path()) / "s9";
    for (std::string c : {"version", "summary", "devs", "temps", "fans", "pools"}) {
        serve(dir, "s9_bosplus_bosminer_" + c + ".json", c + ".json");
    }
    SimProcess sim = start_replay(root, dir, "127.34.2.1");
    int exit_code = -1;
    const json::object s = poll_json(sim, "127.34.2.1", exit_code);
    INFO("sample: " << json::serialize(s));
    CHECK(exit_code == 0);
    CHECK(str(s, "up") == "true");
    CHECK(str(s, "error") == "<absent>");
    CHECK(str(s, "driver") == "braiins");
    CHECK(str(s, "make") == "Bitmain");
    CHECK(str(s, "firmware") == "braiins");
    CHECK(str(s, "firmware_version") == "0.2.0-36c56a9363");
    CHECK(str(s, "model") == "<absent>");  // no devdetails captured
    CHECK(str(s, "state") == "mining");
    CHECK(ths_3dp(s, "hashrate_ths") == 15741);           // MHS 5s 15740915.84
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 11988);       // MHS av
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 14005);  // Nominal MHS x 3
    CHECK(num(s, "uptime_s") == 3680);
    CHECK(num(s, "hw_errors_total") == 186);
    CHECK(text(s, "fans_rpm") == "[2820,3780]");
    CHECK(max_over_boards(s, "board_temp_max_c") == 75);
    CHECK(std::isnan(max_over_boards(s, "chip_temp_max_c")));  // Chip 0.0: not measured
    const json::array& boards = array_of(s, "boards");
    REQUIRE(boards.size() == 3);
    const long long rate[] = {4683, 4688, 4213};
    for (std::size_t i = 0; i < 3; ++i) {
        const json::object& b = boards[i].as_object();
        CAPTURE(i);
        CHECK(num(b, "index") == static_cast<double>(6 + i));
        CHECK(ths_3dp(b, "hashrate_ths") == rate[i]);
    }
    CHECK(str(s, "power_w") == "<absent>");
    CHECK(str(s, "power_limit_w") == "<absent>");
    const json::array& pools = array_of(s, "pools");
    REQUIRE(pools.size() == 3);
    CHECK(str(pools[0].as_object(), "url") == "stratum+tcp://stratum.antpool.com:3333");
    CHECK(str(pools[0].as_object(), "active") == "true");
    CHECK(num(pools[0].as_object(), "accepted") == 152);
}

TEST_CASE("poll --json: Braiins OS 25.07 S19 XP REST captures through replay") {
    TempDir root;
    const fs::path dir = fs::path(root.path()) / "s19xp";
    const std::string p = "bos2507_s19xp_rest_";
    serve(dir, p + "miner_details.json", "http/api/v1/miner/details");
    serve(dir, p + "miner_stats.json", "http/api/v1/miner/stats");
    serve(dir, p + "miner_hw_hashboards.json", "http/api/v1/miner/hw/hashboards");
    serve(dir, p + "cooling_state.json", "http/api/v1/cooling/state");
    serve(dir, p + "configuration_miner.json", "http/api/v1/configuration/miner");
    serve(dir, p + "performance_tuner_state.json", "http/api/v1/performance/tuner-state");
    serve(dir, p + "pools.json", "http/api/v1/pools/index.html");
    serve(dir, p + "network.json", "http/api/v1/network/index.html");
    serve(dir, p + "version.json", "http/api/v1/version/index.html");
    {
        std::ofstream index(dir / "http" / "index.html");
        index << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Braiins OS</title>"
                 "</head><body><div id=\"root\">Braiins OS</div></body></html>";
    }
    SimProcess sim = start_replay(root, dir, "127.34.2.2");
    int exit_code = -1;
    const json::object s = poll_json(sim, "127.34.2.2", exit_code);
    INFO("sample: " << json::serialize(s));
    CHECK(exit_code == 0);
    CHECK(str(s, "up") == "true");
    CHECK(str(s, "error") == "<absent>");
    CHECK(str(s, "driver") == "braiins");
    CHECK(str(s, "make") == "Bitmain");
    CHECK(str(s, "model") == "Antminer S19 XP");
    CHECK(str(s, "firmware") == "braiins");
    CHECK(str(s, "firmware_version") == "2025-08-06-0-3881c51d-25.07-plus");
    CHECK(str(s, "mac") == "02:ee:da:a9:b6:4a");
    CHECK(str(s, "miner_id") == "02:ee:da:a9:b6:4a");
    CHECK(str(s, "state") == "mining");           // status 2 NORMAL
    CHECK(ths_3dp(s, "hashrate_ths") == 141464);  // real_hashrate.last_5s
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 138207);
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 141000);  // sticker_hashrate
    CHECK(num(s, "power_w") == 3137);
    CHECK(str(s, "power_source") == "estimated");
    CHECK(num(s, "power_limit_w") == 3031);
    CHECK(num(s, "uptime_s") == 69725);
    CHECK(text(s, "fans_rpm") == "[5904,5874,5874,5904]");
    CHECK(max_over_boards(s, "chip_temp_max_c") == 70.5);
    CHECK(max_over_boards(s, "board_temp_max_c") == 55.5);
    const json::array& boards = array_of(s, "boards");
    REQUIRE(boards.size() == 3);
    for (const auto& b : boards) CHECK(num(b.as_object(), "chips") == 110);
    const json::array& pools = array_of(s, "pools");
    REQUIRE(pools.size() == 2);
    CHECK(str(pools[0].as_object(), "url") == "stratum+tcp://example.pool.com:3333");
    CHECK(str(pools[0].as_object(), "active") == "true");
}
