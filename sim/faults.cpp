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

void FaultSet::set(FaultKind k, const FaultParams& p, TimePoint now) {
    // Re-injecting an active thermal fault keeps its start, so temperatures do not jump back.
    if (k == FaultKind::fan_failure && !has(k)) fan_failed_at_ = now;
    if (k == FaultKind::overheating && !has(k)) overheating_at_ = now;
    if (k == FaultKind::slow) slow_delay_ = p.delay;
    if (k == FaultKind::fan_failure) fan_index_ = p.index;
    if (k == FaultKind::dead_board) board_index_ = p.index;
    mask_ |= bit(k);
}

TimePoint FaultSet::since(FaultKind k) const noexcept {
    if (k == FaultKind::fan_failure) return fan_failed_at_;
    if (k == FaultKind::overheating) return overheating_at_;
    return {};
}

}  // namespace hashwatt::sim
