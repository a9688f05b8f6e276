#include "sim/faults.hpp"

#include <array>
#include <utility>

namespace hashwatt::sim {
namespace {

constexpr std::array<std::pair<FaultKind, std::string_view>, kFaultKindCount> kNames{{
    {FaultKind::offline, "offline"},
    {FaultKind::hung, "hung"},
    {FaultKind::slow, "slow"},
    {FaultKind::garbage, "garbage"},
    {FaultKind::truncated, "truncated"},
    {FaultKind::oversized, "oversized"},
    {FaultKind::reset, "reset"},
    {FaultKind::fan_failure, "fan_failure"},
    {FaultKind::dead_board, "dead_board"},
    {FaultKind::overheating, "overheating"},
    {FaultKind::sleep_ignored, "sleep_ignored"},
    {FaultKind::password_changed, "password_changed"},
    {FaultKind::rejects, "rejects"},
    {FaultKind::power_overdraw, "power_overdraw"},
    {FaultKind::hashrate_drop, "hashrate_drop"},
    {FaultKind::board_hot, "board_hot"},
    {FaultKind::wake_ignored, "wake_ignored"},
}};

}  // namespace

std::string_view to_string(FaultKind k) noexcept {
    for (const auto& [kind, name] : kNames) {
        if (kind == k) return name;
    }
    return "unknown";
}

std::optional<FaultKind> parse_fault_kind(std::string_view s) noexcept {
    for (const auto& [kind, name] : kNames) {
        if (name == s) return kind;
    }
    return std::nullopt;
}

double default_ratio(FaultKind k) noexcept {
    switch (k) {
        case FaultKind::rejects:
            return 0.1;  // twice the 5 % at which the default rule alerts
        case FaultKind::power_overdraw:
            return 1.25;
        case FaultKind::hashrate_drop:
            return 0.5;
        default:
            return 0;
    }
}

bool ratio_valid(FaultKind k, double ratio) noexcept {
    switch (k) {
        case FaultKind::rejects:
            return ratio > 0 && ratio <= 1;
        case FaultKind::power_overdraw:
            return ratio > 1 && ratio <= 3;
        case FaultKind::hashrate_drop:
            return ratio >= 0 && ratio < 1;
        default:
            return false;
    }
}

void FaultSet::set(FaultKind k, const FaultParams& p, TimePoint now) {
    // Re-injecting an active thermal fault keeps its start, so temperatures do not jump back.
    if (k == FaultKind::fan_failure && !has(k)) fan_failed_at_ = now;
    if (k == FaultKind::overheating && !has(k)) overheating_at_ = now;
    if (k == FaultKind::slow) slow_delay_ = p.delay;
    if (k == FaultKind::fan_failure) fan_index_ = p.index;
    if (k == FaultKind::dead_board) board_index_ = p.index;
    if (k == FaultKind::board_hot) hot_board_index_ = p.index;
    const auto ratio = static_cast<float>(p.ratio.value_or(default_ratio(k)));
    if (k == FaultKind::rejects) reject_ratio_ = ratio;
    if (k == FaultKind::power_overdraw) overdraw_ratio_ = ratio;
    if (k == FaultKind::hashrate_drop) hashrate_ratio_ = ratio;
    mask_ |= bit(k);
}

TimePoint FaultSet::since(FaultKind k) const noexcept {
    if (k == FaultKind::fan_failure) return fan_failed_at_;
    if (k == FaultKind::overheating) return overheating_at_;
    return {};
}

}  // namespace hashwatt::sim
