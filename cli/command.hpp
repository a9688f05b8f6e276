// How subcommands plug into `hashwatt`: each cli/cmd_*.cpp adds its CLI11 subcommand and
// returns the function that runs it. No business logic lives in cli/.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace hashwatt::cli {

// Exit codes shared by every command (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure
inline constexpr int kExitUsage = 2;    // bad usage or invalid config

using Runner = std::function<int()>;

// Each adds one subcommand to `app` and returns what runs it once the command line is parsed.
Runner add_version_command(CLI::App& app);
Runner add_sim_command(CLI::App& app);
Runner add_poll_command(CLI::App& app);
Runner add_scan_command(CLI::App& app);
Runner add_agent_command(CLI::App& app);
Runner add_miner_command(CLI::App& app);
Runner add_collector_command(CLI::App& app);
Runner add_demo_command(CLI::App& app);
Runner add_policy_command(CLI::App& app);
Runner add_backtest_command(CLI::App& app);

}  // namespace hashwatt::cli
