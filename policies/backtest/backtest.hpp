// Backtest: replays a price series against a fleet through a policy, and computes the two
// baselines the policy is judged against: always-on and the offline optimum. Pure; no I/O.
//
// The fleet model, shared exactly by the replay and the optimum (so that anything the replay
// can do, the optimum can do too):
// - Time is the series' intervals: contiguous, all of one length L. Commands take effect at an
//   interval's start; within an interval a miner's draw and hash rate are time-weighted.
// - A wake (sleep -> a hashing point) draws the target point's power and hashes nothing for
//   `wake_time`; a sleep-down (hashing -> sleep) keeps running at the old point for
//   `sleep_time`; a change between hashing points (full <-> reduced) is immediate.
// - Dwell: after a wake, no sleep command for `min_on`; after a sleep command, no wake for
//   `min_off` (both in whole intervals, rounded up: a decision at an interval start may switch
//   once now - last_switch >= min). Changes between hashing points are never held.
//   The replay holds a policy command that breaks these (and counts it: `held_by_dwell`); the
//   engine's own safety should already have held it, so a non-zero count flags a mismatch.
// - Money: revenue = hashprice * TH/s * (1 - pool_fee) * days; energy_mwh is billed site energy
//   (miner draw * pue); cost = energy_mwh * price; profit = revenue - cost. A site cap limits
//   the miners' own draw (no pue), interval average.
//
// The optimum, per Constraints:
// - no cap: exact. Miners of a class are identical and independent, so one dynamic program
//   per class over states (point, intervals since the last wake/sleep command, and for sleep the
//   point it left) gives the best sequence, O(T * states * points). With no dwell and no
//   response times it is each interval's most profitable point.
// - with a site cap: a Lagrangian upper bound. Each interval's multiplier lambda (currency per
//   kWh over the cap) is the marginal profit per kW of the cap-limited greedy fill in merit order
//   (upper hull of profit vs kW per class: reduced before sleep where that earns more); each class
//   then solves its DP at price + lambda, and profit = sum of those + lambda * cap * hours (then
//   tightened by a few projected subgradient steps, keeping the lowest). For
//   any lambda >= 0 this is >= the profit of every schedule whose draw stays within the cap, so
//   "policy <= optimum" holds whenever the policy kept to the cap (`cap_exceeded_intervals`
//   counts the intervals it did not). With no dwell and no response times it equals the greedy
//   (fractional) fill, i.e. the exact optimum up to one miner's fraction at the cap boundary.
//   `optimum_exact` says which case applied. Switch caps, `for` and stagger limits are not
//   modelled: they only restrict the policy, so leaving them out keeps the optimum an upper bound.
#pragma once

#include "policies/backtest/fleet.hpp"
#include "policies/types.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::policies::backtest {

// What the optimum honours (from the policy's [safety] and site_cap rules); the replay holds
// commands that break min on/off and counts the intervals the policy drew over a cap.
struct SiteCap {
    std::optional<std::string> site;  // nullopt: every miner of the fleet
    double kw = 0;                    // miners' draw, interval average
};
struct Constraints {
    Duration min_on{0};
    Duration min_off{0};
    std::vector<SiteCap> caps;
};

// One miner as the policy sees it at a decision. Miners are listed class by class, in fleet
// order, `count` of each.
struct SimulatedMiner {
    std::uint32_t class_index = 0;
    std::uint32_t target = 0;    // point index last commanded (0 at the start: full)
    std::uint32_t actual = 0;    // point it observably runs at now: the old point while a wake
                                 // or sleep-down is still under way
    bool hashing = true;         // false while asleep or waking
    TimePoint on_off_at{};       // last wake or sleep command; TimePoint{} if none yet
    TimePoint switched_at{};     // last command of any kind; TimePoint{} if none yet
    std::uint32_t switches = 0;  // commands so far
};

struct FleetState {
    const Fleet* fleet = nullptr;
    std::vector<SimulatedMiner> miners;

    // "<class name>-<n>", n from 1 within the class.
    std::string miner_id(std::size_t i) const;
    const MinerClass& class_of(std::size_t i) const {
        return fleet->classes[miners[i].class_index];
    }
};

// The policy under test, called once per interval at its start (`now`) with the interval's
// price and the fleet's actual state. Returns the desired point index for every miner (same
// order and size as actual.miners; an index into that miner's class points), or an empty
// vector for "no change". An adapter turns this into PolicyEngine::decide calls
// (MinerInput::actual_index = SimulatedMiner::actual, Decision::target_index -> the result).
using PolicyStep = std::function<std::vector<std::size_t>(TimePoint now, double price_per_mwh,
                                                          const FleetState& actual)>;

struct Totals {
    double energy_mwh = 0;  // billed: miners' draw * pue
    double revenue = 0;
    double cost = 0;
    double profit = 0;
    double curtailed_miner_hours = 0;  // miner-hours not hashing at full
    std::uint64_t switches = 0;        // commands that changed a miner's point
    double switches_per_miner = 0;
    std::uint32_t max_switches_per_miner_day = 0;  // the most any one miner made in a UTC day
};

// One schedule's account, interval by interval (index as in the series).
struct Run {
    Totals totals;
    std::vector<double> power_kw;        // miners' average draw (no pue)
    std::vector<double> profit;          // per interval
    std::vector<float> curtailed_share;  // share of miners not hashing at full, 0..1
};

struct Result {
    std::vector<PriceInterval> intervals;
    std::size_t miners = 0;
    Run always_on, policy, optimum;
    // (policy - always_on) / (optimum - always_on); NaN when the optimum gains nothing.
    double capture_ratio = 0;
    bool optimum_exact = true;
    double optimum_cap_credit = 0;  // optimum.profit - (revenue - cost): the cap multipliers' share
    std::uint64_t held_by_dwell = 0;
    std::uint64_t cap_exceeded_intervals = 0;  // the policy drew more than a cap allows

    double hours() const noexcept;
};

// Throws std::invalid_argument (naming the interval) unless the series is non-empty, contiguous
// and of one interval length; and for a fleet with no classes or a class without points.
void check_inputs(const PriceSeries& prices, const Fleet& fleet);

Run always_on(const PriceSeries& prices, const Fleet& fleet, const Economics& economics);

struct ReplayStats {
    std::uint64_t held_by_dwell = 0;
    std::uint64_t cap_exceeded_intervals = 0;
};
// Throws std::invalid_argument when the step returns a wrong-sized vector or a point index out
// of range (naming the interval and miner).
Run replay(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
           const Constraints& constraints, const PolicyStep& step, ReplayStats* stats = nullptr);

struct OptimumInfo {
    bool exact = true;
    double cap_credit = 0;
};
Run optimum(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
            const Constraints& constraints, OptimumInfo* info = nullptr);

// All three, and the capture ratio.
Result run_backtest(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
                    const Constraints& constraints, const PolicyStep& step);

// A plain threshold policy (sleep above `sleep_above`, wake below `wake_below`; no memory): the
// benchmark's and the tests' stand-in for the engine.
PolicyStep threshold_policy(double sleep_above_per_mwh, double wake_below_per_mwh);

}  // namespace hashwatt::policies::backtest
