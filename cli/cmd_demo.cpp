// `hashwatt demo`: a simulated fleet, an agent and a collector in one process, with a live
// summary in the terminal. What a new user runs first (`make demo`); wiring only.
#include "agent/config.hpp"
#include "cli/command.hpp"
#include "cli/demo_power.hpp"
#include "cli/embedded_agents.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/control/policy_control.hpp"
#include "collector/fleet_summary.hpp"
#include "collector/service.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "policies/rules.hpp"
#include "sim/fleet.hpp"
#include "sim/server.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace hashwatt::cli {
namespace {

namespace fs = std::filesystem;

struct DemoArgs {
    int miners = 200;
    std::string duration;
    std::string listen = "127.0.0.1:8480";
    std::string state_dir = "hashwatt-demo";
    std::string interval = "10s";
    std::string base_ip = "127.64.0.1";
    std::string summary_every = "5s";
    std::string policy;  // empty: the demo-tuned policy, written to the state directory
    double price_speed = kDemoPriceSpeed;
};

// Six families in the proportions a mixed farm might have.
constexpr const char* kDemoMix =
    "s19pro:30,s21:20,m30s++:20,avalon1246:10,s19xp@braiins:8,s19kpro@luxos:7,s19jpro@vnish:5";

Duration parse_flag_duration(const std::string& flag, const std::string& text) {
    std::string err;
    auto d = parse_duration(text, &err);
    if (!d) throw CLI::ValidationError(flag, err);
    return *d;
}

// A few faults spread over the first minute and a half, each on its own miner, so the summary
// and the alerts have something to show: one miner goes offline for a while, one loses a fan,
// one a board, one runs hot, one hangs. Each clears again (all by 90 s), so that the alerts
// they raise are seen to resolve as well (the hung one is short: the agent backs off from a
// miner that times out, so it is seen answering again only some polls later).
std::vector<sim::ScheduledFault> demo_faults(int miners) {
    using namespace std::chrono_literals;
    struct Plan {
        sim::FaultKind kind;
        Duration at;
        std::optional<Duration> lasts;
        int index;
    };
    const Plan plans[] = {
        {sim::FaultKind::offline, 20s, 40s, 0},    {sim::FaultKind::fan_failure, 30s, 50s, 1},
        {sim::FaultKind::dead_board, 40s, 50s, 1}, {sim::FaultKind::overheating, 50s, 40s, 0},
        {sim::FaultKind::hung, 55s, 20s, 0},
    };
    std::vector<sim::ScheduledFault> out;
    int n = 0;
    for (const auto& p : plans) {
        // Miners 7, 14, 21, ... so faults land on different models of the mix.
        const int index = 7 * (n + 1);
        ++n;
        if (index > miners) break;
        sim::ScheduledFault f;
        char id[16];
        std::snprintf(id, sizeof id, "sim-%05d", index);
        f.miner = id;
        f.kind = p.kind;
        f.params.index = p.index;
        f.at = p.at;
        f.duration = p.lasts;
        out.push_back(std::move(f));
    }
    return out;
}

// The smallest CIDR block holding both addresses: the agent scans it as an operator would scan
// the farm's subnet (addresses with no miner refuse at once).
std::string covering_cidr(std::uint32_t first, std::uint32_t last) {
    int bits = 0;
    while (bits < 32 && (first >> bits) != (last >> bits)) ++bits;
    const std::uint32_t base = bits == 32 ? 0 : (first >> bits) << bits;
    return sim::format_ipv4(base) + "/" + std::to_string(32 - bits);
}

// Created 0600 from the start, so the token is never readable by others even for a moment.
void write_secret(const fs::path& path, const std::string& secret) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot write " + path.string());
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);  // an older file
    const std::string line = secret + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write " + path.string());
}

std::string clock_text() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

// The default rules with `for`, keep_firing_for and the offline threshold cut to a few polls,
// so that faults lasting under a minute fire and resolve while one watches (a farm's defaults
// wait minutes, to ride out reboots and wobbling values).
std::vector<collector::alerts::AlertRule> demo_rules(Duration poll_interval) {
    using collector::alerts::RuleKind;
    auto rules = collector::alerts::default_rules();
    for (auto& r : rules) {
        // A policy's command takes a poll or two to show (the agent runs it, then polls), and
        // the demo's policy commands often: only a miner that ignores it for longer fires.
        const int polls = r.kind == RuleKind::state_unexpected ? 6 : 2;
        r.for_duration = std::min<Duration>(r.for_duration, polls * poll_interval);
        r.keep_firing_for = std::min<Duration>(r.keep_firing_for, poll_interval);
        if (r.kind == RuleKind::offline) {
            r.threshold =
                std::min(r.threshold, 2 * std::chrono::duration<double>(poll_interval).count());
        }
    }
    return rules;
}

// Prints each alert that starts firing or resolves, by comparing the engine's alerts with
// those of the previous look; counts them for the summary and the last line.
class AlertWatch {
  public:
    // Takes what is there already (a continued run's alerts) without printing it.
    explicit AlertWatch(const collector::alerts::AlertEngine* engine) : engine_(engine) {
        if (engine_ != nullptr) look(false);
    }
    void look(bool print = true) {
        if (engine_ == nullptr) return;
        using collector::alerts::AlertState;
        firing_now_ = 0;
        for (const auto& a : engine_->alerts()) {
            auto& known = known_[a.fingerprint];
            if (a.state == AlertState::firing) {
                ++firing_now_;
                if (known.state != AlertState::firing || known.fired_at != a.fired_at) {
                    ++fired_;
                    if (print) {
                        const auto summary = a.annotations.find("summary");
                        std::printf("%s  alert firing: %s %s (%s): %s\n", clock_text().c_str(),
                                    a.alertname.c_str(), a.subject.c_str(),
                                    std::string(to_string(a.severity)).c_str(),
                                    summary == a.annotations.end() ? "" : summary->second.c_str());
                    }
                }
            } else if (a.state == AlertState::resolved && known.state == AlertState::firing) {
                ++resolved_;
                if (print) {
                    std::printf("%s  alert resolved: %s %s\n", clock_text().c_str(),
                                a.alertname.c_str(), a.subject.c_str());
                }
            }
            known.state = a.state;
            known.fired_at = a.fired_at;
        }
        if (print) std::fflush(stdout);
    }
    std::string summary_text() const {
        return engine_ == nullptr ? "alerts off" : "alerts firing " + std::to_string(firing_now_);
    }
    std::string totals_text() const {
        return std::to_string(fired_) + " alerts fired, " + std::to_string(resolved_) + " resolved";
    }

  private:
    struct Known {
        collector::alerts::AlertState state = collector::alerts::AlertState::inactive;
        std::optional<TimePoint> fired_at;
    };
    const collector::alerts::AlertEngine* engine_;
    std::map<std::string, Known> known_;  // by fingerprint
    std::size_t firing_now_ = 0;
    std::size_t fired_ = 0;
    std::size_t resolved_ = 0;
};

std::string faults_text(const collector::FleetFaults& now, const collector::FleetFaults& seen) {
    auto part = [](const char* name, const std::set<std::string>& a,
                   const std::set<std::string>& b) {
        return std::string(name) + " " + std::to_string(a.size()) + "/" + std::to_string(b.size());
    };
    return "faults now/seen: " + part("offline", now.offline, seen.offline) + ", " +
           part("fan", now.fan_stopped, seen.fan_stopped) + ", " +
           part("board", now.dead_board, seen.dead_board) + ", " +
           part("hot", now.overheating, seen.overheating);
}

void merge_into(collector::FleetFaults& seen, const collector::FleetFaults& now) {
    seen.offline.insert(now.offline.begin(), now.offline.end());
    seen.fan_stopped.insert(now.fan_stopped.begin(), now.fan_stopped.end());
    seen.dead_board.insert(now.dead_board.begin(), now.dead_board.end());
    seen.overheating.insert(now.overheating.begin(), now.overheating.end());
}

int run_demo(const DemoArgs& a) {
    const Duration interval = parse_flag_duration("--interval", a.interval);
    const Duration summary_every = parse_flag_duration("--summary-every", a.summary_every);
    std::optional<Duration> duration;
    if (!a.duration.empty()) duration = parse_flag_duration("--duration", a.duration);
    if (!sim::parse_ipv4(a.base_ip)) {
        throw CLI::ValidationError("--base-ip", "expected an IPv4 address in 127.0.0.0/8");
    }

    // Signals are taken by sigwait-style polling below; every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const fs::path state = fs::absolute(a.state_dir);
    fs::create_directories(state);

    // The simulated fleet on its own thread.
    sim::FleetConfig fcfg;
    fcfg.miners = a.miners;
    fcfg.mix = sim::parse_mix(kDemoMix);
    fcfg.base_ip = a.base_ip;
    fcfg.http_port = 0;
    fcfg.faults = demo_faults(a.miners);
    // The demo's prices run 180 times faster than life (a spike of hours passes in a minute),
    // so its miners answer faster too: boards ramp in seconds, not the minute real ones take,
    // or every wake would still be under way when the next price sends the miner back to sleep.
    fcfg.physics.wake_ramp = std::chrono::seconds(5);
    fcfg.physics.sleep_ramp = std::chrono::seconds(2);
    boost::asio::io_context sim_io{1};
    auto sim_work = boost::asio::make_work_guard(sim_io);
    sim::Fleet fleet(fcfg, now_ms());
    sim::SimServer sim_server(sim_io, fleet);
    sim_server.start();
    std::thread sim_thread([&] { sim_io.run(); });
    struct SimStopper {
        boost::asio::io_context& io;
        decltype(sim_work)& work;
        std::thread& thread;
        ~SimStopper() {
            work.reset();
            io.stop();
            if (thread.joinable()) thread.join();
        }
    } sim_stopper{sim_io, sim_work, sim_thread};

    // The collector, with tokens made for this run.
    collector::CollectorConfig ccfg;
    ccfg.database_path = (state / "collector.db").string();
    try {
        const auto colon = a.listen.rfind(':');
        if (colon == std::string::npos) throw std::invalid_argument("no port");
        std::string host = a.listen.substr(0, colon);
        if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
        ccfg.api.address = host;
        const unsigned long port = std::stoul(a.listen.substr(colon + 1));
        if (port > 65535) throw std::out_of_range("port");
        ccfg.api.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
        throw CLI::ValidationError("--listen", "expected IP:PORT, got '" + a.listen + "'");
    }
    const std::string read_token = crypto::random_token(24);
    const std::string admin_token = crypto::random_token(24);
    ccfg.api.tokens = {{read_token, collector::Role::read, ""},
                       {admin_token, collector::Role::admin, ""}};
    write_secret(state / "read.token", read_token);
    write_secret(state / "admin.token", admin_token);
    ccfg.alerts.rules = demo_rules(interval);
    // Evaluated a few times per poll, so that a change shows within a second or two of the
    // sample that made it.
    ccfg.alerts.interval =
        std::clamp<Duration>(interval / 5, std::chrono::seconds(1), std::chrono::seconds(5));

    // The power policy over the ERCOT week, replayed fast from now.
    const TimePoint policy_started = now_ms();
    const auto prices = make_demo_prices(a.price_speed, policy_started);
    std::string policy_path = a.policy;
    if (policy_path.empty()) {
        policy_path = (state / "policy.toml").string();
        std::ofstream out(policy_path, std::ios::trunc);
        out << demo_policy_toml();
        if (!out.flush()) throw std::runtime_error("cannot write " + policy_path);
    }
    // A bad --policy stops the demo here with file:line:column (exit 2), not in the loop.
    (void)policies::load_policy_file(policy_path);
    collector::control::ControlConfig control;
    control.enabled = true;
    control.policy_file = policy_path;
    control.price_provider = prices;
    ccfg.control = std::move(control);

    // The agent, sending to the collector over loopback like any other agent.
    agent::AgentConfig acfg;
    acfg.agent_id = "demo-agent";
    acfg.site = "demo";
    acfg.interval = interval;
    acfg.poll_timeout = std::min<Duration>(std::chrono::seconds(5), interval / 2);
    acfg.connect_timeout = std::min<Duration>(std::chrono::seconds(2), acfg.poll_timeout);
    acfg.max_backoff = std::max<Duration>(interval, std::chrono::seconds(30));
    agent::ScanEntry scan;
    scan.ranges = {covering_cidr(fleet.miners().front()->ip, fleet.miners().back()->ip)};
    scan.http_port = sim_server.http_port();
    scan.site = acfg.site;
    acfg.scans.push_back(scan);
    agent::UplinkConfig up;
    up.spool_dir = (state / "spool").string();
    up.batch_max_age = std::chrono::seconds(2);
    acfg.uplink = up;
    EmbeddedAgents agents({acfg}, ccfg);

    std::unique_ptr<collector::CollectorService> service;
    try {
        service = std::make_unique<collector::CollectorService>(ccfg);
    } catch (const std::exception& e) {
        std::fprintf(stderr,
                     "hashwatt demo: cannot start the collector on %s: %s\n"
                     "(another collector or demo running? try --listen 127.0.0.1:0)\n",
                     a.listen.c_str(), e.what());
        return kExitFailure;
    }
    const std::string base = service->base_url();
    std::printf("metrics: %s/metrics\napi: %s/api/v1\n", base.c_str(), base.c_str());
    std::printf(
        "read token: in %s/read.token, e.g. curl -H \"Authorization: Bearer $(cat %s/read.token)\" "
        "%s/api/v1/sites\n",
        a.state_dir.c_str(), a.state_dir.c_str(), base.c_str());
    std::printf("sim: %zu miners on %s-%s, %zu faults scheduled; database %s/collector.db\n",
                fleet.miners().size(), fleet.miners().front()->ip_text.c_str(),
                fleet.miners().back()->ip_text.c_str(), fcfg.faults.size(), a.state_dir.c_str());
    char speed_text[96];
    std::snprintf(speed_text, sizeof speed_text, "a 15-minute price every %.3g s",
                  900.0 / a.price_speed);
    std::printf("policy: %s over %s (%s)\n",
                a.policy.empty() ? (a.state_dir + "/policy.toml").c_str() : a.policy.c_str(),
                prices->describe().c_str(), speed_text);
    std::fflush(stdout);
    AlertWatch alerts(service->alert_engine());
    PriceWatch power(prices, policy_started);
    agents.start(*service);

    // The live summary, from what the collector stored, until a signal or --duration; the
    // alerts looked at every second in between.
    collector::FleetFaults seen;
    const auto started = std::chrono::steady_clock::now();
    auto next = started + summary_every;
    bool stop = false;
    while (!stop) {
        timespec wait{};
        const auto left = std::min<std::chrono::steady_clock::duration>(
            next - std::chrono::steady_clock::now(), std::chrono::seconds(1));
        if (left > std::chrono::steady_clock::duration::zero()) {
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
            wait.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
            wait.tv_nsec = static_cast<long>(ns % 1'000'000'000);
            const int sig = sigtimedwait(&stop_signals, nullptr, &wait);
            if (sig == SIGINT || sig == SIGTERM) {
                log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
                break;
            }
        }
        alerts.look();
        power.look(service->store(), clock_text());
        if (std::chrono::steady_clock::now() < next) continue;
        next += summary_every;
        const auto latest = service->store().latest_samples();
        const auto summary = collector::summarize_fleet(latest);
        merge_into(seen, summary.faults);
        std::printf("%s  %s  %s  %s  %s\n", clock_text().c_str(),
                    collector::format_summary_line(summary).c_str(),
                    faults_text(summary.faults, seen).c_str(), alerts.summary_text().c_str(),
                    power.price_text(now_ms()).c_str());
        std::fflush(stdout);
        if (duration && std::chrono::steady_clock::now() - started >= *duration) stop = true;
    }

    // Agent first (it flushes its batches to the collector), then the collector; the sim last.
    agents.stop();
    service->stop();
    const auto final_summary = collector::summarize_fleet(service->store().latest_samples());
    std::printf("stopped: %s; %s; %s; data kept in %s (run again to continue it)\n",
                collector::format_summary_line(final_summary).c_str(), alerts.totals_text().c_str(),
                power.totals_text().c_str(), a.state_dir.c_str());
    return kExitOk;
}

}  // namespace

Runner add_demo_command(CLI::App& app) {
    auto a = std::make_shared<DemoArgs>();
    auto* cmd = app.add_subcommand(
        "demo",
        "Run a simulated fleet, an agent and a collector in one process, with a live summary");
    cmd->add_option("--miners", a->miners, "Simulated miners (default 200, six firmware families)")
        ->check(CLI::Range(1, 20000));
    cmd->add_option("--duration", a->duration,
                    "Stop after this long (e.g. 2m); default: until Ctrl-C");
    cmd->add_option("--listen", a->listen,
                    "Collector address IP:PORT (default 127.0.0.1:8480; port 0 = any free)");
    cmd->add_option("--state-dir", a->state_dir,
                    "Where the database, spool and tokens live (default ./hashwatt-demo)");
    cmd->add_option("--interval", a->interval, "How often each miner is polled (default 10s)");
    cmd->add_option("--base-ip", a->base_ip,
                    "First simulated miner's loopback address (default 127.64.0.1)");
    cmd->add_option("--summary-every", a->summary_every, "Summary line period (default 5s)");
    cmd->add_option("--policy", a->policy,
                    "Power policy TOML (default: a demo-tuned one written to the state directory)");
    cmd->add_option("--price-speed", a->price_speed,
                    "How much faster than real time the ERCOT week plays (default 180: a "
                    "15-minute price every 5 s)")
        ->check(CLI::PositiveNumber);
    cmd->footer(
        "Prints 'metrics: URL' and 'api: URL' first, then one summary line per period: miners "
        "up/total, TH/s, kW, J/TH, the faults seen now/so far (a few are scheduled on the "
        "simulated miners) and the alerts firing; a line for each alert that fires or resolves "
        "(the demo's rules wait a few polls, not minutes). A power policy runs over a week of "
        "ERCOT HB_WEST prices (2025-03-01..07) played fast: a line for each policy round that "
        "changes how many miners it has asleep or at reduced power, with that round's price. The "
        "read and admin tokens "
        "are written to the state directory.");
    return [a] { return run_demo(*a); };
}

}  // namespace hashwatt::cli
