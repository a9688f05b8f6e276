#include "collector/metrics/policy_metrics.hpp"

#include "collector/metrics/families.hpp"

#include <cmath>
#include <set>
#include <string>
#include <utility>

namespace hashwatt::collector {

namespace pm = prometheus;

using families::add_gauge;
using families::label;

std::vector<pm::MetricFamily> build_policy_families(const control::PolicySnapshot& s) {
    std::vector<pm::MetricFamily> out;
    if (!s.have_round) return out;
    using policies::PointKind;
    out.push_back(
        families::gauge("hashwatt_policy_target_state",
                        "1 for the operating point (full, reduced, sleep) the power policy "
                        "wants the miner at, 0 for the others."));
    for (const auto& m : s.miners) {
        for (const auto k : {PointKind::full, PointKind::reduced, PointKind::sleep}) {
            add_gauge(out.back(),
                      {label("miner", m.miner_id), label("state", std::string(to_string(k)))},
                      m.target == k ? 1 : 0);
        }
    }
    out.push_back(families::gauge("hashwatt_miner_breakeven_price_per_megawatt_hour",
                                  "Energy price above which the miner loses money at full power "
                                  "(currency per MWh)."));
    for (const auto& m : s.miners) {
        if (std::isfinite(m.break_even_per_mwh)) {
            add_gauge(out.back(), {label("miner", m.miner_id)}, m.break_even_per_mwh);
        }
    }
    // One price feeds the whole loop; it is shown for every site the loop decided for.
    out.push_back(
        families::gauge("hashwatt_energy_price_per_megawatt_hour",
                        "The energy price the power policy decided on (currency per MWh)."));
    if (s.price.price_per_mwh) {
        std::set<std::string> sites;
        for (const auto& m : s.miners) sites.insert(m.site.value_or(""));
        for (const auto& [site, w] : s.site_power_w) sites.insert(site);
        for (const auto& site : sites) {
            add_gauge(out.back(), {label("site", site)}, *s.price.price_per_mwh);
        }
    }
    out.push_back(families::gauge("hashwatt_hashprice_per_terahash_day",
                                  "Hashprice of the power policy (currency per TH/s per day)."));
    add_gauge(out.back(), {}, s.hashprice_per_th_day);
    out.push_back(families::gauge("hashwatt_policy_site_power_watts",
                                  "Sum of the newest samples' power of the site's miners."));
    for (const auto& [site, w] : s.site_power_w) add_gauge(out.back(), {label("site", site)}, w);
    out.push_back(families::gauge("hashwatt_policy_price_stale",
                                  "1 while the policy's price is stale or missing (on_stale "
                                  "applies), else 0."));
    add_gauge(out.back(), {}, s.price.stale || !s.price.price_per_mwh ? 1 : 0);
    out.push_back(families::gauge("hashwatt_policy_site_power_cap_watts",
                                  "The policy's site power cap, in miner watts (cap_kw x 1000 / "
                                  "pue): what hashwatt_policy_site_power_watts is held to."));
    for (const auto& [site, w] : s.site_power_cap_w) {
        add_gauge(out.back(), {label("site", site)}, w);
    }
    return out;
}

std::vector<pm::MetricFamily> PolicyMetrics::Collect() const {
    return build_policy_families(loop_.snapshot());
}

}  // namespace hashwatt::collector
