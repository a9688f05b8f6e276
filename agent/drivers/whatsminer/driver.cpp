// The Whatsminer driver (MicroBT btminer API v2 on TCP 4028). What it sends:
//   every poll   {"command":"summary+devs+pools"} (one connection; three when joins are refused)
//   every 5 min  devdetails, get_version, get_miner_info, alongside (identity, cached)
//   when needed  status (the summary shows ~no hash rate: asleep or stalled?) and get_error_code
//                (the summary lists no error codes, API >= 2.0.4), alongside each other
// Writes go through the encrypted API (common/btminer_crypto.hpp) with a cached token.
// API v3 firmware (TCP 4433 only) is recognised and reported as unsupported.
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/whatsminer/parse.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/btminer_crypto.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::agent {
namespace {

namespace asio = boost::asio;
using whatsminer::ParseError;
using whatsminer::WhatsminerReading;
using whatsminer::WhatsminerReplies;
using whatsminer::WriteReply;

constexpr std::string_view kName = "whatsminer";
constexpr std::uint16_t kApiV3Port = 4433;
// Identity (model, serial, firmware) hardly changes: refreshed every ~10 polls at 30 s.
constexpr auto kIdentityMaxAge = std::chrono::minutes(5);
// The miner keeps a token 30 minutes; reuse it a little less than that.
constexpr auto kTokenMaxAge = std::chrono::minutes(25);
constexpr std::string_view kDefaultPassword = "admin";
constexpr std::string_view kV3Unsupported = "Whatsminer API v3 firmware is not supported yet";

// Reads use the "command" key: 2020 firmware (cgminer 4.9.2 based) rejects "cmd" with Code 24.
constexpr std::string_view kJoined = R"({"command":"summary+devs+pools"})";
constexpr std::string_view kSummary = R"({"command":"summary"})";
constexpr std::string_view kDevs = R"({"command":"devs"})";
constexpr std::string_view kPools = R"({"command":"pools"})";
constexpr std::string_view kDevdetails = R"({"command":"devdetails"})";
constexpr std::string_view kGetVersion = R"({"command":"get_version"})";
constexpr std::string_view kGetMinerInfo = R"({"command":"get_miner_info"})";
constexpr std::string_view kStatus = R"({"command":"status"})";
constexpr std::string_view kGetErrorCode = R"({"command":"get_error_code"})";
constexpr std::string_view kGetToken = R"({"command":"get_token"})";
constexpr std::string_view kV3DeviceInfo = R"({"cmd":"get.device.info"})";
constexpr std::array kSeparate{kSummary, kDevs, kPools};
constexpr std::array kIdentity{kDevdetails, kGetVersion, kGetMinerInfo};

std::optional<std::string_view> body_of(const RpcResult& r) {
    if (r.error) return std::nullopt;
    return std::string_view(r.body);
}

// Whether a reply to the joined request is the firmware refusing joins (one error envelope)
// rather than a broken reply.
bool join_refused(std::string_view body) {
    try {
        const auto v = parse_cgminer_json(body);
        const auto* o = v.if_object();
        if (!o || o->contains("summary")) return false;
        const auto st = cgminer_status(*o);
        return st && !status_ok(*st);
    } catch (const std::exception&) {
        return false;
    }
}

class WhatsminerDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return kName; }

    bool claims(const ProbeResult& probe) const override {
        // btminer's own name, its cgminer driver's, or the flat error envelope's Description
        // ("whatsminer v1.1") when `version` is refused.
        for (std::string_view marker : {"BTMINER", "BITMICRO", "WHATSMINER"}) {
            if (contains_upper(probe.version_reply, marker)) return true;
        }
        // API v3 firmware: its get.device.info reply, if detection put it here.
        if (!probe.version_reply.empty() &&
            whatsminer::looks_like_whatsminer_v3(probe.version_reply)) {
            return true;
        }
        // The web UI: LuCI behind a redirect to https.
        const bool redirect = probe.http_root_status >= 301 && probe.http_root_status <= 308;
        return redirect && probe.http_root_body.find("/cgi-bin/luci") != std::string::npos;
    }

    asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                      DriverState& state) const override {
        const auto once = [&] { return poll_once(ctx, ep, state); };
        co_return co_await timed_poll(kName, ep, state, once);
    }

    Capabilities capabilities(const MinerSample& sample) const override {
        Capabilities c;
        if (sample.error == PollError::unsupported) {
            c.notes = std::string(kV3Unsupported);
            return c;
        }
        c.sleep = c.wake = c.reboot = true;
        c.power_target_reboots = false;
        c.notes =
            "writes need the API enabled and the admin password changed in WhatsMinerTool; "
            "power target = set_power_pct of the current power limit (acts in seconds, no reboot, "
            "lost when the miner restarts)";
        const ModelSpec* spec = sample.model ? find_reported_model(*sample.model) : nullptr;
        if (spec && sample.power_limit_w && *sample.power_limit_w > 0) {
            const double max_w = std::min(spec->max_power_w, *sample.power_limit_w);
            c.power_target_max_w = max_w;
            c.power_target_min_w = std::min(spec->min_power_w, max_w);
        } else {
            c.notes += spec ? "; no power target: the power limit is not known yet"
                            : "; no power target: the model is not in the model table";
        }
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("internal: whatsminer driver: ", once);
    }

  private:
    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint started = now_ms();
        // identity->error marks the identity of API v3 firmware (probe_v3): look again.
        const bool identity_due = !state.identity || state.identity->error ||
                                  started - state.identity_at >= kIdentityMaxAge;

        // (No brace lists in coroutines here: GCC 12 miscompiles their backing arrays.)
        std::vector<std::string_view> requests;
        if (state.joins_unsupported) {
            requests.insert(requests.end(), kSeparate.begin(), kSeparate.end());
        } else {
            requests.push_back(kJoined);
        }
        const std::size_t main_count = requests.size();
        if (identity_due) requests.insert(requests.end(), kIdentity.begin(), kIdentity.end());
        std::vector<RpcResult> results = co_await rpc_calls_at_once(ctx, ep, requests);

        if (const auto& err = results.front().error) {
            if (err->reason == PollError::refused || err->reason == PollError::reset) {
                // API v3 firmware answers nothing usable on 4028: look on 4433 before giving up.
                if (auto v3 = co_await probe_v3(ctx, ep, state)) co_return std::move(*v3);
            }
            co_return failed_rpc_poll(state, requests.front(), *err);
        }

        WhatsminerReplies replies;
        if (main_count == 1) {
            replies.joined = body_of(results[0]);
        } else {
            replies.summary = body_of(results[0]);
            replies.devs = body_of(results[1]);
            replies.pools = body_of(results[2]);
        }
        bool identity_complete = identity_due;
        if (identity_due) {
            replies.devdetails = body_of(results[main_count]);
            replies.get_version = body_of(results[main_count + 1]);
            replies.get_miner_info = body_of(results[main_count + 2]);
            // A request that failed in transit is asked again next poll.
            identity_complete = replies.devdetails && replies.get_version && replies.get_miner_info;
        }

        const MinerSample* cached = state.identity ? &*state.identity : nullptr;
        WhatsminerReading reading;
        std::optional<ParseError> fault;
        try {
            reading = whatsminer::read_whatsminer(replies, cached);
        } catch (const ParseError& e) {
            fault = e;
        }
        std::vector<RpcResult> parts;  // owns the texts `replies` points into after a retry
        if (fault && replies.joined && join_refused(*replies.joined)) {
            // This firmware does not join: ask the three one by one from now on.
            state.joins_unsupported = true;
            parts = co_await rpc_calls_at_once(
                ctx, ep, std::vector<std::string_view>(kSeparate.begin(), kSeparate.end()));
            if (parts[0].error) co_return failed_rpc_poll(state, kSummary, *parts[0].error);
            replies.joined.reset();
            replies.summary = body_of(parts[0]);
            replies.devs = body_of(parts[1]);
            replies.pools = body_of(parts[2]);
            fault.reset();
            try {
                reading = whatsminer::read_whatsminer(replies, cached);
            } catch (const ParseError& e) {
                fault = e;
            }
        }
        if (fault) co_return parse_failure(state, replies, *fault);

        // Follow-ups that cannot be joined, only when this round needs them.
        std::vector<std::string_view> followups;
        const bool ask_status = reading.wants_status();
        const bool ask_errors = reading.wants_error_codes();
        if (ask_status) followups.push_back(kStatus);
        if (ask_errors) followups.push_back(kGetErrorCode);
        if (!followups.empty()) {
            const std::vector<RpcResult> more = co_await rpc_calls_at_once(ctx, ep, followups);
            // A follow-up lost in transit leaves the state as the summary shows it.
            const std::optional<std::string_view> status =
                ask_status ? body_of(more[0]) : std::nullopt;
            const std::optional<std::string_view> errors =
                ask_errors ? body_of(more[ask_status ? 1 : 0]) : std::nullopt;
            try {
                whatsminer::add_whatsminer_followups(reading, status, errors);
            } catch (const ParseError& e) {
                co_return parse_failure(state, replies, e);
            }
        }

        MinerSample& s = reading.sample;
        s.up = true;
        if (state.identity && state.identity->mac && s.mac && *state.identity->mac != *s.mac) {
            // Another miner now answers at this address: forget the old one's identity.
            state.identity.reset();
            state.identity_at = {};  // ask devdetails & co. again next poll
            identity_complete = false;
        }
        if (identity_complete || !state.identity) {
            state.identity = whatsminer::whatsminer_identity(s);
            if (identity_complete) state.identity_at = started;
        } else if (s.power_limit_w) {
            state.identity->power_limit_w = s.power_limit_w;  // for capabilities() between polls
        }
        co_return std::move(s);
    }

    MinerSample parse_failure(const DriverState& state, const WhatsminerReplies& replies,
                              const ParseError& e) const {
        // A v3 reply where a v2 one was expected is not a parse fault.
        const auto main = replies.joined ? replies.joined : replies.summary;
        if (main && whatsminer::looks_like_whatsminer_v3(*main)) {
            return failed_poll(state, PollError::unsupported, std::string(kV3Unsupported));
        }
        return failed_poll(state, PollError::parse, e.what());
    }

    // Asks TCP 4433 for get.device.info; a v3 answer makes an `unsupported` sample carrying the
    // identity it reports. nullopt when nothing v3 answers.
    asio::awaitable<std::optional<MinerSample>> probe_v3(DriverContext& ctx,
                                                         const MinerEndpoint& ep,
                                                         DriverState& state) const {
        const std::string request(kV3DeviceInfo);
        const RpcResult r =
            co_await framed_request(ctx.executor, ep.host, kApiV3Port, request, ctx.transport);
        if (r.error || !whatsminer::looks_like_whatsminer_v3(r.body)) co_return std::nullopt;
        std::string message(kV3Unsupported);
        message += " (it answers on TCP 4433 only)";
        MinerSample s = failed_poll(state, PollError::unsupported, message);
        try {
            MinerSample id = whatsminer::parse_whatsminer_v3_device_info(r.body);
            if (id.model) message += "; model " + *id.model;
            if (id.firmware_version) message += ", firmware " + *id.firmware_version;
            state.identity = whatsminer::whatsminer_identity(id);
            state.identity->error = PollError::unsupported;  // execute() refuses writes
            state.identity_at = now_ms();
            s = failed_poll(state, PollError::unsupported, message);
            s.errors = std::move(id.errors);
        } catch (const ParseError&) {
            // Recognised as v3 but without the device details: the message says enough.
        }
        co_return s;
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // A miner never polled may be API v3 firmware, which takes none of these writes: one
        // read-only poll finds out before anything is sent.
        if (!state.identity) co_await poll(ctx, ep, state);
        if (state.identity && state.identity->error == PollError::unsupported) {
            co_return CommandOutcome{CommandStatus::unsupported, std::string(kV3Unsupported)};
        }
        std::string name;                // the write command
        whatsminer::WriteParams params;  // its parameters
        std::string done;                // what success means, for the outcome message
        switch (cmd.type) {
            case CommandType::sleep:
                // respbefore: answer first, then cut the hash boards (the control board stays up).
                name = "power_off";
                params.emplace_back("respbefore", "true");
                done = "power_off acknowledged: the hash boards stop within seconds";
                break;
            case CommandType::wake:
                name = "power_on";
                done = "power_on acknowledged: the hash boards restart, full rate in a few minutes";
                break;
            case CommandType::reboot:
                name = "reboot";
                done = "reboot acknowledged: the miner is restarting (a few minutes offline)";
                break;
            case CommandType::set_power_target: {
                if (!cmd.power_target_w || !(*cmd.power_target_w > 0)) {
                    co_return CommandOutcome{CommandStatus::unsupported,
                                             "set_power_target needs power_target_w"};
                }
                if (!state.identity || !state.identity->power_limit_w || !state.identity->model) {
                    co_await poll(ctx, ep, state);  // reads only: learn the model and the limit
                }
                const MinerSample identity = state.identity ? *state.identity : MinerSample{};
                const Capabilities caps = capabilities(identity);
                if (!caps.power_target_min_w || !caps.power_target_max_w) {
                    co_return CommandOutcome{CommandStatus::unsupported, caps.notes};
                }
                const double target = *cmd.power_target_w;
                const double lo = *caps.power_target_min_w;
                const double hi = *caps.power_target_max_w;
                if (target < lo - 0.5 || target > hi + 0.5) {
                    co_return CommandOutcome{
                        CommandStatus::unsupported,
                        "power target " + std::to_string(std::lround(target)) + " W is outside " +
                            std::to_string(std::lround(lo)) + ".." +
                            std::to_string(std::lround(hi)) +
                            " W (model range capped by the miner's power limit)"};
                }
                const double limit = *identity.power_limit_w;
                // Rounded down so the miner stays at or under the target.
                const long pct = std::clamp(
                    static_cast<long>(std::floor(100.0 * target / limit + 1e-9)), 1L, 100L);
                name = "set_power_pct";
                params.emplace_back("percent", std::to_string(pct));
                done = "set_power_pct " + std::to_string(pct) + " % of the " +
                       std::to_string(std::lround(limit)) + " W power limit (about " +
                       std::to_string(std::lround(limit * static_cast<double>(pct) / 100.0)) +
                       " W) acknowledged; acts in seconds without a reboot, and a restart of the "
                       "miner restores the full limit";
                break;
            }
        }
        co_return co_await send_write(ctx, ep, state, name, params, done,
                                      cmd.type == CommandType::reboot);
    }

    // get_token (or the cached one) -> keys from the password -> encrypted command -> reply.
    // A rejected cached token is replaced once; a fresh one rejected means a wrong password.
    asio::awaitable<CommandOutcome> send_write(DriverContext& ctx, const MinerEndpoint& ep,
                                               DriverState& state, const std::string& command,
                                               const whatsminer::WriteParams& params,
                                               const std::string& done, bool reboot) const {
        const std::string_view password =
            ep.credentials ? std::string_view(ep.credentials->password) : kDefaultPassword;
        for (int attempt = 0; attempt < 2; ++attempt) {
            const TimePoint now = now_ms();
            bool fresh = false;
            if (attempt > 0 || state.token.empty() || now - state.token_at >= kTokenMaxAge) {
                const RpcResult t = co_await rpc_call(ctx, ep, kGetToken);
                if (t.error) {
                    co_return CommandOutcome{
                        CommandStatus::failed,
                        "get_token: " + std::string(to_string(t.error->reason)) + ": " +
                            t.error->detail};
                }
                auto token = whatsminer::read_token_reply(t.body);
                if (!token.token) co_return CommandOutcome{CommandStatus::failed, token.problem};
                // Kept as "time salt newsalt": the keys follow from it and the password.
                state.token =
                    token.token->time + ' ' + token.token->salt + ' ' + token.token->newsalt;
                state.token_at = now;
                fresh = true;
            }
            btminer::TokenMaterial material;
            {
                const std::string& t = state.token;
                const auto a = t.find(' ');
                const auto b = t.find(' ', a + 1);
                material = {t.substr(0, a), t.substr(a + 1, b - a - 1), t.substr(b + 1)};
            }
            btminer::WriteKeys keys;
            try {
                keys = btminer::derive_write_keys(password, material);
            } catch (const std::exception& e) {
                state.token.clear();
                co_return CommandOutcome{CommandStatus::failed,
                                         std::string("get_token: ") + e.what()};
            }
            const std::string plaintext =
                whatsminer::write_command_json(command, params, keys.sign);
            const std::string request = btminer::make_encrypted_request(keys.aes_key, plaintext);
            const RpcResult r = co_await rpc_call(ctx, ep, request);
            if (r.error) {
                if (reboot && r.error->reason == PollError::reset) {
                    // The miner may go down before its answer is out.
                    co_return CommandOutcome{CommandStatus::succeeded,
                                             "reboot sent; the miner closed the connection without "
                                             "an answer, as it does when it restarts at once"};
                }
                co_return CommandOutcome{CommandStatus::failed,
                                         std::string(command) + ": " +
                                             std::string(to_string(r.error->reason)) + ": " +
                                             r.error->detail};
            }
            const WriteReply w = whatsminer::read_write_reply(r.body, keys.aes_key);
            switch (w.kind) {
                case WriteReply::Kind::ok:
                    co_return CommandOutcome{CommandStatus::succeeded, done};
                case WriteReply::Kind::auth:
                    state.token.clear();
                    if (!fresh) continue;  // the cached token may have expired or been replaced
                    co_return CommandOutcome{
                        CommandStatus::failed,
                        "auth: whatsminer: the miner rejected the write (" +
                            (w.code ? "Code " + std::to_string(w.code) + " " : std::string()) +
                            w.message +
                            "): check the password in password_file (default \"admin\"; the write "
                            "API needs it changed once in WhatsMinerTool)"};
                case WriteReply::Kind::refused: {
                    std::string why =
                        std::string(command) + " refused: Code " + std::to_string(w.code);
                    if (!w.message.empty()) why += " \"" + w.message + "\"";
                    if (w.code == 45)
                        why += " (the write API is disabled: enable it in WhatsMinerTool)";
                    co_return CommandOutcome{CommandStatus::failed, why};
                }
                case WriteReply::Kind::unreadable:
                    co_return CommandOutcome{
                        CommandStatus::failed,
                        std::string(command) + ": unreadable reply: " + w.message};
            }
        }
        co_return CommandOutcome{CommandStatus::failed, std::string(command) + ": no outcome"};
    }
};

}  // namespace

const MinerDriver& whatsminer_driver() {
    static const WhatsminerDriver d;
    return d;
}

}  // namespace hashwatt::agent
