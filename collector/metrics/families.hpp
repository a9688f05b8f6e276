// Small builders of prometheus::MetricFamily values for the collectables that assemble their
// families at scrape time (alert_metrics, policy_metrics).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

namespace hashwatt::collector::families {

inline prometheus::ClientMetric::Label label(std::string name, std::string value) {
    prometheus::ClientMetric::Label l;
    l.name = std::move(name);
    l.value = std::move(value);
    return l;
}

inline prometheus::MetricFamily gauge(std::string name, std::string help) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = prometheus::MetricType::Gauge;
    return f;
}

inline void add_gauge(prometheus::MetricFamily& f,
                      std::vector<prometheus::ClientMetric::Label> labels, double v) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    f.metric.push_back(std::move(m));
}

}  // namespace hashwatt::collector::families
