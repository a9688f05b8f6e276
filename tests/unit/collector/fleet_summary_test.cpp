#include "collector/fleet_summary.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;

namespace {

MinerSample mining(const std::string& id, double ths, double w) {
    MinerSample s;
    s.miner_id = id;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = ths;
    s.power_w = w;
    BoardSample b;
    b.index = 0;
    b.hashrate_ths = ths;
    b.chip_temp_max_c = 70;
    b.ok = true;
    s.boards = {b};
    s.fans_rpm = {6000, 6000};
    return s;
}

}  // namespace

TEST_CASE("fleet summary: totals over answering miners, efficiency over those reporting both") {
    std::vector<MinerSample> fleet{mining("a", 100, 3000), mining("b", 200, 5000)};
    MinerSample down;
    down.miner_id = "c";
    down.up = false;
    down.state = MinerState::offline;
    fleet.push_back(down);
    MinerSample no_power = mining("d", 50, 0);
    no_power.power_w.reset();
    fleet.push_back(no_power);
    MinerSample asleep = mining("e", 0, 15);
    asleep.state = MinerState::sleeping;
    asleep.boards[0].hashrate_ths = 0;
    fleet.push_back(asleep);

    const auto s = summarize_fleet(fleet);
    CHECK(s.miners == 5);
    CHECK(s.up == 4);
    CHECK(s.mining == 3);
    CHECK(s.sleeping == 1);
    CHECK(s.hashrate_ths == doctest::Approx(350));
    CHECK(s.power_w == doctest::Approx(8015));
    REQUIRE(s.efficiency_j_per_th);
    CHECK(*s.efficiency_j_per_th == doctest::Approx(8000.0 / 300.0));
    CHECK(s.faults.offline == std::set<std::string>{"c"});
    CHECK(s.faults.dead_board.empty());  // a sleeping miner's idle boards are not dead
    CHECK(s.faults.total() == 1);
    CHECK(format_summary_line(s) == "4/5 up  350.0 TH/s  8.0 kW  26.7 J/TH");
}

TEST_CASE("fleet summary: dead boards, stopped fans and hot chips, each miner counted once") {
    MinerSample a = mining("a", 60, 3000);
    BoardSample dead;
    dead.index = 1;
    dead.ok = false;
    a.boards.push_back(dead);
    a.fans_rpm[1] = 0;
    MinerSample b = mining("b", 100, 3000);
    b.boards[0].chip_temp_max_c = kHotChipTempC;
    MinerSample c = mining("c", 100, 3000);
    c.boards[0].hashrate_ths = 0;  // mining, yet a board hashes nothing
    const auto s = summarize_fleet({a, b, c});
    CHECK(s.faults.dead_board == std::set<std::string>{"a", "c"});
    CHECK(s.faults.fan_stopped == std::set<std::string>{"a"});
    CHECK(s.faults.overheating == std::set<std::string>{"b"});
    CHECK(s.faults.total() == 3);
    CHECK(summarize_fleet({}).efficiency_j_per_th == std::nullopt);
    CHECK(format_summary_line(summarize_fleet({})) == "0/0 up  0.0 TH/s  0.0 kW  - J/TH");
}
