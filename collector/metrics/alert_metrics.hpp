// The alert families of /metrics, built at scrape time from the engine's in-memory alerts:
// hashwatt_alerts_firing and hashwatt_alerts_pending {alertname, severity} (every enabled rule,
// 0 when none of its alerts is in that state) and hashwatt_miner_alert_firing {miner,
// alertname}, one series of value 1 per firing alert (none for the rest, so the series stay
// few). Listed in docs/metrics.md.
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/rules.hpp"

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace hashwatt::collector {

namespace alerts {
class AlertEngine;
}

// The three families, in that order, for `rules` and the alerts the engine holds. An alert
// whose rule is not in `rules` (removed since) still counts under its own labels.
std::vector<prometheus::MetricFamily> build_alert_families(
    const std::vector<alerts::AlertRule>& rules, const std::vector<alerts::Alert>& held);

// A Collectable over an engine, for CollectorMetrics::add_collectable. `engine` must outlive
// every Collect() (the service stops scraping before it destroys the engine).
class AlertMetrics : public prometheus::Collectable {
  public:
    explicit AlertMetrics(const alerts::AlertEngine& engine) : engine_(engine) {}
    std::vector<prometheus::MetricFamily> Collect() const override;

  private:
    const alerts::AlertEngine& engine_;
};

}  // namespace hashwatt::collector
