// Steps of the wall clock (an NTP correction, an operator's `date -s`, a VM resumed): found by
// comparing how far the wall clock advanced between two readings with how far the steady clock
// did. Loops whose durations are kept as wall-clock instants (an alert pending since T, a
// miner switched at T) shift those instants by the step, so that a `for`, min_on or min_off
// lasts its real length whatever the wall clock did meanwhile; the instants still compare with
// sample times, which come from the agents' wall clocks. Header-only and pure: the caller
// supplies both readings.
#pragma once

#include "common/miner_sample.hpp"

#include <chrono>

namespace hashwatt {

class WallClockSteps {
  public:
    using Steady = std::chrono::steady_clock;
    // Differences up to `tolerance` between the two advances are drift and scheduling noise
    // (NTP slews at most 0.5 ms a second), not a step.
    explicit WallClockSteps(std::chrono::milliseconds tolerance = std::chrono::seconds{2})
        : tolerance_(tolerance) {}

    // The step since the previous reading (wall advance minus steady advance; positive: the
    // wall clock jumped forward), or zero when within the tolerance and on the first reading.
    std::chrono::milliseconds observe(TimePoint wall, Steady::time_point steady) {
        std::chrono::milliseconds step{0};
        if (have_last_) {
            const auto wall_advance = wall - last_wall_;
            const auto steady_advance =
                std::chrono::duration_cast<std::chrono::milliseconds>(steady - last_steady_);
            const auto d = wall_advance - steady_advance;
            if (d > tolerance_ || d < -tolerance_) step = d;
        }
        have_last_ = true;
        last_wall_ = wall;
        last_steady_ = steady;
        return step;
    }

  private:
    // Plain members, not an optional pair: GCC 12 warns (maybe-uninitialized) through it.
    std::chrono::milliseconds tolerance_;
    bool have_last_ = false;
    TimePoint last_wall_{};
    Steady::time_point last_steady_{};
};

}  // namespace hashwatt
