#include "collector/fleet_summary.hpp"

#include <cstdio>

namespace hashwatt::collector {

std::size_t FleetFaults::total() const noexcept {
    std::set<std::string> all;
    for (const auto* s : {&offline, &dead_board, &fan_stopped, &overheating}) {
        all.insert(s->begin(), s->end());
    }
    return all.size();
}

FleetSummary summarize_fleet(const std::vector<MinerSample>& latest) {
    FleetSummary out;
    double eff_power_w = 0, eff_hashrate_ths = 0;
    for (const auto& s : latest) {
        ++out.miners;
        if (!s.up) {
            out.faults.offline.insert(s.miner_id);
            continue;
        }
        ++out.up;
        if (s.state == MinerState::mining) ++out.mining;
        if (s.state == MinerState::sleeping) ++out.sleeping;
        if (s.hashrate_ths) out.hashrate_ths += *s.hashrate_ths;
        if (s.power_w) out.power_w += *s.power_w;
        if (s.hashrate_ths && s.power_w && *s.hashrate_ths > 0) {
            eff_power_w += *s.power_w;
            eff_hashrate_ths += *s.hashrate_ths;
        }
        for (const auto& b : s.boards) {
            const bool idle_board =
                s.state == MinerState::mining && b.hashrate_ths && *b.hashrate_ths <= 0;
            if ((b.ok && !*b.ok) || idle_board) out.faults.dead_board.insert(s.miner_id);
            if (b.chip_temp_max_c && *b.chip_temp_max_c >= kHotChipTempC) {
                out.faults.overheating.insert(s.miner_id);
            }
        }
        for (const auto rpm : s.fans_rpm) {
            if (rpm == 0) out.faults.fan_stopped.insert(s.miner_id);
        }
    }
    if (eff_hashrate_ths > 0) out.efficiency_j_per_th = eff_power_w / eff_hashrate_ths;
    return out;
}

std::string format_summary_line(const FleetSummary& s) {
    char buf[160];
    char eff[32] = "- J/TH";
    if (s.efficiency_j_per_th) std::snprintf(eff, sizeof eff, "%.1f J/TH", *s.efficiency_j_per_th);
    std::snprintf(buf, sizeof buf, "%zu/%zu up  %.1f TH/s  %.1f kW  %s", s.up, s.miners,
                  s.hashrate_ths, s.power_w / 1000.0, eff);
    return buf;
}

}  // namespace hashwatt::collector
