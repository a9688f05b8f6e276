// Headline figures of a fleet from each miner's newest sample: what `hashwatt demo` prints and
// a quick health check reads. Pure.
#pragma once

#include "common/miner_sample.hpp"

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hashwatt::collector {

// A chip this hot is counted as overheating. Stock firmware protects itself near 95 °C; the
// alert rules (which come with their own configurable limit) use the same default.
inline constexpr double kHotChipTempC = 90.0;

// The miners showing each kind of trouble in their newest sample.
struct FleetFaults {
    std::set<std::string> offline;       // did not answer
    std::set<std::string> dead_board;    // a board reports not ok, or no hash rate while mining
    std::set<std::string> fan_stopped;   // a fan at 0 RPM
    std::set<std::string> overheating;   // a chip at or above kHotChipTempC
    std::size_t total() const noexcept;  // distinct miners with any of them
};

struct FleetSummary {
    std::size_t miners = 0;
    std::size_t up = 0;
    std::size_t mining = 0;
    std::size_t sleeping = 0;
    double hashrate_ths = 0;  // over the miners that answered
    double power_w = 0;       // measured or estimated
    // power_w / hashrate_ths over the miners that report both; nullopt when none does.
    std::optional<double> efficiency_j_per_th;
    FleetFaults faults;
};

FleetSummary summarize_fleet(const std::vector<MinerSample>& latest);

// "197/200 up  21480.3 TH/s  612.4 kW  28.5 J/TH" — one line, no newline.
std::string format_summary_line(const FleetSummary& s);

}  // namespace hashwatt::collector
