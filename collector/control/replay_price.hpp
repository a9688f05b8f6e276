// A price series played fast, for the demo and for tests of the control loop: a day of
// 15-minute prices in a few minutes, so that rigs are seen to sleep through a spike and wake
// after it without waiting for the market.
#pragma once

#include "collector/control/policy_control.hpp"
#include "policies/types.hpp"

#include <optional>
#include <string>

namespace hashwatt::collector::control {

class ReplayPriceProvider : public PriceProvider {
  public:
    // Series time = series_start + (now - started_at) * speed, wrapping back to series_start
    // after the last interval's end. `series_start` defaults to the first interval's start.
    // Throws std::invalid_argument for an empty series or a speed that is not positive and
    // finite.
    ReplayPriceProvider(policies::PriceSeries series, std::string name, double speed,
                        TimePoint started_at, std::optional<TimePoint> series_start = {});

    // The price of the interval holding series_time(now); in a gap of the series, no price
    // (stale, why "replay of <name>: no price at <time>").
    policies::PriceInput current(TimePoint now) override;
    // "replay of <name> x<speed>", e.g. "replay of ercot HB_WEST 2025-03-01..07 x300".
    std::string describe() const override;

    // Where in the series `now` falls (before started_at: series_start).
    TimePoint series_time(TimePoint now) const;
    // The interval at series_time(now), or nullptr in a gap.
    const policies::PriceInterval* interval_at(TimePoint now) const;

    const policies::PriceSeries& series() const noexcept { return series_; }
    double speed() const noexcept { return speed_; }

  private:
    policies::PriceSeries series_;
    std::string name_;
    double speed_;
    TimePoint started_at_;
    TimePoint first_;  // series time at started_at
    TimePoint begin_;  // first interval's start
    Duration span_{};  // from begin_ to the last interval's end
};

}  // namespace hashwatt::collector::control
