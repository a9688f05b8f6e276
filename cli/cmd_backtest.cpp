// `hashwatt backtest`: replays a price series through the power policy's own engine against a
// fleet, beside always-on and the offline optimum (policies/backtest, docs/policy.md).
#include "cli/command.hpp"
#include "common/config.hpp"
#include "common/time.hpp"
#include "policies/backtest/engine_step.hpp"
#include "policies/backtest/fleet.hpp"
#include "policies/backtest/report.hpp"
#include "policies/engine.hpp"
#include "policies/prices/sources.hpp"
#include "policies/rules.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace hashwatt::cli {
namespace {

struct BacktestArgs {
    std::string prices;
    std::string settlement_point;
    std::string fleet;
    std::string policy;
    std::optional<double> hashprice;
    std::optional<double> pool_fee;
    std::optional<double> pue;
    bool json = false;
    std::string csv;
    std::string report;
};

// An input that cannot be read or makes no sense: the caller's to fix, exit 2.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Runs a loader; what it throws (but a ConfigError, which names file:line:column itself) is
// an InputError that says which input.
template <typename F>
auto load(const std::string& what, F&& f) {
    try {
        return f();
    } catch (const config::ConfigError&) {
        throw;
    } catch (const std::exception& e) {
        throw InputError(what + ": " + e.what());
    }
}

void write_file(const std::string& path, const char* what,
                const std::function<void(std::ostream&)>& write) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(std::string("cannot write the ") + what + " to " + path);
    write(out);
    out.flush();
    if (!out)
        throw std::runtime_error(std::string("writing the ") + what + " to " + path + " failed");
}

std::string money(double v) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

void print_summary(const policies::backtest::Result& r, const BacktestArgs& a,
                   const policies::Economics& e, std::size_t classes) {
    using policies::backtest::Totals;
    const auto& iv = r.intervals;
    std::printf("prices:  %s%s%s, %zu intervals of %s, %s to %s (%.1f h)\n", a.prices.c_str(),
                a.settlement_point.empty() ? "" : " at ", a.settlement_point.c_str(), iv.size(),
                format_duration(iv.front().length).c_str(), format_time(iv.front().start).c_str(),
                format_time(iv.back().end()).c_str(), r.hours());
    std::printf("fleet:   %s, %zu miners in %zu classes\n", a.fleet.c_str(), r.miners, classes);
    std::printf("policy:  %s\n", a.policy.c_str());
    std::printf("economics: hashprice %.4f per TH/s per day, pool fee %.1f %%, pue %.2f\n\n",
                e.hashprice_per_th_day, e.pool_fee * 100, e.pue);
    const auto row = [&](const char* name, auto field) {
        std::printf("%-24s %14s %14s %14s\n", name, field(r.always_on.totals).c_str(),
                    field(r.policy.totals).c_str(), field(r.optimum.totals).c_str());
    };
    std::printf("%-24s %14s %14s %14s\n", "", "always_on", "policy", "optimum");
    row("energy (MWh)", [](const Totals& t) { return money(t.energy_mwh); });
    row("revenue", [](const Totals& t) { return money(t.revenue); });
    row("cost", [](const Totals& t) { return money(t.cost); });
    row("profit", [](const Totals& t) { return money(t.profit); });
    row("curtailed miner-hours", [](const Totals& t) { return money(t.curtailed_miner_hours); });
    row("switches", [](const Totals& t) { return std::to_string(t.switches); });
    row("switches per miner", [](const Totals& t) { return money(t.switches_per_miner); });
    row("max switches/miner/day",
        [](const Totals& t) { return std::to_string(t.max_switches_per_miner_day); });
    std::printf("\n");
    if (std::isnan(r.capture_ratio)) {
        std::printf("capture ratio: none (the optimum earns no more than always-on)\n");
    } else {
        std::printf(
            "capture ratio: %.1f %% of the optimum's profit gain over always-on (policy %+.2f, "
            "optimum %+.2f)\n",
            r.capture_ratio * 100, r.policy.totals.profit - r.always_on.totals.profit,
            r.optimum.totals.profit - r.always_on.totals.profit);
    }
    if (!r.optimum_exact) {
        std::printf(
            "optimum: an upper bound (site cap with dwell limits or response times), not a "
            "schedule\n");
    }
    if (r.held_by_dwell > 0 || r.cap_exceeded_intervals > 0) {
        std::printf(
            "note: %llu policy commands broke min on/off and were held; %llu intervals "
            "over a site cap\n",
            static_cast<unsigned long long>(r.held_by_dwell),
            static_cast<unsigned long long>(r.cap_exceeded_intervals));
    }
}

int run_backtest(const BacktestArgs& a) {
    namespace bt = policies::backtest;
    const auto prices = load("--prices", [&] {
        return policies::prices::read_price_file(a.prices, a.settlement_point);
    });
    const bt::Fleet fleet = load("--fleet", [&] { return bt::load_fleet_file(a.fleet); });
    policies::RuleSet rules =
        load("--policy", [&] { return policies::load_policy_file(a.policy); });
    // What a TH/s earns: the flags, else the fleet file's [economics], else the policy's. The
    // engine decides with the same figures the account uses, or its break-evens would be
    // those of another market.
    policies::Economics e = fleet.economics.value_or(rules.economics);
    if (a.hashprice) e.hashprice_per_th_day = *a.hashprice;
    if (a.pool_fee) e.pool_fee = *a.pool_fee;
    if (a.pue) e.pue = *a.pue;
    rules.economics = e;
    load("inputs", [&] {
        bt::check_inputs(prices, fleet);
        return 0;
    });
    const auto constraints = bt::constraints_of(rules);
    auto engine = std::make_shared<policies::PolicyEngine>(rules);
    const bt::Result r =
        bt::run_backtest(prices, fleet, e, constraints, bt::engine_step(engine, fleet));

    if (!a.csv.empty()) write_file(a.csv, "CSV", [&](std::ostream& o) { bt::write_csv(r, o); });
    if (!a.report.empty()) {
        write_file(a.report, "report", [&](std::ostream& o) {
            bt::write_html(r, o, "hashwatt backtest: " + a.policy + " on " + a.prices);
        });
    }
    if (a.json) {
        std::printf("%s\n", bt::to_json_text(r).c_str());
    } else {
        print_summary(r, a, e, fleet.classes.size());
        if (!a.csv.empty()) std::printf("csv:     %s\n", a.csv.c_str());
        if (!a.report.empty()) std::printf("report:  %s\n", a.report.c_str());
    }
    return kExitOk;
}

}  // namespace

Runner add_backtest_command(CLI::App& app) {
    auto a = std::make_shared<BacktestArgs>();
    auto* cmd = app.add_subcommand(
        "backtest",
        "Replay a price series through a power policy against a fleet, beside always-on and "
        "the offline optimum");
    cmd->add_option("--prices", a->prices,
                    "Price file: ERCOT settlement point prices (RTM SPP CSV, told by its header) "
                    "or a timestamp,price CSV in currency per MWh")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--settlement-point", a->settlement_point,
                    "ERCOT settlement point to use (e.g. HB_WEST); needed when the file has "
                    "more than one");
    cmd->add_option("--fleet", a->fleet, "Fleet file (deploy/config/fleet.toml)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--policy", a->policy, "Policy file (deploy/config/policy.toml)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--hashprice", a->hashprice,
                    "Currency per TH/s per day, over the fleet's and the policy's [economics]")
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--pool-fee", a->pool_fee, "Share of revenue the pool keeps, 0..0.99")
        ->check(CLI::Range(0.0, 0.99));
    cmd->add_option("--pue", a->pue, "Site power per kW of miners, 1..5")
        ->check(CLI::Range(1.0, 5.0));
    cmd->add_flag("--json", a->json,
                  "Print one JSON object (intervals, hours, always_on, policy, optimum, "
                  "capture_ratio) instead of the table");
    cmd->add_option("--csv", a->csv, "Also write every interval as CSV to this file");
    cmd->add_option("--report", a->report,
                    "Also write an HTML report with charts (inline SVG) to this file");
    cmd->footer(
        "The policy runs through the live engine (same rules and safety), the fleet answers "
        "with its wake and sleep times; the optimum is exact for min on/off (an upper bound "
        "with a site cap). Exit status: 0 done, 2 on bad usage or an input that cannot be read "
        "(named with its file and line).");
    return [a] {
        try {
            return run_backtest(*a);
        } catch (const InputError& e) {
            std::fprintf(stderr, "hashwatt backtest: %s\n", e.what());
            return kExitUsage;
        }
    };
}

}  // namespace hashwatt::cli
