#include "cli/demo_power.hpp"

#include "collector/control/decision_store.hpp"
#include "policies/prices/sources.hpp"
#include "policies/prices/timezone.hpp"

#include <algorithm>
#include <cstdio>

namespace hashwatt::cli {

std::string_view demo_policy_toml() noexcept {
    return R"toml(# hashwatt demo's policy (written by `hashwatt demo` on every run; edit a copy and pass
# it with --policy). deploy/config/policy.toml's economics and break-even rule; the safety times
# are seconds instead of minutes because the demo's prices run 180 times faster than the clock
# the engine keeps (a 15-minute price interval every 5 s).

[policy]
interval = "1s"
dry_run = false
enabled = true
on_stale = "hold"
margin_pct = 0

[economics]
hashprice = 0.05
pool_fee = 0.02
pue = 1.05

[[rule]]
kind = "break_even"
margin_pct = 2
hysteresis_pct = 3

[safety]
for = "0s"
min_on = "15s"                 # three replayed price intervals (45 minutes of prices):
min_off = "15s"                # a miner is not flipped on every interval's wobble
max_switches_per_day = 1440    # the most there is: the demo switches on a fast clock
max_ramp_kw_per_min = 0
max_commands_per_interval = 0
settle = "15s"                 # a command, then the agent's next poll (10 s) to see it obeyed
)toml";
}

std::shared_ptr<collector::control::ReplayPriceProvider> make_demo_prices(double speed,
                                                                          TimePoint started_at) {
    policies::prices::ErcotSource src;
    src.settlement_point = "HB_WEST";
    auto series = policies::prices::parse_ercot_prices(
        demo_prices_csv(), "ercot_rtm_spp_15min_2025-03-01_to_03-07.csv (embedded)", src);
    return std::make_shared<collector::control::ReplayPriceProvider>(
        std::move(series), std::string(kDemoPriceName), speed, started_at);
}

std::string central_time_text(TimePoint t) {
    // ERCOT's clock; the rule rather than tzdata so that the demo needs no zone files.
    static const auto ct =
        policies::prices::TimeZone::from_posix_rule("CST6CDT,M3.2.0,M11.1.0", "CT");
    const auto local = ct.to_local(t);
    const auto day = std::chrono::floor<std::chrono::days>(local);
    const std::chrono::year_month_day ymd(day);
    const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::minutes>(local - day));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d CT", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
    return buf;
}

std::string PriceWatch::price_text(TimePoint now) const {
    const TimePoint t = prices_->series_time(now);
    const auto* iv = prices_->series().at(t);
    if (iv == nullptr) return "no price (replay " + central_time_text(t) + ")";
    char buf[48];
    std::snprintf(buf, sizeof buf, "price %.2f $/MWh", iv->price_per_mwh);
    return std::string(buf) + " (replay " + central_time_text(iv->start) + ")";
}

void PriceWatch::look(const collector::Store& store, const std::string& clock_text) {
    collector::control::DecisionFilter f;
    f.outcome = collector::control::DecisionOutcome::commanded;
    f.from = since_;
    f.limit = 1'000'000;
    auto rows = collector::control::list_decisions(store, f);
    std::reverse(rows.begin(), rows.end());  // oldest first
    // A round's decisions share its time and are written in one transaction: one line each.
    for (std::size_t i = 0; i < rows.size();) {
        const TimePoint at = rows[i].at;
        std::optional<double> price;
        std::size_t j = i;
        for (; j < rows.size() && rows[j].at == at; ++j) {
            if (rows[j].decision_id <= last_id_) continue;
            target_[rows[j].miner_id] = rows[j].target;
            if (rows[j].price_per_mwh) price = rows[j].price_per_mwh;
            last_id_ = std::max(last_id_, rows[j].decision_id);
        }
        i = j;
        std::size_t asleep = 0, reduced = 0;
        for (const auto& [miner, target] : target_) {
            asleep += target == "sleep";
            reduced += target == "reduced";
        }
        if (asleep == asleep_ && reduced == reduced_) continue;
        ++changes_;
        asleep_ = asleep;
        reduced_ = reduced;
        most_asleep_ = std::max(most_asleep_, asleep);
        const TimePoint t = prices_->series_time(at);
        const auto* iv = prices_->series().at(t);
        char line[160];
        std::snprintf(line, sizeof line, "price %.2f $/MWh (replay %s): %zu %s asleep",
                      price.value_or(iv ? iv->price_per_mwh : 0.0),
                      central_time_text(iv ? iv->start : t).c_str(), asleep,
                      asleep == 1 ? "miner" : "miners");
        std::printf("%s  %s%s\n", clock_text.c_str(), line,
                    reduced > 0 ? (", " + std::to_string(reduced) + " reduced").c_str() : "");
    }
    std::fflush(stdout);
    // Only what changes from here on is read next time.
    if (!rows.empty()) since_ = rows.back().at;
}

std::string PriceWatch::totals_text() const {
    return "most asleep at once " + std::to_string(most_asleep_) + ", " + std::to_string(changes_) +
           " changes";
}

}  // namespace hashwatt::cli
