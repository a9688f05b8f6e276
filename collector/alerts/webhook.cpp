#include "collector/alerts/webhook.hpp"

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <exception>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace hashwatt::collector::alerts {

namespace asio = boost::asio;

namespace {

constexpr Duration kIdlePoll{std::chrono::seconds(1)};
// Items read per look at the outbox; each still goes out on its own.
constexpr std::size_t kBatch = 32;

void write_map(JsonWriter& w, std::string_view key, const std::map<std::string, std::string>& m) {
    w.key(key);
    w.begin_object();
    for (const auto& [k, v] : m) w.field(k, v);
    w.end_object();
}

}  // namespace

std::string webhook_body(std::string_view notifier, const OutboxItem& item, TimePoint now) {
    const Notification& n = item.notification;
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("version", "1");
    w.field("id", item.id);
    w.field("notifier", notifier);
    w.field("status", n.resolved ? "resolved" : "firing");
    w.field("sent_at", format_time(now));
    w.field("attempt", item.attempts + 1);
    w.key("alert");
    w.begin_object();
    w.field("fingerprint", n.fingerprint);
    const auto name = n.labels.find("alertname");
    w.field("alertname", name == n.labels.end() ? std::string() : name->second);
    write_map(w, "labels", n.labels);
    write_map(w, "annotations", n.annotations);
    w.field("starts_at", format_time(n.starts_at));
    w.key("ends_at");
    if (n.ends_at) {
        w.value(format_time(*n.ends_at));
    } else {
        w.null();
    }
    w.field("generator_url", n.generator_url);
    w.end_object();
    w.end_object();
    return out;
}

WebhookNotifier::WebhookNotifier(asio::any_io_executor ex, Outbox& outbox, WebhookOptions options)
    : ex_(ex), outbox_(outbox), options_(std::move(options)), timer_(ex) {
    headers_ = options_.headers;
    if (!options_.bearer_token.empty()) {
        headers_.emplace_back("Authorization", "Bearer " + options_.bearer_token);
    }
}

void WebhookNotifier::wake() {
    asio::post(ex_, [this] {
        woken_ = true;
        timer_.cancel();
    });
}

void WebhookNotifier::stop() {
    asio::post(ex_, [this] {
        stopping_ = true;
        timer_.cancel();
    });
}

asio::awaitable<void> WebhookNotifier::run() {
    while (!stopping_) {
        woken_ = false;
        TimePoint wake_at = now_ms() + kIdlePoll;
        try {
            const auto items = outbox_.due(options_.name, now_ms(), kBatch);
            for (const auto& item : items) {
                if (stopping_) break;
                const TimePoint now = now_ms();
                const std::string body = webhook_body(options_.name, item, now);
                const auto r =
                    co_await post_json(ex_, options_.endpoint, options_.endpoint.target, body,
                                       headers_, options_.timeout, options_.max_reply_bytes);
                if (r.ok) {
                    outbox_.delivered(item.id);
                    ++delivered_;
                    continue;
                }
                // The rest wait behind this one: the queue is delivered in order.
                const TimePoint next = now_ms() + retry_delay(item.attempts + 1, options_.retry_min,
                                                              options_.retry_max);
                outbox_.failed(item.id, next, r.error);
                ++failed_;
                log::warn("webhook: delivery failed, kept for a retry",
                          {{"notifier", options_.name},
                           {"url", options_.endpoint.url},
                           {"id", item.id},
                           {"attempts", item.attempts + 1},
                           {"error", r.error}});
                break;
            }
            if (const auto t = outbox_.next_attempt(options_.name)) wake_at = std::min(wake_at, *t);
        } catch (const std::exception& e) {
            log::error("webhook: notifier loop failed",
                       {{"notifier", options_.name}, {"error", e.what()}});
            wake_at = now_ms() + options_.retry_min;
        }
        if (woken_ || stopping_) continue;
        const auto wait = wake_at - now_ms();
        if (wait <= Duration::zero()) continue;
        timer_.expires_after(wait);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

}  // namespace hashwatt::collector::alerts
