// The cost of one alert evaluation at fleet scale: a real Store (SQLite file in a temporary
// directory) holding N synthetic miners' samples (bench::Fleet: 4 boards, 4 fans, 2 pools each,
// about 1 % of polls failed), the AlertEngine with every default rule, and evaluate_once timed
// over rounds (median, with p90 and max). The first round is reported apart: it creates the
// pending alerts of the failed polls and the hot miners, the later ones are the steady state
// (the same conditions again, nothing to write but last_true).
//
//   build/release/bench/bench_alert_evaluate --miners 10000 --rounds 7
#include "bench/bench_util.hpp"
#include "bench/collector_fleet.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/alerts/rules.hpp"
#include "collector/storage/store.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::bench;

namespace {

using Steady = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"One alert evaluation (every default rule, every miner) against a real Store"};
    std::size_t miners = 10000;
    int rounds = 7;
    std::size_t batch = 500;
    app.add_option("--miners", miners, "fleet size")->check(CLI::Range(1, 1'000'000));
    app.add_option("--rounds", rounds, "timed evaluations after the first")
        ->check(CLI::Range(1, 1000));
    app.add_option("--batch", batch, "samples per ingest batch while filling the store")
        ->check(CLI::Range(1, 100000));
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("alert_evaluate", argc, argv);
    log::set_level(log::Level::warn);

    char tmpl[] = "/tmp/hashwatt-bench-alerts-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string dir = tmpl;
    int rc = 0;
    {
        Store store(dir + "/c.db");
        Fleet fleet(miners, 42);
        const TimePoint t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()) -
                             std::chrono::minutes(10);
        // Two polls per miner, a minute apart, so that every miner has a record and a newest
        // sample, as after a few minutes of running.
        std::int64_t seq = 0;
        for (int poll = 0; poll < 2; ++poll) {
            const TimePoint at = t0 + std::chrono::minutes(poll);
            for (std::size_t i = 0; i < miners; i += batch) {
                IngestBatch b;
                b.agent_id = "bench-agent-" + std::to_string(i / 5000);
                b.batch_seq = ++seq;
                for (std::size_t j = i; j < std::min(miners, i + batch); ++j) {
                    b.samples.push_back(fleet.sample(j, at));
                }
                store.ingest(b, at);
            }
        }
        const auto rules = alerts::default_rules();
        alerts::AlertEngine engine(store, rules, {}, {});

        // 30 s after the newest poll, and each later round a second on: inside MinerOffline's
        // 90 s, so that the rounds measure a fleet that answers, not one going offline.
        const TimePoint now = t0 + std::chrono::minutes(1) + std::chrono::seconds(30);
        auto t = Steady::now();
        const auto first = engine.evaluate_once(now);
        const double first_ms = ms_since(t);
        std::vector<double> ms;
        for (int r = 0; r < rounds; ++r) {
            t = Steady::now();
            engine.evaluate_once(now + std::chrono::seconds(r + 1));
            ms.push_back(ms_since(t));
        }
        std::printf("machine: %s, load1 %.2f\n", machine_description().c_str(), load1());
        std::printf("miners %zu, rules %zu, (rule, subject) pairs %zu\n", miners, rules.size(),
                    first.evaluated);
        std::printf("first evaluation: %.1f ms (%zu pending, %zu written)\n", first_ms,
                    first.pending, first.written);
        std::printf("steady evaluation: median %.1f ms, p90 %.1f ms, max %.1f ms over %d rounds\n",
                    median(ms), percentile(ms, 0.9), *std::max_element(ms.begin(), ms.end()),
                    rounds);
        std::printf("per miner: %.2f us\n", median(ms) * 1000.0 / static_cast<double>(miners));
        out.inputs = {{"miners", miners},
                      {"rounds", rounds},
                      {"batch", batch},
                      {"rules", rules.size()},
                      {"pairs", first.evaluated}};
        const std::string of = "steady evaluations (the first excluded)";
        out.add("evaluation", median(ms), "ms", rounds, "median", of);
        out.add("evaluation_p90", percentile(ms, 0.9), "ms", rounds, "p90", of);
        out.add("first_evaluation", first_ms, "ms", 1, "single", "the first evaluation");
        out.add("per_miner", median(ms) * 1000.0 / static_cast<double>(miners), "us", rounds,
                "median", of);
        write_results_json(json_path, out);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return rc;
}
