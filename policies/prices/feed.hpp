// The pure parts of an HTTP JSON price feed: picking the price out of a reply body, and knowing
// when the last good price is too old to act on. The polling (sockets) lives in
// collector/control; a stale or missing price there falls back to the configured safe
// behaviour and says so with FeedReading::reason.
#pragma once

#include "common/miner_sample.hpp"
#include "policies/prices/sources.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::policies::prices {

// Bodies larger than this are refused unparsed.
constexpr std::size_t kMaxFeedBodyBytes = 1 << 20;

// Checks a dotted path with [n] indexes ("data[0].price", "[2].lmp", "result.price"). Throws
// std::invalid_argument "json path 'data[x]': expected a number in [] at column 6".
void validate_json_path(std::string_view path);

// The number at `path` in the JSON `body`, converted from `unit` to per MWh (no adder). A
// string holding a number ("42.5") counts. Throws std::invalid_argument naming the path prefix
// where it went wrong: "data[0].price: not a number (a string)", "data[3]: out of range (an
// array of 2)", "data: missing", "feed body: invalid JSON at byte 17: ...".
double parse_feed_price(std::string_view body, std::string_view path, PriceUnit unit);

// parse_feed_price with an http source's path and unit, plus its adder.
double feed_price(const PriceSourceConfig& cfg, std::string_view body);

struct FeedReading {
    std::optional<double> price_per_mwh;       // set only while fresh
    std::optional<double> last_price_per_mwh;  // the last good price, fresh or not
    std::optional<TimePoint> received_at;      // of the last good price
    bool stale = true;
    std::string reason;  // empty while fresh; else "no price since 14:05 (stale after 10m)"
};

// Tracks the last good price of a feed. Times are the caller's clock (injected in tests).
class FeedState {
  public:
    explicit FeedState(Duration stale_after);

    // A good price received at `received_at`. An update older than the one held is ignored
    // (a slow reply overtaken by a newer one).
    void update(double price_per_mwh, TimePoint received_at);
    // A poll that failed; its message is added to the stale reason so the log says why.
    void failed(std::string error, TimePoint at);

    // Fresh while now - received_at <= stale_after. Times in reasons are UTC ("14:05", or
    // "2026-12-01T14:05Z" when not the same UTC day as `now`).
    FeedReading current(TimePoint now) const;

    Duration stale_after() const noexcept { return stale_after_; }

  private:
    Duration stale_after_;
    std::optional<double> price_;
    std::optional<TimePoint> received_at_;
    std::optional<std::string> last_error_;
    std::optional<TimePoint> last_error_at_;
};

}  // namespace hashwatt::policies::prices
