// `hashwatt agent --config agent.toml`: poll the configured and discovered miners.
#include "agent/config.hpp"
#include "agent/metrics/metrics_server.hpp"
#include "agent/poller.hpp"
#include "agent/runtime.hpp"
#include "agent/uplink/uplink.hpp"
#include "cli/command.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

namespace hashwatt::cli {
namespace {

double cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

long peak_rss_kb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// One readable line per sample.
void print_row(const MinerSample& s) {
    char hash[32] = "-", power[32] = "-", chip[32] = "-";
    if (s.hashrate_ths) std::snprintf(hash, sizeof hash, "%.2f", *s.hashrate_ths);
    if (s.power_w) std::snprintf(power, sizeof power, "%.0f", *s.power_w);
    std::optional<double> chip_max;
    for (const auto& b : s.boards) {
        if (b.chip_temp_max_c && (!chip_max || *b.chip_temp_max_c > *chip_max)) {
            chip_max = b.chip_temp_max_c;
        }
    }
    if (chip_max) std::snprintf(chip, sizeof chip, "%.0f", *chip_max);
    std::string note;
    if (s.error) {
        note = std::string(to_string(*s.error)) + (s.error_message ? ": " + *s.error_message : "");
    }
    std::printf("%-24s %-21s %-3s %-9s %-20s %9s %6s %5s %s\n", s.miner_id.c_str(),
                (s.host + ":" + std::to_string(s.port)).c_str(), s.up ? "yes" : "no",
                std::string(to_string(s.state)).c_str(), s.model.value_or("-").c_str(), hash, power,
                chip, note.c_str());
}

struct Args {
    std::string config;
    bool once = false;
    bool check_config = false;
    std::string output = "table";
    bool output_given = false;  // --output on the command line (else none with an uplink)
};

int check_config(const Args& a) {
    const auto cfg = agent::load_agent_config(a.config);
    std::printf("%s: ok (%zu miners, %zu scan ranges, interval %s, concurrency %zu)\n",
                a.config.c_str(), cfg.miners.size(), cfg.scans.size(),
                format_duration(cfg.interval).c_str(), cfg.concurrency);
    if (cfg.uplink) {
        std::printf("uplink: %s (spool %s)\n", cfg.uplink->url.c_str(),
                    cfg.uplink->spool_dir.c_str());
    }
    if (cfg.metrics) {
        const auto& addr = cfg.metrics->address;
        const std::string host = addr.find(':') != std::string::npos ? "[" + addr + "]" : addr;
        std::printf("metrics: %s:%u\n", host.c_str(), static_cast<unsigned>(cfg.metrics->port));
    }
    return kExitOk;
}

int run_once(const Args& a, agent::AgentConfig cfg) {
    boost::asio::io_context io;
    agent::Poller poller(io.get_executor(), std::move(cfg));
    if (a.output == "table") {
        std::printf("%-24s %-21s %-3s %-9s %-20s %9s %6s %5s %s\n", "miner_id", "address", "up",
                    "state", "model", "TH/s", "W", "chip", "note");
    }
    auto sink = [&](MinerSample&& s) {
        if (a.output == "json") {
            std::string line = encode_sample(s);
            line.push_back('\n');
            std::fwrite(line.data(), 1, line.size(), stdout);
        } else if (a.output == "table") {
            print_row(s);
        }
    };
    agent::RoundSummary sum;
    double wall_ms = 0, cpu = 0;
    auto fut = boost::asio::co_spawn(
        io,
        [](agent::Poller& p, decltype(sink)& sink_fn, agent::RoundSummary& out, double& wall,
           double& cpu_used) -> boost::asio::awaitable<void> {
            co_await p.discover();
            // The round alone is timed: a scan before it is logged on its own.
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = cpu_ms();
            out = co_await p.poll_all(sink_fn);
            cpu_used = cpu_ms() - c0;
            wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                       .count();
        }(poller, sink, sum, wall_ms, cpu),
        boost::asio::use_future);
    io.run();
    fut.get();
    std::fflush(stdout);
    std::fprintf(stderr, "polled=%zu up=%zu failed=%zu wall_ms=%.0f cpu_ms=%.0f rss_kb=%ld\n",
                 sum.polled, sum.up, sum.failed, wall_ms, cpu, peak_rss_kb());
    return sum.failed == 0 ? kExitOk : kExitFailure;
}

int run_forever(const Args& a, agent::AgentConfig cfg) {
    boost::asio::io_context io;
    const auto interval = cfg.interval;
    // With an uplink the samples are on their way to the collector; print only when asked.
    const std::string output = cfg.uplink && !a.output_given ? "none" : a.output;
    auto print = [&output](const MinerSample& s) {
        if (output == "json") {
            std::string line = encode_sample(s);
            line.push_back('\n');
            std::fwrite(line.data(), 1, line.size(), stdout);
            std::fflush(stdout);
        } else if (output == "table") {
            print_row(s);
            std::fflush(stdout);
        }
    };
    const auto metrics_listen = cfg.metrics;
    agent::AgentRuntime runtime(io.get_executor(), std::move(cfg),
                                output == "none" ? agent::AgentRuntime::Observer{} : print);
    std::unique_ptr<agent::MetricsServer> metrics;
    if (metrics_listen) {
        agent::MetricsServerOptions mo;
        mo.listen = *metrics_listen;
        metrics = std::make_unique<agent::MetricsServer>(io.get_executor(), mo, [&runtime] {
            return agent::render_agent_metrics(runtime.self_metrics());
        });
        metrics->start();  // throws naming the address; before polling starts
    }
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    boost::asio::steady_timer progress(io);
    bool stopping = false;
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
        stopping = true;
        runtime.stop();
        if (metrics) metrics->stop();
        progress.cancel();
    });
    std::function<void()> report = [&] {
        progress.expires_after(interval);
        progress.async_wait([&](const boost::system::error_code& ec) {
            if (ec || stopping) return;
            const auto window = runtime.take_window();
            if (const auto u = runtime.uplink_stats()) {
                log::info("polls in the last interval",
                          {{"polled", window.polled},
                           {"up", window.up},
                           {"failed", window.failed},
                           {"miners", runtime.poller().target_count()},
                           {"rss_kb", peak_rss_kb()},
                           {"spool_batches", u->spool.batches},
                           {"spool_samples", u->spool.samples},
                           {"samples_sent", u->samples_sent},
                           {"samples_dropped", u->samples_dropped},
                           {"batches_rejected", u->batches_rejected}});
            } else {
                log::info("polls in the last interval",
                          {{"polled", window.polled},
                           {"up", window.up},
                           {"failed", window.failed},
                           {"miners", runtime.poller().target_count()},
                           {"rss_kb", peak_rss_kb()}});
            }
            report();
        });
    };
    report();
    auto fut = boost::asio::co_spawn(
        io,
        [](agent::AgentRuntime& rt, boost::asio::signal_set& sigs, boost::asio::steady_timer& prog,
           agent::MetricsServer* listener) -> boost::asio::awaitable<void> {
            co_await rt.run();
            sigs.cancel();
            prog.cancel();
            if (listener) listener->stop();
        }(runtime, signals, progress, metrics.get()),
        boost::asio::use_future);
    io.run();
    fut.get();
    return kExitOk;
}

}  // namespace

Runner add_agent_command(CLI::App& app) {
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("agent", "Poll the miners of one site (agent.toml)");
    cmd->add_option("--config", a->config, "Agent configuration (see deploy/config/agent.toml)")
        ->required();
    cmd->add_flag("--once", a->once,
                  "Poll every miner once (after the [[scan]] searches), print the samples, and "
                  "exit");
    auto* output = cmd->add_option("--output", a->output,
                                   "How samples are printed: table (default; none when [uplink] "
                                   "sends them to a collector), json (one sample per line, the "
                                   "wire format) or none")
                       ->check(CLI::IsMember({"table", "json", "none"}));
    cmd->add_flag("--check-config", a->check_config,
                  "Validate the configuration and exit (0 valid, 2 with file:line:column)");
    cmd->footer(
        "With --once, a last line on stderr reads 'polled=N up=M failed=K wall_ms=W cpu_ms=C "
        "rss_kb=R' (the round's wall and CPU time, peak RSS); the exit status is 0 when every "
        "miner answered, 1 otherwise. Without --once the agent runs until SIGINT or SIGTERM and "
        "logs a summary every interval.");
    return [a, output] {
        a->output_given = output->count() > 0;
        if (a->check_config) return check_config(*a);
        auto cfg = agent::load_agent_config(a->config);
        return a->once ? run_once(*a, std::move(cfg)) : run_forever(*a, std::move(cfg));
    };
}

}  // namespace hashwatt::cli
