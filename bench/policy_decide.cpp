// One decision round of the policy engine for a large fleet: wall time per
// PolicyEngine::decide call for 100,000 miners of mixed models (full, three reduced power
// targets and sleep each) across 20 sites, under break_even and a site cap that binds, with
// the safety limits of the example policy. The price moves around the fleet's break-evens
// from round to round and the simulated fleet obeys at once, so every round has wishes,
// holds, cap cuts and commands to explain.
//
//   build/release/bench/bench_policy_decide --miners 100000 --rounds 21
//   build/release/bench/bench_policy_decide --miners 1000 --rounds 2001 --no-explain
#include "bench/bench_util.hpp"
#include "common/models.hpp"
#include "common/time.hpp"
#include "policies/economics.hpp"
#include "policies/engine.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <time.h>
#include <vector>

#include <CLI/CLI.hpp>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace std::chrono_literals;

namespace {

// CPU time of this thread: what the round costs when other processes share the cores.
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Times one policy decision round for a large fleet"};
    int miners = 100'000;
    int rounds = 21;
    double cap_fraction = 0.8;
    app.add_option("--miners", miners, "Fleet size")->check(CLI::Range(1, 10'000'000));
    app.add_option("--rounds", rounds, "Rounds timed (the median is reported)")
        ->check(CLI::Range(1, 10'000));
    app.add_option("--cap-fraction", cap_fraction, "Site cap as a fraction of full power")
        ->check(CLI::Range(0.05, 2.0));
    bool no_explain = false;
    app.add_flag("--no-explain", no_explain, "Decisions without reasons (as the backtest runs)");
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    bench::Results out("policy_decide", argc, argv);

    const auto models = all_models();
    std::vector<MinerInput> fleet(static_cast<std::size_t>(miners));
    double full_w = 0;
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        const auto& m = models[i % models.size()];
        auto& in = fleet[i];
        in.miner_id = "site" + std::to_string(i % 20) + "-rack" + std::to_string(i / 400) + "-" +
                      std::to_string(i);
        in.site = "site" + std::to_string(i % 20);
        in.points = operating_points(m);
        full_w += in.points[0].power_w;
    }

    RuleSet rules;
    rules.interval = 1min;
    rules.economics = {0.05, 0.02, 1.05};
    Rule cap;
    cap.kind = RuleKind::site_cap;
    cap.name = "site_cap#1";
    cap.cap_kw = full_w * rules.economics.pue / 1000 * cap_fraction;
    Rule be;
    be.kind = RuleKind::break_even;
    be.name = "break_even#2";
    be.margin_pct = 2;
    rules.rules = {cap, be};
    rules.safety.for_duration = 2min;
    rules.safety.min_on = 5min;
    rules.safety.min_off = 5min;
    rules.safety.max_switches_per_day = 48;
    rules.safety.max_commands_per_interval = 5000;
    PolicyEngine engine(rules);
    engine.set_explain(!no_explain);

    // Prices around the fleet's break-evens (about 40 to 150 per MWh at this hashprice).
    const double prices[] = {35, 60, 95, 140, 75, 50, 120, 30, 85, 110};
    TimePoint now = *parse_time("2025-03-03T00:00:00Z");
    std::vector<double> ms;
    std::vector<double> cpu_ms;
    std::size_t changes = 0;
    std::size_t held = 0;
    for (int r = 0; r < rounds + 1; ++r) {
        const PriceInput price{prices[r % 10], false, ""};
        const double c0 = thread_cpu_ms();
        const auto t0 = std::chrono::steady_clock::now();
        const auto decisions = engine.decide(now, price, fleet);
        const auto t1 = std::chrono::steady_clock::now();
        const double c1 = thread_cpu_ms();
        for (std::size_t i = 0; i < decisions.size(); ++i) {
            const auto& d = decisions[i];
            if (d.change) {
                fleet[i].actual_index = d.target_index;
                fleet[i].actual = d.target;
                ++changes;
            }
            held += d.held;
        }
        // Round 0 creates every miner's memory: the live loop pays that once, at start.
        if (r > 0) {
            ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            cpu_ms.push_back(c1 - c0);
        }
        now += 3min;
    }
    std::printf(
        "policy decide: %d miners, %d rounds: wall median %.3f ms, p90 %.3f ms, max %.3f "
        "ms; thread CPU median %.3f ms (%zu commands, %zu held over all rounds; load %.2f)\n",
        miners, rounds, bench::median(ms), bench::percentile(ms, 0.9), bench::percentile(ms, 1.0),
        bench::median(cpu_ms), changes, held, bench::load1());
    std::printf("machine: %s\n", bench::machine_description().c_str());
    out.inputs = {{"miners", miners},
                  {"rounds", rounds},
                  {"cap_fraction", cap_fraction},
                  {"explain", !no_explain},
                  {"models", models.size()}};
    const std::string of = "decision rounds (round 0, which creates each miner's memory, excluded)";
    out.add("round_wall", bench::median(ms), "ms", rounds, "median", of);
    out.add("round_wall_p90", bench::percentile(ms, 0.9), "ms", rounds, "p90", of);
    out.add("round_cpu", bench::median(cpu_ms), "ms", rounds, "median", of + ", thread CPU");
    bench::write_results_json(json_path, out);
    return 0;
}
