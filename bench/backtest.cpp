// Backtest cost: a one-year 5-minute price series (105,120 intervals, synthetic, with spikes
// and negative nights from a fixed seed) against a 1,000-miner fleet of four classes with
// wake/sleep response times and min on/off: always-on, the offline optimum and a replay with a
// threshold policy, or with --policy the live engine running that policy file (what
// `hashwatt backtest` does), timed together (median of --runs). Target: <= 10 s in the release
// build.
//
//   build/release/bench/bench_backtest --runs 3
//   build/release/bench/bench_backtest --runs 3 --policy deploy/config/policy.toml
#include "policies/backtest/backtest.hpp"

#include "bench/bench_util.hpp"
#include "common/time.hpp"
#include "policies/backtest/engine_step.hpp"
#include "policies/rules.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace hashwatt::policies::backtest;
using namespace std::chrono_literals;

namespace {

// Daily and weekly shape, noise, rare scarcity spikes and windy negative nights.
PriceSeries synthetic_year(std::size_t intervals, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0, 8);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<PriceInterval> v;
    v.reserve(intervals);
    TimePoint t = *parse_time("2025-01-01T00:00:00Z");
    double spike = 0;
    for (std::size_t i = 0; i < intervals; ++i) {
        const double hour = static_cast<double>(i % 288) / 12.0;
        double p = 35 + 15 * std::sin((hour - 9) / 24 * 2 * M_PI) + noise(rng);
        if (spike > 0) {
            p += spike;
            spike *= 0.8;
            if (spike < 5) spike = 0;
        } else if (u(rng) < 0.003) {
            spike = 200 + 3000 * u(rng) * u(rng);
        }
        if (hour < 5 && u(rng) < 0.05) p = -20 * u(rng);
        v.push_back({t, 5min, p});
        t += 5min;
    }
    return PriceSeries(std::move(v));
}

Fleet bench_fleet(std::size_t miners) {
    Fleet f;
    const char* models[] = {"s21", "s19xp", "s19pro", "s19"};
    const double shares[] = {0.3, 0.25, 0.3, 0.15};
    std::size_t left = miners;
    for (std::size_t i = 0; i < 4; ++i) {
        MinerClass c;
        c.model = models[i];
        c.name = models[i];
        c.count = i == 3 ? left : static_cast<std::size_t>(shares[i] * static_cast<double>(miners));
        left -= c.count;
        c.points = points_for_class(*find_model(models[i]));
        f.classes.push_back(std::move(c));
    }
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 3;
    std::size_t miners = 1000;
    std::size_t intervals = 105'120;
    double cap_kw = 0;
    std::string policy_file;
    CLI::App app("backtest cost: always-on + optimum + a policy's replay over a year");
    app.add_option("--runs", runs, "timed runs (median)")->check(CLI::PositiveNumber);
    app.add_option("--miners", miners, "fleet size")->check(CLI::PositiveNumber);
    app.add_option("--intervals", intervals, "5-minute intervals")->check(CLI::PositiveNumber);
    app.add_option("--cap-kw", cap_kw,
                   "a fleet-wide site cap (0: none); with min on/off the "
                   "optimum is then a Lagrangian bound with subgradient steps");
    app.add_option("--policy", policy_file,
                   "replay this policy file through the live engine (min on/off and caps from "
                   "it) instead of the threshold policy")
        ->check(CLI::ExistingFile);
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    bench::Results out("backtest", argc, argv);

    std::printf("machine: %s\nloadavg at start: %.2f\n", bench::machine_description().c_str(),
                bench::load1());
    const PriceSeries prices = synthetic_year(intervals, 20250301);
    const Fleet fleet = bench_fleet(miners);
    const Economics economics{0.05, 0.02, 1.05};
    Constraints constraints{30min, 30min, {}};
    std::optional<RuleSet> rules;
    if (!policy_file.empty()) {
        rules = load_policy_file(policy_file);
        rules->economics = economics;
        constraints = constraints_of(*rules);
    }
    if (cap_kw > 0) constraints.caps.push_back({std::nullopt, cap_kw});
    // A fresh engine per run: its memory (last switches, wishes) is part of what is timed.
    const auto make_step = [&] {
        return rules ? engine_step(std::make_shared<PolicyEngine>(*rules), fleet)
                     : threshold_policy(80, 60);
    };

    std::vector<double> total_s, replay_s, optimum_s;
    Result last;
    for (int r = 0; r < runs; ++r) {
        const PolicyStep step = make_step();
        const auto t0 = std::chrono::steady_clock::now();
        Result res;
        res.intervals = prices.intervals();
        res.always_on = always_on(prices, fleet, economics);
        const auto t1 = std::chrono::steady_clock::now();
        res.policy = replay(prices, fleet, economics, constraints, step);
        const auto t2 = std::chrono::steady_clock::now();
        res.optimum = optimum(prices, fleet, economics, constraints);
        const auto t3 = std::chrono::steady_clock::now();
        auto s = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
        total_s.push_back(s(t0, t3));
        replay_s.push_back(s(t1, t2));
        optimum_s.push_back(s(t2, t3));
        last = std::move(res);
    }
    std::printf("intervals=%zu miners=%zu classes=%zu cap_kw=%.0f runs=%d policy=%s\n", intervals,
                miners, fleet.classes.size(), cap_kw, runs,
                policy_file.empty() ? "threshold 80/60" : policy_file.c_str());
    std::printf("profit always_on=%.0f policy=%.0f optimum=%.0f\n", last.always_on.totals.profit,
                last.policy.totals.profit, last.optimum.totals.profit);
    std::printf("wall_s_median total=%.3f replay=%.3f optimum=%.3f (target total <= 10)\n",
                bench::median(total_s), bench::median(replay_s), bench::median(optimum_s));
    out.inputs = {{"intervals", intervals},
                  {"miners", miners},
                  {"classes", fleet.classes.size()},
                  {"cap_kw", cap_kw},
                  {"runs", runs},
                  {"policy", policy_file.empty() ? "threshold 80/60" : policy_file}};
    const std::string of = "backtests of the whole series";
    out.add("total", bench::median(total_s), "s", runs, "median", of);
    out.add("replay", bench::median(replay_s), "s", runs, "median", of);
    out.add("optimum", bench::median(optimum_s), "s", runs, "median", of);
    bench::write_results_json(json_path, out);
    return 0;
}
