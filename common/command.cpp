#include "common/command.hpp"

#include "common/enum_names.hpp"

#include <cstdio>

namespace hashwatt {
namespace {

constexpr detail::EnumNames<CommandType, 4> kTypes{{
    {CommandType::sleep, "sleep"},
    {CommandType::wake, "wake"},
    {CommandType::set_power_target, "set_power_target"},
    {CommandType::reboot, "reboot"},
}};

constexpr detail::EnumNames<CommandStatus, 6> kStatuses{{
    {CommandStatus::queued, "queued"},
    {CommandStatus::sent, "sent"},
    {CommandStatus::succeeded, "succeeded"},
    {CommandStatus::failed, "failed"},
    {CommandStatus::unsupported, "unsupported"},
    {CommandStatus::timed_out, "timed_out"},
}};

// Power readings wobble by a few per cent between polls; a miner that settles within this
// margin over its target has taken the target.
constexpr double kPowerMargin = 0.05;

}  // namespace

std::string_view to_string(CommandType t) noexcept { return detail::enum_name(kTypes, t); }
std::string_view to_string(CommandStatus s) noexcept { return detail::enum_name(kStatuses, s); }
std::optional<CommandType> parse_command_type(std::string_view s) noexcept {
    return detail::enum_parse(kTypes, s);
}
std::optional<CommandStatus> parse_command_status(std::string_view s) noexcept {
    return detail::enum_parse(kStatuses, s);
}

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

std::string describe_sample(const MinerSample& s) {
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

}  // namespace hashwatt
