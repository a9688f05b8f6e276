#include "collector/metrics/alert_metrics.hpp"

#include "collector/alerts/engine.hpp"
#include "collector/metrics/families.hpp"

#include <map>
#include <string>
#include <utility>

namespace hashwatt::collector {

namespace pm = prometheus;

using families::add_gauge;
using families::label;

std::vector<pm::MetricFamily> build_alert_families(const std::vector<alerts::AlertRule>& rules,
                                                   const std::vector<alerts::Alert>& held) {
    // (alertname, severity) -> count; every rule first, so a quiet rule shows 0.
    using Key = std::pair<std::string, std::string>;
    std::map<Key, double> firing;
    std::map<Key, double> pending;
    for (const auto& r : rules) {
        const Key k{r.name, std::string(alerts::to_string(r.severity))};
        firing[k];
        pending[k];
    }
    // miner -> alertname, sorted so that a scrape's order is stable.
    std::map<std::pair<std::string, std::string>, bool> per_miner;
    for (const auto& a : held) {
        const Key k{a.alertname, std::string(alerts::to_string(a.severity))};
        if (a.state == alerts::AlertState::firing) {
            firing[k] += 1;
            pending[k];
            per_miner[{a.subject, a.alertname}] = true;
        } else if (a.state == alerts::AlertState::pending) {
            pending[k] += 1;
            firing[k];
        }
    }

    std::vector<pm::MetricFamily> out;
    out.push_back(families::gauge("hashwatt_alerts_firing",
                                  "Firing alerts per rule (alertname) and severity; 0 for an "
                                  "enabled rule with none."));
    for (const auto& [k, n] : firing) {
        add_gauge(out.back(), {label("alertname", k.first), label("severity", k.second)}, n);
    }
    out.push_back(families::gauge(
        "hashwatt_alerts_pending",
        "Pending alerts (condition true, for duration not yet served) per rule and severity."));
    for (const auto& [k, n] : pending) {
        add_gauge(out.back(), {label("alertname", k.first), label("severity", k.second)}, n);
    }
    out.push_back(
        families::gauge("hashwatt_miner_alert_firing",
                        "1 for each firing alert, by miner and alertname; no series for a "
                        "miner without firing alerts."));
    for (const auto& [k, v] : per_miner) {
        add_gauge(out.back(), {label("alertname", k.second), label("miner", k.first)}, 1);
    }
    return out;
}

std::vector<pm::MetricFamily> AlertMetrics::Collect() const {
    return build_alert_families(engine_.rules(), engine_.alerts());
}

}  // namespace hashwatt::collector
