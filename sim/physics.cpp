#include "sim/physics.hpp"

#include <algorithm>
#include <cmath>

namespace hashwatt::sim {
namespace {

double seconds_between(TimePoint a, TimePoint b) {
    return std::chrono::duration<double>(b - a).count();
}

double seconds_of(Duration d) { return std::chrono::duration<double>(d).count(); }

// Deterministic noise in [-1, 1] for (seed, time bucket, channel): two polls in the same 5 s
// window see the same figures, as they would on a real miner.
double noise(std::uint64_t seed, std::int64_t bucket, std::uint64_t channel) {
    std::uint64_t x = seed ^ (static_cast<std::uint64_t>(bucket) * 0x9E3779B97F4A7C15ULL) ^
                      (channel * 0xC2B2AE3D27D4EB4FULL);
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 52) * 2.0 - 1.0;
}

}  // namespace

std::string_view to_string(SimState s) noexcept {
    switch (s) {
        case SimState::mining:
            return "mining";
        case SimState::sleeping:
            return "sleeping";
        case SimState::booting:
            return "booting";
        case SimState::protecting:
            return "protecting";
    }
    return "unknown";
}

MinerPhysics::MinerPhysics(const ModelSpec& model, const PhysicsParams& params, std::uint64_t seed,
                           TimePoint boot)
    : model_(&model)
    , params_(&params)
    , seed_(seed)
    , target_w_(model.nominal_w)
    , phase_since_(boot)
    , system_boot_(boot)
    , daemon_start_(boot) {}

double MinerPhysics::output_fraction(TimePoint now) const {
    const double t = std::max(0.0, seconds_between(phase_since_, now));
    switch (phase_) {
        case Phase::running: {
            const double ramp = seconds_of(params_->wake_ramp);
            if (ramp <= 0) return 1.0;
            return std::min(1.0, fraction_at_change_ + (1.0 - fraction_at_change_) * t / ramp);
        }
        case Phase::sleeping: {
            const double ramp = seconds_of(params_->sleep_ramp);
            if (ramp <= 0) return 0.0;
            return std::max(0.0, fraction_at_change_ * (1.0 - t / ramp));
        }
        case Phase::booting: {
            const double boot = seconds_of(params_->boot_time);
            if (t < boot) return 0.0;
            const double ramp = seconds_of(params_->wake_ramp);
            return ramp <= 0 ? 1.0 : std::min(1.0, (t - boot) / ramp);
        }
    }
    return 0;
}

double MinerPhysics::phase_work(TimePoint now) const {
    // Integrate the output fraction over the phase with a few trapezoids: fractions are
    // piecewise linear, so splitting at the ramp ends makes this exact.
    const double t = std::max(0.0, seconds_between(phase_since_, now));
    const double full_ths = hashrate_at_power(*model_, target_w_);
    std::array<double, 4> cuts{0, t, t, t};
    std::size_t n = 2;
    auto add_cut = [&](double c) {
        if (c > 0 && c < t) cuts[n++] = c;
    };
    if (phase_ == Phase::running) add_cut(seconds_of(params_->wake_ramp));
    if (phase_ == Phase::sleeping) add_cut(seconds_of(params_->sleep_ramp));
    if (phase_ == Phase::booting) {
        add_cut(seconds_of(params_->boot_time));
        add_cut(seconds_of(params_->boot_time + params_->wake_ramp));
    }
    // Insertion sort of at most four values (std::sort here trips GCC 12's -Warray-bounds).
    for (std::size_t i = 1; i < n; ++i) {
        for (std::size_t j = i; j > 0 && cuts[j] < cuts[j - 1]; --j)
            std::swap(cuts[j], cuts[j - 1]);
    }
    double work = 0;
    for (std::size_t i = 1; i < n; ++i) {
        const auto at = [&](double s) {
            return output_fraction(phase_since_ + std::chrono::duration_cast<Duration>(
                                                      std::chrono::duration<double>(s)));
        };
        work += (cuts[i] - cuts[i - 1]) * (at(cuts[i - 1]) + at(cuts[i])) / 2.0;
    }
    return work * full_ths;
}

void MinerPhysics::enter(Phase next, TimePoint now) {
    const double fraction = output_fraction(now);
    work_before_phase_ += phase_work(now);
    phase_ = next;
    phase_since_ = now;
    fraction_at_change_ = fraction;
}

void MinerPhysics::sleep(TimePoint now) {
    if (phase_ == Phase::sleeping) return;
    enter(Phase::sleeping, now);
}

void MinerPhysics::wake(TimePoint now) {
    if (phase_ != Phase::sleeping) return;
    enter(Phase::running, now);
}

void MinerPhysics::reboot(TimePoint now) {
    enter(Phase::booting, now);
    fraction_at_change_ = 0;
    system_boot_ = now;
    daemon_start_ = now + params_->boot_time;
    work_before_phase_ = 0;
    reject_from_work_ = 0;
    rejected_work_ = 0;
}

void MinerPhysics::set_reject_ratio(TimePoint now, double ratio) {
    const double work = work_before_phase_ + phase_work(now);
    rejected_work_ += reject_ratio_ * std::max(0.0, work - reject_from_work_);
    reject_from_work_ = work;
    reject_ratio_ = ratio;
}

void MinerPhysics::set_power_target(TimePoint now, double watts) {
    const double clamped = std::clamp(watts, model_->min_power_w, model_->max_power_w);
    if (phase_ == Phase::booting) {
        // The daemon applies the new target when it starts; the boot schedule stays.
        target_w_ = clamped;
        return;
    }
    // Bank the work done at the old target before the rate changes; output carries on from
    // where it is (a running miner stays at full output, a ramp continues).
    const double fraction = output_fraction(now);
    work_before_phase_ += phase_work(now);
    phase_since_ = now;
    fraction_at_change_ = fraction;
    target_w_ = clamped;
}

Snapshot MinerPhysics::snapshot(TimePoint now, const FaultSet& faults) const {
    const PhysicsParams& p = *params_;
    const ModelSpec& m = *model_;
    Snapshot s;
    s.power_target_w = target_w_;
    s.expected_ths = hashrate_at_power(m, target_w_);

    // Ambient: optional day/night swing, warmest at 15:00 UTC.
    const double hours =
        std::fmod(std::chrono::duration<double>(now.time_since_epoch()).count() / 3600.0, 24.0);
    s.ambient_c = p.ambient_c + p.ambient_swing_c * std::cos((hours - 15.0) / 24.0 * 2 * M_PI);

    double fraction = output_fraction(now);
    const bool booting = phase_ == Phase::booting && now < daemon_start_;

    // Thermal faults: how many °C above normal the chips run.
    double extra_c = 0;
    if (faults.has(FaultKind::overheating)) extra_c += 30.0;
    if (faults.has(FaultKind::fan_failure)) {
        // With a fan gone the chips climb ~30 °C over two minutes of full load.
        const double t = std::max(0.0, seconds_between(faults.since(FaultKind::fan_failure), now));
        extra_c += 30.0 * std::min(1.0, t / 120.0);
    }
    const double load_full = target_w_ / m.nominal_w;
    const double chip_full_c = s.ambient_c + 45.0 * load_full + extra_c;
    const bool protecting = fraction > 0 && chip_full_c >= p.protect_chip_temp_c;
    if (protecting) fraction = 0;

    const int dead = faults.has(FaultKind::dead_board) ? faults.board_index() : -1;
    const int alive_boards = m.boards - ((dead >= 0 && dead < m.boards) ? 1 : 0);
    // A PSU or tuning fault draws more than the target the firmware reports as its limit.
    const double draw = faults.has(FaultKind::power_overdraw) ? faults.overdraw_ratio() : 1.0;
    const double hashing_power = (target_w_ - p.idle_power_w) * fraction * draw;
    s.power_w =
        p.idle_power_w * draw + hashing_power * alive_boards / m.boards + (booting ? 40.0 : 0.0);
    const double load = s.power_w / m.nominal_w;
    s.hashing = fraction > 0;
    // A miner still ramping down after a sleep command reports mining until it has stopped.
    s.state = protecting                                   ? SimState::protecting
              : booting                                    ? SimState::booting
              : phase_ == Phase::sleeping && fraction == 0 ? SimState::sleeping
                                                           : SimState::mining;

    // Fans follow temperature: idle ~25%, full load ~95%, 100% when protecting.
    s.fan_pwm_pct =
        protecting ? 100 : static_cast<int>(std::clamp(25.0 + 70.0 * load, 10.0, 100.0));
    const std::int64_t bucket =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() / 5;
    const double max_rpm = m.make == "Bitmain" ? 6300.0 : m.make == "MicroBT" ? 4800.0 : 5600.0;
    for (int f = 0; f < m.fans; ++f) {
        double rpm = max_rpm * s.fan_pwm_pct / 100.0 *
                     (1.0 + 0.015 * noise(seed_, bucket, 100 + static_cast<std::uint64_t>(f)));
        if (faults.has(FaultKind::fan_failure) && faults.fan_index() == f) rpm = 0;
        s.fans_rpm.push_back(static_cast<std::int64_t>(std::lround(rpm / 30.0) * 30));
    }

    // Chips run ambient + 45 °C at nominal power with working fans; boards ~10 °C cooler.
    const double chip_c = s.ambient_c + 45.0 * load + (s.hashing ? extra_c : extra_c * 0.3);
    const double board_c = s.ambient_c + 35.0 * load + extra_c * 0.6;
    const double full_ths = hashrate_at_power(m, target_w_);
    // Throttled chips: the reported rates fall, every board still hashes. The counters keep
    // their pace (a simplification: they would slow too, but no rule reads them for this).
    const double throttle = faults.has(FaultKind::hashrate_drop) ? faults.hashrate_ratio() : 1.0;
    const int hot_board = faults.has(FaultKind::board_hot) ? faults.hot_board_index() : -1;
    const double since_daemon = std::max(0.0, seconds_between(daemon_start_, now));
    const double work = work_before_phase_ + phase_work(now);
    s.work_ths_s = work;
    s.elapsed_s = static_cast<std::int64_t>(since_daemon);
    s.uptime_s = static_cast<std::int64_t>(std::max(0.0, seconds_between(system_boot_, now)));

    for (int b = 0; b < m.boards; ++b) {
        BoardSnapshot bs;
        bs.index = m.first_board_index + b;
        bs.alive = b != dead;
        bs.expected_chips = m.chips_per_board;
        bs.chips = bs.alive ? m.chips_per_board : 0;
        bs.ideal_ths = full_ths / m.boards;
        const auto ch = static_cast<std::uint64_t>(b);
        if (bs.alive && s.hashing) {
            bs.hashrate_ths = bs.ideal_ths * fraction * throttle *
                              (1.0 + p.hashrate_noise * noise(seed_, bucket, 10 + ch));
        }
        bs.avg_hashrate_ths = bs.alive && since_daemon > 0 ? work / since_daemon / m.boards : 0.0;
        const double bchip =
            bs.alive ? chip_c + 2.0 * noise(seed_, bucket / 6, 20 + ch) : board_c - 5;
        // A failing power stage heats the PCB around it; the chips, further off, barely notice.
        const double bpcb =
            board_c + (b == hot_board ? 30.0 : 0.0) + 1.5 * noise(seed_, bucket / 6, 30 + ch);
        // Inlet side sensors run cooler than the outlet side ones.
        bs.chip_temps_c = {bchip - 16, bchip - 14, bchip - 1, bchip};
        bs.pcb_temps_c = {bpcb - 15, bpcb - 14, bpcb - 1, bpcb};
        for (auto& v : bs.chip_temps_c) v = std::round(v);
        for (auto& v : bs.pcb_temps_c) v = std::round(v);
        bs.chip_temp_max_c = *std::max_element(bs.chip_temps_c.begin(), bs.chip_temps_c.end());
        bs.board_temp_max_c = *std::max_element(bs.pcb_temps_c.begin(), bs.pcb_temps_c.end());
        bs.inlet_temp_c = bs.pcb_temps_c[0];
        bs.outlet_temp_c = bs.pcb_temps_c[3];
        bs.hw_errors = bs.alive ? static_cast<std::int64_t>(work / m.boards / 9000.0) : 0;
        bs.freq_mhz = s.hashing ? std::round(525.0 * std::pow(target_w_ / m.nominal_w, 0.6)) : 0;
        bs.voltage_v =
            s.hashing ? std::round(1330.0 * std::pow(target_w_ / m.nominal_w, 0.25)) / 100.0 : 0;
        bs.power_w = bs.alive ? hashing_power / m.boards : 0;
        s.hashrate_ths += bs.hashrate_ths;
        s.hw_errors += bs.hw_errors;
        s.chip_temp_max_c = std::max(s.chip_temp_max_c, bs.chip_temp_max_c);
        s.board_temp_max_c = std::max(s.board_temp_max_c, bs.board_temp_max_c);
        s.boards.push_back(bs);
    }
    s.hashrate_1m_ths = s.hashing ? full_ths * fraction * throttle * alive_boards / m.boards *
                                        (1.0 + p.hashrate_noise / 3 * noise(seed_, bucket / 12, 2))
                                  : 0.0;
    s.hashrate_avg_ths = since_daemon > 0 ? work / since_daemon : 0.0;
    // Roughly one share per 1,400 TH at the pool difficulty real S19s see (share_work_th);
    // healthy pools reject about 1 in 370. A rejects fault turns its ratio of the shares
    // found since it began into rejects.
    const double spw = p.share_work_th > 0 ? p.share_work_th : 1400.0;
    const auto shares = static_cast<std::int64_t>(work / spw);
    const double rejected_work =
        rejected_work_ + reject_ratio_ * std::max(0.0, work - reject_from_work_);
    const auto faulted = std::min(shares, static_cast<std::int64_t>(rejected_work / spw));
    s.accepted = shares - faulted;
    s.rejected = s.accepted / 370 + faulted;
    s.stale = s.accepted / 4000;
    return s;
}

}  // namespace hashwatt::sim
