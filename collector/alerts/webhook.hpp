// The generic webhook notifier: one POST per notification, with the JSON body of
// docs/alerts.md ("Webhook format"), an optional bearer token and extra headers. Delivery is
// at least once and in order: a notification stays in the outbox until the receiver answers
// 2xx, and a failed one is retried with exponential backoff before any later one is sent, so
// a receiver that answers too late may see a notification twice (the body's "id" tells).
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/notifier_config.hpp"
#include "collector/alerts/outbox.hpp"

#include <atomic>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hashwatt::collector::alerts {

// The webhook body for outbox item `item` sent by notifier `notifier` at `now`.
std::string webhook_body(std::string_view notifier, const OutboxItem& item, TimePoint now);

class WebhookNotifier {
  public:
    // `ex` must be single-threaded (an io_context run by one thread, or a strand); `outbox`
    // must outlive the notifier. Nothing happens until run() is spawned.
    WebhookNotifier(boost::asio::any_io_executor ex, Outbox& outbox, WebhookOptions options);

    // The delivery loop, until stop(): the due outbox items of options.name, one POST each,
    // oldest first; on a failure the item is kept (attempts + 1) and the queue waits
    // retry_delay before trying it again. Spawn with co_spawn on the executor; keep the
    // notifier alive until it has returned.
    boost::asio::awaitable<void> run();
    // Thread-safe: have the loop look at the outbox now (after an enqueue) / end soon.
    void wake();
    void stop();

    std::uint64_t delivered() const noexcept { return delivered_.load(); }
    std::uint64_t failed_attempts() const noexcept { return failed_.load(); }

    const WebhookOptions& options() const noexcept { return options_; }

  private:
    boost::asio::any_io_executor ex_;
    Outbox& outbox_;
    WebhookOptions options_;
    std::vector<std::pair<std::string, std::string>> headers_;  // with Authorization
    boost::asio::steady_timer timer_;
    bool woken_ = false;
    bool stopping_ = false;
    std::atomic<std::uint64_t> delivered_{0}, failed_{0};
};

}  // namespace hashwatt::collector::alerts
