#include "policies/types.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace hashwatt::policies {

PriceSeries::PriceSeries(std::vector<PriceInterval> intervals) : intervals_(std::move(intervals)) {
    std::stable_sort(intervals_.begin(), intervals_.end(),
                     [](const auto& a, const auto& b) { return a.start < b.start; });
    for (std::size_t i = 0; i < intervals_.size(); ++i) {
        if (intervals_[i].length <= Duration::zero()) {
            throw std::invalid_argument("price interval at " + format_time(intervals_[i].start) +
                                        " has no length");
        }
        if (i > 0 && intervals_[i].start < intervals_[i - 1].end()) {
            throw std::invalid_argument(intervals_[i].start == intervals_[i - 1].start
                                            ? format_time(intervals_[i].start) + " twice"
                                            : format_time(intervals_[i].start) +
                                                  " overlaps the interval from " +
                                                  format_time(intervals_[i - 1].start));
        }
    }
}

const PriceInterval* PriceSeries::at(TimePoint t) const noexcept {
    // The last interval starting at or before t, if t falls inside it.
    auto it = std::upper_bound(intervals_.begin(), intervals_.end(), t,
                               [](TimePoint x, const PriceInterval& p) { return x < p.start; });
    if (it == intervals_.begin()) return nullptr;
    --it;
    return t < it->end() ? &*it : nullptr;
}

std::string_view to_string(PointKind k) noexcept {
    switch (k) {
        case PointKind::full:
            return "full";
        case PointKind::reduced:
            return "reduced";
        case PointKind::sleep:
            return "sleep";
    }
    return "unknown";
}

double break_even_per_mwh(const Economics& e, const OperatingPoint& p) noexcept {
    if (p.hashrate_ths <= 0) return 0;
    if (p.power_w <= 0) return std::numeric_limits<double>::infinity();
    const double revenue_per_day = e.hashprice_per_th_day * p.hashrate_ths * (1 - e.pool_fee);
    const double mwh_per_day = p.power_w * e.pue * 24 / 1e6;
    return revenue_per_day / mwh_per_day;
}

double profit(const Economics& e, const OperatingPoint& p, double price_per_mwh,
              Duration d) noexcept {
    const double days = std::chrono::duration<double>(d).count() / 86400.0;
    const double revenue = e.hashprice_per_th_day * p.hashrate_ths * (1 - e.pool_fee) * days;
    const double mwh = p.power_w * e.pue * days * 24 / 1e6;
    return revenue - mwh * price_per_mwh;
}

}  // namespace hashwatt::policies
