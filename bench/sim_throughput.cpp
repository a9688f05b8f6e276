// Simulator throughput and memory: N simulated miners in one `hashwatt sim` process (pinned to
// one core), a load generator in this process (pinned to the other) sending summary and stats
// requests to random miners over fresh TCP connections, as pollers do.
//
//   build/release/bench/bench_sim_throughput --binary build/release/cli/hashwatt
//       --miners 10000 --concurrency 256 --seconds 5 --rounds 3
#include "bench/bench_util.hpp"

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace hashwatt::bench;

namespace {

struct Load {
    std::vector<asio::ip::address_v4> miners;
    std::uint64_t ok = 0;
    std::uint64_t failed = 0;
    std::uint64_t bytes = 0;
    bool stop = false;
};

asio::awaitable<void> worker(Load& load, unsigned seed) {
    std::mt19937 rng(seed);
    std::string reply;
    reply.reserve(8192);
    auto ex = co_await asio::this_coro::executor;
    int turn = 0;
    while (!load.stop) {
        const auto& ip = load.miners[rng() % load.miners.size()];
        const char* request = (turn++ % 2) ? R"({"command":"stats"})" : R"({"command":"summary"})";
        tcp::socket s(ex);
        error_code ec;
        co_await s.async_connect({ip, 4028}, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            co_await asio::async_write(s, asio::buffer(request, std::strlen(request)),
                                       asio::redirect_error(asio::use_awaitable, ec));
        }
        reply.clear();
        if (!ec) {
            co_await asio::async_read(s, asio::dynamic_buffer(reply, 1 << 20),
                                      asio::redirect_error(asio::use_awaitable, ec));
        }
        if ((ec == asio::error::eof || !ec) && !reply.empty() && reply.back() == '\0') {
            ++load.ok;
            load.bytes += reply.size();
        } else {
            ++load.failed;
        }
    }
}

struct Round {
    double wall_rps = 0;
    double cpu_rps = 0;  // requests per CPU-second of the simulator
    double sim_cpu_util = 0;
    std::uint64_t failed = 0;
    double avg_reply_bytes = 0;
    double steal_s = 0;  // CPU time taken by other guests on the host during the round
};

Round run_round(pid_t sim, const std::vector<asio::ip::address_v4>& miners, int concurrency,
                double seconds) {
    asio::io_context io;
    Load load;
    load.miners = miners;
    for (int i = 0; i < concurrency; ++i) {
        asio::co_spawn(io, worker(load, static_cast<unsigned>(i) * 7919U + 1), asio::detached);
    }
    const auto before = proc_stats(sim);
    const double steal0 = host_steal_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    asio::steady_timer timer(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(seconds)));
    timer.async_wait([&](error_code) { load.stop = true; });
    io.run();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto after = proc_stats(sim);
    Round r;
    r.steal_s = host_steal_seconds() - steal0;
    r.wall_rps = static_cast<double>(load.ok) / wall;
    const double cpu = after.cpu_s - before.cpu_s;
    r.cpu_rps = cpu > 0 ? static_cast<double>(load.ok) / cpu : 0;
    r.sim_cpu_util = cpu / wall;
    r.failed = load.failed;
    r.avg_reply_bytes =
        load.ok ? static_cast<double>(load.bytes) / static_cast<double>(load.ok) : 0;
    return r;
}

// Starts a simulator, waits for it, returns its pid and RSS once settled.
pid_t start_sim(const std::string& binary, int miners, const std::string& base_ip,
                const std::string& tag) {
    const std::string out = "/tmp/hashwatt-bench-sim-" + tag + ".out";
    const pid_t pid = spawn({binary, "sim", "--miners", std::to_string(miners), "--base-ip",
                             base_ip, "--http-port", "0", "--log-level", "warn"},
                            out, "/tmp/hashwatt-bench-sim-" + tag + ".err", 0);
    if (wait_for_text(out, "ready", 120).empty()) {
        stop(pid);
        throw std::runtime_error("simulator did not start (see /tmp/hashwatt-bench-sim-" + tag +
                                 ".err)");
    }
    return pid;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Simulator throughput and memory per miner"};
    std::string binary = "build/release/cli/hashwatt";
    int miners = 10000, concurrency = 256, rounds = 3;
    double seconds = 5;
    std::string json_path;
    app.add_option("--binary", binary, "hashwatt binary");
    app.add_option("--miners", miners, "Simulated miners");
    app.add_option("--concurrency", concurrency, "Concurrent client connections");
    app.add_option("--seconds", seconds, "Length of one round");
    app.add_option("--rounds", rounds, "Rounds (the median is reported)");
    long time_wait_below = 2000;
    app.add_option("--time-wait-below", time_wait_below,
                   "Start each round once fewer TIME_WAIT sockets than this remain");
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("sim_throughput", argc, argv);
    pin_self(1);

    // Baseline: the process with one miner, to separate fixed cost from per-miner cost.
    const pid_t one = start_sim(binary, 1, "127.60.0.1", "one");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long rss_one = proc_stats(one).rss_kb;
    stop(one);

    const pid_t sim = start_sim(binary, miners, "127.50.0.1", "fleet");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long rss_fleet = proc_stats(sim).rss_kb;
    std::vector<asio::ip::address_v4> ips;
    std::uint32_t ip = asio::ip::make_address_v4("127.50.0.1").to_uint();
    while (static_cast<int>(ips.size()) < miners) {
        if ((ip & 255) != 0 && (ip & 255) != 255) ips.emplace_back(ip);
        ++ip;
    }
    std::vector<double> wall, cpu, util;
    std::uint64_t failed = 0;
    double reply_bytes = 0;
    for (int i = 0; i < rounds; ++i) {
        const long tw = wait_for_time_wait_below(time_wait_below, 90);
        if (tw >= time_wait_below)
            std::fprintf(stderr, "round %d starts with %ld TIME_WAIT sockets\n", i + 1, tw);
        const auto r = run_round(sim, ips, concurrency, seconds);
        wall.push_back(r.wall_rps);
        cpu.push_back(r.cpu_rps);
        util.push_back(r.sim_cpu_util);
        failed += r.failed;
        reply_bytes = r.avg_reply_bytes;
        std::fprintf(
            stderr,
            "round %d: %.0f req/s wall, %.0f req per sim CPU-second, sim CPU %.0f%%, %lu failed, "
            "host steal %.2f s\n",
            i + 1, r.wall_rps, r.cpu_rps, 100 * r.sim_cpu_util,
            static_cast<unsigned long>(r.failed), r.steal_s);
    }
    const long rss_after = proc_stats(sim).rss_kb;
    stop(sim);

    std::printf("machine: %s\n", machine_description().c_str());
    std::printf(
        "simulator: %d miners, default mix, one thread pinned to CPU 0; client pinned to CPU 1, "
        "%d connections, summary/stats alternating, %d rounds of %.0f s, each started with "
        "fewer than 2,000 TIME_WAIT sockets on the host\n",
        miners, concurrency, rounds, seconds);
    std::printf("%-44s %12s\n", "figure", "median");
    std::printf("%-44s %12.0f\n", "requests/s (wall clock)", median(wall));
    std::printf("%-44s %12.0f\n", "requests per simulator CPU-second", median(cpu));
    std::printf("%-44s %11.0f%%\n", "simulator CPU use", 100 * median(util));
    std::printf("%-44s %12.0f\n", "average reply size (bytes)", reply_bytes);
    std::printf("%-44s %12lu\n", "failed requests (all rounds)",
                static_cast<unsigned long>(failed));
    std::printf("%-44s %12ld\n", "RSS with 1 miner (KiB)", rss_one);
    std::printf("%-44s %12ld\n", "RSS idle with the fleet (KiB)", rss_fleet);
    std::printf("%-44s %12ld\n", "RSS after the load (KiB)", rss_after);
    std::printf("%-44s %12.2f\n", "memory per miner, idle (KiB)",
                static_cast<double>(rss_fleet - rss_one) / miners);
    std::printf("%-44s %12.2f\n", "memory per miner, after load (KiB)",
                static_cast<double>(rss_after - rss_one) / miners);
    std::printf(
        "{\"bench\":\"sim_throughput\",\"miners\":%d,\"rps_wall\":%.0f,\"rps_per_cpu_s\":%.0f,"
        "\"rss_per_miner_kib\":%.2f,\"failed\":%lu}\n",
        miners, median(wall), median(cpu), static_cast<double>(rss_after - rss_one) / miners,
        static_cast<unsigned long>(failed));
    out.inputs = {{"miners", miners},
                  {"concurrency", concurrency},
                  {"seconds_per_round", seconds},
                  {"rounds", rounds}};
    const std::string of = "load rounds";
    out.add("requests_per_wall_s", median(wall), "req/s", rounds, "median", of);
    out.add("requests_per_sim_cpu_s", median(cpu), "req/CPU-s", rounds, "median", of);
    out.add("sim_cpu_use", 100 * median(util), "%", rounds, "median", of);
    out.add("reply_size", reply_bytes, "bytes", 1, "mean", "last round");
    out.add("failed_requests", static_cast<double>(failed), "requests", rounds, "sum", of);
    out.add("memory_per_miner_idle", static_cast<double>(rss_fleet - rss_one) / miners, "KiB");
    out.add("memory_per_miner_after_load", static_cast<double>(rss_after - rss_one) / miners,
            "KiB");
    write_results_json(json_path, out);
    return failed > 0 ? 1 : 0;
}
