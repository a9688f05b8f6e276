// A power policy as read from TOML (deploy/config/policy.toml, docs/policy.md): economics, the
// rules that say what each miner should run at, and the safety limits on how fast that may
// change. Reading is strict: an unknown key or a bad value is a config::ConfigError whose what()
// is "file:line:column: key: message".
#pragma once

#include "common/miner_sample.hpp"
#include "common/units.hpp"
#include "policies/economics.hpp"
#include "policies/prices/timezone.hpp"
#include "policies/types.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hashwatt::config {
class Document;
}

namespace hashwatt::policies {

// In precedence order, lowest first: a rule of a later kind beats every rule of an earlier one;
// `priority` orders rules of the same kind (higher first, then file order).
enum class RuleKind { break_even, price_threshold, time_of_use, site_cap, override_event };
std::string_view to_string(RuleKind k) noexcept;  // "override" for override_event

// What to do while the price is stale or missing.
enum class StaleAction { hold, mine, sleep };
std::string_view to_string(StaleAction a) noexcept;

// A weekly window in local time (utc_offset of its rule). start > end wraps past midnight; the
// days and months are those of the local date the window started on.
struct TouWindow {
    std::vector<int> weekdays;  // 0 = Monday .. 6 = Sunday; empty: every day
    std::vector<int> months;    // 1..12; empty: all year (seasons)
    int start_minute = 0;       // minutes after local midnight, 0..1439
    int end_minute = 0;         // exclusive, 1..1440
};

// A demand-response event or a manual override: from start (inclusive) to end (exclusive), the
// miners in scope run at `target`. Expired overrides are dropped.
struct Override {
    std::string id;
    PointKind target = PointKind::sleep;
    TimePoint start{};
    TimePoint end{};
    int priority = 0;
    std::optional<std::string> site;  // none: every site
    std::vector<std::string> miners;  // empty: every miner in scope
};

struct Rule {
    std::string name;  // given, or "<kind>#<n>" (n counts from 1 in file order)
    RuleKind kind = RuleKind::break_even;
    std::optional<std::string> site;  // none: every site
    int priority = 0;
    // break_even: run a point while price <= its break-even * (1 + margin_pct / 100); of the
    // points that do, the one that earns most at the price.
    double margin_pct = 0;
    // break_even: a miner leaves its current point only for one that earns at least this
    // share (%) of its revenue at full more, per hour; 0: always the best point.
    double hysteresis_pct = 0;
    // price_threshold: once price > sleep_above the rule is on (miners go to `target`) until
    // price < wake_below (<= sleep_above): separate enter and exit levels.
    double sleep_above_per_mwh = 0;
    double wake_below_per_mwh = 0;
    // price_threshold and time_of_use: sleep, or reduced (the miner's lowest reduced point;
    // sleep for a miner without one).
    PointKind target = PointKind::sleep;
    // time_of_use
    std::vector<TouWindow> windows;
    Duration utc_offset{0};                // local time = UTC + utc_offset, unless `zone` is set
    std::optional<prices::TimeZone> zone;  // `timezone = "America/Chicago"`: follows DST
    // site_cap: the miners in scope draw at most kw (at the wall, times pue).
    double cap_kw = 0;
};

struct Safety {
    Duration for_duration{0};           // a wanted change must persist this long ("for")
    Duration min_on{0};                 // after a wake, stay running at least this long
    Duration min_off{0};                // after a sleep, stay asleep at least this long
    int max_switches_per_day = 0;       // commands per miner per UTC day; 0: no limit
    double max_ramp_kw_per_min = 0;     // kW added by wake-ups per minute, fleet-wide; 0: none
    int max_commands_per_interval = 0;  // commands per decision round; 0: no limit
    Duration settle{std::chrono::minutes(10)};  // wait this long for a commanded miner to
                                                // report its target before commanding again
};

struct RuleSet {
    Duration interval{std::chrono::minutes(1)};  // decision round spacing
    bool dry_run = false;                        // decide and explain, command nothing
    bool kill_switch = false;  // true ([policy] enabled = false): command nothing at all
    StaleAction on_stale = StaleAction::hold;
    double margin_pct = 0;  // default margin of break_even rules
    Economics economics;
    std::optional<NetworkStats> network;  // when hashprice was derived from it
    std::vector<Rule> rules;              // sorted: highest precedence first
    std::vector<Override> overrides;      // from [[rule]] kind = "override"
    Safety safety;
};

// Reads the policy from `doc` and calls doc.finish(). Throws config::ConfigError.
RuleSet read_policy(const config::Document& doc);
// Document::load_file + read_policy.
RuleSet load_policy_file(const std::string& path);
// One line for `hashwatt policy check`: "3 rules (break_even, site_cap, override), hashprice
// 0.0500/TH/day, interval 5m, dry-run".
std::string summarize(const RuleSet& r);

// Whether `w` holds at `t` (UTC) for a rule at `utc_offset`.
bool window_contains(const TouWindow& w, Duration utc_offset, TimePoint t) noexcept;

}  // namespace hashwatt::policies
