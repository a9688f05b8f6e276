// Agent polling cost: N simulated miners in one `hashwatt sim` process (pinned to CPU 0), the
// agent's Poller in this process (pinned to CPU 1) polling all of them, round after round, as
// `hashwatt agent` does. The first round identifies every miner (cold); the later rounds are the
// steady state. Then a scan of a /22 (or --scan-prefix 20: a /20) holding M miners, several times.
// --miners 0 runs the scan alone.
//
//   build/release/bench/bench_agent_poll --binary build/release/cli/hashwatt
//       --miners 10000 --rounds 5 --scan-miners 1000 --scan-runs 3
//   build/release/bench/bench_agent_poll --miners 0 --scan-miners 4000 --scan-prefix 20
#include "agent/config.hpp"
#include "agent/detect/scan.hpp"
#include "agent/poller.hpp"
#include "bench/bench_util.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/use_future.hpp>

namespace asio = boost::asio;
using namespace hashwatt;
using namespace hashwatt::bench;

namespace {

// User and system CPU seconds of this process.
std::pair<double, double> self_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return {static_cast<double>(u.ru_utime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec) / 1e6,
            static_cast<double>(u.ru_stime.tv_sec) + static_cast<double>(u.ru_stime.tv_usec) / 1e6};
}

// The simulator's "http=PORT" from its first line.
unsigned http_port_of(const std::string& banner) {
    const auto at = banner.find("http=");
    if (at == std::string::npos) throw std::runtime_error("no http= in: " + banner);
    return static_cast<unsigned>(std::stoul(banner.substr(at + 5)));
}

struct Sim {
    pid_t pid = -1;
    unsigned http_port = 0;
};

Sim start_sim(const std::string& binary, int miners, const std::string& mix,
              const std::string& base_ip, const std::string& tag) {
    const std::string out = "/tmp/hashwatt-bench-agent-" + tag + ".out";
    Sim s;
    s.pid = spawn({binary, "sim", "--miners", std::to_string(miners), "--mix", mix, "--base-ip",
                   base_ip, "--http-port", "0", "--log-level", "warn"},
                  out, "/tmp/hashwatt-bench-agent-" + tag + ".err", 0);
    const std::string banner = wait_for_text(out, "ready", 180);
    if (banner.empty()) {
        stop(s.pid);
        throw std::runtime_error("simulator did not start (see /tmp/hashwatt-bench-agent-" + tag +
                                 ".err)");
    }
    s.http_port = http_port_of(banner);
    return s;
}

std::vector<std::string> fleet_ips(const std::string& base_ip, int miners) {
    std::vector<std::string> ips;
    std::uint32_t ip = asio::ip::make_address_v4(base_ip).to_uint();
    while (static_cast<int>(ips.size()) < miners) {
        if ((ip & 255) != 0 && (ip & 255) != 255)
            ips.push_back(asio::ip::address_v4(ip).to_string());
        ++ip;
    }
    return ips;
}

struct Round {
    double wall_s = 0;
    double cpu_s = 0;
    double sys_s = 0;  // the kernel's part of cpu_s
    long connections = 0;
    agent::RoundSummary sum;
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Agent poll round and scan cost against the simulator"};
    std::string binary = "build/release/cli/hashwatt";
    int miners = 10000, rounds = 5, scan_miners = 1000, scan_runs = 3, scan_prefix = 22;
    long time_wait_below = 20000;
    int miners_per_sim = 10000;
    std::string json_path;
    std::size_t concurrency = 512;
    // Every family with a driver, weighted roughly as a mixed farm runs them.
    std::string mix =
        "s19pro:25,s21:15,m30s++:20,s19xp@braiins:10,s19kpro@luxos:10,s19jpro@vnish:10,"
        "avalon1246:10";
    app.add_option("--binary", binary, "hashwatt binary (runs the simulator)");
    app.add_option("--miners", miners, "Simulated miners polled per round");
    app.add_option("--rounds", rounds, "Poll rounds (the first identifies every miner)");
    app.add_option("--concurrency", concurrency, "Polls in flight (the agent default is 512)");
    app.add_option("--mix", mix, "Fleet mix, MODEL[@FIRMWARE]:WEIGHT,... (hashwatt sim --mix)");
    app.add_option("--scan-miners", scan_miners, "Miners in the scanned /22 (0: no scan)");
    app.add_option("--scan-runs", scan_runs, "Scans of the range");
    app.add_option("--scan-prefix", scan_prefix,
                   "Prefix length of the scanned range (22: 1,024 "
                   "addresses, 20: 4,096)")
        ->check(CLI::Range(16, 30));
    app.add_option("--miners-per-sim", miners_per_sim,
                   "Most miners in one simulator process (one socket each)")
        ->check(CLI::PositiveNumber);
    app.add_option("--time-wait-below", time_wait_below,
                   "Start each round once fewer TIME_WAIT sockets than this remain");
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("agent_poll", argc, argv);
    if (miners < 0 || (miners == 0 && scan_miners <= 0)) {
        std::fprintf(stderr, "--miners must be >= 0, and > 0 unless --scan-miners is\n");
        return 2;
    }
    const std::uint32_t scan_hosts = (1u << (32 - scan_prefix)) - 2;
    if (scan_miners > static_cast<int>(scan_hosts)) {
        std::fprintf(stderr, "--scan-miners %d do not fit in a /%d (%u hosts)\n", scan_miners,
                     scan_prefix, scan_hosts);
        return 2;
    }
    if (miners > 0 && rounds < 2) {
        std::fprintf(stderr, "--rounds must be >= 2 (one cold round, then the steady state)\n");
        return 2;
    }
    pin_self(1);
    log::set_level(log::Level::warn);

    // --- poll rounds
    const std::string base = "127.70.0.1";
    std::vector<Round> results;
    std::size_t encoded_bytes = 0;
    long rss_before_kb = 0, rss_after_kb = 0;
    rusage self{};
    if (miners > 0) {
        // A simulator holds a listening socket per miner, so a fleet past the open-files limit
        // (20,000 on the development VM) runs as several simulators of consecutive addresses.
        const auto ips = fleet_ips(base, miners);
        std::vector<Sim> sims;
        agent::AgentConfig cfg;
        cfg.concurrency = concurrency;
        cfg.interval = std::chrono::seconds(30);
        for (int first = 0; first < miners; first += miners_per_sim) {
            const int n = std::min(miners_per_sim, miners - first);
            sims.push_back(start_sim(binary, n, mix, ips[static_cast<std::size_t>(first)],
                                     "fleet" + std::to_string(sims.size())));
            for (int i = first; i < first + n; ++i) {
                agent::MinerEntry e;
                e.endpoint.host = ips[static_cast<std::size_t>(i)];
                e.endpoint.http_port = static_cast<std::uint16_t>(sims.back().http_port);
                e.endpoint.site = "bench";
                cfg.miners.push_back(std::move(e));
            }
        }
        rss_before_kb = proc_stats(getpid()).rss_kb;
        asio::io_context io;
        agent::Poller poller(io.get_executor(), cfg);
        for (int i = 0; i < rounds; ++i) {
            wait_for_time_wait_below(time_wait_below, 90);
            Round r;
            const long opens0 = tcp_active_opens();
            const auto c0 = self_cpu_s();
            const auto t0 = std::chrono::steady_clock::now();
            auto fut = asio::co_spawn(io, poller.poll_all([&](MinerSample&& s) {
                // Encoded as for the collector, so the figure is the cost of a sample sent.
                encoded_bytes += encode_sample(s).size();
            }),
                                      asio::use_future);
            io.restart();
            io.run();
            r.sum = fut.get();
            r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const auto c1 = self_cpu_s();
            r.cpu_s = (c1.first - c0.first) + (c1.second - c0.second);
            r.sys_s = c1.second - c0.second;
            r.connections = tcp_active_opens() - opens0;
            results.push_back(r);
            std::fprintf(
                stderr,
                "round %d%s: %zu polled, %zu up, %zu failed, wall %.2f s, agent CPU %.1f "
                "us/poll, %.2f connections/poll\n",
                i + 1, i == 0 ? " (cold: identifies every miner)" : "", r.sum.polled, r.sum.up,
                r.sum.failed, r.wall_s,
                r.cpu_s * 1e6 / static_cast<double>(std::max<std::size_t>(1, r.sum.polled)),
                static_cast<double>(r.connections) /
                    static_cast<double>(std::max<std::size_t>(1, r.sum.polled)));
        }
        rss_after_kb = proc_stats(getpid()).rss_kb;
        getrusage(RUSAGE_SELF, &self);
        for (const auto& sim : sims) stop(sim.pid);
    }

    std::vector<double> wall, cpu_us, sys_us, conns;
    std::size_t failed = 0;
    for (std::size_t i = 1; i < results.size(); ++i) {
        wall.push_back(results[i].wall_s);
        conns.push_back(static_cast<double>(results[i].connections) /
                        static_cast<double>(results[i].sum.polled));
        cpu_us.push_back(results[i].cpu_s * 1e6 / static_cast<double>(results[i].sum.polled));
        sys_us.push_back(results[i].sys_s * 1e6 / static_cast<double>(results[i].sum.polled));
        failed += results[i].sum.failed;
    }

    // --- scans of a /22 (or --scan-prefix)
    std::vector<double> scan_wall;
    std::vector<std::size_t> scan_found;
    const std::string range = "127.71.0.0/" + std::to_string(scan_prefix);
    if (scan_miners > 0) {
        wait_for_time_wait_below(time_wait_below, 90);
        const std::string scan_base = "127.71.0.1";
        Sim scan_sim = start_sim(binary, scan_miners, mix, scan_base, "scan");
        const auto hosts = agent::expand_cidr(range);
        for (int i = 0; i < scan_runs; ++i) {
            asio::io_context sio;
            agent::DriverContext ctx{sio.get_executor(), {}};
            agent::ScanOptions opts;
            opts.http_port = static_cast<std::uint16_t>(scan_sim.http_port);
            const auto t0 = std::chrono::steady_clock::now();
            auto fut = asio::co_spawn(sio, agent::scan(ctx, hosts, opts), asio::use_future);
            sio.run();
            const auto found = fut.get();
            scan_wall.push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            std::size_t identified = 0;
            for (const auto& f : found) identified += f.identified ? 1 : 0;
            scan_found.push_back(identified);
            std::fprintf(stderr, "scan %d: %zu of %d identified in %.2f s\n", i + 1, identified,
                         scan_miners, scan_wall.back());
        }
        stop(scan_sim.pid);
    }

    std::printf("machine: %s\n", machine_description().c_str());
    out.inputs = {{"miners", miners},
                  {"rounds", rounds},
                  {"concurrency", concurrency},
                  {"mix", mix},
                  {"scan_miners", scan_miners},
                  {"scan_range", range},
                  {"scan_addresses", scan_hosts + 2},
                  {"scan_runs", scan_runs},
                  {"miners_per_sim", miners_per_sim}};
    const int steady = static_cast<int>(wall.size());
    const std::string steady_of = "steady poll rounds (round 1, the cold one, excluded)";
    if (miners > 0) {
        const double cold_us = results[0].cpu_s * 1e6 / static_cast<double>(results[0].sum.polled);
        const double sample_bytes =
            static_cast<double>(encoded_bytes) /
            static_cast<double>(static_cast<std::size_t>(miners) * results.size());
        std::printf(
            "simulator: %d miners (%s), pinned to CPU 0; agent Poller in this process, pinned to "
            "CPU 1, concurrency %zu; %d rounds, the first cold (identification), medians of the "
            "rest\n",
            miners, mix.c_str(), concurrency, rounds);
        std::printf("%-46s %12s\n", "figure", "value");
        std::printf("%-46s %12.2f\n", "cold round wall (s)", results[0].wall_s);
        std::printf("%-46s %12.1f\n", "cold round agent CPU per poll (us)", cold_us);
        std::printf("%-46s %12.2f\n", "steady round wall, median (s)", median(wall));
        std::printf("%-46s %12.1f\n", "steady agent CPU per poll, median (us)", median(cpu_us));
        std::printf("%-46s %12.1f\n", "  of which kernel (us)", median(sys_us));
        std::printf("%-46s %12.2f\n", "TCP connections per steady poll, median", median(conns));
        std::printf("%-46s %12zu\n", "failed polls (steady rounds)", failed);
        std::printf("%-46s %12.0f\n", "encoded sample size, average (bytes)", sample_bytes);
        std::printf("%-46s %12ld\n", "agent RSS before the poller (KiB)", rss_before_kb);
        std::printf("%-46s %12ld\n", "agent RSS after the rounds (KiB)", rss_after_kb);
        std::printf("%-46s %12ld\n", "agent peak RSS (KiB)", self.ru_maxrss);
        out.add("round_wall", median(wall), "s", steady, "median", steady_of);
        out.add("cpu_per_poll", median(cpu_us), "us", steady, "median", steady_of);
        out.add("kernel_cpu_per_poll", median(sys_us), "us", steady, "median", steady_of);
        out.add("connections_per_poll", median(conns), "connections", steady, "median",
                steady_of + "; TCP ActiveOpens of /proc/net/snmp");
        out.add("cold_round_wall", results[0].wall_s, "s", 1, "single", "round 1");
        out.add("cold_cpu_per_poll", cold_us, "us", 1, "single", "round 1");
        out.add("failed_polls", static_cast<double>(failed), "polls", steady, "sum", steady_of);
        out.add("encoded_sample", sample_bytes, "bytes", rounds, "mean", "every sample");
        out.add("rss_before_poller", static_cast<double>(rss_before_kb) / 1024.0, "MiB");
        out.add("rss_after_rounds", static_cast<double>(rss_after_kb) / 1024.0, "MiB");
        out.add("peak_rss", static_cast<double>(self.ru_maxrss) / 1024.0, "MiB", 1, "max",
                "the process, all rounds");
    }
    if (!scan_wall.empty()) {
        const double slowest = *std::max_element(scan_wall.begin(), scan_wall.end());
        std::printf("%-46s %12.2f\n",
                    ("scan of a /" + std::to_string(scan_prefix) + ", median wall (s)").c_str(),
                    median(scan_wall));
        std::printf("%-46s %12.2f\n",
                    ("scan of a /" + std::to_string(scan_prefix) + ", slowest (s)").c_str(),
                    slowest);
        std::string found;
        for (auto n : scan_found) found += (found.empty() ? "" : ",") + std::to_string(n);
        std::printf("%-46s %12s\n", "miners identified per scan", found.c_str());
        const int n = static_cast<int>(scan_wall.size());
        out.add("scan_wall", median(scan_wall), "s", n, "median", "scans of " + range);
        out.add("scan_wall_slowest", slowest, "s", n, "max", "scans of " + range);
        out.add("scan_identified_min",
                static_cast<double>(*std::min_element(scan_found.begin(), scan_found.end())),
                "miners", n, "min", "scans of " + range);
        for (auto f : scan_found) failed += static_cast<std::size_t>(scan_miners) - f;
    }
    std::printf(
        "{\"bench\":\"agent_poll\",\"miners\":%d,\"round_wall_s\":%.3f,\"cpu_us_per_poll\":%.1f,"
        "\"peak_rss_kb\":%ld,\"scan_22_wall_s\":%.3f}\n",
        miners, median(wall), median(cpu_us), self.ru_maxrss,
        scan_wall.empty() ? 0.0 : median(scan_wall));
    write_results_json(json_path, out);
    return failed > 0 ? 1 : 0;
}
