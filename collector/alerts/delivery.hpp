// The configured notifiers (Alertmanagers, webhooks) running together on a thread of their own,
// fed by the alert engine: each notification is queued in the outbox for every notifier, which
// delivers it in its own time (collector/alerts/outbox.hpp).
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/notifier_config.hpp"
#include "collector/storage/store.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace hashwatt::collector::alerts {

class NotifierSet {
  public:
    using FiringSource = std::function<std::vector<Notification>()>;

    // Starts every notifier of `config` on its own io_context thread (none: no thread).
    // `firing` gives the Alertmanagers what to resend; `store` must outlive the set.
    NotifierSet(Store& store, const NotifierConfig& config, FiringSource firing);
    // stop().
    ~NotifierSet();
    NotifierSet(const NotifierSet&) = delete;
    NotifierSet& operator=(const NotifierSet&) = delete;

    // Queues `n` for every notifier and wakes them. Throws what the store throws.
    void notify(const Notification& n);
    // Queues `n` for every notifier on `db` inside the caller's transaction (the engine's
    // AlertEngineOptions::queue), without waking them: wake() after the commit.
    void queue(sqlite::Database& db, const Notification& n, TimePoint now) const;
    void wake();
    std::size_t size() const noexcept;

    // Ends the delivery loops (waiting up to 5 s for a request in flight) and joins the
    // thread. Undelivered notifications stay queued for the next start. Idempotent.
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hashwatt::collector::alerts
