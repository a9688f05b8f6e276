// A power policy as read from TOML (deploy/config/policy.toml, docs/policy.md): economics, the
// rules that say what each miner should run at, and the safety limits on how fast that may
// change. Reading is strict: an unknown key or a bad value is a config::ConfigError whose what()
// is "file:line:column: key: message".
#pragma once

#include "common/config.hpp"
#include "common/miner_sample.hpp"
#include "common/units.hpp"
#include "policies/economics.hpp"
#include "policies/prices/timezone.hpp"
#include "policies/types.hpp"

#include <optional>
#include <string>
#include <vector>

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
    // At most this share of a site's miners (every fleet entry of the site, floor, at least 1)
    // is commanded in one round; the rest wait for later rounds ("safety:site_fraction").
    // 1: no limit (the default, so that a policy without the key behaves as before).
    double max_site_fraction_per_interval = 1.0;
    // A miner whose newest sample is older than this, or is a failed poll, is not commanded
    // ("safety:stale_data"): the engine would act on what the miner was, not what it is.
    Duration max_sample_age{std::chrono::minutes(5)};
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

// Reads the policy from `doc`, checks it with validate() and calls doc.finish(). Throws
// config::ConfigError.
RuleSet read_policy(const config::Document& doc);
// Every invariant a RuleSet must hold before an engine may run it (ranges, finite numbers,
// names, windows, caps, overrides), checked on the parsed values independently of the reader:
// the problems found, empty when none. read_policy refuses a policy with any, so that no
// parser gap lets a bad value take effect.
std::vector<std::string> validate(const RuleSet& r);
// The file changed while load_policy_file read it (its size or mtime moved, or fewer bytes
// came than it has): a writer is rewriting it in place. Transient: try again later.
class PolicyFileChanging : public config::ConfigError {
  public:
    using config::ConfigError::ConfigError;
};

// Reads the whole file and read_policy on it. The file's size and mtime are taken before and
// after the read and must match what was read, else PolicyFileChanging: a policy half written
// in place is not taken. Replace a policy by writing a new file and renaming it over the old
// (rename is atomic: a reader sees the old file or the new one, whole).
RuleSet load_policy_file(const std::string& path);
// One line for `hashwatt policy check`: "3 rules (break_even, site_cap, override), hashprice
// 0.0500/TH/day, interval 5m, dry-run".
std::string summarize(const RuleSet& r);

// Whether `w` holds at `t` (UTC) for a rule at `utc_offset`.
bool window_contains(const TouWindow& w, Duration utc_offset, TimePoint t) noexcept;

}  // namespace hashwatt::policies
