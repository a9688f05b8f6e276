#include "cli/command.hpp"
#include "common/version.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

namespace hashwatt::cli {

Runner add_version_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("version", "Print the version and build commit");
    return [cmd] {
        (void)cmd;
        std::printf("hashwatt %s (commit %s)\n", kVersion, kGitCommit);
        return kExitOk;
    };
}

}  // namespace hashwatt::cli
