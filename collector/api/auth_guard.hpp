// Per-address lockout after failed authentication, and its metrics and log lines. Internal to
// collector/api: the connection loop asks it before checking a token and tells it the outcome.
#pragma once

#include "collector/api/routes.hpp"
#include "collector/api/server.hpp"

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prometheus {
class Counter;
}

namespace hashwatt::collector {

// Why a request was refused before or at the role check, as the metric's `reason` label.
// missing, malformed and unknown are failed authentications (401) and count towards a lockout;
// forbidden (403: a valid token used beyond its role or scope) is counted but never locks out,
// since its holder already has a token and a misconfigured agent should not lose its address.
enum class AuthFailure { missing, malformed, unknown, forbidden };
std::string_view to_string(AuthFailure f) noexcept;

// The bookkeeping alone, with the time passed in (steady clock), so tests need no sleeps. Each
// address holds a fixed window that opens at its first failure: `max_failures` failures before
// it closes lock the address out for `lockout`. Not thread-safe (the API's io_context is).
class AuthLimiter {
  public:
    using Clock = std::chrono::steady_clock;
    explicit AuthLimiter(AuthLimitOptions options);

    // The time left of the address's lockout, or nullopt when it may try.
    std::optional<Clock::duration> locked(const std::string& address, Clock::time_point now);
    // One failed authentication; true when it started a lockout.
    bool record_failure(const std::string& address, Clock::time_point now);
    std::size_t tracked() const noexcept { return entries_.size(); }

  private:
    struct Entry {
        std::size_t failures = 0;
        Clock::time_point window_start{};
        std::optional<Clock::time_point> locked_until;
        std::list<std::string>::iterator order;  // position in order_, newest last
    };
    void touch(Entry& e);

    AuthLimitOptions options_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> order_;  // addresses, least recently updated first
};

class CollectorMetrics;

class AuthGuard {
  public:
    AuthGuard(AuthLimitOptions options, CollectorMetrics& metrics);

    // A 429 with Retry-After when `address` is locked out, else nullopt.
    std::optional<Reply> refuse_if_locked(const std::string& address, std::string_view path);
    // Counts, logs (never the presented secret) and, for the 401 kinds, may lock out.
    void failed(const std::string& address, AuthFailure why, std::string_view path);

  private:
    bool enabled_;
    AuthLimitOptions options_;
    AuthLimiter limiter_;
    prometheus::Counter* failures_[4];
    prometheus::Counter* lockouts_;
    prometheus::Counter* locked_requests_;
};

}  // namespace hashwatt::collector
