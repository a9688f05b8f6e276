// What mining earns: hashprice from the network's state, and the operating points a miner can be
// told to run at (full, reduced power targets, sleep). Pure arithmetic. DESIGN.md, "Power policy".
#pragma once

#include "common/models.hpp"
#include "policies/types.hpp"

#include <vector>

namespace hashwatt::policies {

inline constexpr double kBlocksPerDay = 144;  // one block per 600 s on average
inline constexpr double kDefaultSleepW = 15;  // control board and fans at idle

// The network's state, from which hashprice follows.
struct NetworkStats {
    double btc_price = 0;           // currency per BTC
    double difficulty = 0;          // network difficulty (hashes per block / 2^32)
    double subsidy_btc = 3.125;     // block subsidy (since the April 2024 halving)
    double fees_btc_per_block = 0;  // average transaction fees per block
};

// Expected BTC one TH/s earns in a day: a hash finds a block with probability
// 1 / (difficulty * 2^32), one TH/s tries 1e12 * 86400 hashes a day, and a block pays
// subsidy + fees. Zero when difficulty is not positive.
double expected_btc_per_th_day(const NetworkStats& n) noexcept;
// expected_btc_per_th_day * btc_price: currency per TH/s per day (0.04 to 0.06 USD in 2025).
double hashprice_per_th_day(const NetworkStats& n) noexcept;

// Which points to offer for a miner.
struct PointOptions {
    bool power_targets = true;  // the driver can set a power target (else: full and sleep only)
    // Reduced targets as fractions of nominal power, highest first; a fraction below the
    // model's min_power_w is skipped.
    std::vector<double> reduced_fractions{0.9, 0.8, 0.7};
    double sleep_w = kDefaultSleepW;
};

// full (nominal W and TH/s), then the reduced targets highest first (TH/s from
// hashrate_at_power), then sleep. Always at least {full, sleep}.
std::vector<OperatingPoint> operating_points(const ModelSpec& m, const PointOptions& o = {});

// The same from a measured operating point: full is what the miner does now (`ths` at `watts`),
// reduced points scale hash rate like the model curve (TH/s ~ W^0.75). `model` (may be null)
// only bounds the reduced targets by its min_power_w. Throws std::invalid_argument unless
// ths > 0 and watts > 0.
std::vector<OperatingPoint> measured_operating_points(double ths, double watts,
                                                      const ModelSpec* model,
                                                      const PointOptions& o = {});

// J/TH of a point (infinite for a point that hashes nothing).
double joules_per_th(const OperatingPoint& p) noexcept;

}  // namespace hashwatt::policies
