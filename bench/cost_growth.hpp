// How an agent's and a collector's costs grow with the fleet, from figures measured at a few
// fleet sizes: a table (Markdown and JSON), an SVG plot, and the largest fleet one agent and one
// collector handle on the machine that measured them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

namespace hashwatt::bench {

// One measured figure at a fleet size.
struct Point {
    double miners = 0;
    double value = 0;
};

struct CostInputs {
    // Agent, from agent_poll runs.
    std::vector<Point> agent_cpu_per_poll_us, agent_rss_mib, agent_round_wall_s;
    // Collector, from metrics_scrape runs (GET /metrics wall time, body size, RSS).
    std::vector<Point> scrape_ms, scrape_bytes, collector_rss_mib, collector_peak_rss_mib;
    // Collector, per sample or miner (collector_ingest over HTTP, alert_evaluate).
    double ingest_cpu_per_sample_us = 0;
    double ingest_samples_per_s = 0;
    double store_bytes_per_sample = 0;
    double alert_us_per_miner = 0;
    // The machine.
    unsigned machine_cores = 0;
    double machine_ram_mib = 0;
    double free_disk_bytes = 0;
    // The deployment: the agent's poll interval, the shipped Prometheus scrape interval and
    // timeout (deploy/prometheus/prometheus.yml), the alert interval and raw retention defaults.
    double poll_interval_s = 30;
    double scrape_interval_s = 15;
    double scrape_timeout_s = 10;
    double alert_interval_s = 15;
    double raw_retention_days = 14;
};

// A value of the table: measured at exactly this fleet size in this run, or derived (linear
// through the two nearest measured sizes, or from a per-sample cost times the fleet).
struct Cell {
    double value = 0;
    bool known = false;
    bool measured = false;
};

struct CostRow {
    double miners = 0;
    Cell agent_cpu_cores;      // at the poll interval
    Cell agent_rss_mib;        // peak
    Cell collector_cpu_cores;  // ingest + scrapes + alert evaluation
    Cell collector_rss_mib;    // peak, while serving a scrape
    Cell disk_gb_per_day;      // raw samples written per day
    Cell scrape_mb;            // one /metrics body
};

// The largest fleet one process handles on this machine at the poll interval: the bound each
// resource sets, and the lowest of them (the binding one).
struct Limit {
    std::string who;
    double miners = 0;
    std::string binding;
    std::vector<std::pair<std::string, double>> bounds;  // resource -> miners
};

struct CostGrowth {
    CostInputs inputs;
    std::vector<CostRow> rows;
    Limit agent, collector;
};

// The table at `sizes` miners, and both limits.
CostGrowth cost_growth(const CostInputs& in, const std::vector<double>& sizes);
// The table, each value marked m (measured) or d (derived), then the limits.
std::string cost_growth_markdown(const CostGrowth& cg);
boost::json::object to_json(const CostGrowth& cg);
// Four small plots (CPU, memory, disk per day, scrape size) over a log fleet-size axis.
std::string cost_growth_svg(const CostGrowth& cg, const std::string& machine);

}  // namespace hashwatt::bench
