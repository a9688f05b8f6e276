// Commands the collector sends to miners through their agent, and what came of them.
#pragma once

#include "common/miner_sample.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hashwatt {

enum class CommandType { sleep, wake, set_power_target, reboot };

enum class CommandStatus {
    queued,       // accepted by the collector, not yet fetched by the agent
    sent,         // fetched by the agent
    succeeded,    // the miner acknowledged and a later sample shows the new state
    failed,       // the miner refused or errored, or the state never changed
    unsupported,  // the driver cannot do this on this model/firmware; nothing was sent
    timed_out,    // no outcome before the command's deadline
};

std::string_view to_string(CommandType t) noexcept;
std::string_view to_string(CommandStatus s) noexcept;
std::optional<CommandType> parse_command_type(std::string_view s) noexcept;
std::optional<CommandStatus> parse_command_status(std::string_view s) noexcept;

struct Command {
    std::string id;
    std::string miner_id;
    CommandType type = CommandType::sleep;
    std::optional<double> power_target_w;  // required for set_power_target, absent otherwise
    TimePoint created_at{};
    std::optional<TimePoint> deadline;

    bool operator==(const Command&) const = default;
};

struct CommandResult {
    std::string command_id;
    std::string miner_id;
    CommandStatus status = CommandStatus::failed;
    std::optional<std::string> message;
    TimePoint finished_at{};

    bool operator==(const CommandResult&) const = default;
};

// Whether a sample shows `cmd` carried out, given the sample from before it was sent. For a
// reboot, `saw_restart` carries between calls: it is set once a sample shows the miner went
// away or came back with a restarted uptime, and the reboot counts as done when the miner
// mines again after that. Power targets: the miner mines at or under the target (5 % margin
// for measurement noise), or reports the target as its power limit. Pure; the agent checks its
// own polls with it and the collector the samples it stores.
bool command_took_effect(const Command& cmd, const MinerSample& before, const MinerSample& now,
                         bool& saw_restart);

// What a sample shows, for messages: "state mining, 100.5 TH/s, 3250 W (limit 3300 W), up 60 s"
// or "not answering (timeout)".
std::string describe_sample(const MinerSample& s);

}  // namespace hashwatt
