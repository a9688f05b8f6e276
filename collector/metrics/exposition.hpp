// The per-miner Prometheus families, built at scrape time from a LatestState snapshot. Every
// family is one row of a table in exposition.cpp (name, type, help, how to read it from an
// entry), so adding a family is one row; docs/metrics.md lists the same families and a test
// keeps the two in step.
#pragma once

#include "collector/metrics/latest_state.hpp"

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace hashwatt::collector {

struct FamilyInfo {
    std::string_view name;
    prometheus::MetricType type;
    std::string_view help;
};

// The miner families in exposition order.
std::span<const FamilyInfo> miner_families();

// Family `index` of miner_families() for `miners`: one series per miner (and board, fan,
// state or share result) with labels miner and site (site omitted when unknown). Values a
// miner did not report produce no series. Throws std::out_of_range for a bad index.
prometheus::MetricFamily build_miner_family(std::size_t index,
                                            const std::vector<LatestMinerPtr>& miners);

// Every miner family for `miners`, appended to `out` as exposition text: byte for byte what
// prometheus::TextSerializer writes for the same families (a unit test holds it to that),
// without building the ClientMetrics first. TextSerializer writes label values a character
// at a time through the stream and is the bulk of a scrape at fleet scale (docs/performance.md).
void append_miner_text(const std::vector<LatestMinerPtr>& miners, std::string& out);

// A Collectable over a LatestState: each Collect() takes a fresh snapshot at clock() and
// returns every miner family, including those with no series.
class MinerExposition : public prometheus::Collectable {
  public:
    // `state` must outlive this object.
    explicit MinerExposition(const LatestState& state,
                             std::function<TimePoint()> clock = default_clock);
    std::vector<prometheus::MetricFamily> Collect() const override;

    static TimePoint default_clock();

  private:
    const LatestState& state_;
    std::function<TimePoint()> clock_;
};

}  // namespace hashwatt::collector
