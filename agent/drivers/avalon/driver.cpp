// Canaan Avalon: telemetry and control through Canaan's cgminer 4.11.1 RPC on 4028
// (PROTOCOLS.md §6). What is sent when is in README.md beside this file.
#include "agent/drivers/avalon/parse.hpp"
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

// Identity (model, DNA, MAC, firmware build) changes rarely: re-read it every ~10 polls.
constexpr auto kIdentityRefresh = std::chrono::minutes(5);

// Steady poll: one connection. The identity poll adds `version` to the same join.
constexpr std::string_view kJoined = R"({"command":"summary+estats+pools"})";
constexpr std::string_view kJoinedWithVersion = R"({"command":"summary+estats+pools+version"})";
constexpr std::string_view kSummary = R"({"command":"summary"})";
constexpr std::string_view kEstats = R"({"command":"estats"})";
constexpr std::string_view kStats = R"({"command":"stats"})";
constexpr std::string_view kPools = R"({"command":"pools"})";
constexpr std::string_view kVersion = R"({"command":"version"})";

// A reply worth parsing: it arrived and is not an error envelope (firmware without `estats`,
// or the replay without that capture, answers "Invalid command").
std::optional<std::string_view> ok_body(const RpcResult& r) {
    if (r.error || r.body.empty()) return std::nullopt;
    try {
        const auto v = parse_cgminer_json(r.body);
        if (const auto st = cgminer_status(v); st && !status_ok(*st)) return std::nullopt;
    } catch (const CgminerJsonError&) {
        // Unreadable: parse_avalon reports it with the command's name.
    }
    return std::string_view(r.body);
}

CommandOutcome outcome(CommandStatus status, std::string message) {
    return CommandOutcome{status, std::move(message)};
}

std::string watts(double w) { return std::to_string(std::lround(w)) + " W"; }

class AvalonDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return "avalon"; }

    bool claims(const ProbeResult& probe) const override {
        // Canaan's cgminer names the product in `version` (PROD "AvalonMiner 1246-81", "Avalon
        // Q"); the web root says "Avalon" too (PROTOCOLS.md §8). Both come after the firmware
        // families that could carry the word by accident.
        if (!probe.version_reply.empty() && contains_upper(probe.version_reply, "AVALON")) {
            return true;
        }
        return probe.http_root_status == 200 && contains_upper(probe.http_root_body, "AVALON");
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
                "softoff/softon and reboot; power targets need a known model (work modes "
                "are shares of its nominal power)";
            return c;
        }
        const double low =
            avalon_work_mode_power_w(kAvalonWorkModeLow, model->nominal_w, model->max_power_w);
        const double high =
            avalon_work_mode_power_w(kAvalonWorkModeHigh, model->nominal_w, model->max_power_w);
        c.power_target_min_w = std::round(low);
        c.power_target_max_w = model->max_power_w;
        c.notes = "power target by work mode only: low (0) ~" + watts(low) + ", normal (1) " +
                  watts(model->nominal_w) + ", high (2) ~" + watts(high) +
                  "; the highest mode at or below the target is chosen. On some firmware a mode "
                  "change takes effect only after a reboot, which the driver does not do";
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("avalon driver: ", once);
    }

  private:
    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint now = now_ms();
        const bool identity_due = !state.identity || now - state.identity_at >= kIdentityRefresh;

        AvalonReplies replies;
        replies.identity = state.identity ? &*state.identity : nullptr;
        std::optional<MinerSample> parsed;
        std::vector<RpcResult> got;

        if (!state.joins_unsupported) {
            const std::vector<std::string_view> req{identity_due ? kJoinedWithVersion : kJoined};
            got = co_await rpc_calls_at_once(ctx, ep, req);
            if (const auto& err = got[0].error) co_return failed_rpc_poll(state, req[0], *err);
            replies.joined = got[0].body;
            try {
                parsed = parse_avalon(replies);
            } catch (const AvalonJoinRefused&) {
                // The firmware (or a replay) does not join these: one command at a time now.
                state.joins_unsupported = true;
                replies.joined.reset();
            } catch (const AvalonParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }
        if (!parsed) {
            std::vector<std::string_view> req{kEstats, kSummary, kPools};
            if (identity_due) req.push_back(kVersion);
            got = co_await rpc_calls_at_once(ctx, ep, req);
            if (const auto& err = got[0].error) co_return failed_rpc_poll(state, req[0], *err);
            std::optional<std::string_view> stats = ok_body(got[0]);
            std::optional<RpcResult> plain_stats;
            if (!stats) {
                // Firmware without `estats` answers `stats` with the same device block.
                const std::vector<std::string_view> stats_req{kStats};
                std::vector<RpcResult> again = co_await rpc_calls_at_once(ctx, ep, stats_req);
                if (const auto& err = again[0].error) {
                    co_return failed_rpc_poll(state, kStats, *err);
                }
                plain_stats = std::move(again[0]);
                stats = ok_body(*plain_stats);
                if (!stats) stats = std::string_view(plain_stats->body);
            }
            replies.stats = stats;
            replies.summary = ok_body(got[1]);
            replies.pools = ok_body(got[2]);
            if (identity_due) replies.version = ok_body(got[3]);
            try {
                parsed = parse_avalon(replies);
            } catch (const AvalonParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }
        if (identity_due) {
            state.identity = identity_fields(*parsed);
            state.identity_at = now;
        }
        co_return std::move(*parsed);
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // Capabilities depend on the model.
        if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
            co_return std::move(*failed);
        }
        const Capabilities caps = capabilities(*state.identity);
        // softoff/softon take "1:<unix time>", the moment to act; now means at once.
        const std::string when = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch())
                .count());
        switch (cmd.type) {
            case CommandType::sleep: {
                if (!caps.sleep) co_return outcome(CommandStatus::unsupported, caps.notes);
                const std::string param = "0,softoff,1:" + when;
                co_return co_await ascset(ctx, ep, "softoff", param);
            }
            case CommandType::wake: {
                if (!caps.wake) co_return outcome(CommandStatus::unsupported, caps.notes);
                const std::string param = "0,softon,1:" + when;
                co_return co_await ascset(ctx, ep, "softon", param);
            }
            case CommandType::set_power_target: {
                if (!caps.power_target_min_w || !caps.power_target_max_w) {
                    co_return outcome(CommandStatus::unsupported, caps.notes);
                }
                if (!cmd.power_target_w || !(*cmd.power_target_w > 0)) {
                    co_return outcome(CommandStatus::unsupported,
                                      "set_power_target needs power_target_w > 0");
                }
                const double target = *cmd.power_target_w;
                const ModelSpec* model = find_reported_model(state.identity->model.value_or(""));
                const std::optional<int> mode =
                    model ? avalon_work_mode_for(target, model->nominal_w, model->max_power_w)
                          : std::nullopt;
                if (!mode || target > *caps.power_target_max_w) {
                    co_return outcome(
                        CommandStatus::unsupported,
                        "power target " + watts(target) + " outside " +
                            std::to_string(std::lround(*caps.power_target_min_w)) + ".." +
                            watts(*caps.power_target_max_w) +
                            " (the low work mode draws about the minimum; sleep instead)");
                }
                const std::string param = "0,workmode," + std::to_string(*mode);
                CommandOutcome out = co_await ascset(ctx, ep, "workmode", param);
                if (out.status == CommandStatus::succeeded) {
                    out.message += "; work mode " + std::to_string(*mode) + " (~" +
                                   watts(avalon_work_mode_power_w(*mode, model->nominal_w,
                                                                  model->max_power_w)) +
                                   ") for a target of " + watts(target);
                }
                co_return out;
            }
            case CommandType::reboot: {
                if (!caps.reboot) co_return outcome(CommandStatus::unsupported, caps.notes);
                const std::string param = "0,reboot,0";
                co_return co_await ascset(ctx, ep, "reboot", param);
            }
        }
        co_return outcome(CommandStatus::failed, "unknown command");
    }

    // One ascset exchange. Some units act and close without replying (softon, reboot): a
    // connection that ends without a reply after connecting counts as sent; the caller verifies
    // by polling.
    asio::awaitable<CommandOutcome> ascset(DriverContext& ctx, const MinerEndpoint& ep,
                                           std::string_view option,
                                           const std::string& parameter) const {
        const std::string request = R"({"command":"ascset","parameter":")" + parameter + "\"}";
        const RpcResult r =
            co_await rpc_request(ctx.executor, ep.host, ep.rpc_port, request, ctx.transport);
        const std::string label = "ascset " + parameter;
        if (r.error) {
            if (r.error->reason == PollError::reset) {
                co_return outcome(CommandStatus::succeeded,
                                  label +
                                      " sent; the miner closed without a reply, as some "
                                      "units do (verify by polling)");
            }
            co_return outcome(
                CommandStatus::failed,
                label + ": " + std::string(to_string(r.error->reason)) + ": " + r.error->detail);
        }
        if (r.body.empty()) {
            co_return outcome(CommandStatus::succeeded,
                              label + " sent; no reply, as some units do (verify by polling)");
        }
        try {
            const AscsetReply reply = parse_avalon_ascset(r.body, option);
            if (!reply.ok) {
                co_return outcome(
                    CommandStatus::failed,
                    label + " refused (Code " + std::to_string(reply.code) + "): " + reply.message);
            }
            co_return outcome(CommandStatus::succeeded, label + ": " + reply.message);
        } catch (const AvalonParseError& e) {
            co_return outcome(CommandStatus::failed, label + ": " + e.what());
        }
    }
};

}  // namespace

const MinerDriver& avalon_driver() {
    static const AvalonDriver d;
    return d;
}

}  // namespace hashwatt::agent
