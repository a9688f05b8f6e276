// `hashwatt collector --config collector.toml`: store what agents send, serve the API.
#include "agent/config.hpp"
#include "cli/command.hpp"
#include "cli/embedded_agents.hpp"
#include "collector/config/collector_config.hpp"
#include "collector/service.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/units.hpp"
#include "policies/rules.hpp"

#include <csignal>
#include <cstdio>
#include <functional>
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

struct Loaded {
    collector::CollectorConfig collector;
    std::vector<agent::AgentConfig> agents;  // the [[agent]] sections
};

// collector.toml with its embedded agents: the collector's keys, then each [[agent]], then the
// check for keys nobody read.
Loaded load(const std::string& path) {
    const auto doc = config::Document::load_file(path);
    Loaded out{collector::read_collector_config(doc), {}};
    for (const auto& t : doc.root().tables("agent")) {
        auto a = agent::read_embedded_agent_config(t);
        for (const auto& earlier : out.agents) {
            if (earlier.agent_id == a.agent_id) {
                t.fail("id", "agent id '" + a.agent_id + "' is used twice");
            }
        }
        // Batches are idempotent per (agent_id, batch_seq): two senders under one id would
        // have each other's batches taken for retries and dropped.
        for (const auto& tok : out.collector.api.tokens) {
            if (tok.role == collector::Role::agent && tok.agent_id == a.agent_id) {
                t.fail("id", "agent id '" + a.agent_id +
                                 "' is also issued a [[token]]; an embedded agent's id must be "
                                 "its own");
            }
        }
        out.agents.push_back(std::move(a));
    }
    doc.finish();
    return out;
}

std::string horizon(const std::optional<std::chrono::milliseconds>& h) {
    return h ? format_duration(*h) : "forever";
}

int check_config(const Args& a) {
    const auto loaded = load(a.config);
    const auto& cfg = loaded.collector;
    std::printf(
        "%s: ok (database %s, listen %s:%u, %zu tokens, retention raw %s / 5m %s / 1h %s)\n",
        a.config.c_str(), cfg.database_path.c_str(), cfg.api.address.c_str(), cfg.api.port,
        cfg.api.tokens.size(), horizon(cfg.writer.horizons.raw).c_str(),
        horizon(cfg.writer.horizons.rollup_5m).c_str(),
        horizon(cfg.writer.horizons.rollup_1h).c_str());
    if (!cfg.alerts_file.empty()) {
        std::size_t enabled = 0;
        for (const auto& r : cfg.alerts.rules) enabled += r.enabled ? 1 : 0;
        std::printf("alerts %s: %s, %zu of %zu rules enabled, %zu alertmanagers, %zu webhooks\n",
                    cfg.alerts_file.c_str(), cfg.alerts.enabled ? "on" : "off", enabled,
                    cfg.alerts.rules.size(), cfg.notifiers.alertmanagers.size(),
                    cfg.notifiers.webhooks.size());
    }
    for (const auto& ag : loaded.agents) {
        std::printf("embedded agent %s: site %s, %zu miners, %zu scan ranges, interval %s\n",
                    ag.agent_id.c_str(), ag.site.c_str(), ag.miners.size(), ag.scans.size(),
                    format_duration(ag.interval).c_str());
    }
    if (cfg.control.enabled) {
        // The policy file is checked too: the collector would refuse to start on a bad one.
        const auto rules = policies::load_policy_file(cfg.control.policy_file);
        std::printf("policy %s: %s; prices %s\n", cfg.control.policy_file.c_str(),
                    policies::summarize(rules).c_str(),
                    std::string(policies::prices::to_string(cfg.control.prices->kind)).c_str());
    }
    return kExitOk;
}

// Blocks the signals so that sigwait receives them instead of a handler: the service's threads
// inherit the mask, and the main thread has nothing else to do. SIGHUP reloads the power
// policy (`on_hup`) and waits on.
int wait_for_stop_signal(const std::function<void()>& on_hup) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        sigwait(&set, &sig);
        if (sig != SIGHUP) return sig;
        log::info("SIGHUP: reloading the policy");
        on_hup();
    }
}

int run(const Args& a) {
    auto loaded = load(a.config);
    auto& cfg = loaded.collector;
    // Before the tokens are checked: embedded agents are issued theirs here.
    EmbeddedAgents agents(std::move(loaded.agents), cfg);
    if (cfg.api.tokens.empty()) {
        log::warn("no [[token]] configured: every API route but /healthz and /readyz refuses");
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    collector::CollectorService service(std::move(cfg));
    std::printf("api: %s/api/v1\nmetrics: %s/metrics\n", service.base_url().c_str(),
                service.base_url().c_str());
    std::fflush(stdout);
    agents.start(service);
    const int sig = wait_for_stop_signal([&service] {
        if (!service.policy_control()) {
            log::warn("SIGHUP: no [policy] file configured, nothing to reload");
            return;
        }
        service.reload_policy();
    });
    log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    agents.stop();  // first, so their last batches still reach the collector
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
        "Runs until SIGINT or SIGTERM, then commits every batch already accepted and exits 0; "
        "SIGHUP reloads the [policy] file (a bad one is refused and logged, the old rules stay). "
        "The first lines on stdout are 'api: http://IP:PORT/api/v1' and 'metrics: "
        "http://IP:PORT/metrics'. [[agent]] sections make it poll miners itself (small farms: one "
        "process). Routes and tokens: docs/api.md; keys: docs/configuration.md.");
    return [a] { return a->check_config ? check_config(*a) : run(*a); };
}

}  // namespace hashwatt::cli
