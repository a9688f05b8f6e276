// Vnish (AnthillOS) on Antminer: telemetry and control through the web API under /api/v1, with
// a bearer token from /api/v1/unlock (PROTOCOLS.md §7). What is sent when is in README.md beside
// this file.
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/vnish/parse.hpp"
#include "common/models.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

// Identity (serial, firmware build) and the preset in force change rarely: re-read them every
// ~10 polls, and at once after a power target is set.
constexpr auto kIdentityRefresh = std::chrono::minutes(5);
// The factory password of the web UI (PROTOCOLS.md §7); a password_file overrides it.
constexpr std::string_view kFactoryPassword = "admin";

constexpr std::string_view kSummary = "/api/v1/summary";
constexpr std::string_view kInfo = "/api/v1/info";
constexpr std::string_view kSettings = "/api/v1/settings";
constexpr std::string_view kPresets = "/api/v1/autotune/presets";
constexpr std::string_view kUnlock = "/api/v1/unlock";
constexpr std::string_view kStop = "/api/v1/mining/stop";
constexpr std::string_view kStart = "/api/v1/mining/start";
constexpr std::string_view kReboot = "/api/v1/system/reboot";

// What is cached between identity refreshes: the identity fields and the preset in force (its
// power limit), which is read with the identity.
MinerSample cached_identity(const MinerSample& s) {
    MinerSample id = identity_fields(s);
    id.power_limit_w = s.power_limit_w;
    return id;
}

CommandOutcome outcome(CommandStatus status, std::string message) {
    return CommandOutcome{status, std::move(message)};
}

// One API call's result: the HTTP reply, or why there is none worth reading.
struct Answer {
    HttpResult http;
    std::optional<PollError> error;  // transport failure, or `auth` (credentials rejected)
    std::string message;
    bool sent = false;  // the request itself went out (false: an unlock before it failed)
    bool ok() const noexcept { return !error && http.status == 200; }
};

std::string describe(std::string_view what, const HttpResult& r) {
    std::string m = std::string(what) + ": HTTP " + std::to_string(r.status);
    if (!r.body.empty()) m += ": " + r.body.substr(0, 200);
    return m;
}

// One HTTP request, with the bearer token when there is one. (Coroutine parameters are references
// and views only, and callers pass no temporaries: GCC 12 destroys temporary arguments of a
// coroutine call twice.)
asio::awaitable<HttpResult> send(const DriverContext& ctx, const MinerEndpoint& ep,
                                 std::string_view method, std::string_view target,
                                 std::string_view body, std::string_view token) {
    const HttpAuth auth = token_auth(HttpAuth::Kind::bearer, token);
    co_return co_await http_call(ctx, ep, method, target, body, auth);
}

// POST /api/v1/unlock with the configured password: a fresh token in `state`, or the reason.
asio::awaitable<std::optional<Answer>> unlock(const DriverContext& ctx, const MinerEndpoint& ep,
                                              DriverState& state) {
    const std::string password =
        ep.credentials ? ep.credentials->password : std::string(kFactoryPassword);
    std::string body = R"({"pw":)";
    body += '"';
    for (const char c : password) {
        if (c == '"' || c == '\\') body += '\\';
        body += c;
    }
    body += "\"}";
    state.token.clear();
    const std::string no_token;
    Answer a;
    a.http = co_await send(ctx, ep, "POST", kUnlock, body, no_token);
    if (a.http.error) {
        a.error = a.http.error->reason;
        a.message = "unlock: " + a.http.error->detail;
        co_return a;
    }
    if (a.http.status == 403 || a.http.status == 401) {
        a.error = PollError::auth;
        a.message = "auth: vnish unlock: authentication failed, the password was refused (HTTP " +
                    std::to_string(a.http.status) + "; check password_file)";
        co_return a;
    }
    if (a.http.status != 200) {
        a.error = PollError::parse;
        a.message = describe("unlock", a.http);
        co_return a;
    }
    try {
        state.token = vnish_unlock_token(a.http.body);
    } catch (const VnishParseError& e) {
        a.error = PollError::parse;
        a.message = e.what();
        co_return a;
    }
    state.token_at = now_ms();
    co_return std::nullopt;
}

// A request that may need the token: sent with the token held (unlocking first when `needs_token`
// and there is none); a 401 means the token expired or was revoked, so unlock once more and
// resend. A second 401, or an unlock refused, is `auth`.
asio::awaitable<Answer> call(const DriverContext& ctx, const MinerEndpoint& ep, DriverState& state,
                             std::string_view method, std::string_view target,
                             std::string_view body, bool needs_token) {
    bool unlocked = false;
    if (needs_token && state.token.empty()) {
        if (auto failed = co_await unlock(ctx, ep, state)) co_return std::move(*failed);
        unlocked = true;
    }
    Answer a;
    for (int attempt = 0; attempt < 2; ++attempt) {
        a.http = co_await send(ctx, ep, method, target, body, state.token);
        a.sent = true;
        if (a.http.error) {
            a.error = a.http.error->reason;
            a.message = std::string(target) + ": " + a.http.error->detail;
            co_return a;
        }
        if (a.http.status != 401 || unlocked) break;
        if (auto failed = co_await unlock(ctx, ep, state)) co_return std::move(*failed);
        unlocked = true;
    }
    if (a.http.status == 401 || a.http.status == 403) {
        a.error = PollError::auth;
        a.message = "auth: vnish " + std::string(target) + ": authentication failed, HTTP " +
                    std::to_string(a.http.status) + " with a fresh token (check password_file)";
    }
    co_return a;
}

class VnishDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return "vnish"; }

    bool claims(const ProbeResult& probe) const override {
        // The bundled cgminer's Type ends with "(Vnish x.y.z)"; the web UI is AnthillOS. Vnish
        // 3.x (S9 era, no /api/v1) stays with the stock Antminer driver.
        if (!probe.version_reply.empty() && vnish_version_claims(probe.version_reply)) return true;
        return probe.http_root_status == 200 && contains_upper(probe.http_root_body, "ANTHILLOS");
    }

    asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                      DriverState& state) const override {
        const auto once = [&] { return poll_once(ctx, ep, state); };
        co_return co_await timed_poll(name(), ep, state, once);
    }

    Capabilities capabilities(const MinerSample& identity) const override {
        Capabilities c;
        c.sleep = true;
        c.wake = true;
        c.reboot = true;
        const ModelSpec* model = identity.model ? find_reported_model(*identity.model) : nullptr;
        if (!model) {
            c.notes =
                "mining/stop, mining/start, system/reboot; power targets need a known model "
                "(the preset range)";
            return c;
        }
        c.power_target_min_w = model->min_power_w;
        c.power_target_max_w = model->max_power_w;
        c.notes =
            "power target by autotune preset: the highest preset at or under the target, "
            "from autotune/presets; below the lowest preset is refused";
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("vnish driver: ", once);
    }

  private:
    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint now = now_ms();
        const bool identity_due = !state.identity || now - state.identity_at >= kIdentityRefresh;
        // Reads do not need the token on the firmware seen so far; a 401 on one unlocks.
        const Answer summary = co_await call(ctx, ep, state, "GET", kSummary, {}, false);
        if (summary.error) co_return failed_poll(state, *summary.error, summary.message);
        if (summary.http.status == 404) {
            co_return failed_poll(
                state, PollError::unsupported,
                "no /api/v1/summary (HTTP 404): not Vnish with the web API (Vnish "
                "3.x is read by the antminer driver)");
        }
        if (summary.http.status != 200) {
            co_return failed_poll(state, PollError::parse, describe("summary", summary.http));
        }

        VnishReplies replies;
        replies.summary = summary.http.body;
        replies.identity = state.identity ? &*state.identity : nullptr;
        std::optional<Answer> info, settings;
        if (identity_due) {
            info = co_await call(ctx, ep, state, "GET", kInfo, {}, false);
            settings = co_await call(ctx, ep, state, "GET", kSettings, {}, false);
            if (info->ok()) replies.info = info->http.body;
            if (settings->ok()) replies.settings = settings->http.body;
        }
        VnishParsed parsed;
        try {
            parsed = parse_vnish(replies);
        } catch (const VnishParseError& e) {
            co_return failed_poll(state, PollError::parse, e.what());
        }
        if (identity_due) {
            state.identity = cached_identity(parsed.sample);
            state.identity_at = now;
        }
        co_return std::move(parsed.sample);
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // Capabilities depend on the model.
        if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
            co_return std::move(*failed);
        }
        const Capabilities caps = capabilities(*state.identity);
        switch (cmd.type) {
            case CommandType::sleep:
                co_return co_await post_action(ctx, ep, state, kStop, "mining/stop");
            case CommandType::wake:
                co_return co_await post_action(ctx, ep, state, kStart, "mining/start");
            case CommandType::reboot:
                co_return co_await reboot(ctx, ep, state);
            case CommandType::set_power_target:
                break;
        }
        if (!caps.power_target_min_w || !caps.power_target_max_w) {
            co_return outcome(CommandStatus::unsupported, caps.notes);
        }
        if (!cmd.power_target_w || !(*cmd.power_target_w > 0)) {
            co_return outcome(CommandStatus::unsupported,
                              "set_power_target needs power_target_w > 0");
        }
        const double target = *cmd.power_target_w;
        // Above the model's range is refused here; the low end is the miner's own preset list,
        // read next (a target under the lowest preset is refused before anything is written).
        if (target > *caps.power_target_max_w) {
            co_return outcome(CommandStatus::unsupported,
                              "power target " + std::to_string(std::lround(target)) +
                                  " W above the model's " +
                                  std::to_string(std::lround(*caps.power_target_max_w)) + " W");
        }
        co_return co_await set_preset(ctx, ep, state, target);
    }

    asio::awaitable<CommandOutcome> post_action(const DriverContext& ctx, const MinerEndpoint& ep,
                                                DriverState& state, std::string_view target,
                                                std::string_view label) const {
        const std::string empty;
        const Answer a = co_await call(ctx, ep, state, "POST", target, empty, true);
        if (a.error) co_return outcome(CommandStatus::failed, a.message);
        if (a.http.status != 200) {
            co_return outcome(CommandStatus::failed, describe(label, a.http));
        }
        co_return outcome(CommandStatus::succeeded, std::string(label) + " acknowledged");
    }

    asio::awaitable<CommandOutcome> reboot(const DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const std::string empty;
        const Answer a = co_await call(ctx, ep, state, "POST", kReboot, empty, true);
        if (a.sent && a.http.error) {
            // The miner may go down before it answers: a dropped connection, or a reply deadline
            // that passed after connecting, means the request was delivered.
            const auto connect_ms =
                std::chrono::duration<double, std::milli>(ctx.transport.connect_timeout).count();
            const bool delivered =
                a.http.error->reason == PollError::reset ||
                (a.http.error->reason == PollError::timeout && a.http.elapsed_ms > connect_ms);
            if (delivered) {
                state.token.clear();  // tokens live in the miner's memory
                co_return outcome(CommandStatus::succeeded,
                                  "system/reboot sent; no reply (" +
                                      std::string(to_string(a.http.error->reason)) +
                                      "), as expected while the miner restarts");
            }
        }
        if (a.error) co_return outcome(CommandStatus::failed, a.message);
        if (a.http.status != 200) {
            co_return outcome(CommandStatus::failed, describe("system/reboot", a.http));
        }
        state.token.clear();
        co_return outcome(CommandStatus::succeeded, "system/reboot acknowledged");
    }

    // The highest preset at or under the target, set through settings and verified by reading
    // the settings back. A target below every preset is refused before anything is written.
    asio::awaitable<CommandOutcome> set_preset(const DriverContext& ctx, const MinerEndpoint& ep,
                                               DriverState& state, double target_w) const {
        const std::string empty;
        const Answer list = co_await call(ctx, ep, state, "GET", kPresets, empty, false);
        if (list.error) co_return outcome(CommandStatus::failed, list.message);
        if (list.http.status != 200) {
            co_return outcome(CommandStatus::failed, describe("autotune/presets", list.http));
        }
        std::vector<VnishPreset> presets;
        try {
            presets = vnish_presets(list.http.body);
        } catch (const VnishParseError& e) {
            co_return outcome(CommandStatus::failed, e.what());
        }
        if (presets.empty()) {
            co_return outcome(CommandStatus::unsupported,
                              "autotune/presets lists no wattage preset");
        }
        const VnishPreset* chosen = vnish_choose_preset(presets, target_w);
        if (!chosen) {
            co_return outcome(CommandStatus::unsupported,
                              "power target " + std::to_string(std::lround(target_w)) +
                                  " W is below the lowest preset (" + presets.front().name +
                                  " W); sleep instead");
        }
        const std::string body = vnish_preset_settings_body(chosen->name);
        const Answer set = co_await call(ctx, ep, state, "POST", kSettings, body, true);
        if (set.error) co_return outcome(CommandStatus::failed, set.message);
        if (set.http.status != 200) {
            co_return outcome(CommandStatus::failed, describe("settings", set.http));
        }
        const Answer check = co_await call(ctx, ep, state, "GET", kSettings, empty, false);
        if (check.error) co_return outcome(CommandStatus::failed, check.message);
        std::optional<std::string> now_set;
        try {
            if (check.http.status == 200) now_set = vnish_settings_preset(check.http.body);
        } catch (const VnishParseError&) {
        }
        if (now_set != chosen->name) {
            co_return outcome(CommandStatus::failed, "settings accepted preset " + chosen->name +
                                                         " but reading them back shows " +
                                                         now_set.value_or("nothing"));
        }
        if (state.identity) state.identity->power_limit_w = chosen->watts;
        co_return outcome(CommandStatus::succeeded, "preset " + chosen->name + " W set for a " +
                                                        std::to_string(std::lround(target_w)) +
                                                        " W target, verified in settings");
    }
};

}  // namespace

const MinerDriver& vnish_driver() {
    static const VnishDriver d;
    return d;
}

}  // namespace hashwatt::agent
