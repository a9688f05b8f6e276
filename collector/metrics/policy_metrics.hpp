// The power policy's families of /metrics, built at scrape time from the control loop's last
// round (ControlLoop::snapshot): hashwatt_policy_target_state{miner,state} (1 for the point the
// policy wants, 0 for the others), hashwatt_miner_breakeven_price_per_megawatt_hour{miner} (of
// its full point), hashwatt_energy_price_per_megawatt_hour{site} (absent while there is no
// price), hashwatt_hashprice_per_terahash_day, hashwatt_policy_site_power_watts{site} (the sum
// of the newest samples' power), hashwatt_policy_price_stale (1 while the price is stale or
// missing) and hashwatt_policy_site_power_cap_watts{site} (its site caps). Listed in
// docs/metrics.md; absent when no policy runs.
#pragma once

#include "collector/control/control_loop.hpp"

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace hashwatt::collector {

// The seven families, in that order; empty before the loop's first round.
std::vector<prometheus::MetricFamily> build_policy_families(const control::PolicySnapshot& s);

// A Collectable over a loop, for CollectorMetrics::add_collectable. `loop` must outlive every
// Collect() (the service stops scraping before it destroys the loop).
class PolicyMetrics : public prometheus::Collectable {
  public:
    explicit PolicyMetrics(const control::ControlLoop& loop) : loop_(loop) {}
    std::vector<prometheus::MetricFamily> Collect() const override;

  private:
    const control::ControlLoop& loop_;
};

}  // namespace hashwatt::collector
