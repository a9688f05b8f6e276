// The power policy part of `hashwatt demo`: a week of ERCOT prices compiled into the binary,
// played fast, a policy tuned to that fast clock, and the lines that show rigs sleeping
// through price spikes and waking after.
#pragma once

#include "collector/control/replay_price.hpp"
#include "collector/storage/store.hpp"
#include "common/miner_sample.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::cli {

// The header and the HB_WEST rows of
// tests/fixtures/prices/ercot_rtm_spp_15min_2025-03-01_to_03-07.csv, in ERCOT's format
// (generated at build time by cli/embed_prices.cmake).
std::string_view demo_prices_csv() noexcept;

// deploy/config/policy.toml's economics and break-even rule, with its safety times cut from
// minutes to seconds: the engine keeps the real clock while the prices run kDemoPriceSpeed
// times faster, so a 15-minute min_on would outlast a whole evening's spike.
std::string_view demo_policy_toml() noexcept;

// A 15-minute price interval every 5 s: the week in 56 minutes.
inline constexpr double kDemoPriceSpeed = 180;
inline constexpr std::string_view kDemoPriceName = "ERCOT HB_WEST 2025-03-01..07";

// The embedded week replayed at `speed` from `started_at`, looping. Throws
// std::invalid_argument for a bad speed.
std::shared_ptr<collector::control::ReplayPriceProvider> make_demo_prices(double speed,
                                                                          TimePoint started_at);

// A series time as ERCOT's market clock reads it: "2025-03-01 17:45 CT".
std::string central_time_text(TimePoint t);

// Follows the policy's commanded decisions (the decisions table) and prints a line for each
// round that changes how many miners it has asleep or at reduced power, with that round's
// price and replayed time:
// "17:02:11  price 248.74 $/MWh (replay 2025-03-01 17:45 CT): 40 miners asleep, 12 reduced".
// The decisions are what the policy told the miners; the summary line's kW shows them obeying.
class PriceWatch {
  public:
    // Decisions before `since` (an earlier run's) are ignored.
    PriceWatch(std::shared_ptr<collector::control::ReplayPriceProvider> prices, TimePoint since)
        : prices_(std::move(prices)), since_(since) {}
    // Reads the decisions recorded since the last look; `clock_text` is the wall time to
    // print ("HH:MM:SS").
    void look(const collector::Store& store, const std::string& clock_text);
    // "price 14.67 $/MWh (replay 2025-03-01 06:15 CT)" for the summary line.
    std::string price_text(TimePoint now) const;
    // "most asleep at once 120, 14 changes" for the last line.
    std::string totals_text() const;

  private:
    std::shared_ptr<collector::control::ReplayPriceProvider> prices_;
    TimePoint since_;
    std::int64_t last_id_ = 0;
    std::map<std::string, std::string> target_;  // miner_id -> the target last commanded
    std::size_t asleep_ = 0;
    std::size_t reduced_ = 0;
    std::size_t most_asleep_ = 0;
    std::size_t changes_ = 0;
};

}  // namespace hashwatt::cli
