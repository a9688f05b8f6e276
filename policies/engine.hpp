// The decision engine: given the time (injected), the price and the fleet as observed, what
// each miner should run at, and whether to command it now. It remembers, per miner, its last
// switch, its switches today and since when its current wish has held, so that the safety
// limits of the RuleSet hold across rounds. The live control loop and the backtest run the
// same code. docs/policy.md describes the semantics; in short:
//
//   1. A wish per miner from the highest-precedence rule that applies (override > site_cap >
//      time_of_use > price_threshold > break_even; full when none does). A stale or missing
//      price replaces the price rules by `on_stale`.
//   2. Site caps: the miners' wishes are cut in merit order (least profitable kW first, so the
//      most efficient miners keep running, and a reduced point is kept before sleep where it
//      earns more) until each cap holds. Miners that safety cannot move count at their point.
//   3. Safety: `for`, min_on/min_off, switches per day, then per round the command budget and
//      the wake-up ramp. Overrides and cap cuts skip `for`, min_on/min_off and the switch cap
//      (they are obligations); every change counts against the command budget, and wake-ups
//      against the ramp.
//      Per round also at most safety.max_site_fraction_per_interval of each site's miners
//      (floor, at least 1; the miners without a site are one site), and no command at all for
//      a miner whose data is stale (safety.max_sample_age) or whose newest poll failed.
//   4. dry_run: every decision has change = false and a reason starting "dry-run: ". Kill
//      switch: no changes at all.
#pragma once

#include "policies/rules.hpp"
#include "policies/types.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hashwatt::policies {

struct MinerInput {
    std::string miner_id;
    std::optional<std::string> site;
    std::vector<OperatingPoint> points;  // points[0] full, then reduced ones, last sleep
    PointKind actual = PointKind::full;  // what the miner runs at now (observed)
    std::size_t actual_index = 0;        // index into points of what it runs at
    bool reachable = true;               // false: no decision changes it (can't command it)
    // When its newest sample was taken (none: not known, never stale by age), and whether that
    // sample is a failed poll. Older than safety.max_sample_age, or failed: the miner is not
    // commanded (rule "safety:stale_data"), since what it runs at now is not known.
    std::optional<TimePoint> sampled_at;
    bool sample_failed = false;
    std::string sample_why;  // for the reason when failed: "poll timeout"
};

struct PriceInput {
    std::optional<double> price_per_mwh;
    bool stale = false;
    std::string why;  // for the reason when stale or missing: "feed last answered 12m ago"
};

struct Decision {
    std::string miner_id;
    std::size_t target_index = 0;  // what the miner should run at after this round
    PointKind target = PointKind::full;
    bool change = false;  // change: send a command
    std::string rule;     // which rule decided ("break_even", "site_cap", "override:dr-event-7",
                          // "safety:min_on")
    std::string reason;   // "price 212.00 > break-even 71.00 + 5%" (for `policy explain`)
    double price_per_mwh = 0;       // NaN when there was no price
    double break_even_per_mwh = 0;  // of the target point, or of full when it sleeps
    bool held = false;  // wanted a change but a safety limit (for, min on/off, switch cap,
                        // stagger) held it
};

class PolicyEngine {
  public:
    explicit PolicyEngine(RuleSet rules);

    // One round at `now` (injected clock): one decision per fleet entry, in fleet order.
    // Deterministic: the same rules, history and inputs give the same decisions.
    // Thread-compatible (one caller at a time). A miner whose points are empty or whose
    // actual_index is out of range gets change = false and rule "invalid".
    std::vector<Decision> decide(TimePoint now, const PriceInput& price,
                                 std::span<const MinerInput> fleet);

    void set_rules(RuleSet rules);  // keeps per-miner memory and added overrides (reload)
    const RuleSet& rules() const noexcept { return rules_; }

    // false: decisions carry no `reason` (empty; everything else is the same). For replays
    // that never show reasons: writing them is most of a round's cost (the backtest).
    void set_explain(bool on) noexcept { explain_ = on; }

    // Adds (or replaces, by id) an override beside those of the RuleSet; dropped once expired.
    void add_override(Override o);
    bool remove_override(const std::string& id);  // false when no such id
    std::vector<Override> active_overrides(TimePoint now) const;

    // The wall clock stepped by `step` (WallClockSteps): the instants `for`, min_on, min_off,
    // settle and the ramp budget are measured from move with it, so each lasts its real length
    // instead of being cut short by a forward step or stretched by a backward one. Overrides
    // and time-of-use windows are wall-clock times and stay.
    void shift_clock(Duration step);

  private:
    struct MinerState {
        std::optional<TimePoint> last_switch;  // when it was last commanded
        std::size_t commanded_index = 0;       // what it was last commanded to
        bool has_command = false;
        std::int64_t switch_day = 0;  // UTC day number of switches_today
        int switches_today = 0;
        std::size_t wish_index = 0;  // what the rules wanted last round
        bool has_wish = false;
        TimePoint wish_since{};  // since when they have wanted it
    };

    RuleSet rules_;
    bool explain_ = true;
    std::vector<Override> added_;
    std::unordered_map<std::string, MinerState> state_;
    std::vector<std::pair<const std::string*, MinerState*>> cache_;  // by fleet position
    std::vector<bool> threshold_on_;        // per rule index: price_threshold rule engaged
    std::optional<double> ramp_budget_kw_;  // token bucket for wake-ups; may be in debt
    std::optional<TimePoint> last_round_;
};

}  // namespace hashwatt::policies
