// The Whatsminer driver against `hashwatt sim`: polls agree with the simulator's true state,
// commands take effect, faults map to the documented reasons, real captures come through the
// replay mode end to end, and API v3 firmware (a fake on TCP 4433) is reported as unsupported.
// Addresses: 127.32.0.x upward (replay 127.32.9.x).
#include "agent/drivers/drivers.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/driver_sim.hpp"
#include "tests/support/poll_faults.hpp"
#include "tests/support/process.hpp"
#include "tests/support/replay.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
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

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "whatsminer";

struct Harness : DriverHarness {
    Harness() : DriverHarness(whatsminer_driver()) {}
};

MinerEndpoint endpoint(const std::string& ip, std::uint16_t port = 4028) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.rpc_port = port;
    ep.site = "lab";
    return ep;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << p.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The sample agrees with the simulator's truth read just after it.
void check_against_truth(const MinerSample& s, const json::object& t) {
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.driver == "whatsminer");
    CHECK(s.make == "MicroBT");
    CHECK(s.firmware == "stock");
    check_identity_matches_truth(s, t);
    CHECK(s.serial == std::string(t.at("serial").as_string()));
    CHECK(s.site == "lab");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(near(*s.hashrate_ths, num(t.at("hashrate_1m_ths")), 0.03));
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::measured);
    CHECK(near(*s.power_w, num(t.at("power_w")), 0.02));
    CHECK(s.power_limit_w == num(t.at("control").as_object().at("whatsminer_power_limit_w")));
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
        REQUIRE(sb.chip_temp_max_c.has_value());
        CHECK(std::fabs(*sb.chip_temp_max_c - num(b.at("chip_temp_max_c"))) <= 5);
        REQUIRE(sb.board_temp_max_c.has_value());
        CHECK(std::fabs(*sb.board_temp_max_c - num(b.at("board_temp_max_c"))) <= 5);
    }
    REQUIRE_FALSE(s.pools.empty());
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
}

// Polls until `pred(sample)` holds or the deadline passes; returns the last sample.

}  // namespace

TEST_CASE("whatsminer driver: polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.32.0.1", "m30s++:1,m50:1,m60:1", 3);
    Harness h;
    for (int i = 1; i <= 3; ++i) {
        const std::string ip = "127.32.0." + std::to_string(i);
        REQUIRE(wait_until_daemon_ran(sim, ip));  // MHS av is an average since start
        CAPTURE(ip);
        DriverState st;
        const MinerSample s = h.poll(endpoint(ip), st);
        CHECK(s.state == MinerState::mining);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        CHECK(s.errors.empty());
        check_against_truth(s, truth(sim, ip));
        // The identity is cached; the next poll (one request) still carries it.
        REQUIRE(st.identity.has_value());
        const TimePoint identity_at = st.identity_at;
        const MinerSample again = h.poll(endpoint(ip), st);
        CHECK(st.identity_at == identity_at);
        check_against_truth(again, truth(sim, ip));
        const Capabilities c = h.driver.capabilities(again);
        CHECK(c.sleep);
        CHECK(c.power_target_max_w.has_value());
    }
}

TEST_CASE("whatsminer driver: sleep, wake, power target and reboot take effect") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.32.1.1", "m30s++:1", 1);
    const std::string ip = "127.32.1.1";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);

    // sleep
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("power_off") != std::string::npos);
    CHECK_FALSE(st.token.empty());
    const TimePoint token_at = st.token_at;
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(std::string(truth(sim, ip).at("state").as_string()) == "sleeping");
    CHECK(s.up);

    // wake (the cached token is reused)
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(st.token_at == token_at);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths && *x.hashrate_ths > 100;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(std::string(truth(sim, ip).at("state").as_string()) == "mining");

    // power target: 3000 W of the 3600 W limit -> set_power_pct 83 -> 2988 W, no reboot
    o = h.execute(ep, st, CommandType::set_power_target, 3000.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("set_power_pct 83 %") != std::string::npos);
    auto t = truth(sim, ip);
    CHECK(t.at("control").as_object().at("whatsminer_power_pct").as_int64() == 83);
    CHECK(num(t.at("power_target_w")) == doctest::Approx(2988));
    CHECK(std::string(t.at("state").as_string()) == "mining");
    // (The wake ramp may still be finishing: wait for the power to settle at the new target.)
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.power_w && std::fabs(*x.power_w - 2988) < 30;
    });
    REQUIRE(s.power_w.has_value());
    CHECK(*s.power_w == doctest::Approx(2988).epsilon(0.01));
    CHECK(*s.power_w <= 3000);
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.01));

    // out of range: refused before anything is sent
    const std::string token_before = st.token;
    o = h.execute(ep, st, CommandType::set_power_target, 1000.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("2200..3600") != std::string::npos);
    o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(st.token == token_before);
    CHECK(truth(sim, ip).at("control").as_object().at("whatsminer_power_pct").as_int64() == 83);

    // reboot: booting, then mining again with btminer's uptime restarted
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 30);
}

TEST_CASE("whatsminer driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.32.2.1", "m30s++:1,m50:1", 2);
    const std::string ip = "127.32.2.1";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip);
    Harness h;
    h.ctx.transport.connect_timeout = 1s;
    h.ctx.transport.reply_timeout = 1s;
    DriverState st;
    const MinerSample good = h.poll(ep, st);
    REQUIRE(good.up);

    const FaultedPolls faulted = expect_poll_faults(h, sim, ip, ep, st, good, rpc_poll_faults());
    const MinerSample& hung = faulted.at("hung");
    REQUIRE(hung.poll_duration_ms.has_value());
    CHECK(*hung.poll_duration_ms < 2500);  // within the 1 s deadline, requests in parallel
    const MinerSample& garbage = faulted.at("garbage");
    CHECK(garbage.error_message->find("summary+devs+pools") != std::string::npos);
    CHECK(h.poll(ep, st).up);

    // Miner-reported problems come through as errors, not as poll failures.
    REQUIRE(sim.post(faults, R"({"kind":"dead_board","index":1})") == 200);
    MinerSample s = h.poll(ep, st);
    CHECK(s.up);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[1].ok == false);
    CHECK(s.boards[1].chips == 0);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == "531");
    CHECK(s.errors[0].message == "slot 1 not found");
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 2);
    CHECK(s.fans_rpm[0] == 0);
    REQUIRE_FALSE(s.errors.empty());
    CHECK(s.errors[0].code == "110");
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // the firmware's protection stop: not asleep
    CHECK(std::string(truth(sim, ip).at("state").as_string()) == "protecting");
    REQUIRE(sim.del(faults) == 200);

    // A changed password: reads still work, writes fail with a clear auth message.
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    CHECK(h.poll(ep, st).up);
    const CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.starts_with("auth:"));
    CHECK(o.message.find("135") != std::string::npos);
    CHECK(std::string(truth(sim, ip).at("state").as_string()) != "sleeping");
    REQUIRE(sim.del(faults) == 200);

    // A wrong configured password is the same failure, from the other side.
    MinerEndpoint wrong = ep;
    wrong.credentials = Credentials{"admin", "not-the-password"};
    DriverState st2;
    const CommandOutcome o2 = h.execute(wrong, st2, CommandType::reboot);
    CHECK(o2.status == CommandStatus::failed);
    CHECK(o2.message.starts_with("auth:"));
}

TEST_CASE("whatsminer driver: API v3 firmware (TCP 4433 only) is reported as unsupported") {
    // A fake v3 miner: nothing on 4028, length-prefixed get.device.info on 4433.
    const std::string ip = "127.32.5.1";
    const std::string reply = read_file(kFixtures / "m60s_apiv3_get_device_info.json");
    asio::io_context server_io;
    asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address(ip), 4433});
    std::atomic<int> served{0};
    asio::co_spawn(
        server_io,
        [&]() -> asio::awaitable<void> {
            for (;;) {
                auto sock = co_await acceptor.async_accept(asio::use_awaitable);
                unsigned char len[4];
                co_await asio::async_read(sock, asio::buffer(len), asio::use_awaitable);
                std::string request(
                    static_cast<std::size_t>(len[0] | (len[1] << 8) | (len[2] << 16)), '\0');
                co_await asio::async_read(sock, asio::buffer(request), asio::use_awaitable);
                std::string frame(4, '\0');
                for (int i = 0; i < 4; ++i) {
                    frame[static_cast<std::size_t>(i)] =
                        static_cast<char>((reply.size() >> (8 * i)) & 0xFF);
                }
                frame += reply;
                co_await asio::async_write(sock, asio::buffer(frame), asio::use_awaitable);
                ++served;
            }
        },
        asio::detached);
    std::thread server([&] { server_io.run(); });

    Harness h;
    DriverState st;
    const MinerEndpoint ep = endpoint(ip);
    const MinerSample s = h.poll(ep, st);
    CHECK(served.load() == 1);
    CHECK_FALSE(s.up);
    CHECK(s.error == PollError::unsupported);
    REQUIRE(s.error_message.has_value());
    CHECK(s.error_message->starts_with("Whatsminer API v3 firmware is not supported yet"));
    CHECK(s.model == "M60S");
    CHECK(s.mac == "ce:02:01:00:8c:36");
    CHECK(s.miner_id == "ce:02:01:00:8c:36");
    const Capabilities c = h.driver.capabilities(s);
    CHECK_FALSE(c.sleep);
    const CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(served.load() == 1);  // refused without a word to the miner
    // A command straight to a miner never polled: one read finds v3, and nothing is written.
    DriverState fresh;
    const CommandOutcome o_fresh = h.execute(ep, fresh, CommandType::wake);
    CHECK(o_fresh.status == CommandStatus::unsupported);
    CHECK(o_fresh.message.starts_with("Whatsminer API v3 firmware is not supported yet"));
    CHECK(served.load() == 2);  // the read-only get.device.info, no write

    server_io.stop();
    server.join();
}

TEST_CASE("whatsminer driver: real captures polled end to end through replay") {
    TempDir dir;
    const std::string cap = dir.path() + "/m30s";
    fs::create_directories(cap);
    fs::copy_file(kFixtures / "m30s_summary.json", cap + "/summary.json");
    fs::copy_file(kFixtures / "m30s_edevs.json", cap + "/devs.json");
    SimProcess sim = start_replay(dir, cap, "127.32.9.1");
    Harness h;
    DriverState st;
    const MinerEndpoint ep = endpoint("127.32.9.1", static_cast<std::uint16_t>(sim.rpc_port()));
    MinerSample s = h.poll(ep, st);
    // No pools capture, so the join is refused ("Invalid command") and the parts are asked one
    // by one, as with firmware that does not join.
    CHECK(st.joins_unsupported);
    REQUIRE(s.up);
    CHECK(s.state == MinerState::mining);
    CHECK(s.miner_id == "c6:02:14:00:1f:b3");
    CHECK(s.firmware_version == "20200512.13.REL");
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(std::round(*s.hashrate_ths * 1000) / 1000 == doctest::Approx(85.163));
    CHECK(std::round(*s.hashrate_avg_ths * 1000) / 1000 == doctest::Approx(85.106));
    CHECK(std::round(*s.expected_hashrate_ths * 1000) / 1000 == doctest::Approx(86.472));
    CHECK(s.power_w == 3230);
    CHECK(s.power_limit_w == 3600);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{2370, 2430});
    CHECK(s.inlet_temp_c == 11);
    CHECK(s.uptime_s == 29600);
    CHECK(s.hw_errors_total == 800);
    REQUIRE(s.errors.size() == 1);
    CHECK(s.errors[0].code == "205");
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[0].chip_temp_max_c == 99.79);
    CHECK(s.boards[0].board_temp_max_c == 80);
    CHECK(s.boards[2].chips == 156);
    s = h.poll(ep, st);  // the separate requests from the start this time
    CHECK(s.up);
    CHECK(s.boards.size() == 3);

    // The 2020 firmware's answer to a request with the wrong key: a parse error that says so.
    const std::string bad = dir.path() + "/code24";
    fs::create_directories(bad);
    fs::copy_file(kFixtures / "m30s_error_cmd_key_multicommand.json", bad + "/summary.json");
    SimProcess sim2 = start_replay(dir, bad, "127.32.9.2");
    DriverState st2;
    s = h.poll(endpoint("127.32.9.2", static_cast<std::uint16_t>(sim2.rpc_port())), st2);
    CHECK_FALSE(s.up);
    CHECK(s.error == PollError::parse);
    REQUIRE(s.error_message.has_value());
    CHECK(s.error_message->find("Missing JSON 'command'") != std::string::npos);
    CHECK(s.miner_id == "127.32.9.2:" + std::to_string(sim2.rpc_port()));
}
