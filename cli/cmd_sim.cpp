// `hashwatt sim`: the simulated fleet (or replay of captured replies). Wiring only: the
// simulator lives in sim/.
#include "cli/command.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "sim/fleet.hpp"
#include "sim/replay.hpp"
#include "sim/server.hpp"

#include <csignal>
#include <cstdio>
#include <optional>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hashwatt::cli {
namespace {

struct SimOptions {
    std::string config;
    std::string check_config;
    std::optional<int> miners;
    std::string mix;
    std::optional<std::uint64_t> seed;
    std::string base_ip;
    std::optional<std::uint16_t> rpc_port;
    std::optional<std::uint16_t> http_port;
    std::string admin;
    std::string wake_ramp, sleep_ramp, boot_time, duration;
    std::optional<double> ambient_c;
    std::string replay_dir;
    std::string listen = "127.0.0.1:4028";
};

Duration duration_flag(const std::string& name, const std::string& text) {
    std::string err;
    auto d = parse_duration(text, &err);
    if (!d) throw CLI::ValidationError(name, err);
    return *d;
}

// Runs the io_context until SIGINT/SIGTERM or the optional duration.
void run_until_stopped(boost::asio::io_context& io, const std::string& duration) {
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
    boost::asio::steady_timer stop_timer(io);
    if (!duration.empty()) {
        stop_timer.expires_after(duration_flag("--duration", duration));
        stop_timer.async_wait([&io](boost::system::error_code ec) {
            if (!ec) io.stop();
        });
    }
    io.run();
}

int run_replay(const SimOptions& o) {
    sim::ReplayOptions ro;
    ro.dir = o.replay_dir;
    const auto colon = o.listen.rfind(':');
    if (colon == std::string::npos) throw CLI::ValidationError("--listen", "expected IP:PORT");
    ro.listen_ip = o.listen.substr(0, colon);
    ro.rpc_port = static_cast<std::uint16_t>(std::stoi(o.listen.substr(colon + 1)));
    ro.http_port = o.http_port.value_or(80);
    boost::asio::io_context io;
    sim::ReplayServer server(io, ro);
    server.start();
    std::printf("replay: %s on %s rpc=%u http=%u\nready\n", ro.dir.c_str(), ro.listen_ip.c_str(),
                server.rpc_port(), server.http_port());
    std::fflush(stdout);
    run_until_stopped(io, o.duration);
    return kExitOk;
}

int run_fleet(const SimOptions& o) {
    sim::FleetConfig cfg;
    if (!o.config.empty()) cfg = sim::load_fleet_config(o.config);
    if (o.miners) cfg.miners = *o.miners;
    if (!o.mix.empty()) {
        try {
            cfg.mix = sim::parse_mix(o.mix);
        } catch (const std::invalid_argument& e) {
            throw CLI::ValidationError("--mix", e.what());
        }
    }
    if (o.seed) cfg.seed = *o.seed;
    if (!o.base_ip.empty()) cfg.base_ip = o.base_ip;
    if (o.rpc_port) cfg.rpc_port = *o.rpc_port;
    if (o.http_port) cfg.http_port = *o.http_port;
    if (!o.admin.empty()) cfg.admin_listen = o.admin;
    if (!o.wake_ramp.empty()) cfg.physics.wake_ramp = duration_flag("--wake-ramp", o.wake_ramp);
    if (!o.sleep_ramp.empty()) cfg.physics.sleep_ramp = duration_flag("--sleep-ramp", o.sleep_ramp);
    if (!o.boot_time.empty()) cfg.physics.boot_time = duration_flag("--boot-time", o.boot_time);
    if (o.ambient_c) cfg.physics.ambient_c = *o.ambient_c;

    boost::asio::io_context io;
    sim::Fleet fleet(cfg, now_ms());
    sim::SimServer server(io, fleet);
    server.start();
    const auto& miners = fleet.miners();
    std::printf("sim: %zu miners on %s-%s rpc=%u http=%u%s\nadmin: %s\nready\n", miners.size(),
                miners.front()->ip_text.c_str(), miners.back()->ip_text.c_str(), cfg.rpc_port,
                server.http_port(), server.shared_http() ? " (shared listener)" : "",
                server.admin_url().c_str());
    std::fflush(stdout);
    run_until_stopped(io, o.duration);
    return kExitOk;
}

}  // namespace

Runner add_sim_command(CLI::App& app) {
    auto o = std::make_shared<SimOptions>();
    auto* cmd = app.add_subcommand(
        "sim",
        "Run a simulated fleet on loopback that speaks the real miner protocols (or, with "
        "--replay, serve captured replies)");
    cmd->footer(
        "Each miner listens on its own 127.x.y.z address on the RPC port and, for families with "
        "a web API, the HTTP port. The admin API (list miners, true state, inject faults) is "
        "described in docs/simulator.md. Stops on SIGINT/SIGTERM or after --duration.");
    cmd->add_option("--config", o->config, "Fleet config (TOML), see docs/simulator.md")
        ->check(CLI::ExistingFile);
    cmd->add_option("--check-config", o->check_config,
                    "Validate a fleet config and exit (0 valid, 2 invalid)");
    cmd->add_option("--miners", o->miners, "Number of miners (default 10)")
        ->check(CLI::Range(1, 60000));
    cmd->add_option(
        "--mix", o->mix,
        "Models and weights, e.g. s19pro:40,s21:30,m30s++:20,avalon1246:10; a model may "
        "name its firmware: s19pro@luxos:10");
    cmd->add_option("--seed", o->seed, "Random seed (default 1)");
    cmd->add_option("--base-ip", o->base_ip, "First miner address (default 127.1.0.1)");
    cmd->add_option("--rpc-port", o->rpc_port, "RPC port of every miner (default 4028)");
    cmd->add_option("--http-port", o->http_port,
                    "HTTP port of every miner (default 80; 0 = any free)");
    cmd->add_option("--admin", o->admin, "Admin API address (default 127.0.0.1:0 = any free port)");
    cmd->add_option("--wake-ramp", o->wake_ramp, "Sleep -> full hash rate (default 60s)");
    cmd->add_option("--sleep-ramp", o->sleep_ramp, "Full -> sleeping power (default 5s)");
    cmd->add_option("--boot-time", o->boot_time, "Reboot -> mining daemon up (default 30s)");
    cmd->add_option("--ambient", o->ambient_c, "Ambient temperature in °C (default 25)");
    cmd->add_option("--duration", o->duration, "Stop after this long (e.g. 10m)");
    cmd->add_option(
        "--replay", o->replay_dir,
        "Serve captured replies from DIR: <command>.json|.txt for RPC, http/<path> for HTTP");
    cmd->add_option("--listen", o->listen,
                    "Replay mode: RPC address IP:PORT (default 127.0.0.1:4028)");
    return [o] {
        if (!o->check_config.empty()) {
            sim::load_fleet_config(o->check_config);
            std::printf("%s: ok\n", o->check_config.c_str());
            return kExitOk;
        }
        try {
            return o->replay_dir.empty() ? run_fleet(*o) : run_replay(*o);
        } catch (const CLI::ValidationError& e) {
            std::fprintf(stderr, "hashwatt sim: %s\n", e.what());
            return kExitUsage;
        }
    };
}

}  // namespace hashwatt::cli
