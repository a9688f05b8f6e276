// The HTTP JSON price feed of a `[prices] kind = "http"` source: polled every `interval` on a
// thread of its own, each poll bounded by a deadline and a body size, the price picked out by
// policies/prices/feed.hpp. current() never waits for the network: it answers from the last
// good price, marked stale once that is older than `stale_after`, so the policy falls back to
// its on_stale behaviour (and the log says so, once, at error).
#pragma once

#include "collector/control/policy_control.hpp"
#include "policies/prices/feed.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace hashwatt::collector::control {

struct HttpFeedOptions {
    // Each poll, connect to the last body byte, ends by then.
    Duration timeout{std::chrono::seconds(10)};
    std::size_t max_body_bytes = policies::prices::kMaxFeedBodyBytes;
    // Stamps received prices and failures; tests inject one. Unset: the system clock.
    std::function<TimePoint()> clock;
    // The policy's on_stale ("hold"), for the stale log line only; empty: not mentioned.
    std::string on_stale;
};

class HttpPriceFeed : public PriceProvider {
  public:
    // `cfg` must be of kind http with an http:// URL; throws std::invalid_argument saying
    // what is wrong otherwise. Nothing is polled before start().
    explicit HttpPriceFeed(policies::prices::PriceSourceConfig cfg, HttpFeedOptions options = {});
    ~HttpPriceFeed() override;  // stop()
    HttpPriceFeed(const HttpPriceFeed&) = delete;
    HttpPriceFeed& operator=(const HttpPriceFeed&) = delete;

    // The last good price (adder included) while fresh; once stale, the last one (if any)
    // with stale = true and why = the reason ("no price since 14:05 (stale after 10m); last
    // error at 14:20: HTTP 500"). Never blocks on I/O. Logs the change to stale (error) and
    // back (info) when it sees one.
    policies::PriceInput current(TimePoint now) override;
    // "http feed http://127.0.0.1:9000/price data[0].price every 5m"
    std::string describe() const override;
    // Polls at once, then every interval (from the start of the previous poll). Once only:
    // a feed that was stopped stays stopped.
    void start() override;
    // Ends the polling thread promptly, abandoning a poll in flight. Idempotent.
    void stop() override;

    // The feed's state as of `now` (tests, status pages).
    policies::prices::FeedReading reading(TimePoint now) const;
    // Polls finished so far, and those of them that failed (tests wait on these).
    std::uint64_t polls() const noexcept;
    std::uint64_t failures() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// An HttpPriceFeed for `cfg` with default options (the factory the collector uses for
// `[prices] kind = "http"`); throws std::invalid_argument for another kind or a bad URL.
std::unique_ptr<PriceProvider> make_http_price_feed(const policies::prices::PriceSourceConfig& cfg);

}  // namespace hashwatt::collector::control
