// The Avalon driver against `hashwatt sim`: polls agree with the simulator's true state, the
// soft-off round trip (sleep -> SoftOFF seen -> wake -> hashing), work-mode power targets and
// reboot take effect, faults map to the documented reasons, and refused commands change nothing.
// Addresses: 127.34.3.1 .. 127.34.3.99 (the e2e suite uses 127.34.3.101 upward).
#include "agent/drivers/drivers.hpp"
#include "agent/transport/transport.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/driver_sim.hpp"
#include "tests/support/poll_faults.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct Harness : DriverHarness {
    Harness() : DriverHarness(avalon_driver()) {}

    // The raw estats reply, to look at the firmware's own flags (SoftOFF) beside the parse.
    std::string estats(const MinerEndpoint& ep) {
        const std::string request = R"({"command":"estats"})";
        const RpcResult r =
            run(rpc_request(ctx.executor, ep.host, ep.rpc_port, request, ctx.transport));
        REQUIRE_FALSE(r.error.has_value());
        return r.body;
    }
};

MinerEndpoint endpoint(const std::string& ip) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.site = "lab";
    return ep;
}

std::int64_t workmode_of(const SimProcess& sim, const std::string& ip) {
    return truth(sim, ip).at("control").as_object().at("avalon_workmode").as_int64();
}

// The sample agrees with the simulator's truth read just after it.
void check_against_truth(const MinerSample& s, const json::object& t) {
    INFO("truth: " << json::serialize(t));
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.driver == "avalon");
    CHECK(s.make == "Canaan");
    CHECK(s.firmware == "stock");
    check_identity_matches_truth(s, t);
    REQUIRE(s.serial.has_value());  // the DNA, a hash of the simulated serial
    CHECK(s.serial->size() == 16);
    CHECK(s.site == "lab");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(near(*s.hashrate_ths, num(t.at("hashrate_ths")), 0.05));
    REQUIRE(s.hashrate_avg_ths.has_value());
    CHECK(near(*s.hashrate_avg_ths, num(t.at("hashrate_avg_ths")), 0.05));
    REQUIRE(s.expected_hashrate_ths.has_value());
    CHECK(near(*s.expected_hashrate_ths, num(t.at("expected_hashrate_ths")), 0.01));
    // PS[4] is the PSU's DC output: below the wall draw by the PSU's losses, never above it.
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::estimated);
    CHECK(*s.power_w <= num(t.at("power_w")) * 1.01);
    CHECK(*s.power_w >= num(t.at("power_w")) * 0.85);
    REQUIRE(s.power_limit_w.has_value());  // MPO
    CHECK(*s.power_limit_w == doctest::Approx(num(t.at("power_target_w"))).epsilon(0.001));
    REQUIRE(s.uptime_s.has_value());
    CHECK(std::abs(*s.uptime_s - t.at("elapsed_s").as_int64()) <= 3);
    REQUIRE(s.inlet_temp_c.has_value());
    CHECK(std::fabs(*s.inlet_temp_c - num(t.at("ambient_c"))) <= 1);
    check_fans_match_truth(s, t);
    const auto& boards = t.at("boards").as_array();
    REQUIRE(s.boards.size() == boards.size());
    for (std::size_t i = 0; i < boards.size(); ++i) {
        const auto& b = boards[i].as_object();
        const BoardSample& sb = s.boards[i];
        CAPTURE(i);
        CHECK(sb.index == b.at("index").as_int64());
        CHECK(sb.expected_chips == b.at("expected_chips").as_int64());
        CHECK(sb.ok == b.at("alive").as_bool());
        REQUIRE(sb.chip_temp_max_c.has_value());
        CHECK(std::fabs(*sb.chip_temp_max_c - num(b.at("chip_temp_max_c"))) <= 1.5);
        // MTavg, the board's chip average. The simulated board's four chip sensors read
        // max-16, max-14, max-1 and max, so the average is 7.75 under the true hottest chip
        // (each sensor rounded: within 1.5). It is not the PCB reading the truth calls
        // board_temp_max_c, whose gap to the chips carries its own noise.
        REQUIRE(sb.board_temp_max_c.has_value());
        CHECK(*sb.board_temp_max_c <= *sb.chip_temp_max_c);
        CHECK(std::fabs(*sb.board_temp_max_c - (num(b.at("chip_temp_max_c")) - 7.75)) <= 1.5);
    }
    REQUIRE_FALSE(s.pools.empty());
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
}

}  // namespace

TEST_CASE("avalon driver: polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.3.1", "avalon1246:1,avalon1366:1", 2);
    Harness h;
    for (int i = 1; i <= 2; ++i) {
        const std::string ip = "127.34.3." + std::to_string(i);
        CAPTURE(ip);
        REQUIRE(wait_until_daemon_ran(sim, ip));  // GHSavg and MGHS are averages since start
        DriverState st;
        const MinerSample s = h.poll(endpoint(ip), st);
        CHECK(s.state == MinerState::mining);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        CHECK(s.errors.empty());
        CHECK_FALSE(st.joins_unsupported);  // one joined request per poll
        check_against_truth(s, truth(sim, ip));
        // The identity is cached; the next poll (the join without `version`) still carries it.
        REQUIRE(st.identity.has_value());
        const TimePoint identity_at = st.identity_at;
        const MinerSample again = h.poll(endpoint(ip), st);
        CHECK(st.identity_at == identity_at);
        check_against_truth(again, truth(sim, ip));
        const Capabilities c = h.driver.capabilities(again);
        CHECK(c.sleep);
        CHECK(c.wake);
        CHECK(c.power_target_min_w.has_value());
    }
}

TEST_CASE("avalon driver: the soft-off round trip, work modes and reboot take effect") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.3.11", "avalon1246:1", 1);
    const std::string ip = "127.34.3.11";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);
    CHECK(h.estats(ep).find("SoftOFF[0]") != std::string::npos);

    // sleep: ascset 0,softoff,1:<now> -> "success softoff:<ts>", SoftOFF set, boards stop.
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("success softoff:") != std::string::npos);
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.up);
    CHECK(truth_state(sim, ip) == "sleeping");
    CHECK(h.estats(ep).find("SoftOFF[1]") != std::string::npos);
    CHECK(h.estats(ep).find("In Idle") != std::string::npos);
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(*s.hashrate_ths == 0);

    // wake: softon -> SoftOFF cleared -> hashing again.
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("success softon:") != std::string::npos);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths && *x.hashrate_ths > 80;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");
    CHECK(h.estats(ep).find("SoftOFF[0]") != std::string::npos);

    // power target 3000 W on a 1246 (nominal 3420 W): the low mode (~2736 W) is the highest at
    // or below it.
    o = h.execute(ep, st, CommandType::set_power_target, 3000.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("work mode 0") != std::string::npos);
    auto t = truth(sim, ip);
    CHECK(t.at("control").as_object().at("avalon_workmode").as_int64() == 0);
    CHECK(num(t.at("power_target_w")) == doctest::Approx(2736));
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.power_limit_w && *x.power_limit_w == 2736 && x.power_w && *x.power_w <= 3000;
    });
    CHECK(s.power_limit_w == 2736);
    REQUIRE(s.power_w.has_value());
    CHECK(*s.power_w <= 3000);
    // high mode: 110 % of nominal, capped at the model's 3500 W.
    o = h.execute(ep, st, CommandType::set_power_target, 3500.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(workmode_of(sim, ip) == 2);
    CHECK(num(truth(sim, ip).at("power_target_w")) == doctest::Approx(3500));
    o = h.execute(ep, st, CommandType::set_power_target, 3420.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(workmode_of(sim, ip) == 1);
    s = h.poll(ep, st);
    CHECK(s.power_limit_w == 3420);

    // Refused before anything is sent: the work mode stays.
    o = h.execute(ep, st, CommandType::set_power_target, 2000.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("2736..3500 W") != std::string::npos);
    o = h.execute(ep, st, CommandType::set_power_target, 5000.0);
    CHECK(o.status == CommandStatus::unsupported);
    o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(workmode_of(sim, ip) == 1);
    CHECK(num(truth(sim, ip).at("power_target_w")) == doctest::Approx(3420));

    // reboot: booting, then mining again with cgminer's uptime restarted.
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 30);
}

TEST_CASE("avalon driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.3.21", "avalon1246:1", 1);
    const std::string ip = "127.34.3.21";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    h.ctx.transport.connect_timeout = 1s;
    h.ctx.transport.reply_timeout = 1s;
    DriverState st;
    const MinerSample good = h.poll(ep, st);
    REQUIRE(good.up);

    const FaultedPolls faulted = expect_poll_faults(h, sim, ip, ep, st, good, rpc_poll_faults());
    for (const auto& entry : faulted) {
        const std::string& kind = entry.first;
        const MinerSample& s = entry.second;
        CAPTURE(kind);
        CHECK_FALSE(s.hashrate_ths.has_value());
    }
    const MinerSample& hung = faulted.at("hung");
    REQUIRE(hung.poll_duration_ms.has_value());
    CHECK(*hung.poll_duration_ms < 2500);  // within the 1 s deadline: one request
    const MinerSample& garbage = faulted.at("garbage");
    CHECK(garbage.error_message->find("summary+estats+pools") != std::string::npos);
    CHECK(h.poll(ep, st).up);
    CHECK_FALSE(st.joins_unsupported);  // failures are not mistaken for a refused join

    // Miner-reported problems come through as errors, not as poll failures.
    REQUIRE(sim.post(faults, R"({"kind":"dead_board","index":1})") == 200);
    MinerSample s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].ok == false);
    CHECK(s.boards[0].ok == true);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == "ECHU1:512");
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 4);
    CHECK(s.fans_rpm[0] == 0);  // a stopped fan reads 0, it is not dropped
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // the firmware's protection stop: not asleep
    CHECK(truth_state(sim, ip) == "protecting");
    REQUIRE(sim.del(faults) == 200);
    s = poll_until_state(h, ep, st, MinerState::mining);
    REQUIRE(s.state == MinerState::mining);

    // sleep_ignored: the firmware acknowledges softoff and keeps hashing; polls show it.
    REQUIRE(sim.post(faults, R"({"kind":"sleep_ignored"})") == 200);
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);  // the reply is all the driver can judge
    s = h.poll(ep, st);
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(sim.del(faults) == 200);

    // password_changed does not apply: Canaan's cgminer RPC has no credentials, so reads and
    // ascset still work.
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    CHECK(h.poll(ep, st).up);
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    REQUIRE(sim.del(faults) == 200);

    // A command while the miner is down fails with the transport's reason; nothing changes.
    REQUIRE(sim.post(faults, R"({"kind":"offline"})") == 200);
    o = h.execute(ep, st, CommandType::set_power_target, 3000.0);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("refused") != std::string::npos);
    REQUIRE(sim.del(faults) == 200);
    CHECK(workmode_of(sim, ip) == 1);
}
