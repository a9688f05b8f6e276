#include "agent/control.hpp"

#include <cmath>
#include <cstdio>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Power readings wobble by a few per cent between polls; a miner that settles within this
// margin over its target has taken the target.
constexpr double kPowerMargin = 0.05;

std::string describe(const MinerSample& s) {
    if (!s.up) {
        return "not answering (" +
               std::string(s.error ? to_string(*s.error) : std::string_view("down")) + ")";
    }
    std::string out = "state " + std::string(to_string(s.state));
    char buf[96];
    if (s.hashrate_ths) {
        std::snprintf(buf, sizeof buf, ", %.1f TH/s", *s.hashrate_ths);
        out += buf;
    }
    if (s.power_w) {
        std::snprintf(buf, sizeof buf, ", %.0f W", *s.power_w);
        out += buf;
    }
    if (s.power_limit_w) {
        std::snprintf(buf, sizeof buf, " (limit %.0f W)", *s.power_limit_w);
        out += buf;
    }
    if (s.uptime_s) out += ", up " + std::to_string(*s.uptime_s) + " s";
    return out;
}

}  // namespace

bool command_took_effect(const Command& cmd, const MinerSample& before, const MinerSample& now,
                         bool& saw_restart) {
    switch (cmd.type) {
        case CommandType::sleep:
            return now.up && now.state == MinerState::sleeping;
        case CommandType::wake:
            return now.up && now.state == MinerState::mining && now.hashrate_ths &&
                   *now.hashrate_ths > 0;
        case CommandType::set_power_target: {
            if (!cmd.power_target_w || !now.up || now.state != MinerState::mining) return false;
            const double ceiling = *cmd.power_target_w * (1 + kPowerMargin);
            if (now.power_w) return *now.power_w <= ceiling;
            return now.power_limit_w && *now.power_limit_w <= ceiling;
        }
        case CommandType::reboot: {
            const bool restarted_uptime =
                now.uptime_s && before.uptime_s && *now.uptime_s < *before.uptime_s;
            if (!now.up || now.state == MinerState::booting || restarted_uptime) {
                saw_restart = true;
            }
            return saw_restart && now.up && now.state != MinerState::booting;
        }
    }
    return false;
}

asio::awaitable<ControlReport> run_command(DriverContext& ctx, PollTarget& target,
                                           const Command& cmd, const VerifyOptions& opts) {
    ControlReport report;
    report.before = co_await poll_target(ctx, target);
    if (!target.driver) {
        report.status = CommandStatus::failed;
        report.message = "cannot identify the miner, nothing sent: " +
                         report.before->error_message.value_or("no answer");
        co_return report;
    }
    const auto sent_at = SteadyClock::now();
    const CommandOutcome outcome =
        co_await target.driver->execute(ctx, target.endpoint, target.state, cmd);
    report.status = outcome.status;
    report.message = outcome.message;
    if (outcome.status != CommandStatus::succeeded) {
        report.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - sent_at).count();
        co_return report;
    }
    // The miner acknowledged: now it has to show it.
    asio::steady_timer pause(ctx.executor);
    const auto give_up = sent_at + opts.wait;
    bool saw_restart = false;
    for (;;) {
        report.after = co_await poll_target(ctx, target);
        if (command_took_effect(cmd, *report.before, *report.after, saw_restart)) {
            report.status = CommandStatus::succeeded;
            report.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - sent_at).count();
            char buf[64];
            std::snprintf(buf, sizeof buf, "; verified after %.1f s: ", report.elapsed_s);
            report.message += buf + describe(*report.after);
            co_return report;
        }
        if (SteadyClock::now() + opts.poll_every > give_up) break;
        pause.expires_after(opts.poll_every);
        boost::system::error_code ec;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    report.status = CommandStatus::timed_out;
    report.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - sent_at).count();
    report.message += "; not seen within " + format_duration(opts.wait) + ": last poll shows " +
                      describe(*report.after);
    co_return report;
}

}  // namespace hashwatt::agent
