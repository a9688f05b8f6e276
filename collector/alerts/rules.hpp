// Alert rules: what each kind of rule checks, the defaults a farm gets without configuring
// anything, and reading [alerts] / [[alerts.rule]] from the collector's TOML.
#pragma once

#include "collector/alerts/alert.hpp"
#include "common/units.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::config {
class Table;
}

namespace hashwatt::collector::alerts {

// What a rule checks; `threshold` means something different for each (see default_rules()).
enum class RuleKind {
    offline,           // threshold: seconds since the last successful poll that count as down
    hashrate_low,      // threshold: fraction of the expected hash rate
    chip_temp_high,    // threshold: hottest chip, degrees C
    board_temp_high,   // threshold: hottest board sensor, degrees C
    fan_failure,       // threshold: fraction of the median of the miner's other fans
    board_dead,        // no threshold; expected_boards when set
    reject_rate_high,  // threshold: rejected / (accepted + rejected), 0..1
    power_over_limit,  // threshold: fraction of the miner's power limit
    command_failed,    // no threshold; window: how long a failed command keeps it firing
    state_unexpected,  // no threshold: sleeping while wanted mining, or mining while wanted asleep
    agent_silent,      // per agent, not per miner; threshold: seconds without an ingest batch
};
std::string_view to_string(RuleKind k) noexcept;
std::optional<RuleKind> parse_rule_kind(std::string_view s) noexcept;
// Whether alerts of this kind are about an agent (subject and label agent_id) instead of a miner.
bool is_agent_rule(RuleKind k) noexcept;

struct AlertRule {
    std::string name;  // the alertname label, e.g. MinerOffline
    RuleKind kind = RuleKind::offline;
    bool enabled = true;
    // How long the condition must hold before pending becomes firing.
    Duration for_duration{std::chrono::minutes(5)};
    // How long a firing alert stays firing after the condition stops holding, so that a value
    // wobbling around its threshold fires once instead of firing and resolving in turn.
    Duration keep_firing_for{std::chrono::minutes(5)};
    Severity severity = Severity::warning;
    double threshold = 0;
    // Thresholds for miners of one make ("MicroBT", as the sample's `make` says), where that
    // make's sensors read differently (TOML: make_threshold = { MicroBT = 115 }).
    std::map<std::string, double> make_thresholds;
    // board_dead only: a miner reporting fewer boards than this has lost one (0: not checked,
    // since the count differs between models).
    std::int64_t expected_boards = 0;
    // command_failed only: a failed or timed-out command counts for this long after it
    // finished, unless a later command for the miner succeeds first.
    Duration window{std::chrono::hours(1)};
    std::map<std::string, std::string> labels;  // added to the alert's labels
    // Templates: {name} is replaced by the value of that name (see evaluate.hpp); an unknown
    // name is left as written.
    std::string summary;
    std::string description;
    // Scope: the rule applies to a miner only if it is at `site` (when set) and has every
    // label pair of `selector`.
    std::optional<std::string> site;
    std::map<std::string, std::string> selector;
};

// The threshold that applies to a miner of `make` (make_thresholds, else threshold).
double threshold_for(const AlertRule& rule, const std::optional<std::string>& make) noexcept;

// One rule per kind, enabled, with the thresholds and durations explained in rules.cpp.
std::vector<AlertRule> default_rules();

struct AlertsConfig {
    bool enabled = true;
    Duration interval{std::chrono::seconds(15)};  // how often every rule is evaluated
    std::vector<AlertRule> rules = default_rules();
};

// Reads `alerts` (the [alerts] table) over the defaults: each [[alerts.rule]] with a
// default's name changes only the fields it gives; a new name adds a rule and must give its
// `kind`. Throws config::ConfigError naming the key (alerts.rule[2].threshold: ...).
AlertsConfig read_alerts_config(const config::Table& alerts);

// "{name}" in `text` replaced by values[name].
std::string fill_template(std::string_view text, const std::map<std::string, std::string>& values);

}  // namespace hashwatt::collector::alerts
