// The Vnish driver against `hashwatt sim`: detection picks it (not stock Antminer), polls agree
// with the simulator's true state, sleep/wake/power target/reboot take effect, the preset choice
// and the token rules hold, and faults map to the documented reasons.
// Addresses: 127.34.4.1 .. 127.34.4.99 (the e2e suite uses 127.34.4.200 upward); the fake web API
// of the last case listens on 127.34.4.70-72.
#include "agent/detect/probe.hpp"
#include "agent/drivers/drivers.hpp"
#include "common/models.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/driver_sim.hpp"
#include "tests/support/poll_faults.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace asio = boost::asio;

namespace {

// The simulated firmware writes its miner-level hash rates at 0.7 x the chains' (the true rate),
// as both captured Vnish builds do.
constexpr double kTopLevelFactor = 0.7;

struct Harness : DriverHarness {
    Harness() : DriverHarness(vnish_driver()) {}
};

MinerEndpoint endpoint(const std::string& ip, const SimProcess& sim) {
    MinerEndpoint ep;
    ep.host = ip;
    ep.rpc_port = 4028;
    ep.http_port = static_cast<std::uint16_t>(sim.http_port());
    ep.site = "lab";
    return ep;
}

std::string preset_of(const SimProcess& sim, const std::string& ip) {
    return std::string(truth(sim, ip).at("control").as_object().at("vnish_preset").as_string());
}

void check_against_truth(const MinerSample& s, const json::object& t) {
    INFO("truth: " << json::serialize(t));
    CHECK(s.up);
    CHECK(s.error == std::nullopt);
    CHECK(s.state == MinerState::mining);
    CHECK(s.driver == "vnish");
    CHECK(s.make == "Bitmain");
    CHECK(s.firmware == "vnish");
    check_identity_matches_truth(s, t);
    CHECK(s.serial == std::string(t.at("serial").as_string()));
    CHECK(s.site == "lab");
    // The simulator's truth is the chains' rate; the miner-level figure the sample reports is
    // 0.7 x it, as in the captures (agent/drivers/vnish/README.md).
    REQUIRE(s.hashrate_ths.has_value());
    CHECK(near(*s.hashrate_ths, kTopLevelFactor * num(t.at("hashrate_ths")), 0.05));
    REQUIRE(s.hashrate_avg_ths.has_value());
    CHECK(near(*s.hashrate_avg_ths, kTopLevelFactor * num(t.at("hashrate_avg_ths")), 0.05));
    REQUIRE(s.expected_hashrate_ths.has_value());
    CHECK(near(*s.expected_hashrate_ths, num(t.at("expected_hashrate_ths")), 0.01));
    REQUIRE(s.power_w.has_value());
    CHECK(s.power_source == PowerSource::measured);
    CHECK(near(*s.power_w, num(t.at("power_w")), 0.05));
    // The preset in force names the power target (the default preset is the nominal power).
    REQUIRE(s.power_limit_w.has_value());
    CHECK(near(*s.power_limit_w, num(t.at("power_target_w")), 0.001));
    // system.uptime has minute resolution.
    REQUIRE(s.uptime_s.has_value());
    CHECK(std::abs(*s.uptime_s - t.at("uptime_s").as_int64()) <= 61);
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
    REQUIRE(s.pools.size() == 3);  // the DevFee pseudo-pool is not one of them
    CHECK(s.pools[0].active == true);
    CHECK(s.pools[0].alive == true);
    CHECK(s.pools[1].active == false);
}

// A stand-in for Vnish builds whose reads need the token too (the simulator lets reads through,
// as the captured build does): a loopback HTTP server that answers each request from `handler`
// and records method, path and Authorization, so a test can count the unlocks. Stopped and
// joined on destruction, so a failing check leaves no thread behind.
class FakeVnishWeb {
  public:
    struct Request {
        std::string method, path, authorization;
    };
    struct Reply {
        unsigned status = 200;
        std::string body;
    };
    using Handler = std::function<Reply(const Request&)>;

    FakeVnishWeb(const std::string& ip, Handler handler)
        : handler_(std::move(handler)), acceptor_(io_, {asio::ip::make_address(ip), 0}) {
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~FakeVnishWeb() {
        io_.stop();
        thread_.join();
    }
    FakeVnishWeb(const FakeVnishWeb&) = delete;
    FakeVnishWeb& operator=(const FakeVnishWeb&) = delete;

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    int count(std::string_view path) const {
        int n = 0;
        for (const auto& r : requests()) n += r.path == path ? 1 : 0;
        return n;
    }

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto sock = co_await acceptor_.async_accept(asio::use_awaitable);
            try {
                co_await answer(sock);
            } catch (const std::exception&) {
                // A client that hangs up early is its business; keep serving.
            }
        }
    }

    static std::string header(std::string_view head, std::string_view name) {
        std::size_t at = 0;
        while ((at = head.find("\r\n", at)) != std::string_view::npos) {
            at += 2;
            const std::size_t colon = head.find(':', at);
            if (colon == std::string_view::npos) break;
            std::string key(head.substr(at, colon - at));
            for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (key == name) {
                const std::size_t end = head.find("\r\n", colon);
                std::string_view v = head.substr(colon + 1, end - colon - 1);
                while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                return std::string(v);
            }
        }
        return {};
    }

    asio::awaitable<void> answer(asio::ip::tcp::socket& sock) {
        asio::streambuf buf;
        const std::size_t head_len =
            co_await asio::async_read_until(sock, buf, "\r\n\r\n", asio::use_awaitable);
        const std::string data(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
        const std::string_view head(data.data(), head_len);
        Request req;
        const std::size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
        req.method = std::string(head.substr(0, sp1));
        req.path = std::string(head.substr(sp1 + 1, sp2 - sp1 - 1));
        req.authorization = header(head, "authorization");
        const std::string length = header(head, "content-length");
        const std::size_t body_len = length.empty() ? 0 : std::stoul(length);
        if (data.size() - head_len < body_len) {
            std::string rest(body_len - (data.size() - head_len), '\0');
            co_await asio::async_read(sock, asio::buffer(rest), asio::use_awaitable);
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(req);
        }
        const Reply r = handler_(req);
        const std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                                " X\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" +
                                r.body;
        co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
    }

    Handler handler_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    mutable std::mutex mutex_;
    std::vector<Request> requests_;
    std::thread thread_;
};

std::string summary_capture() {
    std::ifstream in(std::filesystem::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures" / "vnish" /
                         "s19jpro_vnish120rc3_api_v1_summary.json",
                     std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("vnish driver: detection, and polls agree with the simulator's true state") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.4.1", "s19jpro@vnish:1,s19pro@vnish:1,s21@vnish:1", 3);
    Harness h;
    for (int i = 1; i <= 3; ++i) {
        const std::string ip = "127.34.4." + std::to_string(i);
        CAPTURE(ip);
        const MinerEndpoint ep = endpoint(ip, sim);
        // The bundled cgminer's Type says "(Vnish 1.2.0-rc3)": vnish, not stock antminer.
        const Identification id = h.run(identify(h.ctx, ep));
        REQUIRE(id.driver != nullptr);
        CHECK(id.driver->name() == "vnish");

        REQUIRE(wait_until_daemon_ran(sim, ip));  // hr_average is an average since start
        DriverState st;
        const MinerSample s = h.poll(ep, st);
        CHECK(s.host == ip);
        CHECK(s.port == 4028);
        CHECK(s.poll_duration_ms.has_value());
        check_against_truth(s, truth(sim, ip));
        REQUIRE(st.identity.has_value());
        CHECK(st.identity->serial == s.serial);
        CHECK(st.token.empty());  // reads need no token
        // The next poll is one request (summary); the identity and preset come from the cache.
        const TimePoint identity_at = st.identity_at;
        const MinerSample again = h.poll(ep, st);
        CHECK(st.identity_at == identity_at);
        check_against_truth(again, truth(sim, ip));
    }
}

TEST_CASE("vnish driver: sleep, wake, power target by preset and reboot take effect") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.4.10", "s19jpro@vnish:1", 1);
    const std::string ip = "127.34.4.10";
    const MinerEndpoint ep = endpoint(ip, sim);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).state == MinerState::mining);

    // sleep: mining/stop, with a token from unlock
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK_FALSE(st.token.empty());
    MinerSample s = poll_until_state(h, ep, st, MinerState::sleeping);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.up);
    REQUIRE(wait_until([&] { return truth_state(sim, ip) == "sleeping"; }, 10s));
    s = h.poll(ep, st);
    CHECK(*s.hashrate_ths == 0.0);
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.05));

    // wake: mining/start
    o = h.execute(ep, st, CommandType::wake);
    CHECK(o.status == CommandStatus::succeeded);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.state == MinerState::mining && x.hashrate_ths &&
               *x.hashrate_ths > kTopLevelFactor * 90;
    });
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");

    // Power target between two presets (the simulated S19j Pro has 2000, 2200, ..., 2800, 3068,
    // 3200, 3400): the lower one is set and verified, and the true target follows.
    o = h.execute(ep, st, CommandType::set_power_target, 2950.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(o.message.find("preset 2800") != std::string::npos);
    CHECK(preset_of(sim, ip) == "2800");
    CHECK(num(truth(sim, ip).at("power_target_w")) == 2800);
    s = poll_until(h, ep, st, [](const MinerSample& x) {
        return x.power_w && std::fabs(*x.power_w - 2800) < 0.05 * 2800;
    });
    CHECK(s.power_limit_w == 2800);
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.05));
    // Exactly on a preset: that preset.
    o = h.execute(ep, st, CommandType::set_power_target, 3200.0);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(preset_of(sim, ip) == "3200");
    // Below the lowest preset: refused before anything is written.
    o = h.execute(ep, st, CommandType::set_power_target, 1500.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("below the lowest preset (2000 W)") != std::string::npos);
    CHECK(preset_of(sim, ip) == "3200");
    CHECK(num(truth(sim, ip).at("power_target_w")) == 3200);

    // reboot: booting (miner_state "initializing"), then mining with the uptime restarted
    o = h.execute(ep, st, CommandType::reboot);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(st.token.empty());  // the miner forgets its tokens
    s = poll_until_state(h, ep, st, MinerState::booting, 5s);
    CHECK(s.state == MinerState::booting);
    CHECK(s.up);
    CHECK(truth_state(sim, ip) == "booting");
    s = poll_until_state(h, ep, st, MinerState::mining);
    CHECK(s.state == MinerState::mining);
    REQUIRE(s.uptime_s.has_value());
    CHECK(*s.uptime_s < 120);
    // A write after the reboot unlocks again and works.
    CHECK(h.execute(ep, st, CommandType::set_power_target, 3068.0).status ==
          CommandStatus::succeeded);
    CHECK(preset_of(sim, ip) == "3068");
}

TEST_CASE("vnish driver: unsupported commands are refused and change nothing") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.4.20", "s19jpro@vnish:1", 1);
    const std::string ip = "127.34.4.20";
    const MinerEndpoint ep = endpoint(ip, sim);
    Harness h;
    DriverState st;
    // No poll first: the driver identifies the miner (reads only) before deciding.
    CommandOutcome o = h.execute(ep, st, CommandType::set_power_target, std::nullopt);
    CHECK(o.status == CommandStatus::unsupported);
    o = h.execute(ep, st, CommandType::set_power_target, 1999.0);
    CHECK(o.status == CommandStatus::unsupported);
    o = h.execute(ep, st, CommandType::set_power_target, 9000.0);
    CHECK(o.status == CommandStatus::unsupported);
    CHECK(o.message.find("3400") != std::string::npos);
    CHECK(st.token.empty());  // nothing was written, so no unlock either
    CHECK(preset_of(sim, ip).empty());
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(st.identity.has_value());
    const Capabilities caps = h.driver.capabilities(*st.identity);
    CHECK(caps.sleep);
    CHECK(caps.wake);
    CHECK(caps.reboot);
    CHECK(caps.power_target_min_w == 2000);
    CHECK(caps.power_target_max_w == 3400);
    CHECK_FALSE(caps.power_target_reboots);
    // A model the table does not know: no power targets (the range is unknown).
    MinerSample unknown = *st.identity;
    unknown.model = "Antminer X99";
    CHECK_FALSE(h.driver.capabilities(unknown).power_target_max_w);
}

TEST_CASE("vnish driver: token expiry and a changed password") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.4.30", "s19jpro@vnish:1", 1);
    const std::string ip = "127.34.4.30";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip, sim);
    Harness h;
    DriverState st;
    REQUIRE(h.poll(ep, st).up);

    // An expired token (the miner no longer knows it): 401, one unlock, the write goes through.
    st.token = "expired-token";
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    CHECK_FALSE(st.token.empty());
    CHECK(st.token != "expired-token");
    REQUIRE(wait_until([&] { return truth_state(sim, ip) == "sleeping"; }, 10s));
    const std::string good_token = st.token;
    o = h.execute(ep, st, CommandType::wake);  // the token is reused
    CHECK(o.status == CommandStatus::succeeded);
    CHECK(st.token == good_token);
    REQUIRE(wait_until([&] { return truth_state(sim, ip) == "mining"; }, 10s));
    REQUIRE(poll_until(h, ep, st, [](const MinerSample& x) {
                return x.state == MinerState::mining;
            }).state == MinerState::mining);

    // The password changed: the token is revoked (401), the one unlock is refused (403): auth.
    REQUIRE(sim.post(faults, R"({"kind":"password_changed"})") == 200);
    const MinerSample s = h.poll(ep, st);
    CHECK(s.up);  // reads need no token
    CHECK(s.state == MinerState::mining);
    o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("authentication failed") != std::string::npos);
    CHECK(st.token.empty());
    o = h.execute(ep, st, CommandType::set_power_target, 2500.0);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("authentication failed") != std::string::npos);
    CHECK(truth_state(sim, ip) == "mining");
    CHECK(preset_of(sim, ip).empty());
    REQUIRE(sim.del(faults) == 200);
    CHECK(h.execute(ep, st, CommandType::set_power_target, 2500.0).status ==
          CommandStatus::succeeded);
    CHECK(preset_of(sim, ip) == "2400");

    // A wrong configured password: reads work, writes fail as auth; the right one works.
    MinerEndpoint wrong = ep;
    wrong.credentials = Credentials{"", "not-the-password"};
    DriverState st2;
    CHECK(h.poll(wrong, st2).up);
    o = h.execute(wrong, st2, CommandType::reboot);
    CHECK(o.status == CommandStatus::failed);
    CHECK(o.message.find("authentication failed") != std::string::npos);
    CHECK(truth_state(sim, ip) == "mining");
    MinerEndpoint right = ep;
    right.credentials = Credentials{"", "admin"};
    CHECK(h.execute(right, st2, CommandType::wake).status == CommandStatus::succeeded);
}

TEST_CASE("vnish driver: faults map to the documented reasons") {
    TempDir dir;
    auto sim = start_driver_sim(dir, "127.34.4.40", "s19jpro@vnish:1", 1);
    const std::string ip = "127.34.4.40";
    const std::string faults = "/api/v1/miners/" + ip + "/faults";
    const MinerEndpoint ep = endpoint(ip, sim);
    Harness h;
    h.ctx.transport.connect_timeout = 1s;
    h.ctx.transport.reply_timeout = 1s;
    DriverState st;
    const MinerSample good = h.poll(ep, st);
    REQUIRE(good.up);

    // The simulator's output faults on HTTP (sim/server.cpp) are not HTTP-shaped: `truncated`
    // sends half of a 40-byte header block and closes without reading the request, which the
    // kernel turns into a TCP reset; `oversized` sends the RPC-style 4 MiB blob with no status
    // line. The driver reports what arrives: reset, and a malformed HTTP response (parse).
    const std::vector<PollFault> http_faults{
        {"offline", PollError::refused}, {"hung", PollError::timeout},
        {"garbage", PollError::parse},   {"truncated", PollError::reset},
        {"oversized", PollError::parse}, {"reset", PollError::reset},
    };
    const FaultedPolls faulted = expect_poll_faults(h, sim, ip, ep, st, good, http_faults);
    for (const auto& entry : faulted) {
        const std::string& kind = entry.first;
        const MinerSample& s = entry.second;
        CAPTURE(kind);
        CHECK_FALSE(s.hashrate_ths);
    }
    const MinerSample& hung = faulted.at("hung");
    REQUIRE(hung.poll_duration_ms.has_value());
    CHECK(*hung.poll_duration_ms < 2500);  // within the 1 s deadline
    CHECK(h.poll(ep, st).up);
    // A real reply over the size bound is too_large (the bound is 1 MiB by default; the summary
    // is ~3.9 KB).
    {
        const std::size_t bound = h.ctx.transport.max_reply_bytes;
        h.ctx.transport.max_reply_bytes = 1024;
        const MinerSample big = h.poll(ep, st);
        h.ctx.transport.max_reply_bytes = bound;
        CHECK_FALSE(big.up);
        CHECK(big.error == PollError::too_large);
        CHECK(big.miner_id == good.miner_id);
    }
    // A truncated summary that does arrive as HTTP is parse: tests/e2e/poll_vnish_test.cpp
    // serves one through the replay.

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
    CHECK(near(*s.power_w, num(truth(sim, ip).at("power_w")), 0.05));
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"fan_failure","index":0})") == 200);
    s = h.poll(ep, st);
    REQUIRE(s.fans_rpm.size() == 4);
    CHECK(s.fans_rpm[0] == 0);
    CHECK(s.fans_rpm[1] > 0);
    REQUIRE(sim.del(faults) == 200);
    REQUIRE(sim.post(faults, R"({"kind":"overheating"})") == 200);
    s = poll_until_state(h, ep, st, MinerState::error);
    CHECK(s.state == MinerState::error);  // miner_state "failure": the protection stop
    CHECK(truth_state(sim, ip) == "protecting");
    REQUIRE(sim.del(faults) == 200);

    // Sleep acknowledged but ignored: the samples keep saying mining.
    REQUIRE(sim.post(faults, R"({"kind":"sleep_ignored"})") == 200);
    CommandOutcome o = h.execute(ep, st, CommandType::sleep);
    CHECK(o.status == CommandStatus::succeeded);
    s = h.poll(ep, st);
    CHECK(s.state == MinerState::mining);
    CHECK(truth_state(sim, ip) == "mining");
    REQUIRE(sim.del(faults) == 200);
}

TEST_CASE("vnish driver: reads behind the token, one unlock per 401, then auth (fake web API)") {
    const std::string summary = summary_capture();
    Harness h;
    h.ctx.transport.connect_timeout = 2s;
    h.ctx.transport.reply_timeout = 2s;

    SUBCASE("a build that protects reads: unlock on the 401, then the token is reused") {
        FakeVnishWeb web("127.34.4.70", [&](const FakeVnishWeb::Request& r) {
            if (r.path == "/api/v1/unlock") {
                return FakeVnishWeb::Reply{200, R"({"token":"t1"})"};
            }
            if (r.authorization != "Bearer t1") {
                return FakeVnishWeb::Reply{401, R"({"err":"Unauthorized"})"};
            }
            if (r.path == "/api/v1/summary") return FakeVnishWeb::Reply{200, summary};
            return FakeVnishWeb::Reply{404, R"({"err":"Not found"})"};
        });
        MinerEndpoint ep;
        ep.host = "127.34.4.70";
        ep.http_port = web.port();
        DriverState st;
        MinerSample s = h.poll(ep, st);
        CHECK(s.up);
        CHECK(s.model == "Antminer S19j Pro");
        CHECK(st.token == "t1");
        CHECK(web.count("/api/v1/unlock") == 1);
        s = h.poll(ep, st);
        CHECK(s.up);
        CHECK(web.count("/api/v1/unlock") == 1);  // the token held is sent, no new unlock
        CHECK(web.requests().back().authorization == "Bearer t1");
    }

    SUBCASE("the password changed: one unlock, refused with 403, is auth") {
        FakeVnishWeb web("127.34.4.71", [&](const FakeVnishWeb::Request& r) {
            if (r.path == "/api/v1/unlock") {
                return FakeVnishWeb::Reply{403, R"({"err":"Wrong password"})"};
            }
            return FakeVnishWeb::Reply{401, R"({"err":"Unauthorized"})"};
        });
        MinerEndpoint ep;
        ep.host = "127.34.4.71";
        ep.http_port = web.port();
        DriverState st;
        st.token = "expired";
        const MinerSample s = h.poll(ep, st);
        CHECK_FALSE(s.up);
        CHECK(s.state == MinerState::offline);
        CHECK(s.error == PollError::auth);
        REQUIRE(s.error_message.has_value());
        CHECK(s.error_message->find("authentication failed") != std::string::npos);
        CHECK(web.count("/api/v1/unlock") == 1);
        CHECK(web.count("/api/v1/summary") == 1);
        CHECK(st.token.empty());
    }

    SUBCASE("a fresh token still refused: one unlock, one resend, then auth") {
        int issued = 0;
        FakeVnishWeb web("127.34.4.72", [&](const FakeVnishWeb::Request& r) {
            if (r.path == "/api/v1/unlock") {
                return FakeVnishWeb::Reply{200,
                                           R"({"token":"t)" + std::to_string(++issued) + "\"}"};
            }
            return FakeVnishWeb::Reply{401, R"({"err":"Unauthorized"})"};
        });
        MinerEndpoint ep;
        ep.host = "127.34.4.72";
        ep.http_port = web.port();
        DriverState st;
        st.token = "expired";
        const MinerSample s = h.poll(ep, st);
        CHECK(s.error == PollError::auth);
        CHECK(web.count("/api/v1/unlock") == 1);
        CHECK(web.count("/api/v1/summary") == 2);  // with the old token, then the fresh one
        const auto reqs = web.requests();
        REQUIRE(reqs.size() == 3);
        CHECK(reqs[0].authorization == "Bearer expired");
        CHECK(reqs[2].authorization == "Bearer t1");
    }
}
