// The LuxOS driver against `hashwatt sim`: polls agree with the simulator's true state, curtail,
// profile and reboot commands take effect, faults map to the documented reasons, and the
// single-session rule holds (a second logon is refused with Code 402; the driver recovers from a
// session left open and always logs off).
// Addresses: 127.34.1.1 .. 127.34.1.99 (the e2e suite uses 127.34.1.200 and up).
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/luxos/parse.hpp"
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
    Harness() : DriverHarness(luxos_driver()) {}

    // One raw RPC exchange, as another client of the miner would make it.
    std::string raw(const std::string& ip, const std::string& request) {
        const std::string host = ip;
        const RpcResult r =
            run(rpc_request(ctx.executor, host, std::uint16_t{4028}, request, ctx.transport));
        REQUIRE_MESSAGE(!r.error, "raw " << request << ": " << r.error->detail);
        return r.body;
    }
};

MinerEndpoint endpoint(const std::string& ip) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.rpc_port = 4028;
    ep.site = "lab";
    return ep;
}

const json::object& control(const json::object& t) { return t.at("control").as_object(); }

bool session_open(const SimProcess& sim, const std::string& ip) {
    return control(truth(sim, ip)).at("luxos_session_open").as_bool();
}

// The sample agrees with the simulator's truth read just after it.
void check_against_truth(const MinerSample& s, const json::object& t) {
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.driver == "luxos");
    CHECK(s.make == "Bitmain");
    CHECK(s.firmware == "luxos");
    check_identity_matches_truth(s, t);
    CHECK(s.serial == std::string(t.at("serial").as_string()));
    CHECK(s.site == "lab");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(near(*s.hashrate_ths, num(t.at("hashrate_ths")), 0.03));
    REQUIRE(s.hashrate_avg_ths.has_value());
    // The average since start still moves fast in a fresh simulator; the truth is read after.
    CHECK(near(*s.hashrate_avg_ths, num(t.at("hashrate_avg_ths")), 0.10));
    REQUIRE(s.expected_hashrate_ths.has_value());
    CHECK(near(*s.expected_hashrate_ths, num(t.at("expected_hashrate_ths")), 0.01));
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::estimated);  // LUXminer says PSU false
    CHECK(near(*s.power_w, num(t.at("power_w")), 0.02));
    REQUIRE(s.power_limit_w.has_value());
    CHECK(*s.power_limit_w == doctest::Approx(num(t.at("power_target_w"))).epsilon(0.005));
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
    REQUIRE_FALSE(s.pools.empty());
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
}

// The simulator's profile table, read with a raw `profiles` request: name -> Watts.
std::vector<std::pair<std::string, double>> sim_profiles(Harness& h, const std::string& ip) {
    const json::value v = json::parse(h.raw(ip, R"({"command":"profiles"})"));
    std::vector<std::pair<std::string, double>> out;
    for (const auto& p : v.at("PROFILES").as_array()) {
        out.emplace_back(std::string(p.at("Profile Name").as_string()), num(p.at("Watts")));
    }
    return out;
}

}  // namespace

TEST_CASE("luxos driver: polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.1", "s19kpro@luxos:1,s19xp@luxos:1", 2);
    Harness h;
    for (int i = 1; i <= 2; ++i) {
        const std::string ip = "127.34.1." + std::to_string(i);
        REQUIRE(wait_until_daemon_ran(sim, ip));  // GHS av is an average since start
        CAPTURE(ip);
        DriverState st;
        const MinerSample s = h.poll(endpoint(ip), st);
        CHECK(s.state == MinerState::mining);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        CHECK(s.errors.empty());
        CHECK_FALSE(st.joins_unsupported);  // one joined request per poll
        check_against_truth(s, truth(sim, ip));
        // The identity is cached; the next poll still carries it.
        REQUIRE(st.identity.has_value());
        const TimePoint identity_at = st.identity_at;
        const MinerSample again = h.poll(endpoint(ip), st);
        CHECK(st.identity_at == identity_at);
        check_against_truth(again, truth(sim, ip));
        CHECK(again.firmware_version == s.firmware_version);
        // Polls only read: no session was ever opened.
        CHECK_FALSE(session_open(sim, ip));
        const Capabilities c = h.driver.capabilities(again);
        CHECK(c.sleep);
        CHECK(c.wake);
        CHECK(c.reboot);
        CHECK(c.power_target_max_w.has_value());
    }
}

TEST_CASE("luxos driver: another miner at the address is not read with the old one's cache") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.5", "s19kpro@luxos:1,s19xp@luxos:1", 2);
    Harness h;
    DriverState st;
    const MinerSample a = h.poll(endpoint("127.34.1.5"), st);
    REQUIRE(a.up);
    REQUIRE(st.profile == "default");  // both run their default profile: same name, other Watts
    // The same state (as when DHCP hands the address to another miner) for the other miner.
    const MinerSample b = h.poll(endpoint("127.34.1.6"), st);
    check_against_truth(b, truth(sim, "127.34.1.6"));
    CHECK(b.power_limit_w != a.power_limit_w);
    REQUIRE(st.identity.has_value());
    CHECK(st.identity->mac == b.mac);
    CHECK(st.identity->model == "Antminer S19 XP");
    check_against_truth(h.poll(endpoint("127.34.1.6"), st), truth(sim, "127.34.1.6"));
}

TEST_CASE("luxos driver: sleep, wake, power target and reboot take effect") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.10", "s19kpro@luxos:1", 1);
    const std::string ip = "127.34.1.10";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);
    REQUIRE(control(truth(sim, ip)).at("luxos_atm_enabled").as_bool());

    // sleep: curtail sleep, then the session is closed again
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("curtail sleep acknowledged") != std::string::npos);
    CHECK_FALSE(session_open(sim, ip));
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(truth_state(sim, ip) == "sleeping");
    CHECK(s.up);
    CHECK(s.errors.empty());  // the sleep event is not an error

    // wake
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK_FALSE(session_open(sim, ip));
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths && *x.hashrate_ths > 100;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");

    // power target 2000 W: the highest profile at or under it, ATM paused and re-enabled
    const auto profiles = sim_profiles(h, ip);
    std::string best;
    double best_w = 0, next_w = 1e9;
    for (const auto& [name, w] : profiles) {
        if (w <= 2000 && w > best_w) {
            best = name;
            best_w = w;
        }
        if (w > 2000) next_w = std::min(next_w, w);
    }
    REQUIRE_FALSE(best.empty());
    REQUIRE(next_w > 2000);
    o = h.execute(ep, st, CommandType::set_power_target, 2000.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("profile " + best) != std::string::npos);
    CHECK(o.message.find("ATM paused and re-enabled") != std::string::npos);
    auto t = truth(sim, ip);
    CHECK(std::string(control(t).at("luxos_profile").as_string()) == best);
    CHECK(control(t).at("luxos_atm_enabled").as_bool());
    CHECK_FALSE(control(t).at("luxos_session_open").as_bool());
    CHECK(num(t.at("power_target_w")) == doctest::Approx(best_w));
    s = poll_until(h, ep, st, [&](const MinerSample& x) {
        return x.power_w && std::fabs(*x.power_w - best_w) < 30;
    });
    REQUIRE(s.power_w.has_value());
    CHECK(*s.power_w <= 2000);
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.02));
    CHECK(s.power_limit_w == best_w);
    CHECK(st.profile == best);  // the new profile's Watts are cached for the steady polls
    CHECK(h.poll(ep, st).power_limit_w == best_w);

    // out of range or without watts: refused before anything is sent
    o = h.execute(ep, st, CommandType::set_power_target, 500.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("1000..3100") != std::string::npos);
    o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    t = truth(sim, ip);
    CHECK(std::string(control(t).at("luxos_profile").as_string()) == best);
    CHECK_FALSE(control(t).at("luxos_session_open").as_bool());
    CHECK(std::string(t.at("state").as_string()) == "mining");

    // reboot: booting, then mining again with the daemon's uptime restarted
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK_FALSE(session_open(sim, ip));
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    CHECK(truth_state(sim, ip) == "booting");
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 30);
}

TEST_CASE("luxos driver: the single-session rule") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.20", "s19kpro@luxos:1", 1);
    const std::string ip = "127.34.1.20";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).up);

    // A session left open (as by an earlier attempt that never logged off): a second logon is
    // refused with Code 402.
    const luxos::SessionReply first =
        luxos::read_session_reply(h.raw(ip, R"({"command":"logon"})"), "logon");
    REQUIRE(first.status.ok);
    REQUIRE_FALSE(first.session_id.empty());
    CHECK(session_open(sim, ip));
    const luxos::SessionReply second =
        luxos::read_session_reply(h.raw(ip, R"({"command":"logon"})"), "logon");
    CHECK_FALSE(second.status.ok);
    CHECK(second.status.code == 402);
    CHECK(second.status.msg == "Another session is active");

    // The driver recovers: it takes the open session (named by `session`), sends the write and
    // logs off, which frees the miner for the next client.
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("a session was already open") != std::string::npos);
    CHECK_FALSE(session_open(sim, ip));
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(truth_state(sim, ip) == "sleeping");
    // The old session id is gone with it.
    const std::string stale = luxos::rpc_json("curtail", first.session_id + ",wakeup");
    CHECK_FALSE(luxos::read_status(h.raw(ip, stale), "curtail").ok);
    CHECK(truth_state(sim, ip) == "sleeping");

    // With no session open the driver opens its own and closes it: nothing is left behind, and
    // a fresh logon by anyone else works at once.
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("already open") == std::string::npos);
    CHECK_FALSE(session_open(sim, ip));
    const luxos::SessionReply after =
        luxos::read_session_reply(h.raw(ip, R"({"command":"logon"})"), "logon");
    CHECK(after.status.ok);
    // ... and while that client holds it, the driver's power target still goes through (and the
    // session is closed afterwards).
    o = h.execute(ep, st, CommandType::set_power_target, 2500.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK_FALSE(session_open(sim, ip));
    CHECK(s.up);
}

TEST_CASE("luxos driver: firmware without joins is polled and commanded command by command") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.25", "s19kpro@luxos:1", 1);
    const std::string ip = "127.34.1.25";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    DriverState st;
    st.joins_unsupported = true;  // as after a refused join
    MinerSample s = h.poll(ep, st);
    check_against_truth(s, truth(sim, ip));
    CHECK(s.state == MinerState::mining);
    s = h.poll(ep, st);  // steady: without profiles and version
    check_against_truth(s, truth(sim, ip));
    const CommandOutcome o = h.execute(ep, st, CommandType::set_power_target, 1500.0);
    CHECK(o.status == CommandStatus::succeeded);
    const auto t = truth(sim, ip);
    CHECK(num(t.at("power_target_w")) <= 1500);
    CHECK(std::string(control(t).at("luxos_profile").as_string()) != "");
    CHECK(control(t).at("luxos_atm_enabled").as_bool());
    CHECK_FALSE(control(t).at("luxos_session_open").as_bool());
    // The profile changed: the next poll asks `profiles` again for its Watts.
    s = h.poll(ep, st);
    CHECK(s.power_limit_w == num(t.at("power_target_w")));
    CHECK(st.profile == std::string(control(t).at("luxos_profile").as_string()));
}

TEST_CASE("luxos driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.1.30", "s19kpro@luxos:1", 1);
    const std::string ip = "127.34.1.30";
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
        REQUIRE(s.poll_duration_ms.has_value());
        CHECK(*s.poll_duration_ms < 2500);  // within the 1 s deadline
    }
    const MinerSample& garbage = faulted.at("garbage");
    CHECK(garbage.error_message->starts_with("joined poll: "));
    CHECK(h.poll(ep, st).up);
    CHECK_FALSE(st.joins_unsupported);  // a fault is not a refused join

    // A command while the miner is unreachable fails with the reason; nothing changes.
    REQUIRE(sim.post(faults, R"({"kind":"offline"})") == 200);
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.starts_with("logon: refused"));
    REQUIRE(sim.del(faults) == 200);
    CHECK(truth_state(sim, ip) == "mining");

    // LuxOS sessions need no password: a changed password does not apply, reads and writes go on.
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    CHECK(h.poll(ep, st).up);
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    REQUIRE(sim.del(faults) == 200);

    // Miner-reported problems come through as board state and events, not as poll failures.
    REQUIRE(sim.post(faults, R"({"kind":"dead_board","index":1})") == 200);
    MinerSample s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].ok == false);
    CHECK(s.boards[1].chips == 0);
    CHECK(s.boards[0].ok == true);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == "REBOOT_NOT_HASHING");
    CHECK(s.errors[0].message.find("(board 1)") != std::string::npos);
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 4);
    CHECK(s.fans_rpm[0] == 0);
    CHECK(s.fans_rpm[1] > 0);
    REQUIRE_FALSE(s.errors.empty());
    CHECK(s.errors[0].code == "FAN_FAILURE");
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // the firmware's protection stop: not asleep
    CHECK(truth_state(sim, ip) == "protecting");
    REQUIRE(sim.del(faults) == 200);

    // sleep_ignored: acknowledged, but the true state says the miner hashes on (the caller's
    // verification against later samples catches it).
    REQUIRE(sim.post(faults, R"({"kind":"sleep_ignored"})") == 200);
    o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    s = h.poll(ep, st);
    CHECK(s.state != MinerState::sleeping);
    CHECK(truth_state(sim, ip) != "sleeping");
    CHECK_FALSE(session_open(sim, ip));
}
