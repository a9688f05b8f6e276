// The policy_overrides table (migration 9), through Store::with_write / with_read: the
// demand-response and manual overrides added through the API, kept so that a restarted
// collector hands them to its control loop again until they end (docs/storage.md).
#pragma once

#include "collector/control/policy_control.hpp"
#include "collector/storage/store.hpp"
#include "policies/rules.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::collector::control {

struct OverrideRecord {
    policies::Override value;
    std::string created_by;  // who added it ("admin", or the request's "by")
    TimePoint created_at{};

    bool operator==(const OverrideRecord& o) const;
};

// "sleep", "reduced", "full": the spellings of the routes and the table.
std::optional<policies::PointKind> parse_point_kind(std::string_view s) noexcept;

// Inserts the override, or replaces the one with its id. Throws std::invalid_argument naming
// the field (id: empty; end: not after start; created_by: empty); nothing is written then.
void save_override(Store& store, const OverrideRecord& record);
// False when no override has that id.
bool delete_override(Store& store, const std::string& id);
// The overrides that have not ended at `now` (end > now), by start, then id; those that have
// ended stay in the table until retention removes them, but are never returned.
std::vector<OverrideRecord> load_overrides(const Store& store, TimePoint now);
// Hands every saved override that has not ended to `control` (add_override), for a loop that
// starts (or restarts) on this store; returns how many.
std::size_t restore_overrides(const Store& store, PolicyControl& control, TimePoint now);

}  // namespace hashwatt::collector::control
