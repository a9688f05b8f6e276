// The failed-authentication lockout's bookkeeping, with the time passed in: no sleeps.
#include "collector/api/auth_guard.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace hashwatt::collector;
using namespace std::chrono_literals;

namespace {

AuthLimitOptions limits(std::size_t failures, std::size_t clients = 100) {
    AuthLimitOptions o;
    o.max_failures = failures;
    o.window = 60s;
    o.lockout = 30s;
    o.max_clients = clients;
    return o;
}

}  // namespace

TEST_CASE("auth limiter: N failures within the window lock the address out for the lockout") {
    AuthLimiter lim(limits(3));
    const auto t0 = AuthLimiter::Clock::time_point{} + 1000s;
    CHECK_FALSE(lim.record_failure("10.0.0.1", t0));
    CHECK_FALSE(lim.record_failure("10.0.0.1", t0 + 1s));
    CHECK_FALSE(lim.locked("10.0.0.1", t0 + 2s));
    CHECK(lim.record_failure("10.0.0.1", t0 + 2s));  // the third starts the lockout
    REQUIRE(lim.locked("10.0.0.1", t0 + 2s));
    CHECK(*lim.locked("10.0.0.1", t0 + 12s) == 20s);
    CHECK_FALSE(lim.record_failure("10.0.0.1", t0 + 13s));  // no second lockout while locked
    CHECK_FALSE(lim.locked("10.0.0.2", t0 + 12s));          // other addresses are unaffected
    CHECK_FALSE(lim.locked("10.0.0.1", t0 + 32s));          // served: free again, and forgotten
    CHECK(lim.tracked() == 0);
    CHECK_FALSE(lim.record_failure("10.0.0.1", t0 + 33s));  // counting starts afresh
}

TEST_CASE("auth limiter: failures spread wider than the window never lock out") {
    AuthLimiter lim(limits(3));
    auto t = AuthLimiter::Clock::time_point{} + 1000s;
    for (int i = 0; i < 20; ++i) {
        CHECK_FALSE(lim.record_failure("10.0.0.1", t));
        t += 31s;  // two per 60 s window at most
        CHECK_FALSE(lim.locked("10.0.0.1", t));
    }
}

TEST_CASE("auth limiter: max_failures 0 turns it off") {
    AuthLimiter lim(limits(0));
    const auto t0 = AuthLimiter::Clock::time_point{} + 1000s;
    for (int i = 0; i < 100; ++i) CHECK_FALSE(lim.record_failure("10.0.0.1", t0));
    CHECK_FALSE(lim.locked("10.0.0.1", t0));
    CHECK(lim.tracked() == 0);
}

TEST_CASE("auth limiter: memory is bounded; the address updated longest ago is forgotten") {
    AuthLimiter lim(limits(2, 3));
    const auto t0 = AuthLimiter::Clock::time_point{} + 1000s;
    CHECK_FALSE(lim.record_failure("a", t0));
    CHECK_FALSE(lim.record_failure("b", t0));
    CHECK_FALSE(lim.record_failure("c", t0));
    CHECK(lim.record_failure("a", t0 + 1ms));  // a's second: locked, and newest
    CHECK(lim.locked("a", t0 + 2ms));
    for (int i = 0; i < 1000; ++i) lim.record_failure("spray-" + std::to_string(i), t0 + 3ms);
    CHECK(lim.tracked() == 3);
    CHECK_FALSE(lim.locked("b", t0 + 4ms));  // b and c were evicted long ago
}
