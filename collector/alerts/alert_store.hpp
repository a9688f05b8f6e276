// The alerts and alert_events tables (migration 6), through Store::with_write / with_read.
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/storage/store.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::collector::alerts {

struct AlertEvent {
    std::int64_t event_id = 0;
    std::string fingerprint;
    TimePoint at{};
    AlertState state = AlertState::inactive;
    std::optional<std::string> message;

    bool operator==(const AlertEvent&) const = default;
};

struct AlertFilter {
    std::optional<AlertState> state;   // none: every state but inactive
    std::optional<std::string> miner;  // the alert's subject
    std::optional<std::string> alertname;
    std::optional<std::string> fingerprint;
    std::size_t limit = 100;  // most recently updated first
};

// An alert to save and, when it changed state, the event to record with it.
struct AlertWrite {
    Alert alert;
    std::optional<std::string> event_message;  // set: an event (at updated_at, state) is added
};

// Every alert whose state is not inactive: what the engine resumes from after a restart.
std::vector<Alert> load_active_alerts(const Store& store);
// Inserts or replaces each alert and adds its event, all in one transaction; `also`, when set,
// runs inside that transaction before it commits (the engine queues the notifications of the
// changes there, so that a crash keeps both or neither). Nothing is written when `writes` is
// empty and `also` is not set.
void save_alerts(Store& store, const std::vector<AlertWrite>& writes,
                 const std::function<void(sqlite::Database&)>& also = {});
void save_alert(Store& store, const Alert& alert, std::optional<std::string> event_message);
std::vector<Alert> list_alerts(const Store& store, const AlertFilter& filter);
// The history of one alert, oldest first, at most `limit` (the newest).
std::vector<AlertEvent> alert_events(const Store& store, const std::string& fingerprint,
                                     std::size_t limit = 100);

// What the command_failed and agent_silent rules read (not the alerts tables, but through
// Store::with_read all the same, one query each instead of one per miner or agent).

// Per miner, its newest command that finished at or after `since` as succeeded, failed or
// timed_out. Only the fields the rule reads are set: command (id, miner_id, type), agent_id,
// status, finished_at, message, agent_message.
std::map<std::string, CommandRecord> latest_finished_commands(const Store& store, TimePoint since);
// Per miner, its newest sleep or wake command (by created_at) in any status but unsupported
// (nothing was sent then, so it says nothing of what the miner will do): the state hashwatt
// wants it in. Fields set: command (id, miner_id, type, created_at), agent_id, status.
std::map<std::string, CommandRecord> latest_state_commands(const Store& store);
// Per agent id, the newest received_at of its ingest batches received at or after `since`
// (embedded agents included: they ingest like any other). An agent with none since is absent.
// Bounded by `since` so that the index on received_at keeps this to the recent rows.
std::map<std::string, TimePoint> agent_last_batches(const Store& store, TimePoint since);

}  // namespace hashwatt::collector::alerts
