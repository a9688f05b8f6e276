// The Alertmanager notifier: delivers the outbox's notifications to Alertmanager's v2 API
// (POST <url>/api/v2/alerts, a JSON array of alerts) and sends the firing alerts again every
// resend interval, as Prometheus does; Alertmanager does the routing, grouping, silencing and
// repeat notifications from there (docs/alerts.md, "Routing with Alertmanager").
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/notifier_config.hpp"
#include "collector/alerts/outbox.hpp"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hashwatt::collector::alerts {

// The v2 request body for `alerts` at `now`: labels, annotations, startsAt, endsAt and
// generatorURL (left out when empty). A resolved alert ends at its ends_at (or now); a firing
// one at now + 4 x resend_interval, which Alertmanager takes as "resolved unless heard from
// again by then". Several notifications of one fingerprint keep only the last.
std::string alertmanager_body(const std::vector<Notification>& alerts, TimePoint now,
                              Duration resend_interval);

class AlertmanagerNotifier {
  public:
    // The alerts firing now (the engine's); called on the notifier's executor every resend
    // interval. May be empty.
    using FiringSource = std::function<std::vector<Notification>()>;

    // `ex` must be single-threaded (an io_context run by one thread, or a strand); `outbox`
    // must outlive the notifier. Nothing happens until run() is spawned.
    AlertmanagerNotifier(boost::asio::any_io_executor ex, Outbox& outbox,
                         AlertmanagerOptions options, FiringSource firing);

    // The delivery loop, until stop(): due outbox items of options.name go out in batches,
    // a failed batch stays queued and is tried again after retry_delay (attempts counted per
    // item); the firing alerts go out every resend_interval, and once at start. Spawn it
    // with co_spawn on the executor; keep the notifier alive until it has returned.
    boost::asio::awaitable<void> run();
    // Thread-safe: have the loop look at the outbox now (after an enqueue) / end soon.
    void wake();
    void stop();

    // Counters, readable from any thread.
    std::uint64_t delivered() const noexcept { return delivered_.load(); }
    std::uint64_t failed_attempts() const noexcept { return failed_.load(); }
    std::uint64_t resends() const noexcept { return resends_.load(); }

    const AlertmanagerOptions& options() const noexcept { return options_; }

  private:
    boost::asio::awaitable<PostResult> post(const std::vector<Notification>& alerts, TimePoint now);

    boost::asio::any_io_executor ex_;
    Outbox& outbox_;
    AlertmanagerOptions options_;
    FiringSource firing_;
    std::string target_;  // <base path>/api/v2/alerts
    boost::asio::steady_timer timer_;
    bool woken_ = false;
    bool stopping_ = false;
    std::atomic<std::uint64_t> delivered_{0}, failed_{0}, resends_{0};
};

}  // namespace hashwatt::collector::alerts
