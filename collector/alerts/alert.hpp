// The types the alert engine (rules, lifecycle, alert_store) and the notifiers (outbox,
// Alertmanager, webhooks) share. Tables: migration 6 in collector/storage/schema.cpp.
#pragma once

#include "common/time.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::collector::alerts {

// inactive -> pending (condition true, `for` not yet served) -> firing -> resolved (condition
// false for keep_firing_for). A resolved alert that comes back starts at pending again.
enum class AlertState { inactive, pending, firing, resolved };
std::string_view to_string(AlertState s) noexcept;
std::optional<AlertState> parse_alert_state(std::string_view s) noexcept;

enum class Severity { info, warning, critical };
std::string_view to_string(Severity s) noexcept;
std::optional<Severity> parse_severity(std::string_view s) noexcept;

// One alert instance: a rule about one subject (a miner id, or an agent id for agent rules).
// `labels` always hold alertname and severity, and miner, site, agent_id where known, plus the
// rule's own; `annotations` hold summary and description with the values that made it fire.
struct Alert {
    std::string fingerprint;  // alert_fingerprint(alertname, subject)
    std::string alertname;    // the rule's name, e.g. MinerOffline
    std::string subject;
    Severity severity = Severity::warning;
    AlertState state = AlertState::inactive;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    std::optional<TimePoint> active_since;  // condition true since (pending and firing)
    std::optional<TimePoint> fired_at;
    std::optional<TimePoint> resolved_at;
    std::optional<TimePoint> last_true;  // last evaluation that found the condition true
    TimePoint updated_at{};
    std::optional<std::string> acked_by;
    std::optional<TimePoint> acked_at;
    std::optional<TimePoint> silenced_until;

    bool operator==(const Alert&) const = default;
};

// Stable across restarts and versions: 16 hex digits of a hash of alertname and subject.
std::string alert_fingerprint(std::string_view alertname, std::string_view subject);

// What a notifier delivers, once per state change (firing, resolved) and, for Alertmanager,
// again every resend interval while firing. The payload the outbox stores.
struct Notification {
    std::string fingerprint;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    TimePoint starts_at{};             // fired_at
    std::optional<TimePoint> ends_at;  // set when resolved
    std::string generator_url;         // the collector's /api/v1/alerts?fingerprint=...
    bool resolved = false;

    bool operator==(const Notification&) const = default;
};

}  // namespace hashwatt::collector::alerts
