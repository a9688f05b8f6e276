// `hashwatt poll --json` end to end for the Avalon captures: each capture set in
// tests/fixtures/avalon is served by `hashwatt sim --replay`, polled by `hashwatt poll` in a child
// process, and the printed sample is checked against the shared EXPECTED.md (hash rates to 3
// decimals in TH/s, max chip and board temperatures, fans, power/limit, uptime, model/firmware,
// state). The replay and sample readers are shared with the other e2e suites (tests/support).
//
// Addresses: 127.34.3.101 upward (the integration suite uses 127.34.3.1 .. 99).
//
// Captures no poll can bring out, checked by the parser unit tests only
// (tests/unit/agent/avalon_parse_test.cpp): the ascset_*_reply.json files are replies to
// commands, not to reads.
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sample_json.hpp"
#include "tests/support/sim_process.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
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

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "avalon";

std::string read_fixture(const std::string& name) {
    std::ifstream in(kFixtures / name, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, std::string_view body) {
    std::ofstream out(p, std::ios::binary);
    out << body;
    REQUIRE(out.good());
}

// A replay directory: `<command>.json` answers RPC `<command>` (docs/simulator.md).
struct ReplayDir {
    fs::path path;
    ReplayDir(const TempDir& root, const std::string& name) : path(fs::path(root.path()) / name) {
        fs::create_directories(path);
    }
    ReplayDir& serve(const std::string& fixture, const std::string& command) {
        write_file(path / (command + ".json"), read_fixture(fixture));
        return *this;
    }
    // A multi-command capture {"summary":[<s>],"stats":[<t>],"pools":[<p>],"id":1} served as
    // the three replies it joins, byte for byte (the replay joins them again when asked to).
    ReplayDir& serve_split(const std::string& fixture) {
        const std::string raw = read_fixture(fixture);
        const std::string head = R"({"summary":[)";
        const std::string to_stats = R"(],"stats":[)";
        const std::string to_pools = R"(],"pools":[)";
        const std::string tail = R"(],"id":1})";
        REQUIRE(raw.starts_with(head));
        const auto a = raw.find(to_stats);
        const auto b = raw.find(to_pools);
        const auto c = raw.rfind(tail);
        REQUIRE((a != std::string::npos && b != std::string::npos && c != std::string::npos));
        REQUIRE((head.size() < a && a < b && b < c));
        write_file(path / "summary.json", raw.substr(head.size(), a - head.size()));
        write_file(path / "stats.json", raw.substr(a + to_stats.size(), b - a - to_stats.size()));
        write_file(path / "pools.json", raw.substr(b + to_pools.size(), c - b - to_pools.size()));
        return *this;
    }
};

const json::array& boards(const json::object& s) {
    const auto* v = s.if_contains("boards");
    REQUIRE_MESSAGE((v && v->is_array()), "boards missing");
    return v->get_array();
}

void check_answered(const Polled& p) {
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    INFO("stderr: " << p.run.err);
    CHECK(p.run.exit_code == 0);
    CHECK(has(s, "up"));
    CHECK(str(s, "up") == "true");
    CHECK_FALSE(has(s, "error"));
    CHECK(str(s, "driver") == "avalon");
    CHECK(str(s, "make") == "Canaan");
    CHECK(str(s, "firmware") == "stock");
}

}  // namespace

TEST_CASE("poll --json: AvalonMiner 1246 version + estats (libminer) through replay") {
    TempDir root;
    ReplayDir dir(root, "a1246");
    dir.serve("a1246_version.json", "version").serve("a1246_estats.json", "estats");
    const std::string ip = "127.34.3.101";
    SimProcess sim = start_replay(root, dir.path, ip);
    // Auto-detection: PROD "AvalonMiner 1246-81" in the version reply.
    const Polled p = poll_replay_json(sim, ip);
    check_answered(p);
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    CHECK(str(s, "state") == "mining");
    CHECK(str(s, "model") == "AvalonMiner 1246");
    CHECK(str(s, "firmware_version") == "21030201_4ec6bb0_09b1765");
    CHECK(str(s, "mac") == "b4:a2:eb:34:60:fa");
    CHECK(str(s, "miner_id") == "b4:a2:eb:34:60:fa");
    CHECK(str(s, "serial") == "020100000828a153");
    CHECK(ths_3dp(s, "hashrate_ths") == 80521);           // GHSspd 80521.10
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 75782);       // GHSavg 75781.50
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 86564);  // GHSmm
    CHECK(text(s, "fans_rpm") == "[3337,3302,3302,3288]");
    REQUIRE(boards(s).size() == 3);
    CHECK(max_over_boards(s, "chip_temp_max_c") == 88);   // TMax / MTmax 88 86 81
    CHECK(max_over_boards(s, "board_temp_max_c") == 68);  // MTavg 68 62 67
    CHECK(ths_3dp(boards(s)[0].as_object(), "hashrate_ths") == 25281);
    CHECK(num(s, "power_w") == 3239);  // PS[4], no WALLPOWER
    CHECK(str(s, "power_source") == "estimated");
    CHECK(num(s, "power_limit_w") == 3200);  // MPO
    CHECK(integer(s, "uptime_s") == 1750);
    CHECK(integer(s, "hw_errors_total") == 240);
    CHECK(num(s, "inlet_temp_c") == 23);
}

TEST_CASE("poll --json: AvalonMiner 1246 stats (asic-rs) through replay") {
    TempDir root;
    ReplayDir dir(root, "a1246-stats");
    dir.serve("a1246_stats.json", "stats");
    const std::string ip = "127.34.3.102";
    SimProcess sim = start_replay(root, dir.path, ip);
    // No version capture, so nothing to detect from: the driver is named.
    const Polled p = poll_replay_json(sim, ip, {"--driver", "avalon"});
    check_answered(p);
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    CHECK(str(s, "state") == "mining");
    CHECK(str(s, "model") == "AvalonMiner 1246");  // from Ver[1246-83-…]
    CHECK(str(s, "firmware_version") == "21072802_4ec6bb0_211fc46");
    CHECK(str(s, "serial") == "02010000cbd2fd6d");
    CHECK_FALSE(has(s, "mac"));
    CHECK(str(s, "miner_id") == ip + ":" + std::to_string(sim.rpc_port()));
    CHECK(ths_3dp(s, "hashrate_ths") == 81073);
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 79657);
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 83923);
    CHECK(text(s, "fans_rpm") == "[5344,5392,5349,5309]");
    CHECK(max_over_boards(s, "chip_temp_max_c") == 77);
    CHECK(max_over_boards(s, "board_temp_max_c") == 66);
    CHECK(num(s, "power_w") == 3189);  // PS[4]; PS[6] 3504 is not used
    CHECK(str(s, "power_source") == "estimated");
    CHECK(num(s, "power_limit_w") == 3200);
    CHECK(integer(s, "uptime_s") == 24684);
    CHECK(integer(s, "hw_errors_total") == 2735);
}

TEST_CASE("poll --json: Avalon 10xx pools+summary+stats (foreman) through replay") {
    TempDir root;
    ReplayDir dir(root, "a10xx");
    dir.serve_split("a10xx_multicommand_pools+summary+stats.json");
    const std::string ip = "127.34.3.103";
    SimProcess sim = start_replay(root, dir.path, ip);
    // Without a version capture the replay answers `version` with "Invalid command": JSON that
    // no driver claims.
    const Polled unknown = poll_replay_json(sim, ip);
    CHECK(unknown.run.exit_code == 1);
    CHECK(str(unknown.sample, "error") == "unsupported");

    const Polled p = poll_replay_json(sim, ip, {"--driver", "avalon"});
    check_answered(p);
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    CHECK(str(s, "state") == "mining");
    CHECK(str(s, "model") == "AvalonMiner 1047");
    CHECK(str(s, "firmware_version") == "20051101_85dc6f0_0332654");
    CHECK(integer(s, "uptime_s") == 155);                 // summary Elapsed
    CHECK(ths_3dp(s, "hashrate_ths") == 32247);           // MHS 30s (no GHSspd)
    CHECK(ths_3dp(s, "hashrate_avg_ths") == 25537);       // MHS av
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 37471);  // GHSmm
    REQUIRE(boards(s).size() == 2);
    CHECK(ths_3dp(boards(s)[0].as_object(), "hashrate_ths") == 12363);
    CHECK(ths_3dp(boards(s)[1].as_object(), "hashrate_ths") == 12812);
    CHECK(text(s, "fans_rpm") == "[2896,2927]");
    CHECK(max_over_boards(s, "chip_temp_max_c") == 64);
    CHECK(max_over_boards(s, "board_temp_max_c") == 58);
    CHECK_FALSE(has(s, "power_w"));  // PS[0 0 0 0 0 0]: not reported, not 0
    CHECK(num(s, "power_limit_w") == 2220);
    const auto* pools = s.if_contains("pools");
    REQUIRE((pools && pools->is_array()));
    REQUIRE(pools->get_array().size() == 3);
    const json::object& p0 = pools->get_array()[0].as_object();
    CHECK(str(p0, "url") == "stratum+tcp://sha256.mining-dutch.nl:9996");
    CHECK(str(p0, "active") == "true");
    CHECK(integer(p0, "accepted") == 5);
}

TEST_CASE("poll --json: Avalon 10xx capture with a bare nan through replay") {
    TempDir root;
    ReplayDir dir(root, "a10xx-nan");
    dir.serve_split("a10xx_multicommand_nan.txt");
    const std::string ip = "127.34.3.104";
    SimProcess sim = start_replay(root, dir.path, ip);
    const Polled p = poll_replay_json(sim, ip, {"--driver", "avalon"});
    check_answered(p);
    const json::object& s = p.sample;
    INFO("sample: " << json::serialize(s));
    // "MHS av":nan -> unknown (absent), not 0; the 30 s figure is a real 0.
    CHECK_FALSE(has(s, "hashrate_avg_ths"));
    CHECK(ths_3dp(s, "hashrate_ths") == 0);
    CHECK(str(s, "state") == "booting");  // not hashing, 155 s after cgminer started
    CHECK(integer(s, "uptime_s") == 155);
    CHECK(ths_3dp(s, "expected_hashrate_ths") == 37471);
    CHECK(max_over_boards(s, "chip_temp_max_c") == 64);
}
