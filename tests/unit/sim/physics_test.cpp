// Physics: power target -> hash rate, sleep and wake ramps, reboots, and the thermal faults.
#include "sim/physics.hpp"

#include "sim/fleet.hpp"

#include <cmath>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::sim;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{std::chrono::milliseconds{1'764'000'000'000}};

struct Rig {
    PhysicsParams params;
    FaultSet faults;
    MinerPhysics phys;
    explicit Rig(const char* model = "s19pro") : phys(*find_model(model), params, 7, t0 - 1h) {
        params.wake_ramp = 60s;
        params.sleep_ramp = 5s;
        params.boot_time = 30s;
    }
    Snapshot at(TimePoint t) const { return phys.snapshot(t, faults); }
};

}  // namespace

TEST_CASE("physics: a healthy miner runs at its nominal figures") {
    Rig r;
    const auto s = r.at(t0);
    CHECK(s.state == SimState::mining);
    CHECK(s.power_w == doctest::Approx(3250));
    CHECK(s.expected_ths == doctest::Approx(110));
    CHECK(s.hashrate_ths == doctest::Approx(110).epsilon(0.05));
    CHECK(s.boards.size() == 3);
    CHECK(s.boards[0].chips == 114);
    CHECK(s.fans_rpm.size() == 4);
    CHECK(s.chip_temp_max_c > 60);
    CHECK(s.chip_temp_max_c < 90);
    CHECK(s.elapsed_s == 3600);
    CHECK(s.accepted > 0);
}

TEST_CASE("physics: lower power targets are more efficient (concave curve)") {
    const auto& m = *find_model("s19pro");
    const double j_per_th_full = m.nominal_w / hashrate_at_power(m, m.nominal_w);
    const double j_per_th_low = 2400.0 / hashrate_at_power(m, 2400.0);
    CHECK(j_per_th_low < j_per_th_full);
    CHECK(hashrate_at_power(m, 2400.0) < hashrate_at_power(m, m.nominal_w));
}

TEST_CASE("physics: sleeping drops to tens of watts within the sleep ramp") {
    Rig r;
    r.phys.sleep(t0);
    CHECK(r.at(t0 + 2s).power_w > 500);  // still ramping down
    CHECK(r.at(t0 + 2s).state == SimState::mining);
    const auto s = r.at(t0 + 6s);
    CHECK(s.state == SimState::sleeping);
    CHECK(s.power_w < 60);
    CHECK(s.hashrate_ths == 0);
    CHECK(s.chip_temp_max_c < 40);
}

TEST_CASE("physics: waking ramps back to full over the wake ramp, not before") {
    Rig r;
    r.phys.sleep(t0);
    r.phys.wake(t0 + 60s);
    const auto half = r.at(t0 + 90s);
    CHECK(half.power_w == doctest::Approx(25 + (3250 - 25) * 0.5).epsilon(0.01));
    CHECK(half.hashrate_ths < 80);
    const auto full = r.at(t0 + 121s);
    CHECK(full.power_w == doctest::Approx(3250));
    CHECK(full.hashrate_ths == doctest::Approx(110).epsilon(0.05));
}

TEST_CASE("physics: counters keep growing only while hashing") {
    Rig r;
    const auto before = r.at(t0).work_ths_s;
    r.phys.sleep(t0);
    const auto asleep = r.at(t0 + 1h).work_ths_s;
    CHECK(asleep - before < 110 * 5);  // only the ramp-down's work
    r.phys.wake(t0 + 1h);
    CHECK(r.at(t0 + 2h).work_ths_s - asleep ==
          doctest::Approx(110 * 3600 - 110 * 30).epsilon(0.01));
}

TEST_CASE("physics: a power target changes power and hash rate, clamped to the model") {
    Rig r;
    r.phys.set_power_target(t0, 2600);
    auto s = r.at(t0 + 1s);
    CHECK(s.power_w == doctest::Approx(2600));
    CHECK(s.expected_ths == doctest::Approx(110 * std::pow(2600 / 3250.0, 0.75)));
    r.phys.set_power_target(t0, 100000);
    CHECK(r.at(t0 + 1s).power_target_w == 3600);
}

TEST_CASE("physics: a reboot restarts uptime, boots, then ramps") {
    Rig r;
    r.phys.reboot(t0);
    auto s = r.at(t0 + 10s);
    CHECK(s.state == SimState::booting);
    CHECK(s.hashrate_ths == 0);
    CHECK(s.uptime_s == 10);
    s = r.at(t0 + 30s + 61s);
    CHECK(s.state == SimState::mining);
    CHECK(s.elapsed_s == 61);
    CHECK(s.power_w == doctest::Approx(3250));
}

TEST_CASE("physics: a failed fan reads 0 rpm, the chips climb, the miner protects itself") {
    Rig r;
    r.faults.set(FaultKind::fan_failure, {.index = 2}, t0);
    auto s = r.at(t0 + 10s);
    CHECK(s.fans_rpm[2] == 0);
    CHECK(s.state == SimState::mining);
    const double early = s.chip_temp_max_c;
    s = r.at(t0 + 60s);
    CHECK(s.chip_temp_max_c > early + 5);
    s = r.at(t0 + 5min);
    CHECK(s.state == SimState::protecting);
    CHECK(s.hashrate_ths == 0);
    CHECK(s.fan_pwm_pct == 100);
    r.faults.clear(FaultKind::fan_failure);
    CHECK(r.at(t0 + 6min).state == SimState::mining);
}

TEST_CASE("physics: a dead board hashes nothing and reports no chips") {
    Rig r;
    r.faults.set(FaultKind::dead_board, {.index = 1}, t0);
    const auto s = r.at(t0);
    CHECK(s.boards[1].hashrate_ths == 0);
    CHECK(s.boards[1].chips == 0);
    CHECK(s.boards[0].hashrate_ths > 30);
    CHECK(s.hashrate_ths == doctest::Approx(110 * 2 / 3.0).epsilon(0.05));
    CHECK(s.power_w < 3250 * 0.7);
}

TEST_CASE("physics: overheating runs hot and past the limit stops hashing") {
    Rig r;
    r.params.ambient_c = 10;
    r.faults.set(FaultKind::overheating, {}, t0);
    auto s = r.at(t0);
    CHECK(s.state == SimState::mining);
    CHECK(s.chip_temp_max_c > 80);
    r.params.ambient_c = 25;
    s = r.at(t0);
    CHECK(s.state == SimState::protecting);
}

TEST_CASE("physics: a rejects fault turns its share of new shares into rejects, kept after") {
    Rig r;
    const auto before = r.at(t0);
    CHECK(before.rejected == before.accepted / 370);  // healthy: well under 1 %
    r.faults.set(FaultKind::rejects, {.ratio = 0.2}, t0);
    CHECK(r.faults.reject_ratio() == doctest::Approx(0.2));
    r.phys.set_reject_ratio(t0, r.faults.reject_ratio());
    const auto during = r.at(t0 + 1h);
    const auto new_shares =
        (during.accepted + during.rejected) - (before.accepted + before.rejected);
    const auto new_rejects = during.rejected - before.rejected;
    CHECK(static_cast<double>(new_rejects) / static_cast<double>(new_shares) ==
          doctest::Approx(0.2).epsilon(0.05));
    r.faults.clear(FaultKind::rejects);
    r.phys.set_reject_ratio(t0 + 1h, 0);
    const auto after = r.at(t0 + 2h);
    CHECK(after.rejected >= during.rejected);  // counters never go back
    CHECK(after.accepted > during.accepted);
    // Only the healthy trickle is added once the pool accepts again.
    CHECK(after.rejected - during.rejected <= (after.accepted - during.accepted) / 370 + 1);
    r.phys.reboot(t0 + 2h);
    CHECK(r.at(t0 + 2h + 40s).rejected == 0);  // a reboot restarts the counters
}

TEST_CASE("physics: a lower share difficulty finds more shares for the same work") {
    Rig r;
    const auto normal = r.at(t0).accepted;
    r.params.share_work_th = 14;
    CHECK(r.at(t0).accepted == doctest::Approx(static_cast<double>(normal) * 100).epsilon(0.01));
}

TEST_CASE("physics: power_overdraw draws over the limit the firmware keeps reporting") {
    Rig r;
    r.faults.set(FaultKind::power_overdraw, {}, t0);
    CHECK(r.faults.overdraw_ratio() == doctest::Approx(1.25));
    auto s = r.at(t0);
    CHECK(s.power_target_w == doctest::Approx(3250));
    CHECK(s.power_w == doctest::Approx(3250 * 1.25));
    double boards_w = 0;
    for (const auto& b : s.boards) boards_w += b.power_w;
    CHECK(boards_w == doctest::Approx((3250 - 25) * 1.25));
    r.faults.set(FaultKind::power_overdraw, {.ratio = 1.5}, t0);
    CHECK(r.at(t0).power_w == doctest::Approx(3250 * 1.5));
    r.faults.clear(FaultKind::power_overdraw);
    CHECK(r.at(t0).power_w == doctest::Approx(3250));
}

TEST_CASE("physics: hashrate_drop hashes at its ratio of expected with every board alive") {
    Rig r;
    r.faults.set(FaultKind::hashrate_drop, {}, t0);
    const auto s = r.at(t0);
    CHECK(s.state == SimState::mining);
    CHECK(s.expected_ths == doctest::Approx(110));
    CHECK(s.hashrate_ths == doctest::Approx(55).epsilon(0.05));
    CHECK(s.hashrate_1m_ths == doctest::Approx(55).epsilon(0.05));
    for (const auto& b : s.boards) {
        CHECK(b.chips == b.expected_chips);
        CHECK(b.hashrate_ths > 15);
    }
    r.faults.set(FaultKind::hashrate_drop, {.ratio = 0.7}, t0);
    CHECK(r.at(t0).hashrate_ths == doctest::Approx(77).epsilon(0.05));
}

TEST_CASE("physics: board_hot heats one board's PCB sensors, not its chips") {
    Rig r;
    const auto cool = r.at(t0);
    r.faults.set(FaultKind::board_hot, {.index = 2}, t0);
    const auto s = r.at(t0);
    CHECK(s.boards[2].board_temp_max_c == doctest::Approx(cool.boards[2].board_temp_max_c + 30));
    CHECK(s.boards[2].board_temp_max_c >= 85);
    CHECK(s.boards[0].board_temp_max_c == cool.boards[0].board_temp_max_c);
    CHECK(s.chip_temp_max_c == cool.chip_temp_max_c);
    CHECK(s.hashrate_ths == cool.hashrate_ths);
}

TEST_CASE("faults: the new kinds parse, and ratios are checked per kind") {
    for (const auto* name : {"rejects", "power_overdraw", "hashrate_drop", "board_hot"}) {
        const auto k = parse_fault_kind(name);
        REQUIRE(k);
        CHECK(to_string(*k) == name);
    }
    CHECK(ratio_valid(FaultKind::rejects, 0.06));
    CHECK_FALSE(ratio_valid(FaultKind::rejects, 0));
    CHECK_FALSE(ratio_valid(FaultKind::rejects, 1.5));
    CHECK(ratio_valid(FaultKind::power_overdraw, 1.2));
    CHECK_FALSE(ratio_valid(FaultKind::power_overdraw, 0.9));
    CHECK(ratio_valid(FaultKind::hashrate_drop, 0));
    CHECK_FALSE(ratio_valid(FaultKind::hashrate_drop, 1));
    CHECK_FALSE(ratio_valid(FaultKind::overheating, 0.5));
}

TEST_CASE("physics: S9 numbers its boards 6..8") {
    Rig r("s9");
    const auto s = r.at(t0);
    REQUIRE(s.boards.size() == 3);
    CHECK(s.boards[0].index == 6);
    CHECK(s.boards[2].index == 8);
    CHECK(s.fans_rpm.size() == 2);
}

TEST_CASE("fleet: the mix scales to the miner count and addresses skip .0 and .255") {
    FleetConfig cfg;
    cfg.miners = 600;
    cfg.base_ip = "127.1.0.250";
    Fleet fleet(cfg, t0);
    REQUIRE(fleet.miners().size() == 600);
    int avalon = 0;
    for (const auto& m : fleet.miners()) {
        CHECK((m->ip & 255) != 0);
        CHECK((m->ip & 255) != 255);
        avalon += m->family == Family::avalon ? 1 : 0;
    }
    CHECK(avalon == 60);
    CHECK(fleet.by_id_or_ip("127.1.1.1") != nullptr);
    CHECK(fleet.by_id_or_ip("sim-00600") != nullptr);
    CHECK_THROWS_WITH_AS(parse_mix("s19pro:40,t1000:2"), doctest::Contains("unknown model 't1000'"),
                         std::invalid_argument);
    CHECK(parse_mix("s19pro@luxos:1")[0].family == Family::luxos);
    cfg.base_ip = "10.0.0.1";
    CHECK_THROWS_AS(Fleet(cfg, t0), std::invalid_argument);
}
