// Rule conditions: pure functions of a rule, a miner's record and latest sample, and the time.
#pragma once

#include "collector/alerts/rules.hpp"
#include "collector/storage/store.hpp"

#include <map>
#include <optional>
#include <string>

namespace hashwatt::collector::alerts {

struct Evaluation {
    bool holds = false;
    // When the condition began, if the data says (offline: the last successful poll); else
    // the lifecycle counts `for` from the first evaluation that found it true.
    std::optional<TimePoint> since;
    // For the templates: always miner and site (and agent_id when known); when the condition
    // holds, the values that made it true (value, threshold and the kind's own names).
    std::map<std::string, std::string> values;
};

// Whether `rule` covers this miner: its site and selector labels.
bool rule_applies(const AlertRule& rule, const MinerRecord& miner,
                  const MinerSample* latest) noexcept;

// The condition of `rule` for one miner at `now`. `latest` is its newest sample (nullptr when
// it has none). A sleeping miner is healthy for every rule but offline; a miner not answering
// is judged only by offline (the others need values it does not report).
Evaluation evaluate(const AlertRule& rule, const MinerRecord& miner, const MinerSample* latest,
                    TimePoint now);

}  // namespace hashwatt::collector::alerts
