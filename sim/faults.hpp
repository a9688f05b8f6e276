// Faults a simulated miner can suffer, scheduled in the config or injected through the admin API.
#pragma once

#include "common/miner_sample.hpp"
#include "common/units.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace hashwatt::sim {

enum class FaultKind : std::uint8_t {
    offline,           // refuses connections
    hung,              // accepts, reads the request, never replies
    slow,              // replies after `delay`
    garbage,           // replies with bytes that are not JSON
    truncated,         // sends half of the reply, then closes
    oversized,         // sends a reply far larger than any real one (4 MiB)
    reset,             // closes with a TCP reset instead of replying
    fan_failure,       // fan `index` stops; temperatures climb until the miner protects itself
    dead_board,        // hashboard `index` stops hashing and reports no chips
    overheating,       // temperatures run 30 °C hot; past the limit the miner protects itself
    sleep_ignored,     // sleep commands are acknowledged but have no effect
    password_changed,  // the credentials the agent knows no longer work
    rejects,           // the pool rejects `ratio` of the shares: the rejected counters climb
    power_overdraw,    // draws `ratio` times the power limit it reports (PSU or tuning fault)
    hashrate_drop,     // hashes at `ratio` of expected with every board alive (throttling)
    board_hot,         // board `index` PCB sensors read 30 °C hot (failing power stage)
    wake_ignored,      // wake commands are acknowledged but a sleeping miner stays asleep
};
inline constexpr int kFaultKindCount = 17;

std::string_view to_string(FaultKind k) noexcept;
std::optional<FaultKind> parse_fault_kind(std::string_view s) noexcept;

struct FaultParams {
    Duration delay{std::chrono::seconds(5)};  // slow
    int index = 0;  // fan_failure: fan number; dead_board, board_hot: board number
    // rejects: share of shares rejected; power_overdraw: power over the limit; hashrate_drop:
    // hash rate over expected. None picks the kind's default (default_ratio).
    std::optional<double> ratio{};
};

// The ratio a fault uses when none is given: 0.1 rejected, 1.25 x the limit, 0.5 of expected.
double default_ratio(FaultKind k) noexcept;
// Whether `ratio` is meaningful for `k`: rejects (0, 1], power_overdraw (1, 3],
// hashrate_drop [0, 1). Other kinds take no ratio.
bool ratio_valid(FaultKind k, double ratio) noexcept;

// The active faults of one miner. Kept small: 10,000 of these live in one process.
class FaultSet {
  public:
    bool has(FaultKind k) const noexcept { return (mask_ & bit(k)) != 0; }
    bool any() const noexcept { return mask_ != 0; }
    void set(FaultKind k, const FaultParams& p, TimePoint now);
    void clear(FaultKind k) noexcept { mask_ &= ~bit(k); }
    void clear_all() noexcept { mask_ = 0; }

    Duration slow_delay() const noexcept { return slow_delay_; }
    int fan_index() const noexcept { return fan_index_; }
    int board_index() const noexcept { return board_index_; }
    int hot_board_index() const noexcept { return hot_board_index_; }
    double reject_ratio() const noexcept { return reject_ratio_; }
    double overdraw_ratio() const noexcept { return overdraw_ratio_; }
    double hashrate_ratio() const noexcept { return hashrate_ratio_; }
    TimePoint since(FaultKind k) const noexcept;

  private:
    static constexpr std::uint32_t bit(FaultKind k) noexcept {
        return 1U << static_cast<unsigned>(k);
    }
    std::uint32_t mask_ = 0;
    Duration slow_delay_{};
    int fan_index_ = 0;
    int board_index_ = 0;
    int hot_board_index_ = 0;
    float reject_ratio_ = 0;
    float overdraw_ratio_ = 0;
    float hashrate_ratio_ = 0;
    TimePoint fan_failed_at_{};
    TimePoint overheating_at_{};
};

}  // namespace hashwatt::sim
