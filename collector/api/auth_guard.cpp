#include "collector/api/auth_guard.hpp"

#include "collector/metrics/collector_metrics.hpp"
#include "common/log.hpp"

#include <algorithm>

#include <prometheus/counter.h>

namespace hashwatt::collector {

namespace pm = prometheus;

std::string_view to_string(AuthFailure f) noexcept {
    switch (f) {
        case AuthFailure::missing:
            return "missing";
        case AuthFailure::malformed:
            return "malformed";
        case AuthFailure::unknown:
            return "unknown";
        case AuthFailure::forbidden:
            return "forbidden";
    }
    return "unknown";
}

AuthLimiter::AuthLimiter(AuthLimitOptions options) : options_(options) {
    options_.max_clients = std::max<std::size_t>(options_.max_clients, 1);
}

void AuthLimiter::touch(Entry& e) { order_.splice(order_.end(), order_, e.order); }

std::optional<AuthLimiter::Clock::duration> AuthLimiter::locked(const std::string& address,
                                                                Clock::time_point now) {
    auto it = entries_.find(address);
    if (it == entries_.end() || !it->second.locked_until) return std::nullopt;
    if (now < *it->second.locked_until) return *it->second.locked_until - now;
    // Served its time: the address starts afresh.
    order_.erase(it->second.order);
    entries_.erase(it);
    return std::nullopt;
}

bool AuthLimiter::record_failure(const std::string& address, Clock::time_point now) {
    if (options_.max_failures == 0) return false;
    auto it = entries_.find(address);
    if (it == entries_.end()) {
        if (entries_.size() >= options_.max_clients) {
            entries_.erase(order_.front());
            order_.pop_front();
        }
        order_.push_back(address);
        Entry e;
        e.window_start = now;
        e.order = std::prev(order_.end());
        it = entries_.emplace(address, e).first;
    } else {
        touch(it->second);
    }
    Entry& e = it->second;
    if (e.locked_until && now < *e.locked_until) return false;  // already locked out
    if (e.locked_until || now - e.window_start >= options_.window) {
        e.locked_until.reset();
        e.failures = 0;
        e.window_start = now;
    }
    if (++e.failures < options_.max_failures) return false;
    e.locked_until = now + options_.lockout;
    e.failures = 0;
    return true;
}

AuthGuard::AuthGuard(AuthLimitOptions options, CollectorMetrics& metrics)
    : enabled_(options.max_failures > 0), options_(options), limiter_(options) {
    auto& failures = pm::BuildCounter()
                         .Name("hashwatt_collector_auth_failures_total")
                         .Help(
                             "API requests refused at authentication, by reason: missing, "
                             "malformed or unknown bearer token (401), forbidden (403: a "
                             "valid token beyond its role or scope).")
                         .Register(metrics.registry());
    for (const auto f : {AuthFailure::missing, AuthFailure::malformed, AuthFailure::unknown,
                         AuthFailure::forbidden}) {
        failures_[static_cast<int>(f)] = &failures.Add({{"reason", std::string(to_string(f))}});
    }
    lockouts_ = &pm::BuildCounter()
                     .Name("hashwatt_collector_auth_lockouts_total")
                     .Help("Client addresses locked out after repeated failed authentication.")
                     .Register(metrics.registry())
                     .Add({});
    locked_requests_ = &pm::BuildCounter()
                            .Name("hashwatt_collector_auth_locked_requests_total")
                            .Help("API requests answered 429 because their address was locked out.")
                            .Register(metrics.registry())
                            .Add({});
}

std::optional<Reply> AuthGuard::refuse_if_locked(const std::string& address,
                                                 std::string_view path) {
    if (!enabled_) return std::nullopt;
    const auto left = limiter_.locked(address, AuthLimiter::Clock::now());
    if (!left) return std::nullopt;
    locked_requests_->Increment();
    // Rounded up, so a client that waits Retry-After seconds is never still locked out.
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(*left).count();
    Reply r = json_error(429,
                         "too many failed authentications from this address; retry in " +
                             std::to_string(seconds) + " s",
                         path);
    r.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(seconds, 1)));
    return r;
}

void AuthGuard::failed(const std::string& address, AuthFailure why, std::string_view path) {
    failures_[static_cast<int>(why)]->Increment();
    log::warn("api authentication failed",
              {{"client", address}, {"reason", to_string(why)}, {"path", path}});
    if (!enabled_ || why == AuthFailure::forbidden) return;
    if (limiter_.record_failure(address, AuthLimiter::Clock::now())) {
        lockouts_->Increment();
        log::warn("api client locked out after failed authentications",
                  {{"client", address},
                   {"failures", options_.max_failures},
                   {"window_s", std::chrono::duration<double>(options_.window).count()},
                   {"lockout_s", std::chrono::duration<double>(options_.lockout).count()}});
    }
}

}  // namespace hashwatt::collector
