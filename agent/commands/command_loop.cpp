#include "agent/commands/command_loop.hpp"

#include "agent/auth_watch.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "common/units.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Agent ids are plain in practice, but a path segment must not be able to break the path.
std::string path_segment(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

std::string snippet(const std::string& body) {
    return body.size() <= 200 ? body : body.substr(0, 200) + "...";
}

}  // namespace

CommandLoop::CommandLoop(asio::any_io_executor ex, CommandLoopOptions options, Lookup lookup)
    : ex_(ex), opts_(std::move(options)), lookup_(std::move(lookup)), idle_(ex) {
    if (opts_.concurrency == 0) opts_.concurrency = 1;
    if (opts_.result_attempts < 1) opts_.result_attempts = 1;
}

void CommandLoop::stop() {
    stopping_ = true;
    for (auto* t : timers_) t->cancel();
    idle_.cancel();
}

// Sleeps until `until` or stop(); with time_point::max(), the far side of every race against
// stop().
asio::awaitable<void> CommandLoop::sleep_until(SteadyClock::time_point until) {
    if (stopping_) co_return;
    asio::steady_timer t(ex_, until);
    timers_.insert(&t);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    timers_.erase(&t);
}

Duration CommandLoop::next_backoff(int failures) const {
    const double factor = std::ldexp(1.0, std::min(std::max(failures - 1, 0), 20));
    const auto d = std::chrono::duration_cast<Duration>(opts_.retry_initial * factor);
    return std::min(std::max(d, opts_.retry_initial),
                    std::max(opts_.retry_max, opts_.retry_initial));
}

asio::awaitable<void> CommandLoop::run() {
    int failures = 0;
    while (!stopping_) {
        bool ok = false;
        try {
            ok = co_await poll_once();
        } catch (const std::exception& e) {
            if (stopping_) break;  // cancelled by stop()
            log::warn("command poll failed", {{"error", e.what()}});
        }
        if (stopping_) break;
        if (ok) {
            failures = 0;
            continue;
        }
        ++failures;
        co_await sleep_until(SteadyClock::now() + next_backoff(failures));
    }
    // Commands in flight were cancelled by stop(); their coroutines end at their next wait.
    while (running_ > 0) {
        idle_.expires_at(SteadyClock::time_point::max());
        boost::system::error_code ec;
        co_await idle_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<bool> CommandLoop::poll_once() {
    HttpRequestSpec spec;
    spec.method = "GET";
    spec.target = opts_.base_path + "/api/v1/agents/" + path_segment(opts_.agent_id) +
                  "/commands?wait=" + format_duration(opts_.wait);
    HttpAuth auth;
    auth.kind = HttpAuth::Kind::bearer;
    auth.token = opts_.token;
    TransportOptions t;
    t.connect_timeout = opts_.request_timeout;
    t.tls = opts_.tls;
    t.reply_timeout = opts_.wait + opts_.request_timeout;
    t.max_reply_bytes = 4 << 20;
    // Raced against stop(): the poll is cancelled rather than waited out. Named first, then
    // moved: GCC 12 mishandles temporaries inside a co_await expression.
    auto request = http_request(ex_, opts_.host, opts_.port, spec, auth, t);
    auto stopped = sleep_until(SteadyClock::time_point::max());
    auto first = co_await (std::move(request) || std::move(stopped));
    if (first.index() != 0) co_return false;  // stop()
    const HttpResult& r = std::get<0>(first);
    if (r.error) {
        ++stats_.poll_failures;
        log::warn("command poll: collector unreachable",
                  {{"collector", opts_.host + ":" + std::to_string(opts_.port)},
                   {"error", r.error->detail}});
        co_return false;
    }
    if (r.status != 200) {
        ++stats_.poll_failures;
        log::warn("command poll refused",
                  {{"status", std::to_string(r.status)}, {"body", snippet(r.body)}});
        co_return false;
    }
    ++stats_.polls;
    json::error_code ec;
    const json::value doc = json::parse(r.body, ec);
    const json::value* list = nullptr;
    if (!ec && doc.is_object()) list = doc.get_object().if_contains("commands");
    if (list == nullptr || !list->is_array()) {
        ++stats_.poll_failures;
        log::warn("command poll: reply is not {\"commands\": [...]}", {{"body", snippet(r.body)}});
        co_return false;
    }
    const auto& arr = list->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
        try {
            backlog_.push_back(command_from_json(arr[i], "commands[" + std::to_string(i) + "]"));
            ++stats_.received;
        } catch (const DecodeError& e) {
            // Without a readable id there is nothing to answer; the collector times it out.
            log::warn("command poll: a command could not be read", {{"error", e.what()}});
        }
    }
    dispatch();
    co_return true;
}

void CommandLoop::dispatch() {
    for (auto it = backlog_.begin(); it != backlog_.end() && running_ < opts_.concurrency;) {
        if (stopping_) return;
        if (busy_.contains(it->miner_id)) {
            ++it;  // its miner is busy: a later command for another miner may go first
            continue;
        }
        Command cmd = std::move(*it);
        it = backlog_.erase(it);
        busy_.insert(cmd.miner_id);
        ++running_;
        asio::co_spawn(ex_, execute(std::move(cmd)), asio::detached);
    }
}

asio::awaitable<void> CommandLoop::execute(Command cmd) {
    const auto t0 = SteadyClock::now();
    CommandResult result;
    result.command_id = cmd.id;
    result.miner_id = cmd.miner_id;
    bool cut_short = false;
    try {
        PollTarget* target = lookup_ ? lookup_(cmd.miner_id) : nullptr;
        const auto now = now_ms();
        if (cmd.deadline && *cmd.deadline <= now) {
            result.status = CommandStatus::timed_out;
            result.message = "deadline passed before the agent could run it";
        } else if (target == nullptr) {
            result.status = CommandStatus::failed;
            result.message = "agent \"" + opts_.agent_id + "\" does not poll miner \"" +
                             cmd.miner_id + "\"; nothing sent";
        } else {
            VerifyOptions verify = opts_.verify;
            if (cmd.deadline) {
                // Stop watching a little before the deadline, so that the result (and with it
                // the collector's "failed" rather than "timed_out") arrives in time.
                const auto left = std::chrono::duration_cast<Duration>(*cmd.deadline - now);
                const auto margin = std::min<Duration>(std::chrono::seconds(2), left / 5);
                verify.wait = std::min(verify.wait, left - margin);
            }
            DriverContext ctx{ex_, opts_.miner_transport};
            auto running = run_command(ctx, *target, cmd, verify);
            auto stopped = sleep_until(SteadyClock::time_point::max());
            auto first = co_await (std::move(running) || std::move(stopped));
            if (first.index() == 0) {
                const ControlReport& report = std::get<0>(first);
                result.status = report.status;
                result.message = report.message;
            } else {
                cut_short = true;
            }
        }
    } catch (const std::exception& e) {
        if (stopping_) {
            cut_short = true;
        } else {
            result.status = CommandStatus::failed;
            result.message = std::string("agent error: ") + e.what();
        }
    }
    busy_.erase(cmd.miner_id);
    if (cut_short) {
        log::warn("command cut short by stop; the collector settles it at its deadline",
                  {{"id", cmd.id}, {"miner_id", cmd.miner_id}});
    } else {
        result.finished_at = now_ms();
        ++stats_.finished;
        switch (result.status) {
            case CommandStatus::succeeded:
                ++stats_.succeeded;
                break;
            case CommandStatus::unsupported:
                ++stats_.unsupported;
                break;
            case CommandStatus::timed_out:
                ++stats_.timed_out;
                break;
            default:
                ++stats_.failed;
                if (is_auth_failure(result.message.value_or(""))) ++stats_.auth_refused;
                break;
        }
        log::info(
            "command finished",
            {{"id", cmd.id},
             {"miner_id", cmd.miner_id},
             {"type", to_string(cmd.type)},
             {"status", to_string(result.status)},
             {"elapsed_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               SteadyClock::now() - t0)
                                               .count())}});
        // The slot is kept while the result is posted, so that the concurrency bound also
        // bounds the collector connections; the miner is free for its next command already.
        dispatch();
        try {
            co_await post_result(result);
        } catch (const std::exception& e) {
            ++stats_.results_dropped;
            log::warn("command result not posted", {{"id", cmd.id}, {"error", e.what()}});
        }
    }
    --running_;
    idle_.cancel();
    dispatch();
}

asio::awaitable<void> CommandLoop::post_result(const CommandResult& result) {
    HttpRequestSpec spec;
    spec.method = "POST";
    spec.target =
        opts_.base_path + "/api/v1/commands/" + path_segment(result.command_id) + "/result";
    spec.body = encode_command_result(result);
    HttpAuth auth;
    auth.kind = HttpAuth::Kind::bearer;
    auth.token = opts_.token;
    TransportOptions t;
    t.connect_timeout = opts_.request_timeout;
    t.tls = opts_.tls;
    t.reply_timeout = opts_.request_timeout;
    t.max_reply_bytes = 1 << 20;
    std::string last_error;
    for (int attempt = 1; attempt <= opts_.result_attempts && !stopping_; ++attempt) {
        auto request = http_request(ex_, opts_.host, opts_.port, spec, auth, t);
        auto stopped = sleep_until(SteadyClock::time_point::max());
        auto first = co_await (std::move(request) || std::move(stopped));
        if (first.index() != 0) break;
        const HttpResult& r = std::get<0>(first);
        if (!r.error && (r.status == 200 || r.status == 409)) {
            // 409: already final (a retry of a post that got through, or the deadline won).
            ++stats_.results_posted;
            co_return;
        }
        if (!r.error && r.status >= 400 && r.status < 500 && r.status != 408 && r.status != 429) {
            ++stats_.results_dropped;
            log::error("command result refused; not retried", {{"id", result.command_id},
                                                               {"status", std::to_string(r.status)},
                                                               {"body", snippet(r.body)}});
            co_return;
        }
        last_error = r.error ? r.error->detail : "status " + std::to_string(r.status);
        if (attempt < opts_.result_attempts)
            co_await sleep_until(SteadyClock::now() + next_backoff(attempt));
    }
    ++stats_.results_dropped;
    log::error("command result not delivered",
               {{"id", result.command_id},
                {"attempts", std::to_string(opts_.result_attempts)},
                {"error", stopping_ ? std::string("stopped") : last_error}});
}

}  // namespace hashwatt::agent
