// `hashwatt collector --config collector.toml`: store what agents send, serve the API.
#include "cli/command.hpp"
#include "collector/config/collector_config.hpp"
#include "collector/service.hpp"
#include "common/log.hpp"
#include "common/units.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <pthread.h>

#include <CLI/CLI.hpp>

namespace hashwatt::cli {
namespace {

struct Args {
    std::string config;
    bool check_config = false;
};

std::string horizon(const std::optional<std::chrono::milliseconds>& h) {
    return h ? format_duration(*h) : "forever";
}

int check_config(const Args& a) {
    const auto cfg = collector::load_collector_config(a.config);
    std::printf(
        "%s: ok (database %s, listen %s:%u, %zu tokens, retention raw %s / 5m %s / 1h %s)\n",
        a.config.c_str(), cfg.database_path.c_str(), cfg.api.address.c_str(), cfg.api.port,
        cfg.api.tokens.size(), horizon(cfg.writer.horizons.raw).c_str(),
        horizon(cfg.writer.horizons.rollup_5m).c_str(),
        horizon(cfg.writer.horizons.rollup_1h).c_str());
    return kExitOk;
}

// Blocks the signals so that sigwait receives them instead of a handler: the service's threads
// inherit the mask, and the main thread has nothing else to do.
int wait_for_stop_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

int run(const Args& a) {
    auto cfg = collector::load_collector_config(a.config);
    if (cfg.api.tokens.empty()) {
        log::warn("no [[token]] configured: every API route but /healthz and /readyz refuses");
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    collector::CollectorService service(std::move(cfg));
    std::printf("api: %s/api/v1\n", service.base_url().c_str());
    std::fflush(stdout);
    const int sig = wait_for_stop_signal();
    log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    service.stop();
    return kExitOk;
}

}  // namespace

Runner add_collector_command(CLI::App& app) {
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand(
        "collector", "Store what agents send (SQLite) and serve the API (collector.toml)");
    cmd->add_option("--config", a->config,
                    "Collector configuration (see deploy/config/collector.toml)")
        ->required();
    cmd->add_flag("--check-config", a->check_config,
                  "Validate the configuration and exit (0 valid, 2 with file:line:column)");
    cmd->footer(
        "Runs until SIGINT or SIGTERM, then commits every batch already accepted and exits 0. "
        "The first line on stdout is 'api: http://IP:PORT/api/v1'. Routes and tokens: "
        "docs/api.md; keys: docs/configuration.md.");
    return [a] { return a->check_config ? check_config(*a) : run(*a); };
}

}  // namespace hashwatt::cli
