#include "policies/economics.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace hashwatt::policies {

namespace {

constexpr double kTwoTo32 = 4294967296.0;
constexpr double kHashesPerThDay = 1e12 * 86400;
// The model table's curve (common/models.cpp): TH/s ~ W^0.75.
constexpr double kPowerExponent = 0.75;

void add_reduced(std::vector<OperatingPoint>& out, double ths, double watts, double min_w,
                 const PointOptions& o) {
    if (!o.power_targets) return;
    for (double f : o.reduced_fractions) {
        if (!(f > 0 && f < 1)) continue;
        const double w = watts * f;
        if (w < min_w) continue;
        out.push_back({PointKind::reduced, w, ths * std::pow(f, kPowerExponent)});
    }
}

}  // namespace

double expected_btc_per_th_day(const NetworkStats& n) noexcept {
    if (!(n.difficulty > 0)) return 0;
    const double blocks = kHashesPerThDay / (n.difficulty * kTwoTo32);
    return blocks * (n.subsidy_btc + n.fees_btc_per_block);
}

double hashprice_per_th_day(const NetworkStats& n) noexcept {
    return expected_btc_per_th_day(n) * n.btc_price;
}

std::vector<OperatingPoint> operating_points(const ModelSpec& m, const PointOptions& o) {
    std::vector<OperatingPoint> out{{PointKind::full, m.nominal_w, m.nominal_ths}};
    // Same curve as hashrate_at_power(m, w), relative to nominal.
    add_reduced(out, m.nominal_ths, m.nominal_w, m.min_power_w, o);
    out.push_back({PointKind::sleep, o.sleep_w, 0});
    return out;
}

std::vector<OperatingPoint> measured_operating_points(double ths, double watts,
                                                      const ModelSpec* model,
                                                      const PointOptions& o) {
    if (!(ths > 0) || !(watts > 0)) {
        throw std::invalid_argument("measured operating point needs TH/s > 0 and W > 0");
    }
    std::vector<OperatingPoint> out{{PointKind::full, watts, ths}};
    add_reduced(out, ths, watts, model ? model->min_power_w : 0, o);
    out.push_back({PointKind::sleep, o.sleep_w, 0});
    return out;
}

double joules_per_th(const OperatingPoint& p) noexcept {
    if (!(p.hashrate_ths > 0)) return std::numeric_limits<double>::infinity();
    return p.power_w / p.hashrate_ths;
}

}  // namespace hashwatt::policies
