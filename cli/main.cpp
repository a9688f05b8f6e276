// hashwatt: one binary, subcommands. Parses the command line, sets up logging, and hands over
// to the chosen command. Unknown commands and flags print usage on stderr and exit 2.
#include "cli/command.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/version.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

using namespace hashwatt;

const char* kDescription =
    "hashwatt watches and steers a bitcoin mining farm: agents poll ASIC miners, a collector\n"
    "stores their samples in SQLite, exports Prometheus metrics, raises alerts and applies a\n"
    "price-aware power policy.\n";

using Commands = std::vector<std::pair<CLI::App*, cli::Runner>>;

// Names the problem, shows the usage of the command it concerns, and returns exit code 2.
int usage_error(const CLI::App& app, const Commands& commands, std::string message, int argc,
                char** argv) {
    const CLI::App* context = nullptr;
    for (const auto& [sub, run] : commands) {
        if (sub->parsed()) context = sub;
    }
    if (!context) {
        // CLI11 reports a mistyped command as "a subcommand is required"; name the word instead.
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--log-level") {
                ++i;
                continue;
            }
            if (!arg.starts_with("-")) {
                message = "unknown command '" + std::string(arg) + "'";
                break;
            }
        }
    }
    std::fprintf(stderr, "hashwatt: %s\n", message.c_str());
    if (context) {
        std::fprintf(stderr, "usage: hashwatt %s [options]\nRun 'hashwatt %s --help' for more.\n",
                     context->get_name().c_str(), context->get_name().c_str());
    } else {
        std::fprintf(stderr,
                     "usage: hashwatt [--log-level LEVEL] <command> [options]\n"
                     "Commands: ");
        for (const auto* sub : app.get_subcommands({})) {
            std::fprintf(stderr, "%s ", sub->get_name().c_str());
        }
        std::fprintf(stderr, "\nRun 'hashwatt --help' for more.\n");
    }
    return cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{kDescription, "hashwatt"};
    app.require_subcommand(1);
    app.fallthrough();  // global flags may also follow the subcommand name
    app.set_version_flag("--version", std::string("hashwatt ") + kVersion);
    app.footer(
        "Run 'hashwatt <command> --help' for a command's options. Exit codes: 0 ok, "
        "1 runtime failure, 2 usage or config error.");

    std::string log_level = "info";
    app.add_option("--log-level", log_level, "Log verbosity: debug, info, warn, error")
        ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error"}))
        ->default_val("info");

    Commands commands;
    auto add = [&](cli::Runner (*adder)(CLI::App&)) {
        const auto before = app.get_subcommands({}).size();
        cli::Runner run = adder(app);
        commands.emplace_back(app.get_subcommands({}).at(before), std::move(run));
    };
    add(cli::add_version_command);
    add(cli::add_sim_command);
    add(cli::add_poll_command);
    add(cli::add_scan_command);
    add(cli::add_agent_command);
    add(cli::add_miner_command);
    add(cli::add_collector_command);
    add(cli::add_demo_command);
    add(cli::add_policy_command);
    add(cli::add_backtest_command);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::fputs(app.help().c_str(), stdout);
        return cli::kExitOk;
    } catch (const CLI::CallForAllHelp&) {
        std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
        return cli::kExitOk;
    } catch (const CLI::CallForVersion&) {
        std::printf("hashwatt %s (commit %s)\n", kVersion, kGitCommit);
        return cli::kExitOk;
    } catch (const CLI::ParseError& e) {
        return usage_error(app, commands, e.what(), argc, argv);
    }

    log::set_level(*log::parse_level(log_level));

    for (auto& [sub, run] : commands) {
        if (!sub->parsed()) continue;
        try {
            return run();
        } catch (const config::ConfigError& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return cli::kExitUsage;
        } catch (const CLI::Error& e) {
            // Values that parse but do not make sense (a bad port in HOST:PORT) are found by
            // the command itself.
            std::fprintf(stderr, "hashwatt %s: %s\n", sub->get_name().c_str(), e.what());
            return cli::kExitUsage;
        } catch (const std::exception& e) {
            log::error("command failed", {{"command", sub->get_name()}, {"error", e.what()}});
            return cli::kExitFailure;
        }
    }
    return cli::kExitUsage;  // unreachable: require_subcommand(1)
}
