// The fleet a backtest replays prices against: classes of identical miners read from a
// FLEET.toml, each with its operating points and its simulated response times.
//
//   [economics]                    # optional; the CLI may override or supply it
//   hashprice_per_th_day = 0.05    # currency per TH/s per day
//   pool_fee = 0.02                # 0..1
//   pue = 1.05                     # site overhead, >= 1
//
//   [[miners]]
//   model = "s19pro"               # a common/models.hpp key
//   count = 400
//   site = "west"                  # optional
//   name = "s19pro-west"           # optional: the prefix of the miner ids (default: model)
//   hashrate_ths = 104.0           # optional measured figures, else the model table's
//   power_w = 3180
//   wake_time = "5m"               # command to hashing (default 5m)
//   sleep_time = "1m"              # command to asleep (default 1m)
//   standby_w = 15                 # draw while asleep (default 15)
//   reduced = true                 # offer a reduced point if the model allows (default true)
#pragma once

#include "common/config.hpp"
#include "common/models.hpp"
#include "policies/types.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::policies::backtest {

// A group of identical miners: same points, same response, same site.
struct MinerClass {
    std::string name;  // miner ids are "<name>-<n>", n from 1
    std::string model;
    std::optional<std::string> site;
    std::size_t count = 1;
    // points[0] full, then reduced ones (lower power), last sleep; the layout the engine's
    // MinerInput::points uses.
    std::vector<OperatingPoint> points;
    Duration wake_time{std::chrono::minutes(5)};   // sleep -> hashing: draws, does not hash
    Duration sleep_time{std::chrono::minutes(1)};  // running -> asleep: keeps running meanwhile

    std::size_t sleep_index() const noexcept { return points.size() - 1; }
};

struct Fleet {
    std::vector<MinerClass> classes;
    std::optional<Economics> economics;  // from [economics], if present

    std::size_t miner_count() const noexcept;
};

// The operating points of one miner of `model`: full at the measured figures (or the model
// table's), reduced points when the firmware accepts a lower power target (min_power_w <
// nominal_w): those of policies::operating_points (90, 80 and 70 % of full power, each no lower
// than min_power_w), hash rate on the model's concave curve from the measured figures; then
// sleep at `standby_w`. `measured_ths` / `measured_w` of 0 mean "use the model table".
std::vector<OperatingPoint> points_for_class(const ModelSpec& model, double measured_ths = 0,
                                             double measured_w = 0, bool offer_reduced = true,
                                             double standby_w = 15.0);

// Reads a fleet from a loaded document (strict: unknown keys, unknown models, counts < 1,
// non-positive figures are config::ConfigError with file:line:column). Calls doc.finish().
Fleet read_fleet(const config::Document& doc);
Fleet load_fleet_file(const std::string& path);
Fleet parse_fleet(std::string_view text, std::string source_name);

}  // namespace hashwatt::policies::backtest
