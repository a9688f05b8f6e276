#include "agent/drivers/sleep_indicator_state.hpp"

namespace hashwatt::agent {

MinerState state_from_sleep_indicator(const MinerSample& s, bool asleep, bool indicator_known,
                                      std::int64_t booting_grace_s) noexcept {
    if (s.hashrate_ths && *s.hashrate_ths > 0) return MinerState::mining;
    if (asleep) return MinerState::sleeping;
    if (!s.errors.empty()) return MinerState::error;
    if (s.uptime_s && *s.uptime_s < booting_grace_s) return MinerState::booting;
    if (indicator_known) return MinerState::error;
    return MinerState::idle;
}

}  // namespace hashwatt::agent
