// The Braiins OS driver against `hashwatt sim`: polls agree with the simulator's true state,
// pause/resume, power target and reboot take effect, the miner's power constraints are respected
// (refused before anything is sent), faults map to the documented reasons, and firmware without
// the REST API (a replay of the S9 BOSminer+ captures) is read-only.
// Addresses: 127.34.2.10 upward (127.34.2.1-9 are the e2e suite's).
#include "agent/drivers/drivers.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/driver_sim.hpp"
#include "tests/support/poll_faults.hpp"
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "braiins";

struct Harness : DriverHarness {
    Harness() : DriverHarness(braiins_driver()) {}
};

MinerEndpoint endpoint(const std::string& ip, unsigned http_port, std::uint16_t rpc = 4028) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.rpc_port = rpc;
    ep.http_port = static_cast<std::uint16_t>(http_port);
    ep.site = "lab";
    return ep;
}

void check_against_truth(const MinerSample& s, const json::object& t) {
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.driver == "braiins");
    CHECK(s.firmware == "braiins");
    CHECK(s.make == std::string(t.at("make").as_string()));
    check_identity_matches_truth(s, t);
    CHECK(s.serial == std::string(t.at("serial").as_string()));
    CHECK(s.site == "lab");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(near(*s.hashrate_ths, num(t.at("hashrate_ths")), 0.05));
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(near(*s.power_w, num(t.at("power_w")), 0.02));
    REQUIRE(s.power_limit_w.has_value());
    CHECK(*s.power_limit_w == doctest::Approx(num(t.at("power_target_w"))).epsilon(0.001));
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
        CHECK(sb.ok == b.at("alive").as_bool());
        REQUIRE(sb.chip_temp_max_c.has_value());
        CHECK(std::fabs(*sb.chip_temp_max_c - num(b.at("chip_temp_max_c"))) <= 5);
        REQUIRE(sb.board_temp_max_c.has_value());
        CHECK(std::fabs(*sb.board_temp_max_c - num(b.at("board_temp_max_c"))) <= 5);
        REQUIRE(sb.hashrate_ths.has_value());
        CHECK(near(*sb.hashrate_ths, num(b.at("hashrate_ths")), 0.1));
    }
    REQUIRE_FALSE(s.pools.empty());
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
}

}  // namespace

TEST_CASE("braiins driver: polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.2.10", "s19xp@braiins:1,s9@braiins:1", 2);
    Harness h;
    for (int i = 10; i <= 11; ++i) {
        const std::string ip = "127.34.2." + std::to_string(i);
        REQUIRE(wait_until_daemon_ran(sim, ip));  // MHS av is an average since start
        CAPTURE(ip);
        DriverState st;
        const MinerEndpoint ep = endpoint(ip, sim.http_port());
        const MinerSample s = h.poll(ep, st);
        CHECK(s.state == MinerState::mining);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        CHECK(s.errors.empty());
        check_against_truth(s, truth(sim, ip));
        // One login for the identity; the token is kept and the identity cached, so the next
        // poll is the one joined RPC request and still carries both.
        CHECK_FALSE(st.token.empty());
        CHECK_FALSE(st.joins_unsupported);
        REQUIRE(st.identity.has_value());
        const TimePoint identity_at = st.identity_at;
        const TimePoint token_at = st.token_at;
        const MinerSample again = h.poll(ep, st);
        CHECK(st.identity_at == identity_at);
        CHECK(st.token_at == token_at);
        check_against_truth(again, truth(sim, ip));
        const Capabilities c = h.driver.capabilities(again);
        CHECK(c.sleep);
        CHECK(c.wake);
        CHECK(c.reboot);
        CHECK(c.power_target_min_w.has_value());
        CHECK(c.power_target_max_w.has_value());
    }
}

TEST_CASE("braiins driver: pause, resume, power target within the constraints, reboot") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.2.20", "s19xp@braiins:1", 1);
    const std::string ip = "127.34.2.20";
    const MinerEndpoint ep = endpoint(ip, sim.http_port());
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);
    const std::string token = st.token;

    // sleep = actions/pause; the sample says sleeping from miner/details status 3
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("pause") != std::string::npos);
    CHECK(st.token == token);  // the session is reused, no second login
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.up);
    CHECK(truth_state(sim, ip) == "sleeping");

    // wake = actions/resume
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths && *x.hashrate_ths > 100;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");

    // power target inside the miner's configuration/constraints: applied
    const Capabilities caps = h.driver.capabilities(s);
    REQUIRE(caps.power_target_min_w.has_value());
    const double target = std::round((*caps.power_target_min_w + *caps.power_target_max_w) / 2);
    o = h.execute(ep, st, CommandType::set_power_target, target);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(num(truth(sim, ip).at("power_target_w")) == doctest::Approx(target));
    s = poll_until(h, ep, st, [&](const MinerSample& x) {
        return x.power_limit_w == target && x.power_w && std::fabs(*x.power_w - target) < 40;
    });
    CHECK(s.power_limit_w == target);
    REQUIRE(s.power_w.has_value());
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.02));

    // The family rule: outside the reported min/max, refused before the PUT; nothing changes.
    for (const double bad : {*caps.power_target_min_w - 100, *caps.power_target_max_w + 100}) {
        CAPTURE(bad);
        o = h.execute(ep, st, CommandType::set_power_target, bad);
        CHECK(o.status == CommandStatus::unsupported);
        CHECK(o.message.find("outside") != std::string::npos);
        CHECK(o.message.find("configuration/constraints") != std::string::npos);
        CHECK(num(truth(sim, ip).at("power_target_w")) == doctest::Approx(target));
    }
    o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(num(truth(sim, ip).at("power_target_w")) == doctest::Approx(target));
    CHECK(truth_state(sim, ip) == "mining");

    // reboot: booting, then mining again with bosminer's uptime restarted
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 30);
}

TEST_CASE("braiins driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.2.30", "s19xp@braiins:1", 1);
    const std::string ip = "127.34.2.30";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip, sim.http_port());
    Harness h;
    h.ctx.transport.connect_timeout = 1s;
    h.ctx.transport.reply_timeout = 1s;
    DriverState st;
    const MinerSample good = h.poll(ep, st);
    REQUIRE(good.up);

    const FaultedPolls faulted = expect_poll_faults(h, sim, ip, ep, st, good, rpc_poll_faults());
    const MinerSample& hung = faulted.at("hung");
    REQUIRE(hung.poll_duration_ms.has_value());
    CHECK(*hung.poll_duration_ms < 2500);  // one request, within the 1 s deadline
    const MinerSample& garbage = faulted.at("garbage");
    CHECK(garbage.error_message->find("summary+devs") != std::string::npos);
    CHECK(h.poll(ep, st).up);

    // Miner-reported problems come through in the sample, not as poll failures.
    REQUIRE(sim.post(faults, R"({"kind":"dead_board","index":1})") == 200);
    MinerSample s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].ok == false);
    REQUIRE(s.boards[1].hashrate_ths.has_value());
    CHECK(*s.boards[1].hashrate_ths == 0);
    CHECK_FALSE(s.errors.empty());  // the tuner's chain status for the dead board
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 4);
    CHECK(s.fans_rpm[0] == 0);  // a failed fan stays visible
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // the firmware's protection stop: not asleep
    CHECK(truth_state(sim, ip) == "protecting");
    REQUIRE(sim.del(faults) == 200);
    s = poll_until_state(h, ep, st, MinerState::mining);
    REQUIRE(s.state == MinerState::mining);

    // A changed password: reads still work (the RPC needs none), writes fail with "auth:".
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    CHECK(h.poll(ep, st).up);
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.starts_with("auth:"));
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(sim.del(faults) == 200);

    // A wrong configured password, with the identity already known: the same failure.
    MinerEndpoint wrong = ep;
    wrong.credentials = Credentials{"root", "not-the-password"};
    DriverState st2;
    st2.identity = st.identity;
    st2.identity_at = st.identity_at;
    o = h.execute(wrong, st2, CommandType::reboot);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.starts_with("auth:"));
    CHECK(truth_state(sim, ip) == "mining");
}

TEST_CASE("braiins driver: firmware without REST (S9 BOSminer+ replay) is read-only") {
    TempDir dir;
    const std::string cap = dir.path() + "/s9";
    fs::create_directories(cap);
    for (std::string_view c : {"version", "summary", "devs", "temps", "fans", "pools"}) {
        fs::copy_file(kFixtures / ("s9_bosplus_bosminer_" + std::string(c) + ".json"),
                      cap + "/" + std::string(c) + ".json");
    }
    // An old web UI may answer any path with its HTML page: that is not the REST API.
    fs::create_directories(cap + "/http/api/v1/miner");
    {
        std::ofstream page(cap + "/http/api/v1/miner/details");
        page << "<html><body>LuCI - Lua Configuration Interface</body></html>";
    }
    SimProcess sim = start_replay(dir, cap, "127.34.2.40");
    Harness h;
    DriverState st;
    const MinerEndpoint ep =
        endpoint("127.34.2.40", sim.http_port(), static_cast<std::uint16_t>(sim.rpc_port()));
    MinerSample s = h.poll(ep, st);
    // No tunerstatus/devdetails capture: the join is refused and the parts go one by one.
    CHECK(st.joins_unsupported);
    REQUIRE(s.up);
    CHECK(s.state == MinerState::mining);
    CHECK(s.firmware_version == "0.2.0-36c56a9363");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(std::round(*s.hashrate_ths * 1000) == 15741);
    CHECK(s.boards.size() == 3);
    CHECK(st.token.empty());
    const Capabilities c = h.driver.capabilities(s);
    CHECK_FALSE(c.sleep);
    CHECK(c.notes.find("read-only") != std::string::npos);
    for (const CommandType t : {CommandType::sleep, CommandType::wake, CommandType::reboot,
                                CommandType::set_power_target}) {
        const CommandOutcome o = h.execute(ep, st, t, 1000.0);
        CHECK(o.status == CommandStatus::unsupported);
        CHECK(o.message.find("read-only") != std::string::npos);
    }
    s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
}
