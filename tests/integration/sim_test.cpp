// `hashwatt sim` as a process: every family answers on its own loopback address, faults behave
// as documented, the admin API reports the truth, replay serves captures, configs are strict.
#include "agent/transport/cgminer_json.hpp"
#include "tests/support/net.hpp"
#include "tests/support/sim_process.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kMix =
    "s19pro:1,m30s++:1,avalon1246:1,s19kpro@luxos:1,s19xp@braiins:1,s19jpro@vnish:1";

std::string summary(const std::string& ip) {
    return rpc_exchange(ip, 4028, R"({"command":"summary"})").reply;
}

SimProcess start_sim(const TempDir& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--miners",  "6",          "--mix",       kMix,
                                  "--base-ip", "127.20.0.1", "--http-port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return SimProcess(HASHWATT_BINARY, args, dir.path() + "/sim");
}

}  // namespace

TEST_CASE("sim: every family answers summary on its own address, with a NUL after the JSON") {
    // summary, not version: Whatsminer v2 rejects version, as the real one does.
    TempDir dir;
    auto sim = start_sim(dir);
    for (int i = 1; i <= 6; ++i) {
        const std::string ip = "127.20.0." + std::to_string(i);
        CAPTURE(ip);
        const auto r = rpc_exchange(ip, 4028, R"({"command":"summary"})");
        REQUIRE(r.error.empty());
        REQUIRE(!r.reply.empty());
        CHECK(r.reply.back() == '\0');
        const auto v = hashwatt::agent::parse_cgminer_json(r.reply);
        const auto st = hashwatt::agent::cgminer_status(v);
        REQUIRE(st);
        CHECK(hashwatt::agent::status_ok(*st));
    }
    // Nothing listens past the fleet.
    CHECK(rpc_exchange("127.20.0.7", 4028, R"({"command":"version"})").error == "refused");
    const auto fleet = json::parse(sim.get("/api/v1/fleet")).as_object();
    CHECK(fleet.at("miners").as_int64() == 6);
    CHECK(fleet.at("mining").as_int64() == 6);
    CHECK(fleet.at("power_w").to_number<double>() > 6 * 2000);
}

TEST_CASE("sim: connection faults behave as documented and never stall other miners") {
    TempDir dir;
    auto sim = start_sim(dir);
    const std::string m = "/api/v1/miners/sim-00001/faults";

    REQUIRE(sim.post(m, R"({"kind":"offline"})") == 200);
    CHECK(rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})").error == "refused");
    REQUIRE(sim.del(m) == 200);
    CHECK(summary("127.20.0.1").find("SUMMARY") != std::string::npos);

    REQUIRE(sim.post(m, R"({"kind":"hung"})") == 200);
    {
        // While one miner hangs, another still answers at once.
        std::thread hung([] {
            const auto r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})", 1500ms);
            CHECK(r.error == "timeout");
            CHECK(r.reply.empty());
        });
        const auto other = rpc_exchange("127.20.0.2", 4028, R"({"command":"summary"})", 1000ms);
        CHECK(other.error.empty());
        CHECK(other.elapsed_ms < 1000);
        hung.join();
    }
    REQUIRE(sim.del(m + "/hung") == 200);

    REQUIRE(sim.post(m, R"({"kind":"slow","delay":"700ms"})") == 200);
    auto r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})");
    CHECK(r.error.empty());
    CHECK(r.elapsed_ms >= 690);
    CHECK(r.reply.find("SUMMARY") != std::string::npos);
    REQUIRE(sim.del(m) == 200);

    REQUIRE(sim.post(m, R"({"kind":"garbage"})") == 200);
    r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})");
    CHECK_THROWS_AS(hashwatt::agent::parse_cgminer_json(r.reply),
                    hashwatt::agent::CgminerJsonError);
    REQUIRE(sim.del(m) == 200);

    REQUIRE(sim.post(m, R"({"kind":"truncated"})") == 200);
    r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})");
    CHECK(!r.reply.empty());
    CHECK_THROWS_AS(hashwatt::agent::parse_cgminer_json(r.reply),
                    hashwatt::agent::CgminerJsonError);
    REQUIRE(sim.del(m) == 200);

    REQUIRE(sim.post(m, R"({"kind":"oversized"})") == 200);
    r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})", 10s);
    CHECK(r.reply.size() > (4U << 20));
    REQUIRE(sim.del(m) == 200);

    REQUIRE(sim.post(m, R"({"kind":"reset"})") == 200);
    r = rpc_exchange("127.20.0.1", 4028, R"({"command":"summary"})");
    CHECK(r.error == "reset");
    REQUIRE(sim.del(m) == 200);

    CHECK(sim.post(m, R"({"kind":"meteor"})") == 400);
    CHECK(sim.post("/api/v1/miners/sim-09999/faults", R"({"kind":"hung"})") == 404);
}

TEST_CASE("sim: thermal and board faults show in the true state") {
    TempDir dir;
    auto sim = start_sim(dir);
    REQUIRE(sim.post("/api/v1/miners/sim-00001/faults", R"({"kind":"dead_board","index":1})") ==
            200);
    REQUIRE(sim.post("/api/v1/miners/sim-00002/faults", R"({"kind":"fan_failure","index":0})") ==
            200);
    const auto a = json::parse(sim.get("/api/v1/miners/sim-00001")).as_object();
    CHECK(a.at("boards").as_array()[1].as_object().at("chips").as_int64() == 0);
    CHECK(a.at("faults").as_array()[0].as_string() == "dead_board");
    const auto b = json::parse(sim.get("/api/v1/miners/127.20.0.2")).as_object();
    CHECK(b.at("fans_rpm").as_array()[0].as_int64() == 0);
}

TEST_CASE("sim: the faults the alert rules need take a ratio, checked per kind") {
    TempDir dir;
    auto sim = start_sim(dir);
    const auto truth = [&](const std::string& id) {
        return json::parse(sim.get("/api/v1/miners/" + id)).as_object();
    };
    const auto num = [](const json::value& v) { return v.to_number<double>(); };
    const std::string m = "/api/v1/miners/sim-00001/faults";
    const double normal_w = num(truth("sim-00001").at("power_w"));
    REQUIRE(sim.post(m, R"({"kind":"power_overdraw","ratio":1.5})") == 200);
    CHECK(num(truth("sim-00001").at("power_w")) == doctest::Approx(normal_w * 1.5).epsilon(0.01));
    REQUIRE(sim.post(m, R"({"kind":"board_hot","index":0})") == 200);
    const auto hot = truth("sim-00001");
    CHECK(num(hot.at("boards").as_array()[0].at("board_temp_max_c")) >=
          num(hot.at("boards").as_array()[1].at("board_temp_max_c")) + 25);
    REQUIRE(sim.post(m, R"({"kind":"rejects"})") == 200);
    REQUIRE(sim.post(m, R"({"kind":"hashrate_drop","ratio":0.3})") == 200);
    const auto faults = truth("sim-00001").at("faults").as_array();
    CHECK(faults.size() == 4);
    REQUIRE(sim.del(m) == 200);
    CHECK(num(truth("sim-00001").at("power_w")) == doctest::Approx(normal_w).epsilon(0.01));
    // Out of range for the kind, or a ratio for a kind that takes none: refused, saying so.
    CHECK(sim.post(m, R"({"kind":"rejects","ratio":1.5})") == 400);
    CHECK(sim.post(m, R"({"kind":"power_overdraw","ratio":0.8})") == 400);
    CHECK(sim.post(m, R"({"kind":"overheating","ratio":0.5})") == 400);
    CHECK(sim.post(m, R"({"kind":"rejects","ratio":"lots"})") == 400);
    const auto r =
        http_request(sim.admin_ip(), sim.admin_port(), "POST", "/api/v1/miners/sim-00001/faults",
                     R"({"kind":"hashrate_drop","ratio":2})", {}, 10s);
    CHECK(r.body.find("ratio: 2.000000 is out of range for hashrate_drop") != std::string::npos);
    // A scheduled fault's ratio is checked the same way when the config is read.
    const auto bad = dir.write("bad.toml",
                               "[fleet]\nminers = 2\n[[fault]]\nminer = \"sim-00001\"\n"
                               "kind = \"rejects\"\nratio = 0\n");
    const auto cr = run({HASHWATT_BINARY, "sim", "--check-config", bad}, 30s);
    CHECK(cr.exit_code == 2);
    CHECK(cr.err.find("bad.toml:6:9: fault[0].ratio: out of range for rejects") !=
          std::string::npos);
}

TEST_CASE("sim: scheduled faults start and clear on time") {
    TempDir dir;
    const auto cfg =
        dir.write("sim.toml",
                  "[fleet]\nminers = 2\nmix = \"s19pro:1\"\nbase_ip = \"127.20.1.1\"\n"
                  "http_port = 0\n\n[[fault]]\nminer = \"sim-00002\"\nkind = \"offline\"\n"
                  "at = \"500ms\"\nduration = \"1500ms\"\n");
    SimProcess sim(HASHWATT_BINARY, {"--config", cfg}, dir.path() + "/sim");
    CHECK(wait_until(
        [] {
            return rpc_exchange("127.20.1.2", 4028, R"({"command":"summary"})").error == "refused";
        },
        10s));
    CHECK(wait_until(
        [] { return rpc_exchange("127.20.1.2", 4028, R"({"command":"summary"})").error.empty(); },
        10s));
    CHECK(rpc_exchange("127.20.1.1", 4028, R"({"command":"summary"})").error.empty());
}

TEST_CASE("sim: --check-config accepts a good file and names a misspelt key") {
    TempDir dir;
    const auto good =
        dir.write("good.toml", "[fleet]\nminers = 5\n[physics]\nwake_ramp = \"10s\"\n");
    auto r = run({HASHWATT_BINARY, "sim", "--check-config", good}, 30s);
    CHECK(r.exit_code == 0);
    const auto bad = dir.write("bad.toml", "[fleet]\nminers = 5\n[physics]\nwake_rmp = \"10s\"\n");
    r = run({HASHWATT_BINARY, "sim", "--check-config", bad}, 30s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("bad.toml:4:1: physics.wake_rmp: unknown key (did you mean 'wake_ramp'?)") !=
          std::string::npos);
    // The shipped example must stay valid.
    r = run({HASHWATT_BINARY, "sim", "--check-config",
             std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/sim.toml"},
            30s);
    CHECK(r.exit_code == 0);
    r = run({HASHWATT_BINARY, "sim", "--miners", "3", "--mix", "t1000:1"}, 30s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("unknown model 't1000'") != std::string::npos);
}

TEST_CASE("sim: replay serves captures byte for byte, joins multi-commands, serves HTTP files") {
    TempDir dir;
    const std::string fixtures = std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/antminer/";
    std::filesystem::create_directories(dir.path() + "/cap/http/cgi-bin");
    std::filesystem::copy_file(fixtures + "s19pro_bmminer_summary.json",
                               dir.path() + "/cap/summary.json");
    std::filesystem::copy_file(fixtures + "s9_hiveon_stats.txt", dir.path() + "/cap/stats.txt");
    std::filesystem::copy_file(fixtures + "s21_web_get_system_info.json",
                               dir.path() + "/cap/http/cgi-bin/get_system_info.cgi");
    SimProcess sim(
        HASHWATT_BINARY,
        {"--replay", dir.path() + "/cap", "--listen", "127.20.2.1:0", "--http-port", "0"},
        dir.path() + "/replay");
    std::ifstream in(fixtures + "s19pro_bmminer_summary.json", std::ios::binary);
    const std::string expected((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());

    auto r = rpc_exchange("127.20.2.1", sim.rpc_port(), R"({"command":"summary"})");
    CHECK(r.reply == expected + std::string(1, '\0'));
    r = rpc_exchange("127.20.2.1", sim.rpc_port(), R"({"command":"summary+stats"})");
    const auto joined = hashwatt::agent::parse_cgminer_json(r.reply).as_object();
    CHECK(joined.at("summary").as_array().size() == 1);
    CHECK(joined.at("stats").as_array()[0].as_object().at("STATS").as_array().size() == 2);
    r = rpc_exchange("127.20.2.1", sim.rpc_port(), R"({"command":"pools"})");
    CHECK(r.reply.find("Invalid command") != std::string::npos);
    r = rpc_exchange("127.20.2.1", sim.rpc_port(), R"({"command":"../../etc/passwd"})");
    CHECK(r.reply.find("Invalid command") != std::string::npos);

    auto h = http_request("127.20.2.1", sim.http_port(), "GET", "/cgi-bin/get_system_info.cgi");
    CHECK(h.status == 200);
    CHECK(h.body.find("FR-1.12(251009-S21)") != std::string::npos);
    CHECK(http_request("127.20.2.1", sim.http_port(), "GET", "/cgi-bin/none.cgi").status == 404);
    CHECK(http_request("127.20.2.1", sim.http_port(), "GET", "/../../x").status == 404);
}
