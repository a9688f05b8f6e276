// `hashwatt policy check FILE`: validates a power policy (docs/policy.md) without running it.
#include "cli/command.hpp"
#include "policies/rules.hpp"

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

namespace hashwatt::cli {

Runner add_policy_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("policy", "Work with power policy files (docs/policy.md)");
    cmd->require_subcommand(1);
    auto* check = cmd->add_subcommand(
        "check", "Validate a policy file: exit 0 with a summary, or 2 with file:line:column");
    auto file = std::make_shared<std::string>();
    check->add_option("FILE", *file, "The policy TOML")->required();
    return [check, file] {
        if (check->parsed()) {
            // A ConfigError propagates to main, which prints it and exits 2.
            const auto rules = policies::load_policy_file(*file);
            std::printf("%s: ok: %s\n", file->c_str(), policies::summarize(rules).c_str());
            return kExitOk;
        }
        return kExitUsage;
    };
}

}  // namespace hashwatt::cli
