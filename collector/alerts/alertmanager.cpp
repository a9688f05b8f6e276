#include "collector/alerts/alertmanager.hpp"

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <exception>
#include <set>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace hashwatt::collector::alerts {

namespace asio = boost::asio;

namespace {

// The loop looks at the outbox at least this often, so an enqueue nobody woke it for still
// goes out promptly.
constexpr Duration kIdlePoll{std::chrono::seconds(1)};

void write_map(JsonWriter& w, std::string_view key, const std::map<std::string, std::string>& m) {
    w.key(key);
    w.begin_object();
    for (const auto& [k, v] : m) w.field(k, v);
    w.end_object();
}

}  // namespace

std::string alertmanager_body(const std::vector<Notification>& alerts, TimePoint now,
                              Duration resend_interval) {
    // Within one POST a later state of the same alert wins; sending both would leave it to
    // Alertmanager's merge which one sticks.
    std::vector<const Notification*> keep;
    std::set<std::string_view> seen;
    for (auto it = alerts.rbegin(); it != alerts.rend(); ++it) {
        if (seen.insert(it->fingerprint).second) keep.push_back(&*it);
    }
    std::reverse(keep.begin(), keep.end());

    std::string out;
    JsonWriter w(out);
    w.begin_array();
    for (const Notification* n : keep) {
        w.begin_object();
        write_map(w, "labels", n->labels);
        write_map(w, "annotations", n->annotations);
        w.field("startsAt", format_time(n->starts_at));
        const TimePoint ends = n->resolved ? n->ends_at.value_or(now) : now + 4 * resend_interval;
        w.field("endsAt", format_time(ends));
        if (!n->generator_url.empty()) w.field("generatorURL", n->generator_url);
        w.end_object();
    }
    w.end_array();
    return out;
}

AlertmanagerNotifier::AlertmanagerNotifier(asio::any_io_executor ex, Outbox& outbox,
                                           AlertmanagerOptions options, FiringSource firing)
    : ex_(ex)
    , outbox_(outbox)
    , options_(std::move(options))
    , firing_(std::move(firing))
    , timer_(ex) {
    std::string base = options_.endpoint.target;
    if (const auto q = base.find('?'); q != std::string::npos) base.resize(q);
    while (!base.empty() && base.back() == '/') base.pop_back();
    target_ = base + "/api/v2/alerts";
    if (options_.batch_size == 0) options_.batch_size = 1;
}

void AlertmanagerNotifier::wake() {
    asio::post(ex_, [this] {
        woken_ = true;
        timer_.cancel();
    });
}

void AlertmanagerNotifier::stop() {
    asio::post(ex_, [this] {
        stopping_ = true;
        timer_.cancel();
    });
}

asio::awaitable<PostResult> AlertmanagerNotifier::post(const std::vector<Notification>& alerts,
                                                       TimePoint now) {
    const std::string body = alertmanager_body(alerts, now, options_.resend_interval);
    const std::vector<std::pair<std::string, std::string>> no_headers;
    co_return co_await post_json(ex_, options_.endpoint, target_, body, no_headers,
                                 options_.timeout, options_.max_reply_bytes);
}

asio::awaitable<void> AlertmanagerNotifier::run() {
    // The resend period runs on the steady clock: by the wall clock, a clock set back an hour
    // would hold resends for that hour, and Alertmanager resolves alerts it is not sent again
    // within its resolve_timeout.
    using Steady = std::chrono::steady_clock;
    Steady::time_point next_resend = Steady::now();  // at start: Alertmanager may not know them
    int resend_failures = 0;
    while (!stopping_) {
        woken_ = false;
        bool more = false;
        TimePoint wake_at = now_ms() + kIdlePoll;
        try {
            TimePoint now = now_ms();
            const auto items = outbox_.due(options_.name, now, options_.batch_size);
            if (!items.empty()) {
                std::vector<Notification> batch;
                batch.reserve(items.size());
                for (const auto& i : items) batch.push_back(i.notification);
                const auto r = co_await post(batch, now);
                if (r.ok) {
                    for (const auto& i : items) outbox_.delivered(i.id);
                    delivered_ += items.size();
                    more = items.size() == options_.batch_size;
                } else {
                    now = now_ms();
                    const TimePoint next =
                        now + retry_delay(items.front().attempts + 1, options_.retry_min,
                                          options_.retry_max);
                    for (const auto& i : items) outbox_.failed(i.id, next, r.error);
                    ++failed_;
                    log::warn("alertmanager: delivery failed, kept for a retry",
                              {{"notifier", options_.name},
                               {"url", options_.endpoint.url},
                               {"alerts", items.size()},
                               {"attempts", items.front().attempts + 1},
                               {"error", r.error}});
                }
            }
            now = now_ms();
            if (firing_ && Steady::now() >= next_resend) {
                const auto firing = firing_();
                bool ok = true;
                for (std::size_t i = 0; i < firing.size() && ok; i += options_.batch_size) {
                    const std::vector<Notification> part(
                        firing.begin() + static_cast<std::ptrdiff_t>(i),
                        firing.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(firing.size(), i + options_.batch_size)));
                    const auto r = co_await post(part, now);
                    if (!r.ok) {
                        ok = false;
                        log::warn("alertmanager: resend failed",
                                  {{"notifier", options_.name}, {"error", r.error}});
                    }
                }
                if (ok) {
                    resend_failures = 0;
                    if (!firing.empty()) ++resends_;
                    next_resend = Steady::now() + options_.resend_interval;
                } else {
                    ++failed_;
                    next_resend =
                        Steady::now() + std::min(options_.resend_interval,
                                                 retry_delay(++resend_failures, options_.retry_min,
                                                             options_.retry_max));
                }
            }
            if (firing_) {
                wake_at = std::min(
                    wake_at, now_ms() + std::chrono::ceil<Duration>(next_resend - Steady::now()));
            }
            if (const auto t = outbox_.next_attempt(options_.name)) wake_at = std::min(wake_at, *t);
        } catch (const std::exception& e) {
            // A storage failure: keep the loop alive and try again later.
            log::error("alertmanager: notifier loop failed",
                       {{"notifier", options_.name}, {"error", e.what()}});
            wake_at = now_ms() + options_.retry_min;
            more = false;
        }
        if (more || woken_ || stopping_) continue;
        const auto wait = wake_at - now_ms();
        if (wait <= Duration::zero()) continue;
        timer_.expires_after(wait);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

}  // namespace hashwatt::collector::alerts
