// Stock Antminer: telemetry from bmminer's RPC on 4028, identity and control through the web CGI
// behind HTTP Digest auth (PROTOCOLS.md §2). What is sent when is in README.md beside this file.
#include "agent/drivers/antminer/parse.hpp"
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

// Identity (model, serial, MAC, firmware build) changes rarely: re-read it every ~10 polls.
constexpr auto kIdentityRefresh = std::chrono::minutes(5);
// Low-power work mode draws about this share of the nominal power (model-dependent; used to
// decide which power targets the mode can honour).
constexpr double kLowPowerFraction = 0.75;

constexpr int kModeNormal = 0;
constexpr int kModeSleep = 1;
constexpr int kModeLowPower = 3;

constexpr std::string_view kSystemInfo = "/cgi-bin/get_system_info.cgi";
constexpr std::string_view kMinerConf = "/cgi-bin/get_miner_conf.cgi";
constexpr std::string_view kSetMinerConf = "/cgi-bin/set_miner_conf.cgi";
constexpr std::string_view kWebSummary = "/cgi-bin/summary.cgi";
constexpr std::string_view kReboot = "/cgi-bin/reboot.cgi";

HttpAuth web_auth(const MinerEndpoint& ep, std::string_view challenge) {
    HttpAuth auth;
    auth.kind = HttpAuth::Kind::digest;
    // A password file without a user name means the factory user, as the docs promise.
    auth.user =
        ep.credentials && !ep.credentials->username.empty() ? ep.credentials->username : "root";
    auth.password = ep.credentials ? ep.credentials->password : "root";
    auth.challenge = std::string(challenge);
    return auth;
}

// One web request with the endpoint's credentials (root/root by default); `challenge` is the
// cached Digest challenge, answered up front. (Coroutine parameters here are references and
// views only, and callers pass no temporaries: GCC 12 destroys temporary arguments of a coroutine
// call twice.)
asio::awaitable<HttpResult> web_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                     std::string_view method, std::string_view target,
                                     std::string_view body, std::string_view challenge) {
    const HttpAuth auth = web_auth(ep, challenge);
    co_return co_await http_call(ctx, ep, method, target, body, auth);
}

// Sends the requests at once, one connection each (bmminer serves connections concurrently);
// replies in the order given. The Digest challenge is read once here and cached by the caller
// afterwards, so concurrent requests never write shared state.
asio::awaitable<std::vector<PollReply>> run_all(const DriverContext& ctx, const MinerEndpoint& ep,
                                                const std::vector<PollRequest>& requests,
                                                std::string_view challenge) {
    const HttpAuth auth = web_auth(ep, challenge);
    co_return co_await poll_requests_at_once(ctx, ep, requests, auth);
}

void remember_challenge(DriverState& state, const std::optional<HttpResult>& r) {
    if (r && !r->www_authenticate.empty()) state.digest_challenge = r->www_authenticate;
}

// The RPC failures that may just mean bmminer is not up yet (refused, closed without a reply):
// while the miner boots, the web server answers before the mining daemon does.
bool daemon_may_be_booting(const TransportError& e) {
    return e.reason == PollError::refused || e.reason == PollError::reset;
}

CommandOutcome outcome(CommandStatus status, std::string message) {
    return CommandOutcome{status, std::move(message)};
}

// The message for a failed web request, or nullopt when it answered 200.
std::optional<std::string> web_failure(std::string_view what, const HttpResult& r) {
    if (r.error)
        return std::string(what) + ": " + std::string(to_string(r.error->reason)) + ": " +
               r.error->detail;
    if (r.status == 401) {
        return "auth: antminer web " + std::string(what) +
               ": authentication failed (HTTP 401; check password_file)";
    }
    if (r.status != 200) return std::string(what) + ": HTTP " + std::to_string(r.status);
    return std::nullopt;
}

// Telemetry comes over RPC without credentials, so a web password that no longer works would
// otherwise go unnoticed until a command fails: the sample says so, once per poll.
void note_web_auth_failure(MinerSample& s, const std::optional<HttpResult>& web) {
    if (!web || web->error || web->status != 401) return;
    s.errors.push_back(MinerErrorReport{
        "auth",
        "antminer web interface rejected the credentials (check password_file): no MAC, serial "
        "or work mode, and commands will fail"});
}

class AntminerDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return "antminer"; }

    bool claims(const ProbeResult& probe) const override {
        // Other firmware that runs on Antminers carries "Antminer" in its replies too; those with
        // their own API are theirs (PROTOCOLS.md §8). Hiveon and Vnish keep the stock RPC and are
        // read here until a driver of their own comes before this one in the registry.
        const std::string_view v = probe.version_reply;
        if (!v.empty() && contains_upper(v, "ANTMINER")) {
            for (std::string_view other :
                 {"BOSMINER", "BOSER", "BTMINER", "BITMICRO", "LUXMINER"}) {
                if (contains_upper(v, other)) return false;
            }
            return true;
        }
        return probe.http_root_status == 401 &&
               contains_upper(probe.http_www_authenticate, "REALM=\"ANTMINER");
    }

    asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                      DriverState& state) const override {
        const auto once = [&] { return poll_once(ctx, ep, state); };
        co_return co_await timed_poll(name(), ep, state, once);
    }

    Capabilities capabilities(const MinerSample& identity) const override {
        Capabilities c;
        const std::string firmware = identity.firmware.value_or("stock");
        if (firmware != "stock") {
            c.notes = firmware + " firmware: read-only (its web API is not the stock CGI)";
            return c;
        }
        const ModelSpec* model = identity.model ? find_reported_model(*identity.model) : nullptr;
        c.reboot = true;
        if (model && model->legacy_s9) {
            c.notes = "S9-era stock firmware has no sleep or low-power work mode; reboot only";
            return c;
        }
        c.sleep = true;
        c.wake = true;
        if (!model) {
            c.notes = "work modes only; power targets need a known model (nominal power)";
            return c;
        }
        c.power_target_min_w = std::round(kLowPowerFraction * model->nominal_w);
        c.power_target_max_w = model->max_power_w;
        c.notes = "power target by work mode presets only: >= " +
                  std::to_string(static_cast<long>(model->nominal_w)) +
                  " W normal, below it low-power (~" +
                  std::to_string(static_cast<long>(*c.power_target_min_w)) + " W)";
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("antminer driver: ", once);
    }

  private:
    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint now = now_ms();
        const bool identity_due = !state.identity || now - state.identity_at >= kIdentityRefresh;

        AntminerReplies replies;
        replies.identity = state.identity ? &*state.identity : nullptr;
        std::optional<HttpResult> system_info;
        std::optional<MinerSample> parsed;
        std::vector<PollReply> got;

        if (!state.joins_unsupported) {
            // One connection for the telemetry, plus the web identity when it is due.
            std::vector<PollRequest> jobs;
            jobs.push_back(
                rpc_command(identity_due ? "summary+stats+pools+version" : "summary+stats+pools"));
            if (identity_due) jobs.push_back(web_get(kSystemInfo));
            got = co_await run_all(ctx, ep, jobs, state.digest_challenge);
            if (identity_due) system_info = std::move(got[1].http);
            remember_challenge(state, system_info);
            const RpcResult& joined = got[0].rpc;
            if (joined.error) {
                co_return co_await rpc_failed(ctx, ep, state, *joined.error, system_info);
            }
            replies.joined = joined.body;
            replies.system_info = ok_http_body(system_info);
            try {
                parsed = parse_antminer(replies);
            } catch (const AntminerJoinRefused&) {
                // The firmware answers joins with an error: one command at a time from now on.
                state.joins_unsupported = true;
                replies.joined.reset();
            } catch (const AntminerParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }
        if (!parsed) {
            const bool web_wanted = identity_due && !system_info;
            std::vector<PollRequest> jobs;
            jobs.push_back(rpc_command("summary"));
            jobs.push_back(rpc_command("stats"));
            jobs.push_back(rpc_command("pools"));
            if (identity_due) jobs.push_back(rpc_command("version"));
            if (web_wanted) jobs.push_back(web_get(kSystemInfo));
            std::vector<PollReply> sep = co_await run_all(ctx, ep, jobs, state.digest_challenge);
            if (web_wanted) {
                system_info = std::move(sep.back().http);
                remember_challenge(state, system_info);
            }
            for (std::size_t i = 0; i < 3; ++i) {
                if (const auto& err = sep[i].rpc.error) {
                    co_return co_await rpc_failed(ctx, ep, state, *err, system_info);
                }
            }
            got = std::move(sep);
            replies.summary = got[0].rpc.body;
            replies.stats = got[1].rpc.body;
            replies.pools = got[2].rpc.body;
            // The version block of `stats` carries the same Type; a failed version is no loss.
            if (identity_due && !got[3].rpc.error) replies.version = got[3].rpc.body;
            replies.system_info = ok_http_body(system_info);
            try {
                parsed = parse_antminer(replies);
            } catch (const AntminerParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }

        MinerSample& s = *parsed;
        note_web_auth_failure(s, system_info);
        if (s.state != MinerState::mining && s.state != MinerState::sleeping) {
            // Not hashing: only the web tells asleep from failed (bitmain-work-mode) and says why
            // (summary.cgi status items). Hashing miners never pay for this round trip.
            std::vector<PollRequest> jobs;
            jobs.push_back(web_get(kMinerConf));
            jobs.push_back(web_get(kWebSummary));
            std::vector<PollReply> web = co_await run_all(ctx, ep, jobs, state.digest_challenge);
            remember_challenge(state, web[0].http);
            if (!system_info) note_web_auth_failure(s, web[0].http);
            apply_antminer_web_state(s, ok_http_body(web[0].http), ok_http_body(web[1].http));
        }
        if (identity_due) {
            state.identity = identity_fields(s);
            // The MAC (the miner's id) comes only from the web identity: when that call failed
            // (timed out or refused on a busy miner) it is asked again at the next poll, not
            // after kIdentityRefresh, or the miner would be stored under host:port for minutes
            // and then under its MAC, as two miners.
            state.identity_at = s.mac ? now : TimePoint{};
        }
        co_return std::move(s);
    }

    // The RPC failed. If bmminer refused or dropped the connection while the web server answers,
    // the miner is booting (the daemon starts last); otherwise the poll failed for `error`.
    asio::awaitable<MinerSample> rpc_failed(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const TransportError& error,
                                            const std::optional<HttpResult>& fetched) const {
        if (daemon_may_be_booting(error)) {
            std::optional<HttpResult> web = fetched;
            if (!web) {
                web = co_await web_call(ctx, ep, "GET", kSystemInfo, {}, state.digest_challenge);
                remember_challenge(state, web);
            }
            if (!web->error && web->status != 0) {
                MinerSample s = state.identity ? identity_fields(*state.identity) : MinerSample{};
                s.up = true;
                s.state = MinerState::booting;
                co_return s;
            }
        }
        co_return failed_poll(state, error.reason, error.detail);
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // Capabilities depend on the model and firmware.
        if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
            co_return std::move(*failed);
        }
        const Capabilities caps = capabilities(*state.identity);
        CommandOutcome out;
        switch (cmd.type) {
            case CommandType::sleep:
                if (!caps.sleep) co_return outcome(CommandStatus::unsupported, caps.notes);
                out = co_await set_work_mode(ctx, ep, state, kModeSleep, "sleep");
                break;
            case CommandType::wake:
                if (!caps.wake) co_return outcome(CommandStatus::unsupported, caps.notes);
                out = co_await set_work_mode(ctx, ep, state, kModeNormal, "normal");
                break;
            case CommandType::set_power_target: {
                if (!caps.power_target_min_w || !caps.power_target_max_w) {
                    co_return outcome(CommandStatus::unsupported, caps.notes);
                }
                // Targets the work modes cannot honour are refused before anything is sent.
                if (!cmd.power_target_w || !(*cmd.power_target_w > 0)) {
                    co_return outcome(CommandStatus::unsupported,
                                      "set_power_target needs power_target_w > 0");
                }
                const double target = *cmd.power_target_w;
                if (target < *caps.power_target_min_w || target > *caps.power_target_max_w) {
                    co_return outcome(
                        CommandStatus::unsupported,
                        "power target " + std::to_string(std::lround(target)) + " W outside " +
                            std::to_string(std::lround(*caps.power_target_min_w)) + ".." +
                            std::to_string(std::lround(*caps.power_target_max_w)) +
                            " W (the lowest work mode draws about the minimum; sleep instead)");
                }
                const ModelSpec* model = find_reported_model(state.identity->model.value_or(""));
                const bool low = model && target < model->nominal_w;
                out = co_await set_work_mode(ctx, ep, state, low ? kModeLowPower : kModeNormal,
                                             low ? "low-power" : "normal");
                break;
            }
            case CommandType::reboot:
                if (!caps.reboot) co_return outcome(CommandStatus::unsupported, caps.notes);
                out = co_await reboot(ctx, ep, state);
                break;
        }
        co_return out;
    }

    // Read-modify-write of the miner configuration with a new work mode.
    asio::awaitable<CommandOutcome> set_work_mode(DriverContext& ctx, const MinerEndpoint& ep,
                                                  DriverState& state, int mode,
                                                  std::string_view label) const {
        std::optional<HttpResult> conf =
            co_await web_call(ctx, ep, "GET", kMinerConf, {}, state.digest_challenge);
        remember_challenge(state, conf);
        if (auto why = web_failure("get_miner_conf", *conf)) {
            co_return outcome(CommandStatus::failed, std::move(*why));
        }
        std::string body;
        try {
            body = antminer_set_conf_body(conf->body, mode);
        } catch (const AntminerParseError& e) {
            co_return outcome(CommandStatus::failed, e.what());
        }
        // Firmware builds differ on the type of miner-mode: 1 or "1". The number first.
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (attempt == 1) body = antminer_set_conf_body(conf->body, mode, true);
            std::optional<HttpResult> r =
                co_await web_call(ctx, ep, "POST", kSetMinerConf, body, state.digest_challenge);
            remember_challenge(state, r);
            if (auto why = web_failure("set_miner_conf", *r)) {
                co_return outcome(CommandStatus::failed, std::move(*why));
            }
            if (antminer_set_conf_ok(r->body)) {
                co_return outcome(CommandStatus::succeeded,
                                  std::string(label) + " work mode (miner-mode " +
                                      std::to_string(mode) + ") acknowledged");
            }
            if (attempt == 1) {
                co_return outcome(CommandStatus::failed,
                                  "set_miner_conf refused: " + r->body.substr(0, 200));
            }
        }
        co_return outcome(CommandStatus::failed, "set_miner_conf refused");
    }

    asio::awaitable<CommandOutcome> reboot(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        std::optional<HttpResult> r =
            co_await web_call(ctx, ep, "GET", kReboot, {}, state.digest_challenge);
        remember_challenge(state, r);
        if (r->error) {
            // The miner may go down before it answers: a dropped connection, or a reply deadline
            // that passed after connecting, means the request was delivered.
            const auto connect_ms =
                std::chrono::duration<double, std::milli>(ctx.transport.connect_timeout).count();
            const bool delivered =
                r->error->reason == PollError::reset ||
                (r->error->reason == PollError::timeout && r->elapsed_ms > connect_ms);
            if (delivered) {
                co_return outcome(CommandStatus::succeeded,
                                  "reboot sent; no reply (" +
                                      std::string(to_string(r->error->reason)) +
                                      "), as expected while the miner restarts");
            }
        }
        if (auto why = web_failure("reboot", *r))
            co_return outcome(CommandStatus::failed, std::move(*why));
        co_return outcome(CommandStatus::succeeded, "reboot acknowledged");
    }
};

}  // namespace

const MinerDriver& antminer_driver() {
    static const AntminerDriver d;
    return d;
}

}  // namespace hashwatt::agent
