// The stock Antminer driver against `hashwatt sim`: polls agree with the simulator's true state,
// work-mode commands and reboot take effect, faults map to the documented reasons, and the real
// captures come through the replay mode end to end.
// Addresses: 127.31.0.x upward (replay 127.31.9.x).
#include "agent/drivers/drivers.hpp"
#include "common/models.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/driver_sim.hpp"
#include "tests/support/poll_faults.hpp"
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "antminer";

struct Harness : DriverHarness {
    Harness() : DriverHarness(antminer_driver()) {}
};

MinerEndpoint endpoint(const std::string& ip, std::uint16_t rpc_port = 4028,
                       std::uint16_t http_port = 80) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.rpc_port = rpc_port;
    ep.http_port = http_port;
    ep.site = "lab";
    return ep;
}

std::int64_t work_mode(const SimProcess& sim, const std::string& ip) {
    return truth(sim, ip).at("control").as_object().at("antminer_work_mode").as_int64();
}

// The sample agrees with the simulator's truth read just after it.
void check_against_truth(const MinerSample& s, const json::object& t) {
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.state == MinerState::mining);
    CHECK(s.driver == "antminer");
    CHECK(s.make == "Bitmain");
    CHECK(s.firmware == "stock");
    check_identity_matches_truth(s, t);
    CHECK(s.serial == std::string(t.at("serial").as_string()));
    CHECK(s.site == "lab");
    REQUIRE(s.hashrate_ths.has_value());
    // The 5 s figure carries noise that changes every 5 s: the truth may be a window later.
    CHECK(near(*s.hashrate_ths, num(t.at("hashrate_ths")), 0.05));
    // The average since start moves with that noise too while the daemon is young (seconds old
    // here), and the truth is read later on a loaded machine: the same 5 %.
    CHECK(near(*s.hashrate_avg_ths, num(t.at("hashrate_avg_ths")), 0.05));
    CHECK(near(*s.expected_hashrate_ths, num(t.at("expected_hashrate_ths")), 0.001));
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(near(*s.power_w, num(t.at("power_w")), 0.08));
    CHECK(!s.power_limit_w);
    REQUIRE(s.uptime_s.has_value());
    CHECK(std::abs(*s.uptime_s - t.at("elapsed_s").as_int64()) <= 3);
    check_fans_match_truth(s, t);
    const auto& boards = t.at("boards").as_array();
    REQUIRE(s.boards.size() == boards.size());
    for (std::size_t i = 0; i < boards.size(); ++i) {
        const auto& b = boards[i].as_object();
        const BoardSample& sb = s.boards[i];
        CAPTURE(i);
        CHECK(sb.index == b.at("index").as_int64());
        CHECK(sb.chips == b.at("chips").as_int64());
        CHECK(sb.expected_chips == b.at("expected_chips").as_int64());
        CHECK(sb.ok == b.at("alive").as_bool());
        REQUIRE(sb.hashrate_ths.has_value());
        CHECK(near(*sb.hashrate_ths, num(b.at("hashrate_ths")), 0.05));
        REQUIRE(sb.chip_temp_max_c.has_value());
        CHECK(std::fabs(*sb.chip_temp_max_c - num(b.at("chip_temp_max_c"))) <= 2);
        REQUIRE(sb.board_temp_max_c.has_value());
        CHECK(std::fabs(*sb.board_temp_max_c - num(b.at("board_temp_max_c"))) <= 2);
    }
    REQUIRE(s.pools.size() == 3);
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[1].active == false);
}

// Polls until `pred(sample)` holds or the deadline passes; returns the last sample.

void copy_capture(const std::string& fixture, const fs::path& to) {
    fs::create_directories(to.parent_path());
    fs::copy_file(kFixtures / fixture, to);
}

}  // namespace

TEST_CASE("antminer driver: polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.31.0.1", "s19pro:1,s9:1,s21:1,s19jpro:1,s19xp:1", 5);
    Harness h;
    for (int i = 1; i <= 5; ++i) {
        const std::string ip = "127.31.0." + std::to_string(i);
        REQUIRE(wait_until_daemon_ran(sim, ip));  // GHS av is an average since start
        CAPTURE(ip);
        DriverState st;
        const MinerSample s =
            h.poll(endpoint(ip, 4028, static_cast<std::uint16_t>(sim.http_port())), st);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        CHECK(s.errors.empty());
        check_against_truth(s, truth(sim, ip));
        // The simulated bmminer joins commands; the identity is cached for the next polls.
        CHECK_FALSE(st.joins_unsupported);
        REQUIRE(st.identity.has_value());
        CHECK(st.identity->serial == s.serial);
        CHECK_FALSE(st.digest_challenge.empty());
        const TimePoint identity_at = st.identity_at;
        const MinerSample again =
            h.poll(endpoint(ip, 4028, static_cast<std::uint16_t>(sim.http_port())), st);
        CHECK(st.identity_at == identity_at);
        check_against_truth(again, truth(sim, ip));
        if (s.model == "Antminer S9") {
            CHECK(s.boards.front().index == 6);
            CHECK(s.fans_rpm.size() == 2);
        }
    }
}

TEST_CASE("antminer driver: sleep, wake, power target and reboot take effect") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.31.1.1", "s19pro:1", 1);
    const std::string ip = "127.31.1.1";
    const MinerEndpoint ep = endpoint(ip, 4028, static_cast<std::uint16_t>(sim.http_port()));
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);

    // sleep: read-modify-write of the configuration with miner-mode 1
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("miner-mode 1") != std::string::npos);
    CHECK(work_mode(sim, ip) == 1);
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.up);
    CHECK(truth_state(sim, ip) == "sleeping");
    CHECK(*s.hashrate_ths == 0.0);
    CHECK(*s.power_w == doctest::Approx(25));
    CHECK(s.pools.size() == 3);  // the pools were re-sent, not erased

    // wake
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(work_mode(sim, ip) == 0);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths && *x.hashrate_ths > 100;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");

    // power target below nominal: the low-power work mode (3)
    o = h.execute(ep, st, CommandType::set_power_target, 2800.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("low-power") != std::string::npos);
    CHECK(work_mode(sim, ip) == 3);
    const double lpm_w = num(truth(sim, ip).at("power_target_w"));
    CHECK(lpm_w <= 2800);
    s = poll_until(h, ep, st, [&](const MinerSample& x) {
        return x.power_w && std::fabs(*x.power_w - lpm_w) < 0.06 * lpm_w;
    });
    REQUIRE(s.power_w.has_value());
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.08));
    CHECK(s.state == MinerState::mining);
    // At or above nominal: normal mode again.
    o = h.execute(ep, st, CommandType::set_power_target, 3400.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(work_mode(sim, ip) == 0);

    // Out of the work modes' reach: refused before anything is sent.
    o = h.execute(ep, st, CommandType::set_power_target, 1000.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("2438..3600") != std::string::npos);
    o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(work_mode(sim, ip) == 0);

    // reboot: booting (web up, bmminer not yet), then mining with the daemon's uptime restarted
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    CHECK(s.up);
    CHECK(truth_state(sim, ip) == "booting");
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 30);
}

TEST_CASE("antminer driver: unsupported commands are refused without a word to the miner") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.31.3.1", "s9:1", 1);
    const std::string ip = "127.31.3.1";
    const MinerEndpoint ep = endpoint(ip, 4028, static_cast<std::uint16_t>(sim.http_port()));
    Harness h;
    DriverState st;
    // No poll first: the driver identifies the miner (reads only) before deciding.
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("S9") != std::string::npos);
    o = h.execute(ep, st, CommandType::set_power_target, 1200.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(work_mode(sim, ip) == 0);
    CHECK(truth_state(sim, ip) == "mining");
    CHECK(h.driver.capabilities(*st.identity).reboot);
}

TEST_CASE("antminer driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.31.2.1", "s19pro:1,s19:1", 2);
    const std::string ip = "127.31.2.1";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip, 4028, static_cast<std::uint16_t>(sim.http_port()));
    Harness h;
    h.ctx.transport.connect_timeout = 1s;
    h.ctx.transport.reply_timeout = 1s;
    DriverState st;
    const MinerSample good = h.poll(ep, st);
    REQUIRE(good.up);

    const FaultedPolls faulted = expect_poll_faults(h, sim, ip, ep, st, good, rpc_poll_faults());
    const MinerSample& hung = faulted.at("hung");
    REQUIRE(hung.poll_duration_ms.has_value());
    CHECK(*hung.poll_duration_ms < 2500);  // within the 1 s deadline
    const MinerSample& garbage = faulted.at("garbage");
    CHECK(garbage.error_message->find("summary+stats+pools") != std::string::npos);
    CHECK(h.poll(ep, st).up);

    // Miner-side problems are telemetry, not poll failures.
    REQUIRE(sim.post(faults, R"({"kind":"dead_board","index":1})") == 200);
    MinerSample s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].index == 2);
    CHECK(s.boards[1].ok == false);
    CHECK(s.boards[1].chips == 0);
    CHECK(s.boards[0].ok == true);
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.08));
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 4);
    CHECK(s.fans_rpm[0] == 0);
    CHECK(s.fans_rpm[1] > 0);
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // the firmware's protection stop: not asleep
    CHECK(truth_state(sim, ip) == "protecting");
    REQUIRE_FALSE(s.errors.empty());
    CHECK(s.errors[0].message.find("temp") != std::string::npos);
    REQUIRE(sim.del(faults) == 200);

    // Sleep acknowledged but ignored: the miner keeps hashing and the samples say so.
    REQUIRE(sim.post(faults, R"({"kind":"sleep_ignored"})") == 200);
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    s = h.poll(ep, st);
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(sim.del(faults) == 200);
    CHECK(h.execute(ep, st, CommandType::wake).status == CommandStatus::succeeded);

    // A changed password: reads (RPC) still work, writes fail with a clear auth message.
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    CHECK(h.poll(ep, st).up);
    o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("authentication failed") != std::string::npos);
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("authentication failed") != std::string::npos);
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(sim.del(faults) == 200);

    // A wrong configured password is the same failure, from the other side.
    MinerEndpoint wrong = ep;
    wrong.credentials = Credentials{"root", "not-the-password"};
    DriverState st2;
    const MinerSample s2 = h.poll(wrong, st2);
    CHECK(s2.up);         // telemetry does not need the web
    CHECK_FALSE(s2.mac);  // ... the identity from the web does
    CHECK(s2.miner_id == ip + ":4028");
    // ... and the sample says why, so the operator sees it before a command fails.
    const bool auth_reported =
        std::any_of(s2.errors.begin(), s2.errors.end(),
                    [](const MinerErrorReport& e) { return e.code == std::string("auth"); });
    CHECK(auth_reported);
    const CommandOutcome o2 = h.execute(wrong, st2, CommandType::wake);
    CHECK(o2.status == CommandStatus::failed);
    CHECK(o2.message.find("authentication failed") != std::string::npos);
    // The right password in the config works.
    MinerEndpoint right = ep;
    right.credentials = Credentials{"root", "root"};
    CHECK(h.execute(right, st2, CommandType::wake).status == CommandStatus::succeeded);
}

TEST_CASE("antminer driver: real captures polled end to end through replay") {
    TempDir dir;
    const fs::path root(dir.path());
    Harness h;

    SUBCASE("S19 Pro: version, summary, stats, pools joined; S21 system info over HTTP") {
        const fs::path cap = root / "s19pro";
        copy_capture("s19pro_bmminer_version.json", cap / "version.json");
        copy_capture("s19pro_bmminer_summary.json", cap / "summary.json");
        copy_capture("s19pro_bmminer_stats.json", cap / "stats.json");
        copy_capture("s19pro_bmminer_pools.json", cap / "pools.json");
        copy_capture("s19pro_bmminer_devs.json", cap / "devs.json");
        copy_capture("s21_web_get_system_info.json",
                     cap / "http" / "cgi-bin" / "get_system_info.cgi");
        SimProcess sim = start_replay(dir, cap, "127.31.9.1");
        DriverState st;
        const MinerEndpoint ep = endpoint("127.31.9.1", static_cast<std::uint16_t>(sim.rpc_port()),
                                          static_cast<std::uint16_t>(sim.http_port()));
        const MinerSample s = h.poll(ep, st);
        CHECK_FALSE(st.joins_unsupported);
        REQUIRE(s.up);
        CHECK(s.state == MinerState::mining);
        CHECK(s.model == "Antminer S19 Pro");
        CHECK(s.firmware == "stock");
        CHECK(s.serial == "THQING0BDJAB024NF");
        CHECK(s.firmware_version == "FR-1.12(251009-S21)");
        CHECK_FALSE(s.mac);  // the capture's anonymised MAC is not hex
        CHECK(s.miner_id == "127.31.9.1:" + std::to_string(sim.rpc_port()));
        CHECK(std::round(*s.hashrate_ths * 1000) / 1000 == doctest::Approx(110.567));
        CHECK(std::round(*s.hashrate_avg_ths * 1000) / 1000 == doctest::Approx(111.835));
        CHECK(*s.expected_hashrate_ths == doctest::Approx(110.0));
        CHECK(s.uptime_s == 50474);
        CHECK(s.hw_errors_total == 562);
        REQUIRE(s.boards.size() == 3);
        CHECK(s.boards[0].chip_temp_max_c == 78);
        CHECK(s.boards[0].board_temp_max_c == 73);
        CHECK(s.fans_rpm == std::vector<std::int64_t>{6000, 5880, 5040, 5040});
        CHECK(s.power_source == PowerSource::estimated);
        REQUIRE(s.pools.size() == 3);
        CHECK(s.pools[0].active == true);
        CHECK(s.pools[0].accepted == 4057);
    }

    SUBCASE("sleeping S19: no summary capture, so the join is refused; work mode over HTTP") {
        const fs::path cap = root / "s19sleep";
        copy_capture("s19_sleeping_version.json", cap / "version.json");
        copy_capture("s19_sleeping_stats.json", cap / "stats.json");
        copy_capture("s19_sleeping_pools.json", cap / "pools.json");
        copy_capture("s19_sleeping_web_get_miner_conf.json",
                     cap / "http" / "cgi-bin" / "get_miner_conf.cgi");
        SimProcess sim = start_replay(dir, cap, "127.31.9.2");
        DriverState st;
        const MinerEndpoint ep = endpoint("127.31.9.2", static_cast<std::uint16_t>(sim.rpc_port()),
                                          static_cast<std::uint16_t>(sim.http_port()));
        MinerSample s = h.poll(ep, st);
        CHECK(st.joins_unsupported);
        REQUIRE(s.up);
        CHECK(s.state == MinerState::sleeping);
        CHECK(s.model == "Antminer S19");
        CHECK(s.firmware_version == "Fri Dec 11 11:15:40 CST 2020");
        CHECK(*s.hashrate_ths == 0.0);
        CHECK(*s.expected_hashrate_ths == doctest::Approx(63.919));
        CHECK(s.uptime_s == 735);
        CHECK(s.fans_rpm == std::vector<std::int64_t>{1560, 1560, 600, 720});
        REQUIRE(s.boards.size() == 3);
        CHECK(s.boards[1].chip_temp_max_c == 40);
        CHECK(s.boards[1].board_temp_max_c == 40);
        CHECK(s.boards[0].ok == false);
        REQUIRE(s.pools.size() == 3);
        CHECK(s.pools[2].alive == false);
        s = h.poll(ep, st);  // one command at a time from the start this time
        CHECK(s.state == MinerState::sleeping);
    }

    SUBCASE("S9 Hiveon: stats with `}{`, chains 6..8, fans in slots 5 and 6") {
        const fs::path cap = root / "s9";
        copy_capture("s9_hiveon_version.json", cap / "version.json");
        copy_capture("s9_hiveon_stats.txt", cap / "stats.txt");
        copy_capture("s9_hiveon_pools.json", cap / "pools.json");
        SimProcess sim = start_replay(dir, cap, "127.31.9.3");
        DriverState st;
        const MinerEndpoint ep = endpoint("127.31.9.3", static_cast<std::uint16_t>(sim.rpc_port()),
                                          static_cast<std::uint16_t>(sim.http_port()));
        const MinerSample s = h.poll(ep, st);
        REQUIRE(s.up);
        CHECK(s.state == MinerState::mining);
        CHECK(s.model == "Antminer S9");
        CHECK(s.firmware == "hiveon");
        CHECK(std::round(*s.hashrate_ths * 1000) / 1000 == doctest::Approx(11.781));
        CHECK(std::round(*s.hashrate_avg_ths * 1000) / 1000 == doctest::Approx(11.610));
        CHECK(std::round(*s.expected_hashrate_ths * 1000) / 1000 == doctest::Approx(11.850));
        REQUIRE(s.boards.size() == 3);
        CHECK(s.boards[0].index == 6);
        CHECK(s.boards[2].index == 8);
        CHECK(s.boards[0].chip_temp_max_c == 74);
        CHECK(s.boards[0].board_temp_max_c == 59);
        CHECK(s.fans_rpm == std::vector<std::int64_t>{3840, 4920});
        CHECK(s.uptime_s == 69);
        CHECK(s.power_source == PowerSource::estimated);  // chain_power is not watts
        REQUIRE(s.pools.size() == 5);
        CHECK(s.pools[0].accepted == 3038);
        // Hiveon: read-only here.
        const CommandOutcome o = h.execute(ep, st, CommandType::reboot);
        CHECK(o.status == CommandStatus::unsupported);
    }
}
