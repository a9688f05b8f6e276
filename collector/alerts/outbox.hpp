// The alert outbox: notifications waiting for a notifier (Alertmanager, a webhook), kept in
// the alert_outbox table so that a notifier that is down, or a collector restart, delays a
// notification but never loses it. Each notifier's queue is first in, first out.
#pragma once

#include "collector/alerts/alert.hpp"
#include "common/units.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::collector {
class Store;
namespace sqlite {
class Database;
}
}  // namespace hashwatt::collector

namespace hashwatt::collector::alerts {

// The payload the outbox stores: the Notification as a JSON object (times in RFC 3339;
// ends_at absent while firing). decode_notification throws std::invalid_argument naming the
// field ("labels.miner: expected a string") on anything but what encode_notification writes.
std::string encode_notification(const Notification& n);
Notification decode_notification(std::string_view json);

struct OutboxItem {
    std::int64_t id = 0;  // notification_id: increases with enqueue order
    int attempts = 0;     // failed deliveries so far
    TimePoint created_at{};
    std::optional<std::string> last_error;
    Notification notification;
};

// The wait before the next try after `attempts` failures (1, 2, ...): retry_min doubled per
// failure, at most retry_max.
Duration retry_delay(int attempts, Duration retry_min, Duration retry_max) noexcept;

class Outbox {
  public:
    // `store` must outlive the Outbox. Every call is one short SQLite statement or
    // transaction on the store's connections (Store::with_write/with_read), safe from any
    // thread.
    explicit Outbox(Store& store);

    // Queues `n` for `notifier`, due at once. Returns its id.
    std::int64_t enqueue(std::string_view notifier, const Notification& n, TimePoint now);
    // The same on `db`, a write connection of the store, inside the caller's transaction: the
    // item is queued when, and only if, that transaction commits.
    static std::int64_t enqueue(sqlite::Database& db, std::string_view notifier,
                                const Notification& n, TimePoint now);
    // The notifier's oldest undelivered items, up to `limit`, in enqueue order, provided the
    // oldest is due (its next attempt is at or before `now`); otherwise none. The head gating
    // the rest keeps deliveries in order when a retry is pending.
    std::vector<OutboxItem> due(std::string_view notifier, TimePoint now, std::size_t limit) const;
    // When the notifier's oldest item is next due; nullopt when its queue is empty.
    std::optional<TimePoint> next_attempt(std::string_view notifier) const;
    // Removes a delivered item (a no-op for an unknown id).
    void delivered(std::int64_t id);
    // Counts a failed attempt: attempts + 1, the error kept, due again at `next_attempt`.
    void failed(std::int64_t id, TimePoint next_attempt, std::string_view error);
    std::int64_t pending_count(std::string_view notifier) const;

  private:
    Store& store_;
};

}  // namespace hashwatt::collector::alerts
