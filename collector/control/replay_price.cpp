#include "collector/control/replay_price.hpp"

#include "common/time.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace hashwatt::collector::control {

ReplayPriceProvider::ReplayPriceProvider(policies::PriceSeries series, std::string name,
                                         double speed, TimePoint started_at,
                                         std::optional<TimePoint> series_start)
    : series_(std::move(series)), name_(std::move(name)), speed_(speed), started_at_(started_at) {
    if (series_.empty()) throw std::invalid_argument("price replay of " + name_ + ": no prices");
    if (!(speed_ > 0) || !std::isfinite(speed_)) {
        throw std::invalid_argument("price replay of " + name_ + ": speed must be positive");
    }
    begin_ = series_.intervals().front().start;
    span_ = series_.intervals().back().end() - begin_;
    first_ = series_start.value_or(begin_);
    if (first_ < begin_ || first_ >= begin_ + span_) {
        throw std::invalid_argument("price replay of " + name_ + ": series_start " +
                                    format_time(first_) + " is outside the series");
    }
}

TimePoint ReplayPriceProvider::series_time(TimePoint now) const {
    if (now <= started_at_) return first_;
    const double played_ms =
        std::chrono::duration<double, std::milli>(now - started_at_).count() * speed_;
    const auto span_ms = static_cast<double>(span_.count());
    const double from_begin =
        std::fmod(static_cast<double>((first_ - begin_).count()) + played_ms, span_ms);
    return begin_ + Duration(static_cast<Duration::rep>(from_begin));
}

const policies::PriceInterval* ReplayPriceProvider::interval_at(TimePoint now) const {
    return series_.at(series_time(now));
}

policies::PriceInput ReplayPriceProvider::current(TimePoint now) {
    policies::PriceInput in;
    const TimePoint t = series_time(now);
    if (const auto* iv = series_.at(t)) {
        in.price_per_mwh = iv->price_per_mwh;
        return in;
    }
    in.stale = true;
    in.why = "replay of " + name_ + ": no price at " + format_time(t);
    return in;
}

std::string ReplayPriceProvider::describe() const {
    char speed[32];
    std::snprintf(speed, sizeof speed, "%g", speed_);
    return "replay of " + name_ + " x" + speed;
}

}  // namespace hashwatt::collector::control
