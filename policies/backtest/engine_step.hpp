// The live decision engine as the backtest's PolicyStep: the same PolicyEngine, the same
// RuleSet, fed each interval with the simulated fleet as the control loop would feed it with
// the observed one. And the RuleSet's limits the optimum must honour (Constraints).
#pragma once

#include "policies/backtest/backtest.hpp"
#include "policies/engine.hpp"

#include <memory>

namespace hashwatt::policies::backtest {

// A PolicyStep that calls `engine->decide` once per interval with every miner of `fleet`
// (ids and order as FleetState), each miner's observed point as its actual one, and the
// interval's price (never stale: a backtest's prices are all known). A miner whose decision
// is a change gets its target; the others keep theirs. Reasons are not written
// (set_explain(false)): a replay shows totals, and the reasons are most of a round's cost.
PolicyStep engine_step(std::shared_ptr<PolicyEngine> engine, const Fleet& fleet);

// What of `rules` the optimum models: min_on and min_off, and each site_cap as a cap on the
// miners' own draw (the engine caps draw x pue, the backtest's caps exclude pue).
Constraints constraints_of(const RuleSet& rules);

}  // namespace hashwatt::policies::backtest
