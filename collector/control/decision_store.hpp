// The decisions table (migration 8), through Store::with_write / with_read: what the power
// policy decided for a miner and why. One row per change the engine made (commanded), would
// have made (dry_run) or held back (held: a safety limit); docs/storage.md.
#pragma once

#include "collector/storage/store.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::collector::control {

enum class DecisionOutcome {
    commanded,  // a command was queued (command_id)
    dry_run,    // the policy runs in dry-run mode: nothing was sent
    held,       // a safety limit (for, min on/off, switch cap, stagger, kill switch) held it
};
std::string_view to_string(DecisionOutcome o) noexcept;
std::optional<DecisionOutcome> parse_decision_outcome(std::string_view s) noexcept;

struct DecisionRecord {
    std::int64_t decision_id = 0;  // set by the store
    TimePoint at{};
    std::string miner_id;
    std::optional<std::string> site;
    std::string target;  // the operating point: full, reduced, sleep
    std::optional<double> power_target_w;
    DecisionOutcome outcome = DecisionOutcome::commanded;
    std::string rule;    // "break_even", "site_cap", "override:dr-7", "safety:min_on"
    std::string reason;  // "price 212.00 > break-even 71.00 + 5%"
    std::optional<double> price_per_mwh;
    std::optional<double> break_even_per_mwh;
    std::optional<std::string> command_id;

    bool operator==(const DecisionRecord&) const = default;
};

struct DecisionFilter {
    std::optional<std::string> miner_id;
    std::optional<std::string> site;
    std::optional<DecisionOutcome> outcome;
    std::optional<TimePoint> from;  // at >= from
    std::optional<TimePoint> to;    // at < to
    std::size_t limit = 1000;
};

// Appends the records in one transaction; returns them with their decision_id. Throws
// std::invalid_argument naming the record (records[2].target: empty) on a record without
// miner_id, target, rule or reason; nothing is written then.
std::vector<DecisionRecord> record_decisions(Store& store, std::vector<DecisionRecord> records);
// Newest first (by at, then decision_id).
std::vector<DecisionRecord> list_decisions(const Store& store, const DecisionFilter& filter);
// Each miner's newest decision (what `hashwatt policy explain` starts from), by miner_id.
std::vector<DecisionRecord> latest_decisions(const Store& store);

}  // namespace hashwatt::collector::control
