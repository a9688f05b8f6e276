// The vocabulary the policy library shares between its parts: prices over time, a miner's
// operating points and what running at one earns. Pure data; no I/O. DESIGN.md, "Power policy".
#pragma once

#include "common/miner_sample.hpp"
#include "common/units.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hashwatt::policies {

// One settlement interval's price: [start, start + length), in the configured currency per MWh
// (USD by default). Negative prices are real (ERCOT pays consumers in windy nights).
struct PriceInterval {
    TimePoint start{};
    Duration length{std::chrono::minutes(15)};
    double price_per_mwh = 0;

    TimePoint end() const noexcept { return start + length; }
    bool operator==(const PriceInterval&) const = default;
};

// Intervals sorted by start, not overlapping (gaps allowed: a missing interval is no price).
class PriceSeries {
  public:
    PriceSeries() = default;
    // Sorts; throws std::invalid_argument naming the first overlap ("2025-03-09T08:00:00Z
    // twice") so that a file with a repeated row is refused instead of silently half-used.
    explicit PriceSeries(std::vector<PriceInterval> intervals);

    // The interval holding `t`, or nullptr.
    const PriceInterval* at(TimePoint t) const noexcept;
    const std::vector<PriceInterval>& intervals() const noexcept { return intervals_; }
    bool empty() const noexcept { return intervals_.empty(); }

  private:
    std::vector<PriceInterval> intervals_;
};

// What a miner can be told to run at. `full` is the firmware's stock setting; `reduced` a
// lower power target its driver supports; `sleep` draws standby power and hashes nothing.
enum class PointKind { full, reduced, sleep };
std::string_view to_string(PointKind k) noexcept;

struct OperatingPoint {
    PointKind kind = PointKind::full;
    double power_w = 0;       // at the wall, per miner
    double hashrate_ths = 0;  // 0 for sleep
    bool operator==(const OperatingPoint&) const = default;
};

// The money side, per DESIGN.md: a miner is worth running while price < break-even =
// hashprice_per_th_day * TH * (1 - pool_fee) / (24 * kW * pue), with kW its power at the
// point and pue the site overhead (cooling, losses) per kW of miners.
struct Economics {
    double hashprice_per_th_day = 0;  // currency per TH/s per day
    double pool_fee = 0;              // 0..1
    double pue = 1.0;                 // >= 1
};

// Break-even price per MWh of `p` (infinite for a point that draws nothing; 0 for sleep).
double break_even_per_mwh(const Economics& e, const OperatingPoint& p) noexcept;
// Revenue minus energy cost of running at `p` for `d` at `price_per_mwh`.
double profit(const Economics& e, const OperatingPoint& p, double price_per_mwh,
              Duration d) noexcept;

}  // namespace hashwatt::policies
