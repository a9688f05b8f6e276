// Direct control of one miner: run a command through its driver, then poll until the miner
// reports the new state (or the wait runs out). Used by `hashwatt miner`, and by the agent for
// commands from the collector.
#pragma once

#include "agent/poller.hpp"
#include "common/command.hpp"

#include <optional>
#include <string>

namespace hashwatt::agent {

// command_took_effect (common/command.hpp) is the check run on each poll after a command.

struct VerifyOptions {
    Duration wait{std::chrono::minutes(5)};  // how long the miner may take to get there
    Duration poll_every{std::chrono::seconds(2)};
};

struct ControlReport {
    CommandStatus status = CommandStatus::failed;
    std::string message;                // the driver's answer, then what verification saw
    std::optional<MinerSample> before;  // the poll before the command
    std::optional<MinerSample> after;   // the last poll
    double elapsed_s = 0;               // from sending the command to the verdict
};

// Polls once (identifying the firmware if need be), sends `cmd` unless the driver refuses it
// up front (unsupported: nothing is sent), then polls every `poll_every` until
// command_took_effect or `wait` passes (timed_out). `ctx` bounds each request.
boost::asio::awaitable<ControlReport> run_command(DriverContext& ctx, PollTarget& target,
                                                  const Command& cmd, const VerifyOptions& opts);

}  // namespace hashwatt::agent
