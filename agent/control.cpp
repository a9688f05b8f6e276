#include "agent/control.hpp"

#include "agent/auth_watch.hpp"

#include <cstdio>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

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
    if (outcome.status == CommandStatus::failed && is_auth_failure(outcome.message)) {
        note_auth_state(target, AuthSource::command, true, outcome.message);
    } else if (outcome.status == CommandStatus::succeeded) {
        note_auth_state(target, AuthSource::command, false, {});
    }
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
            report.message += buf + describe_sample(*report.after);
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
                      describe_sample(*report.after);
    co_return report;
}

}  // namespace hashwatt::agent
