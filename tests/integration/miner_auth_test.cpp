// Miners that refuse the configured credentials, against `hashwatt sim` with non-default
// passwords: for every family with credentials (Antminer web, Whatsminer writes, Braiins,
// Vnish) a wrong password gives `auth` (a sample error, an `auth` errors[] entry, or a command
// failure starting "auth: <family>"), the agent warns once per change of state rather than per
// poll, the right password works again, and no password shows in the log or an error text.
// Addresses: 127.39.11.1 upward.
#include "agent/auth_watch.hpp"
#include "agent/control.hpp"
#include "agent/drivers/drivers.hpp"
#include "common/log.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/sim_truth.hpp"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kWrong = "Wr0ng-pass-x7Q";

struct Family {
    std::string ip;
    std::string driver;
    std::string user;
    std::string password;           // what the simulator accepts (set in its config)
    bool polls_need_it;             // a poll alone shows the refusal
    PollError poll_error_expected;  // when polls_need_it and the sample is down
};

// Captures the log lines for the test's life; restores stderr even when a check throws.
struct LogCapture {
    LogCapture() {
        log::set_level(log::Level::info);
        log::set_sink([this](std::string_view line) {
            std::lock_guard lock(mu);
            lines.emplace_back(line);
        });
    }
    ~LogCapture() { log::set_sink(nullptr); }
    std::size_t count(std::string_view a, std::string_view b) {
        std::lock_guard lock(mu);
        return static_cast<std::size_t>(
            std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
                return l.find(a) != std::string::npos && l.find(b) != std::string::npos;
            }));
    }
    bool mentions(std::string_view s) {
        std::lock_guard lock(mu);
        return std::any_of(lines.begin(), lines.end(),
                           [&](const auto& l) { return l.find(s) != std::string::npos; });
    }
    std::mutex mu;
    std::vector<std::string> lines;
};

PollTarget target_for(const Family& f, unsigned http_port, std::string_view password) {
    PollTarget t;
    t.endpoint.host = f.ip;
    t.endpoint.rpc_port = 4028;
    t.endpoint.http_port = static_cast<std::uint16_t>(http_port);
    t.endpoint.credentials = Credentials{f.user, std::string(password)};
    t.driver_name = f.driver;
    return t;
}

}  // namespace

TEST_CASE("miner auth: a wrong password is `auth` naming the family, logged once, never shown") {
    TempDir dir;
    const std::vector<Family> families{
        {"127.39.11.1", "antminer", "root", "Am-secret-41", true, PollError::auth},
        {"127.39.11.2", "whatsminer", "admin", "Wm-secret-42", false, PollError::auth},
        {"127.39.11.3", "braiins", "root", "Bos-secret-43", true, PollError::auth},
        // Vnish serves its reads without the token: only writes unlock.
        {"127.39.11.4", "vnish", "admin", "Vn-secret-44", false, PollError::auth},
    };
    const std::string config = dir.path() + "/sim.toml";
    {
        std::ofstream c(config);
        c << "[credentials]\n"
          << "antminer_web_password = \"" << families[0].password << "\"\n"
          << "whatsminer_password = \"" << families[1].password << "\"\n"
          << "braiins_password = \"" << families[2].password << "\"\n"
          << "vnish_password = \"" << families[3].password << "\"\n";
    }
    SimProcess sim(
        HASHWATT_BINARY,
        {"--config", config, "--miners", "4", "--mix",
         "s19pro:1,m30s++:1,s19pro@braiins:1,s19jpro@vnish:1", "--base-ip", "127.39.11.1",
         "--http-port", "0", "--wake-ramp", "2s", "--sleep-ramp", "1s", "--boot-time", "3s"},
        dir.path() + "/sim");
    LogCapture logs;
    VerifyOptions verify;
    verify.wait = 1s;  // the credentials' verdict comes with the miner's acknowledgement
    verify.poll_every = 500ms;

    for (const Family& f : families) {
        CAPTURE(f.driver);
        const MinerDriver* driver = find_driver(f.driver);
        REQUIRE(driver != nullptr);
        DriverHarness h(*driver);
        h.ctx.transport.connect_timeout = 3s;
        h.ctx.transport.reply_timeout = 5s;
        PollTarget t = target_for(f, sim.http_port(), kWrong);

        // Polls with the wrong password: the refusal shows on the sample where the telemetry
        // needs the credentials (or, Antminer, in errors[]); three polls, one warning.
        for (int i = 0; i < 3; ++i) {
            const MinerSample s = h.run(poll_target(h.ctx, t));
            CHECK(s.driver == f.driver);
            if (!f.polls_need_it) {
                CHECK(s.up);
                CHECK_FALSE(refused_credentials(s));
                continue;
            }
            REQUIRE(refused_credentials(s));
            std::string text = s.error_message.value_or("");
            for (const auto& e : s.errors) text += " " + e.message;
            CHECK(text.find(f.driver) != std::string::npos);
            CHECK(text.find(kWrong) == std::string::npos);
            if (!s.up) {
                CHECK(s.error == f.poll_error_expected);
            } else {
                // Antminer: the RPC answers without a password; the web part is what failed.
                const bool has_auth_entry =
                    std::any_of(s.errors.begin(), s.errors.end(),
                                [](const auto& e) { return e.code == "auth"; });
                CHECK(has_auth_entry);
            }
        }
        CHECK(logs.count("miner refused the credentials", "family=" + f.driver) ==
              (f.polls_need_it ? 1u : 0u));

        // A command with the wrong password fails as `auth`, before anything changes; twice,
        // one more warning (the command side has its own state).
        Command cmd;
        cmd.id = "auth-1";
        cmd.type = CommandType::sleep;
        for (int i = 0; i < 2; ++i) {
            const ControlReport r = h.run(run_command(h.ctx, t, cmd, verify));
            CHECK(r.status == CommandStatus::failed);
            CHECK_MESSAGE(r.message.starts_with("auth: " + f.driver), r.message);
            CHECK(is_auth_failure(r.message));
            CHECK(r.message.find(kWrong) == std::string::npos);
        }
        CHECK(truth_state(sim, f.ip) == "mining");
        CHECK(logs.count("operation=command", "family=" + f.driver) == 1u);
        const std::string address = f.ip + ":4028";
        CHECK(logs.count("miner refused the credentials", address) == (f.polls_need_it ? 2u : 1u));

        // The right password: polls are clean and the command is acknowledged; the agent says
        // the credentials work again (once per side that had been refused).
        t.endpoint.credentials = Credentials{f.user, f.password};
        const ControlReport r = h.run(run_command(h.ctx, t, cmd, verify));
        CHECK_MESSAGE(r.status != CommandStatus::failed, r.message);
        CHECK_MESSAGE(r.status != CommandStatus::unsupported, r.message);
        CHECK_FALSE(is_auth_failure(r.message));
        const MinerSample s = h.run(poll_target(h.ctx, t));
        CHECK(s.up);
        CHECK_FALSE(refused_credentials(s));
        CHECK(logs.count("miner accepts the credentials again", "family=" + f.driver) ==
              (f.polls_need_it ? 2u : 1u));
        CHECK(logs.count("miner refused the credentials", address) == (f.polls_need_it ? 2u : 1u));
    }

    // No password, wrong or right, in anything the agent logged.
    CHECK_FALSE(logs.mentions(kWrong));
    for (const Family& f : families) CHECK_FALSE(logs.mentions(f.password));
}
