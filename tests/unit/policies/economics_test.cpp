// Hashprice from the network's state, against a figure computed by hand, and the operating
// points offered for a model or a measured miner.
#include "policies/economics.hpp"

#include "common/models.hpp"

#include <cmath>
#include <stdexcept>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;

TEST_CASE("hashprice from BTC price, difficulty, subsidy and fees") {
    // By hand: one TH/s tries 1e12 * 86400 = 8.64e16 hashes a day; a block needs
    // difficulty * 2^32 = 1.1e14 * 4294967296 = 4.7245e23 on average, so 1.82878e-7 blocks a
    // day, each paying 3.125 + 0.02 BTC: 5.7515e-7 BTC, at 90,000 a BTC 0.051764 a day.
    NetworkStats n;
    n.btc_price = 90'000;
    n.difficulty = 1.1e14;
    n.subsidy_btc = 3.125;
    n.fees_btc_per_block = 0.02;
    CHECK(expected_btc_per_th_day(n) == doctest::Approx(5.75151e-7).epsilon(1e-5));
    CHECK(hashprice_per_th_day(n) == doctest::Approx(0.0517636).epsilon(1e-5));
    // Twice the difficulty halves it; fees add in proportion.
    auto hard = n;
    hard.difficulty *= 2;
    CHECK(hashprice_per_th_day(hard) == doctest::Approx(hashprice_per_th_day(n) / 2));
    n.difficulty = 0;
    CHECK(hashprice_per_th_day(n) == 0);
}

TEST_CASE("operating points from the model table") {
    const auto* s19pro = find_model("s19pro");
    REQUIRE(s19pro != nullptr);
    PointOptions o;
    o.reduced_fractions = {0.9, 0.8, 0.7, 0.6};  // 0.6 * 3250 W = 1950 W < min 2200 W
    const auto pts = operating_points(*s19pro, o);
    REQUIRE(pts.size() == 5);
    CHECK(pts[0] == OperatingPoint{PointKind::full, 3250, 110});
    CHECK(pts[1].kind == PointKind::reduced);
    CHECK(pts[1].power_w == doctest::Approx(2925));
    CHECK(pts[2].power_w == doctest::Approx(2600));
    CHECK(pts[2].hashrate_ths == doctest::Approx(hashrate_at_power(*s19pro, 2600)));
    CHECK(pts[3].power_w == doctest::Approx(2275));
    CHECK(pts[4] == OperatingPoint{PointKind::sleep, kDefaultSleepW, 0});
    // Lower targets are more efficient (the curve is concave).
    CHECK(joules_per_th(pts[3]) < joules_per_th(pts[1]));
    CHECK(joules_per_th(pts[1]) < joules_per_th(pts[0]));
    CHECK(std::isinf(joules_per_th(pts[4])));

    o.power_targets = false;
    o.sleep_w = 20;
    const auto plain = operating_points(*s19pro, o);
    REQUIRE(plain.size() == 2);
    CHECK(plain[0].kind == PointKind::full);
    CHECK(plain[1] == OperatingPoint{PointKind::sleep, 20, 0});
}

TEST_CASE("operating points from a measured miner") {
    const auto* s19 = find_model("s19");
    REQUIRE(s19 != nullptr);
    // A tired S19 doing 88 TH/s at 3300 W: reduced points scale from what it does.
    const auto pts = measured_operating_points(88, 3300, s19);
    REQUIRE(pts.size() == 5);
    CHECK(pts[0] == OperatingPoint{PointKind::full, 3300, 88});
    CHECK(pts[1].power_w == doctest::Approx(2970));
    CHECK(pts[1].hashrate_ths == doctest::Approx(88 * std::pow(0.9, 0.75)));
    CHECK(pts.back().kind == PointKind::sleep);
    // min_power_w bounds the reduced targets: 0.7 * 3000 W = 2100 W < 2200 W.
    CHECK(measured_operating_points(80, 3000, s19).size() == 4);
    CHECK(measured_operating_points(80, 3000, nullptr).size() == 5);
    CHECK_THROWS_AS(measured_operating_points(0, 3000, s19), std::invalid_argument);
    CHECK_THROWS_AS(measured_operating_points(80, -1, s19), std::invalid_argument);
}
