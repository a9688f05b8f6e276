// Braiins OS: telemetry from BOSminer's RPC on 4028 (one joined request per steady poll), identity,
// sleep state and control through the REST API of Braiins OS 25.07+ (PROTOCOLS.md §3). What is
// sent when is in README.md beside this file.
#include "agent/drivers/braiins/parse.hpp"
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "common/models.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

// Identity (model, MAC, firmware build) changes rarely: re-read it every ~10 polls.
constexpr auto kIdentityRefresh = std::chrono::minutes(5);

constexpr std::string_view kLogin = "/api/v1/auth/login";
constexpr std::string_view kDetails = "/api/v1/miner/details";
constexpr std::string_view kStats = "/api/v1/miner/stats";
constexpr std::string_view kHashboards = "/api/v1/miner/hw/hashboards";
constexpr std::string_view kCooling = "/api/v1/cooling/state";
constexpr std::string_view kConfiguration = "/api/v1/configuration/miner";
constexpr std::string_view kConstraints = "/api/v1/configuration/constraints";
constexpr std::string_view kPools = "/api/v1/pools/";
constexpr std::string_view kPause = "/api/v1/actions/pause";
constexpr std::string_view kResume = "/api/v1/actions/resume";
constexpr std::string_view kReboot = "/api/v1/actions/reboot";
constexpr std::string_view kPowerTarget = "/api/v1/performance/power-target";

// Braiins OS takes the raw token, no "Bearer " (PROTOCOLS.md §3.3). An empty token sends none
// (the replay and public routes need none).
HttpAuth rest_auth(std::string_view token) { return token_auth(HttpAuth::Kind::raw_token, token); }

// One REST request. (Coroutine parameters are references and views only and callers pass no
// temporaries: GCC 12 destroys temporary arguments of a coroutine call twice.)
asio::awaitable<HttpResult> rest_request(const DriverContext& ctx, const MinerEndpoint& ep,
                                         std::string_view method, std::string_view target,
                                         std::string_view body, std::string_view token) {
    const HttpAuth auth = rest_auth(token);
    co_return co_await http_call(ctx, ep, method, target, body, auth);
}

// Sends the requests at once, one connection each; replies in the order given. The token is
// read once here, so concurrent requests never write shared state.
asio::awaitable<std::vector<PollReply>> run_all(const DriverContext& ctx, const MinerEndpoint& ep,
                                                const std::vector<PollRequest>& requests,
                                                std::string_view token) {
    const HttpAuth auth = rest_auth(token);
    co_return co_await poll_requests_at_once(ctx, ep, requests, auth);
}

// A miner/details body worth reading: a 200 that is a details object (old web UIs may answer any
// path with an HTML page, which must not pass for the REST API).
std::optional<std::string_view> details_of(const std::optional<HttpResult>& r) {
    auto body = ok_http_body(r);
    if (!body || !braiins_miner_status(*body)) return std::nullopt;
    return body;
}

bool unauthorized(const std::optional<HttpResult>& r) { return r && !r->error && r->status == 401; }

CommandOutcome outcome(CommandStatus status, std::string message) {
    return CommandOutcome{status, std::move(message)};
}

// The message for a failed REST request, or nullopt when it answered 2xx.
std::optional<std::string> rest_failure(std::string_view what, const HttpResult& r) {
    if (r.error)
        return std::string(what) + ": " + std::string(to_string(r.error->reason)) + ": " +
               r.error->detail;
    if (r.status == 401) {
        return "auth: braiins " + std::string(what) +
               ": the miner rejected the login (check password_file)";
    }
    if (r.status < 200 || r.status >= 300) {
        return std::string(what) + ": HTTP " + std::to_string(r.status) + " " +
               r.body.substr(0, 200);
    }
    return std::nullopt;
}

// What logging in came to.
enum class Login {
    ok,       // a token is in the state
    no_auth,  // the login route is not there (older web UI, or a capture replay): go on without
    failed,   // `result` says why (401 = every password rejected)
};

class BraiinsDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return "braiins"; }

    bool claims(const ProbeResult& probe) const override {
        // BOSminer/BOSer in the RPC version reply (PROTOCOLS.md §8 step 1) — they also say
        // "Antminer" in devdetails, so this driver comes before stock Antminer in the registry.
        const std::string_view v = probe.version_reply;
        if (!v.empty() && (contains_upper(v, "BOSMINER") || contains_upper(v, "BOSER"))) {
            return true;
        }
        // The web root of Braiins OS names it (step 2) when the RPC did not answer usefully.
        return probe.http_root_status == 200 && contains_upper(probe.http_root_body, "BRAIINS OS");
    }

    asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                      DriverState& state) const override {
        const auto once = [&] { return poll_once(ctx, ep, state); };
        co_return co_await timed_poll(name(), ep, state, once);
    }

    Capabilities capabilities(const MinerSample& identity) const override {
        Capabilities c;
        if (!braiins_has_rest(identity.firmware_version.value_or(""))) {
            c.notes =
                "Braiins OS without the REST API (before 25.07): read-only (BOSminer RPC "
                "telemetry only)";
            return c;
        }
        c.sleep = true;
        c.wake = true;
        c.reboot = true;
        const ModelSpec* model = identity.model ? find_reported_model(*identity.model) : nullptr;
        if (!model) {
            c.notes = "REST pause/resume/reboot; power targets need a known model";
            return c;
        }
        // The model table's range; before a target is sent the miner's own
        // configuration/constraints are read and decide.
        c.power_target_min_w = model->min_power_w;
        c.power_target_max_w = model->max_power_w;
        c.notes =
            "REST: pause/resume act in seconds, the autotuner's power target re-tunes over "
            "minutes without a reboot (outside configuration/constraints: refused, not clamped)";
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("braiins driver: ", once);
    }

  private:
    // Logs in unless a token is held. Factory credentials: root with "root" (what pyasic and the
    // simulator use), then root with an empty password (a fresh Braiins OS install).
    asio::awaitable<Login> ensure_token(const DriverContext& ctx, const MinerEndpoint& ep,
                                        DriverState& state,
                                        std::optional<HttpResult>& result) const {
        if (!state.token.empty()) co_return Login::ok;
        const std::string user =
            ep.credentials && !ep.credentials->username.empty() ? ep.credentials->username : "root";
        std::vector<std::string> passwords;
        if (ep.credentials) {
            passwords.push_back(ep.credentials->password);
        } else {
            passwords = {"root", ""};
        }
        for (const std::string& pw : passwords) {
            boost::json::object body;
            body["username"] = user;
            body["password"] = pw;
            const std::string text = boost::json::serialize(body);
            result = co_await rest_request(ctx, ep, "POST", kLogin, text, {});
            if (result->error) co_return Login::failed;
            if (result->status == 404 || result->status == 405) co_return Login::no_auth;
            if (result->status == 401) continue;
            if (result->status != 200) co_return Login::failed;
            if (auto token = braiins_login_token(result->body)) {
                state.token = std::move(*token);
                state.token_at = now_ms();
                state.auth_refused.clear();
                co_return Login::ok;
            }
            co_return Login::failed;
        }
        co_return Login::failed;
    }

    // One REST request with the session token; an expired token (401) is renewed once.
    asio::awaitable<HttpResult> rest_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                          DriverState& state, std::string_view method,
                                          std::string_view target, std::string_view body) const {
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::optional<HttpResult> login;
            const Login l = co_await ensure_token(ctx, ep, state, login);
            if (l == Login::failed) co_return std::move(*login);
            const bool had_token = !state.token.empty();
            HttpResult r = co_await rest_request(ctx, ep, method, target, body, state.token);
            if (r.error || r.status != 401 || !had_token || attempt == 1) co_return r;
            state.token.clear();
        }
        co_return HttpResult{};  // not reached: the loop returns
    }

    // GETs `targets` at once with the token held, renewing it once if the miner says 401.
    asio::awaitable<std::vector<PollReply>> rest_gets(const DriverContext& ctx,
                                                      const MinerEndpoint& ep, DriverState& state,
                                                      const std::vector<PollRequest>& jobs) const {
        std::vector<PollReply> got;
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::optional<HttpResult> login;
            const Login l = co_await ensure_token(ctx, ep, state, login);
            if (l == Login::failed) {
                got.assign(jobs.size(), PollReply{});
                for (auto& g : got) g.http = login;
                co_return got;
            }
            const std::string token = state.token;
            got = co_await run_all(ctx, ep, jobs, token);
            bool expired = false;
            for (const auto& g : got) expired = expired || unauthorized(g.http);
            if (!expired || token.empty() || attempt == 1) co_return got;
            state.token.clear();
        }
        co_return got;
    }

    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint now = now_ms();
        const bool identity_due = !state.identity || now - state.identity_at >= kIdentityRefresh;
        const bool rest_known =
            state.identity && braiins_has_rest(state.identity->firmware_version.value_or(""));

        BraiinsReplies replies;
        replies.identity = state.identity ? &*state.identity : nullptr;
        std::optional<HttpResult> details;
        std::vector<PollReply> rpc_got;
        std::optional<MinerSample> parsed;
        std::optional<TransportError> rpc_error;
        bool rpc_summary_refused = false;

        // A REST login first when the identity is due (once per session: the token is kept), so
        // that miner/details can go out beside the RPC join.
        bool rest_reachable = true;
        if (identity_due) {
            std::optional<HttpResult> login;
            const Login l = co_await ensure_token(ctx, ep, state, login);
            rest_reachable = l != Login::failed;
            if (l == Login::failed && login && !login->error && login->status == 401) {
                state.auth_refused =
                    "braiins REST login rejected the credentials (check password_file): no MAC "
                    "or hostname, and commands are unsupported until it works";
            } else if (l == Login::ok) {
                state.auth_refused.clear();
            }
        }

        const std::string join = std::string(kBraiinsTelemetryJoin) +
                                 (identity_due ? "+" + std::string(kBraiinsIdentityJoin) : "");
        if (!state.joins_unsupported) {
            std::vector<PollRequest> jobs;
            jobs.push_back(rpc_command(join));
            if (identity_due && rest_reachable) jobs.push_back(web_get(kDetails));
            rpc_got = co_await run_all(ctx, ep, jobs, state.token);
            if (jobs.size() > 1) details = std::move(rpc_got[1].http);
            const RpcResult& joined = rpc_got[0].rpc;
            if (joined.error) {
                rpc_error = joined.error;
            } else {
                replies.joined = joined.body;
                replies.details = details_of(details);
                try {
                    parsed = parse_braiins(replies);
                } catch (const BraiinsJoinRefused&) {
                    // The firmware (or a replay missing a part) refuses the join: one command
                    // at a time from now on.
                    state.joins_unsupported = true;
                    replies.joined.reset();
                } catch (const BraiinsParseError& e) {
                    co_return failed_poll(state, PollError::parse, e.what());
                }
            }
        }
        if (!parsed && !rpc_error) {
            const bool web_wanted = identity_due && rest_reachable && !details;
            std::vector<PollRequest> jobs;
            for (std::string_view c :
                 {"summary", "devs", "temps", "fans", "pools", "tunerstatus"}) {
                jobs.push_back(rpc_command(c));
            }
            if (identity_due) {
                jobs.push_back(rpc_command("version"));
                jobs.push_back(rpc_command("devdetails"));
            }
            if (web_wanted) jobs.push_back(web_get(kDetails));
            rpc_got = co_await run_all(ctx, ep, jobs, state.token);
            if (web_wanted) details = std::move(rpc_got.back().http);
            if (rpc_got[0].rpc.error) {
                rpc_error = rpc_got[0].rpc.error;
            } else {
                // Optional parts that failed are left out; summary is what a sample needs.
                auto part = [&](std::size_t i) -> std::optional<std::string_view> {
                    if (i >= rpc_got.size() || jobs[i].web || rpc_got[i].rpc.error) {
                        return std::nullopt;
                    }
                    return std::string_view(rpc_got[i].rpc.body);
                };
                replies.summary = part(0);
                replies.devs = part(1);
                replies.temps = part(2);
                replies.fans = part(3);
                replies.pools = part(4);
                replies.tunerstatus = part(5);
                if (identity_due) {
                    replies.version = part(6);
                    replies.devdetails = part(7);
                }
                replies.details = details_of(details);
                try {
                    parsed = parse_braiins(replies);
                } catch (const BraiinsParseError& e) {
                    // A summary that answers with an error STATUS: the RPC is of no use here
                    // (bosminer stopped, or a REST-only capture); REST may still tell.
                    rpc_summary_refused = true;
                    rpc_error = TransportError{PollError::parse, e.what()};
                }
            }
        }

        // miner/details answering at all means the REST API is there.
        const bool have_rest = details_of(details).has_value() || rest_known;
        if (!parsed) {
            // No RPC telemetry. With REST, the miner can still be read there when the RPC
            // refused or dropped the connection, or answered without a summary.
            const bool rest_may_help =
                have_rest && rest_reachable &&
                (rpc_summary_refused || rpc_error->reason == PollError::refused ||
                 rpc_error->reason == PollError::reset);
            if (!rest_may_help) co_return failed_poll(state, rpc_error->reason, rpc_error->detail);
            std::optional<MinerSample> rest;
            try {
                rest = co_await poll_rest(ctx, ep, state, replies, details);
            } catch (const BraiinsParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
            if (!rest) co_return failed_poll(state, rpc_error->reason, rpc_error->detail);
            parsed = std::move(rest);
        }

        MinerSample& s = *parsed;
        if (s.state != MinerState::mining && have_rest && !details_of(details)) {
            // Not hashing: only miner/details tells asleep (PAUSED) from starting or failed.
            // Hashing miners never pay for this round trip.
            const HttpResult d = co_await rest_call(ctx, ep, state, "GET", kDetails, {});
            details = d;
            replies.details = details_of(details);
            if (replies.details) {
                try {
                    parsed = parse_braiins(replies);
                } catch (const BraiinsParseError&) {
                    // Keep the sample the RPC gave; the state stays as it decided.
                }
            }
        }
        if (identity_due) {
            state.identity = identity_fields(*parsed);
            state.identity_at = now;
        }
        co_return std::move(*parsed);
    }

    // Telemetry from REST alone: miner/stats, hashboards, cooling, configuration and pools
    // (plus miner/details unless already read). nullopt when REST did not answer either.
    asio::awaitable<std::optional<MinerSample>> poll_rest(
        const DriverContext& ctx, const MinerEndpoint& ep, DriverState& state,
        BraiinsReplies& replies, std::optional<HttpResult>& details) const {
        std::vector<PollRequest> jobs;
        for (std::string_view t : {kStats, kHashboards, kCooling, kConfiguration, kPools}) {
            jobs.push_back(web_get(t));
        }
        const bool need_details = !details_of(details);
        if (need_details) jobs.push_back(web_get(kDetails));
        std::vector<PollReply> got = co_await rest_gets(ctx, ep, state, jobs);
        if (need_details) details = std::move(got.back().http);
        if (!ok_http_body(got[0].http)) co_return std::nullopt;
        // The REST replies replace whatever the RPC left.
        BraiinsReplies r;
        r.identity = replies.identity;
        r.stats = ok_http_body(got[0].http);
        r.hashboards = ok_http_body(got[1].http);
        r.cooling = ok_http_body(got[2].http);
        r.configuration = ok_http_body(got[3].http);
        r.rest_pools = ok_http_body(got[4].http);
        r.details = details_of(details);
        MinerSample s = parse_braiins(r);  // throws BraiinsParseError
        co_return s;
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // Capabilities depend on the firmware.
        if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
            co_return std::move(*failed);
        }
        if (!state.auth_refused.empty()) {
            // The identity was read without the REST API because the login was refused: a
            // command is `auth`, not `unsupported`, unless the login works now.
            std::optional<HttpResult> login;
            const Login l = co_await ensure_token(ctx, ep, state, login);
            if (l == Login::ok) {
                state.identity.reset();  // read it again, with the REST API this time
                if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
                    co_return std::move(*failed);
                }
            } else if (login && !login->error && login->status == 401) {
                co_return outcome(CommandStatus::failed,
                                  "auth: braiins login: the miner rejected the login (check "
                                  "password_file); nothing sent");
            }
        }
        const Capabilities caps = capabilities(*state.identity);
        switch (cmd.type) {
            case CommandType::sleep:
                if (!caps.sleep) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await action(ctx, ep, state, kPause, "pause");
            case CommandType::wake:
                if (!caps.wake) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await action(ctx, ep, state, kResume, "resume");
            case CommandType::reboot:
                if (!caps.reboot) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await reboot(ctx, ep, state);
            case CommandType::set_power_target:
                if (!caps.power_target_min_w || !caps.power_target_max_w) {
                    co_return outcome(CommandStatus::unsupported, caps.notes);
                }
                co_return co_await power_target(ctx, ep, state, cmd, caps);
        }
        co_return outcome(CommandStatus::unsupported, "unknown command");
    }

    asio::awaitable<CommandOutcome> action(const DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state, std::string_view target,
                                           std::string_view label) const {
        const HttpResult r = co_await rest_call(ctx, ep, state, "PUT", target, {});
        if (auto why = rest_failure(label, r)) {
            co_return outcome(CommandStatus::failed, std::move(*why));
        }
        co_return outcome(CommandStatus::succeeded, std::string(label) + " acknowledged");
    }

    asio::awaitable<CommandOutcome> reboot(const DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const HttpResult r = co_await rest_call(ctx, ep, state, "PUT", kReboot, {});
        if (r.error && r.error->reason == PollError::reset) {
            // The miner may go down before it answers: the request was delivered.
            co_return outcome(CommandStatus::succeeded,
                              "reboot sent; the connection dropped as the miner restarts");
        }
        if (auto why = rest_failure("reboot", r)) {
            co_return outcome(CommandStatus::failed, std::move(*why));
        }
        co_return outcome(CommandStatus::succeeded, "reboot acknowledged");
    }

    // The miner's configuration/constraints decide: a target outside them is refused before the
    // PUT (Braiins OS answers 400 to one anyway; the tuner does not clamp).
    asio::awaitable<CommandOutcome> power_target(const DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd,
                                                 const Capabilities& caps) const {
        if (!cmd.power_target_w || !(*cmd.power_target_w > 0) ||
            !std::isfinite(*cmd.power_target_w)) {
            co_return outcome(CommandStatus::unsupported,
                              "set_power_target needs power_target_w > 0");
        }
        const long watts = std::lround(*cmd.power_target_w);
        const HttpResult c = co_await rest_call(ctx, ep, state, "GET", kConstraints, {});
        if (c.status == 401 && !c.error) {
            co_return outcome(CommandStatus::failed, *rest_failure("configuration/constraints", c));
        }
        std::optional<BraiinsPowerRange> range;
        if (!c.error && c.status == 200) range = braiins_power_constraints(c.body);
        std::string source = "the miner's configuration/constraints";
        if (!range) {
            // Older 25.x builds without the route: the model table's range stands in.
            range = BraiinsPowerRange{*caps.power_target_min_w, *caps.power_target_max_w};
            source = "the model's range (configuration/constraints unreadable)";
        }
        if (static_cast<double>(watts) < range->min_w ||
            static_cast<double>(watts) > range->max_w) {
            co_return outcome(CommandStatus::unsupported,
                              "power target " + std::to_string(watts) + " W outside " +
                                  std::to_string(std::lround(range->min_w)) + ".." +
                                  std::to_string(std::lround(range->max_w)) + " W (" + source +
                                  "); nothing sent");
        }
        const std::string body = "{\"watt\":" + std::to_string(watts) + "}";
        const HttpResult r = co_await rest_call(ctx, ep, state, "PUT", kPowerTarget, body);
        if (auto why = rest_failure("performance/power-target", r)) {
            co_return outcome(CommandStatus::failed, std::move(*why));
        }
        co_return outcome(CommandStatus::succeeded,
                          "power target " + std::to_string(watts) + " W acknowledged (within " +
                              std::to_string(std::lround(range->min_w)) + ".." +
                              std::to_string(std::lround(range->max_w)) + " W)");
    }
};

}  // namespace

const MinerDriver& braiins_driver() {
    static const BraiinsDriver d;
    return d;
}

}  // namespace hashwatt::agent
