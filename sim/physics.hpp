// Miner physics: power target -> hash rate, temperatures from power, ambient and fans, counters
// that grow with work done. State changes only on commands; everything else is computed from
// the time of the question, so 10,000 idle miners cost nothing between polls.
#pragma once

#include "common/miner_sample.hpp"
#include "common/units.hpp"
#include "sim/faults.hpp"
#include "sim/models.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace hashwatt::sim {

// Shared by every miner of a fleet (one copy, not one per miner).
struct PhysicsParams {
    double ambient_c = 25.0;
    double ambient_swing_c = 0.0;  // day/night: ambient +- swing, warmest at 15:00 UTC
    Duration wake_ramp{std::chrono::seconds(60)};  // sleep -> full hash rate
    Duration sleep_ramp{std::chrono::seconds(5)};  // full -> sleeping power
    Duration boot_time{std::chrono::seconds(30)};  // reboot -> daemon up (then wake ramp)
    double hashrate_noise = 0.02;                  // relative, on the 5 s figure
    double protect_chip_temp_c = 95.0;             // the firmware's own overheat shutdown
    double idle_power_w = 25.0;                    // control board + fans while asleep
    // TH of work per share: the pool difficulty. Tests lower it so that share counters reach
    // the hundreds a reject rate needs within seconds.
    double share_work_th = 1400.0;
};

enum class SimState { mining, sleeping, booting, protecting };

struct BoardSnapshot {
    int index = 0;
    bool alive = true;
    double hashrate_ths = 0;  // 5 s figure
    double avg_hashrate_ths = 0;
    double ideal_ths = 0;
    int chips = 0;
    int expected_chips = 0;
    std::array<double, 4> chip_temps_c{};  // sensor order as bmminer prints them
    std::array<double, 4> pcb_temps_c{};
    double chip_temp_max_c = 0;
    double board_temp_max_c = 0;
    double inlet_temp_c = 0;
    double outlet_temp_c = 0;
    std::int64_t hw_errors = 0;
    double freq_mhz = 0;
    double voltage_v = 0;
    double power_w = 0;
};

struct Snapshot {
    SimState state = SimState::mining;
    bool hashing = false;
    double power_w = 0;         // true power at the wall
    double power_target_w = 0;  // the setpoint (limit) in force
    double hashrate_ths = 0;    // 5 s
    double hashrate_1m_ths = 0;
    double hashrate_avg_ths = 0;  // since the daemon started
    double expected_ths = 0;      // nominal at the current target
    std::vector<BoardSnapshot> boards;
    std::vector<std::int64_t> fans_rpm;
    int fan_pwm_pct = 0;
    double ambient_c = 0;
    double chip_temp_max_c = 0;
    double board_temp_max_c = 0;
    std::int64_t elapsed_s = 0;  // since the mining daemon (re)started
    std::int64_t uptime_s = 0;   // since the system booted
    std::int64_t accepted = 0, rejected = 0, stale = 0;
    std::int64_t hw_errors = 0;
    double work_ths_s = 0;  // TH done since the daemon started
};

std::string_view to_string(SimState s) noexcept;

class MinerPhysics {
  public:
    // `params` is shared by the fleet and must outlive this object.
    MinerPhysics(const ModelSpec& model, const PhysicsParams& params, std::uint64_t seed,
                 TimePoint boot);

    void sleep(TimePoint now);
    void wake(TimePoint now);
    void reboot(TimePoint now);
    void set_power_target(TimePoint now, double watts);  // clamped to the model's range
    // From `now` the pool rejects `ratio` of the shares (0: none beyond the usual). Rejects
    // counted so far stay counted, as on a real miner, until a reboot restarts the counters.
    void set_reject_ratio(TimePoint now, double ratio);

    bool commanded_asleep() const noexcept { return phase_ == Phase::sleeping; }
    double power_target_w() const noexcept { return target_w_; }
    const ModelSpec& model() const noexcept { return *model_; }

    Snapshot snapshot(TimePoint now, const FaultSet& faults) const;

  private:
    enum class Phase : std::uint8_t { running, sleeping, booting };
    // Fraction of full output reached at `now` (0 asleep or booting, ramping to 1 after a wake).
    double output_fraction(TimePoint now) const;
    // TH done in the current phase up to `now`.
    double phase_work(TimePoint now) const;
    void enter(Phase next, TimePoint now);

    const ModelSpec* model_;
    const PhysicsParams* params_;
    std::uint64_t seed_;
    double target_w_;
    Phase phase_ = Phase::running;
    TimePoint phase_since_;
    double fraction_at_change_ = 1.0;  // output when the phase began (a sleep ramps down from it)
    TimePoint system_boot_;
    TimePoint daemon_start_;
    double work_before_phase_ = 0;  // TH done since daemon start, up to phase_since_
    // The rejects fault: its ratio now, the work done when it last changed, and the work
    // whose shares were rejected before that.
    double reject_ratio_ = 0;
    double reject_from_work_ = 0;
    double rejected_work_ = 0;
};

}  // namespace hashwatt::sim
