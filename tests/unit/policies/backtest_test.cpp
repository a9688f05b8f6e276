// The backtest: fleet files and their errors, the accounting on a hand-computed case, the
// offline optimum against brute force, "policy <= optimum" on random cases, and the shapes of
// the JSON, CSV and HTML outputs.
#include "policies/backtest/backtest.hpp"

#include "common/time.hpp"
#include "policies/backtest/fleet.hpp"
#include "policies/backtest/report.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace hashwatt::policies::backtest;
using namespace std::chrono_literals;

namespace {

TimePoint at(const char* rfc3339) { return *parse_time(rfc3339); }

std::string fleet_error(const std::string& text) {
    try {
        (void)parse_fleet(text, "fleet.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

PriceSeries series(const std::vector<double>& prices, Duration length = 1h) {
    std::vector<PriceInterval> v;
    TimePoint t = at("2025-03-01T00:00:00Z");
    for (double p : prices) {
        v.push_back({t, length, p});
        t += length;
    }
    return PriceSeries(std::move(v));
}

// One class of `count` miners with a full point (W, TH/s), an optional reduced one, and sleep.
MinerClass miner_class(std::string name, std::size_t count, double full_w, double full_ths,
                       double reduced_w = 0, double reduced_ths = 0) {
    MinerClass c;
    c.name = std::move(name);
    c.model = "test";
    c.count = count;
    c.points.push_back({PointKind::full, full_w, full_ths});
    if (reduced_w > 0) c.points.push_back({PointKind::reduced, reduced_w, reduced_ths});
    c.points.push_back({PointKind::sleep, 15, 0});
    c.wake_time = 0ms;
    c.sleep_time = 0ms;
    return c;
}

// A policy that plays a fixed sequence of points, the same for every miner of a class.
PolicyStep sequence_policy(std::vector<std::vector<std::size_t>> per_class_points) {
    return [seq = std::move(per_class_points), t = std::size_t{0}](
               TimePoint, double, const FleetState& fleet) mutable {
        std::vector<std::size_t> want(fleet.miners.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            want[i] = seq[fleet.miners[i].class_index][t];
        }
        ++t;
        return want;
    };
}

}  // namespace

TEST_CASE("fleet file: classes, points from the model table, measured overrides, defaults") {
    const Fleet f = parse_fleet(R"(
[economics]
hashprice_per_th_day = 0.05
pool_fee = 0.02
pue = 1.1

[[miners]]
model = "s19pro"
count = 40
site = "west"

[[miners]]
model = "S21"
count = 2
name = "s21-east"
hashrate_ths = 190
power_w = 3400
wake_time = "10m"
sleep_time = "30s"
reduced = false
)",
                                "fleet.toml");
    REQUIRE(f.classes.size() == 2);
    REQUIRE(f.economics);
    CHECK(f.economics->hashprice_per_th_day == 0.05);
    CHECK(f.economics->pue == doctest::Approx(1.1));
    CHECK(f.miner_count() == 42);

    const MinerClass& a = f.classes[0];
    CHECK(a.name == "s19pro");
    CHECK(a.site == "west");
    CHECK(a.wake_time == 5min);
    CHECK(a.sleep_time == 1min);
    // 90, 80 and 70 % of 3250 W, all above min_power_w 2200.
    REQUIRE(a.points.size() == 5);
    CHECK(a.points[0] == OperatingPoint{PointKind::full, 3250, 110});
    CHECK(a.points[2].kind == PointKind::reduced);
    CHECK(a.points[2].power_w == doctest::Approx(2600));
    CHECK(a.points[2].hashrate_ths == doctest::Approx(110 * std::pow(0.8, 0.75)));
    CHECK(a.points[3].power_w == doctest::Approx(2275));
    CHECK(a.points[4] == OperatingPoint{PointKind::sleep, 15, 0});
    CHECK(a.sleep_index() == 4);

    const MinerClass& b = f.classes[1];
    CHECK(b.name == "s21-east");
    CHECK(!b.site);
    CHECK(b.wake_time == 10min);
    CHECK(b.sleep_time == 30s);
    REQUIRE(b.points.size() == 2);  // reduced = false
    CHECK(b.points[0] == OperatingPoint{PointKind::full, 3400, 190});

    // A model whose firmware takes no lower target gets no reduced point.
    ModelSpec fixed = *find_model("s19pro");
    fixed.min_power_w = fixed.nominal_w;
    CHECK(points_for_class(fixed).size() == 2);
    // Measured figures scale the curve: a reduced point keeps the measured/nominal ratio.
    const auto measured = points_for_class(*find_model("s19pro"), 99, 3250);
    REQUIRE(measured.size() == 5);  // full, 90, 80 and 70 % power, sleep
    CHECK(measured[2].power_w == doctest::Approx(0.8 * 3250));
    CHECK(measured[2].hashrate_ths == doctest::Approx(99 * std::pow(0.8, 0.75)));
}

TEST_CASE("fleet file: errors say what and where") {
    CHECK(fleet_error("[[miners]]\nmodel = \"s99\"\ncount = 1\n") ==
          "fleet.toml:2:9: miners[0].model: unknown model 's99' (see common/models.hpp)");
    CHECK(fleet_error("[[miners]]\nmodel = \"s19pro\"\n") ==
          "fleet.toml:1:1: miners[0].count: required: how many miners of this kind");
    CHECK(fleet_error("[[miners]]\nmodel = \"s19pro\"\ncount = 0\n")
              .starts_with("fleet.toml:3:9: miners[0].count:"));
    CHECK(fleet_error("[[miners]]\nmodel = \"s19pro\"\ncount = 1\nwake = \"5m\"\n")
              .starts_with("fleet.toml:4:1: miners[0].wake: unknown key"));
    CHECK(fleet_error("[[miners]]\nmodel = \"s19pro\"\ncount = 1\nwake_time = \"soon\"\n")
              .starts_with("fleet.toml:4:13: miners[0].wake_time:"));
    CHECK(fleet_error("[[miners]]\nmodel = \"s19pro\"\ncount = 1\npower_w = -5\n")
              .starts_with("fleet.toml:4:11: miners[0].power_w:"));
    CHECK(fleet_error("[economics]\npool_fee = 0.02\n[[miners]]\nmodel = \"s9\"\ncount = 1\n")
              .starts_with("fleet.toml:1:1: economics.hashprice_per_th_day: required"));
    CHECK(fleet_error("[[miners]]\nmodel = \"s9\"\ncount = 1\nname = \"a\"\n"
                      "[[miners]]\nmodel = \"s9\"\ncount = 1\nname = \"a\"\n")
              .starts_with("fleet.toml:8:8: miners[1].name: 'a' is used"));
    CHECK(fleet_error("").find("at least one [[miners]]") != std::string::npos);
    // Two unnamed entries of one model get distinct id prefixes.
    const Fleet f = parse_fleet(
        "[[miners]]\nmodel = \"s9\"\ncount = 1\n[[miners]]\nmodel = "
        "\"s9\"\ncount = 2\n",
        "fleet.toml");
    CHECK(f.classes[0].name != f.classes[1].name);
}

TEST_CASE("backtest inputs: a gap or a change of interval length is refused, naming the place") {
    Fleet f;
    f.classes.push_back(miner_class("a", 1, 3000, 100));
    const Economics e{0.05, 0, 1};
    const PriceSeries gap(
        {{at("2025-03-01T00:00:00Z"), 15min, 1}, {at("2025-03-01T00:30:00Z"), 15min, 2}});
    CHECK_THROWS_WITH_AS(always_on(gap, f, e),
                         "no price from 2025-03-01T00:15:00.000Z to 2025-03-01T00:30:00.000Z (a "
                         "backtest needs a series without gaps)",
                         std::invalid_argument);
    const PriceSeries mixed(
        {{at("2025-03-01T00:00:00Z"), 15min, 1}, {at("2025-03-01T00:15:00Z"), 5min, 2}});
    CHECK_THROWS_WITH_AS(optimum(mixed, f, e, {}),
                         "price interval at 2025-03-01T00:15:00.000Z is 5m long, the series' "
                         "first is 15m (a backtest needs one interval length)",
                         std::invalid_argument);
    CHECK_THROWS_AS(always_on(PriceSeries{}, f, e), std::invalid_argument);
    CHECK_THROWS_WITH_AS(replay(series({1, 2}), f, e, {},
                                [](TimePoint, double, const FleetState&) {
                                    return std::vector<std::size_t>{0, 0};
                                }),
                         "policy step at 2025-03-01T00:00:00.000Z returned 2 targets for 1 miners",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        replay(series({1, 2}), f, e, {},
               [](TimePoint, double, const FleetState&) { return std::vector<std::size_t>{7}; }),
        "policy step at 2025-03-01T00:00:00.000Z asked miner a-1 for point 7 of 2",
        std::invalid_argument);
}

TEST_CASE("backtest accounting: a hand-computed 4-interval case") {
    // Two miners, 3 kW and 100 TH/s at full, 15 W asleep; hashprice 0.05/TH/day, no fee, pue 1:
    // revenue at full is 0.05 * 100 / 24 = 0.208333 per hour, energy 0.003 MWh per hour.
    Fleet f;
    f.classes.push_back(miner_class("m", 2, 3000, 100));
    f.classes[0].wake_time = 30min;  // the wake hour hashes only its second half
    const Economics e{0.05, 0, 1};
    const PriceSeries prices = series({20, 100, 100, 20});
    const Result r = run_backtest(prices, f, e, {}, threshold_policy(50, 30));

    // Policy: full at 20 (0.208333 - 0.06), asleep at 100 twice (-0.0015 each), waking at 20
    // (0.104167 - 0.06).
    const double per_miner = (0.2083333333 - 0.06) + 2 * -0.0015 + (0.1041666667 - 0.06);
    CHECK(r.policy.totals.profit == doctest::Approx(2 * per_miner));
    CHECK(r.policy.totals.energy_mwh == doctest::Approx(2 * (0.003 + 2 * 0.000015 + 0.003)));
    CHECK(r.policy.totals.revenue == doctest::Approx(2 * (0.2083333333 + 0.1041666667)));
    CHECK(r.policy.totals.cost == doctest::Approx(2 * (0.06 + 2 * 0.0015 + 0.06)));
    CHECK(r.policy.totals.switches == 4);
    CHECK(r.policy.totals.switches_per_miner == 2);
    CHECK(r.policy.totals.max_switches_per_miner_day == 2);
    CHECK(r.policy.totals.curtailed_miner_hours == doctest::Approx(2 * 2.5));
    CHECK(r.policy.power_kw == std::vector<double>{6, 0.03, 0.03, 6});
    CHECK(r.policy.curtailed_share[3] == doctest::Approx(0.5));

    // Always on: 2 * (0.148333) + 2 * (0.208333 - 0.3) per miner.
    CHECK(r.always_on.totals.profit == doctest::Approx(2 * (2 * 0.1483333333 - 2 * 0.0916666667)));
    CHECK(r.always_on.totals.switches == 0);
    CHECK(r.always_on.totals.curtailed_miner_hours == 0);

    // Here the threshold policy is optimal.
    CHECK(r.optimum.totals.profit == doctest::Approx(r.policy.totals.profit));
    CHECK(r.optimum_exact);
    CHECK(r.capture_ratio == doctest::Approx(1));
    CHECK(r.held_by_dwell == 0);

    // min_off 3h: the wake in the last hour is held for both miners; sleeping on is now best.
    const Constraints dwell{0ms, 3h, {}};
    const Result held = run_backtest(prices, f, e, dwell, threshold_policy(50, 30));
    CHECK(held.held_by_dwell == 2);
    const double asleep = 0.1483333333 - 2 * 0.0015 - 0.0003;
    CHECK(held.policy.totals.profit == doctest::Approx(2 * asleep));
    CHECK(held.optimum.totals.profit == doctest::Approx(2 * asleep));
}

TEST_CASE("backtest: the policy sees responses under way and its own commands") {
    Fleet f;
    f.classes.push_back(miner_class("m", 1, 3000, 100));
    f.classes[0].wake_time = 20min;
    f.classes[0].sleep_time = 20min;
    const Economics e{0.05, 0, 1};
    std::vector<SimulatedMiner> seen;
    auto step = [&, t = 0](TimePoint now, double, const FleetState& s) mutable {
        seen.push_back(s.miners[0]);
        CHECK(s.miner_id(0) == "m-1");
        CHECK(now == at("2025-03-01T00:00:00Z") + 15min * t);
        const std::size_t plan[] = {1, 1, 1, 0, 0, 0};
        return std::vector<std::size_t>{plan[t++]};
    };
    (void)replay(series({1, 1, 1, 1, 1, 1}, 15min), f, e, {}, step);
    REQUIRE(seen.size() == 6);
    CHECK(seen[0].actual == 0);
    CHECK(seen[0].hashing);
    CHECK(seen[1].target == 1);  // commanded asleep 15 minutes ago: still running (20 m)
    CHECK(seen[1].actual == 0);
    CHECK(seen[1].hashing);
    CHECK(seen[1].on_off_at == at("2025-03-01T00:00:00Z"));
    CHECK(seen[2].actual == 1);
    CHECK(!seen[2].hashing);
    CHECK(seen[4].target == 0);  // woken 15 minutes ago: not hashing yet
    CHECK(seen[4].actual == 1);
    CHECK(!seen[4].hashing);
    CHECK(seen[5].actual == 0);
    CHECK(seen[5].hashing);
    CHECK(seen[5].switches == 2);
}

namespace {

struct RandomCase {
    Fleet fleet;
    Economics economics{0.05, 0.02, 1.05};
    Constraints constraints;
    PriceSeries prices;
};

RandomCase random_case(std::mt19937& rng, std::size_t classes, std::size_t intervals,
                       bool responses) {
    RandomCase c;
    auto pick = [&](std::initializer_list<Duration> v) {
        return *(v.begin() + std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng));
    };
    std::uniform_real_distribution<double> u(0, 1);
    for (std::size_t i = 0; i < classes; ++i) {
        const double w = 2000 + 1500 * u(rng);
        const double ths = 60 + 150 * u(rng);
        MinerClass m = miner_class("c" + std::to_string(i), 1 + rng() % 3, w, ths, 0.8 * w,
                                   ths * std::pow(0.8, 0.75));
        if (responses) {
            m.wake_time = pick({0ms, 10min, 20min, 45min});
            m.sleep_time = pick({0ms, 5min, 20min});
        }
        c.fleet.classes.push_back(std::move(m));
    }
    if (responses) {
        c.constraints.min_on = pick({0ms, 15min, 30min, 40min, 1h});
        c.constraints.min_off = pick({0ms, 15min, 30min, 1h});
    }
    std::vector<double> p;
    for (std::size_t t = 0; t < intervals; ++t) {
        const double r = u(rng);
        p.push_back(r < 0.15  ? -30 * u(rng)         // windy night
                    : r < 0.3 ? 300 + 2000 * u(rng)  // scarcity spike
                              : 20 + 80 * u(rng));   // around break-even
    }
    c.prices = series(p, 15min);
    return c;
}

// The best profit over every sequence of points for one class (same for all its miners), by
// replaying each sequence: sequences the dwell guard holds are not feasible and are skipped.
double brute_force_class(const RandomCase& rc, std::size_t cls) {
    Fleet one;
    one.classes.push_back(rc.fleet.classes[cls]);
    const std::size_t n = rc.prices.intervals().size();
    const std::size_t points = one.classes[0].points.size();
    std::vector<std::size_t> seq(n, 0);
    double best = -1e300;
    for (;;) {
        ReplayStats stats;
        const Run run =
            replay(rc.prices, one, rc.economics, rc.constraints, sequence_policy({seq}), &stats);
        if (stats.held_by_dwell == 0) best = std::max(best, run.totals.profit);
        std::size_t i = 0;
        while (i < n && ++seq[i] == points) seq[i++] = 0;
        if (i == n) break;
    }
    return best;
}

}  // namespace

TEST_CASE("optimum: the dynamic program equals brute force over all point sequences") {
    std::mt19937 rng(20250301);
    for (std::size_t round = 0; round < 24; ++round) {
        const std::size_t n = round < 16 ? 8 : 11;
        const RandomCase rc = random_case(rng, 1 + round % 2, n, round % 6 != 0);
        OptimumInfo info;
        const Run opt = optimum(rc.prices, rc.fleet, rc.economics, rc.constraints, &info);
        CHECK(info.exact);
        double brute = 0;
        for (std::size_t c = 0; c < rc.fleet.classes.size(); ++c) {
            brute += brute_force_class(rc, c);  // for all the class's miners
        }
        CAPTURE(round);
        CHECK(opt.totals.profit == doctest::Approx(brute).epsilon(1e-9));
        // The reported schedule is a real one: its intervals add up to its profit.
        double sum = 0;
        for (double x : opt.profit) sum += x;
        CHECK(sum == doctest::Approx(opt.totals.profit).epsilon(1e-9));
    }
}

TEST_CASE("optimum: a site cap is filled in merit order; exact without dwell, a bound with it") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> u(0, 1);
    for (int round = 0; round < 12; ++round) {
        const bool dwell = round % 2 == 1;
        RandomCase rc = random_case(rng, 2, 5, dwell);
        for (auto& c : rc.fleet.classes) c.count = 1;
        rc.constraints.caps.push_back({std::nullopt, 2 + 4 * u(rng)});
        OptimumInfo info;
        const Run opt = optimum(rc.prices, rc.fleet, rc.economics, rc.constraints, &info);

        // Brute force over both miners' joint sequences, keeping those within the cap.
        const std::size_t n = rc.prices.intervals().size();
        const std::size_t p0 = rc.fleet.classes[0].points.size();
        const std::size_t p1 = rc.fleet.classes[1].points.size();
        std::vector<std::size_t> seq(n, 0);  // joint index a * p1 + b
        double best = -1e300;
        for (;;) {
            ReplayStats stats;
            std::vector<std::vector<std::size_t>> per(2, std::vector<std::size_t>(n));
            for (std::size_t t = 0; t < n; ++t) {
                per[0][t] = seq[t] / p1;
                per[1][t] = seq[t] % p1;
            }
            const Run run = replay(rc.prices, rc.fleet, rc.economics, rc.constraints,
                                   sequence_policy(per), &stats);
            if (stats.held_by_dwell == 0 && stats.cap_exceeded_intervals == 0) {
                best = std::max(best, run.totals.profit);
            }
            std::size_t i = 0;
            while (i < n && ++seq[i] == p0 * p1) seq[i++] = 0;
            if (i == n) break;
        }
        CAPTURE(round);
        CHECK(opt.totals.profit >= best - 1e-9);
        if (!dwell) {
            // The fractional fill: above the whole-miner optimum by at most one miner's share
            // of each interval's profit at the boundary.
            CHECK(info.exact);
            CHECK(info.cap_credit == doctest::Approx(0).epsilon(1e-9));
            double slack = 0;
            for (const auto& c : rc.fleet.classes) {
                slack += c.points[0].hashrate_ths * 0.05 / 96 * static_cast<double>(n);
            }
            CHECK(opt.totals.profit <= best + slack);
            for (std::size_t t = 0; t < n; ++t) {
                CHECK(opt.power_kw[t] <= rc.constraints.caps[0].kw + 1e-9);
            }
        }
    }
}

TEST_CASE("replay: a threshold policy never beats the optimum on random cases") {
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> u(0, 1);
    for (std::size_t round = 0; round < 60; ++round) {
        RandomCase rc = random_case(rng, 1 + round % 3, 12 + rng() % 40, true);
        if (round % 3 == 2) rc.constraints.caps.push_back({std::nullopt, 1 + 12 * u(rng)});
        const double sleep_above = 40 + 200 * u(rng);
        const Result r = run_backtest(rc.prices, rc.fleet, rc.economics, rc.constraints,
                                      threshold_policy(sleep_above, sleep_above * u(rng)));
        CAPTURE(round);
        if (r.cap_exceeded_intervals == 0) {
            CHECK(r.policy.totals.profit <= r.optimum.totals.profit + 1e-9);
        }
        CHECK(r.always_on.totals.profit <= r.optimum.totals.profit + 1e-9);
    }
}

TEST_CASE("replay: random per-miner commands never beat the optimum either") {
    // Miners of one class diverge here and many commands break min on/off (the replay holds
    // them): the optimum's one-plan-per-class must still bound every miner.
    std::mt19937 rng(99);
    for (std::size_t round = 0; round < 40; ++round) {
        const RandomCase rc = random_case(rng, 1 + round % 2, 16 + rng() % 24, true);
        auto step = [&rng](TimePoint, double, const FleetState& fleet) {
            std::vector<std::size_t> want(fleet.miners.size());
            for (std::size_t i = 0; i < want.size(); ++i) {
                want[i] = rng() % 2 == 0 ? fleet.miners[i].target
                                         : rng() % fleet.class_of(i).points.size();
            }
            return want;
        };
        const Result r = run_backtest(rc.prices, rc.fleet, rc.economics, rc.constraints, step);
        CAPTURE(round);
        CHECK(r.policy.totals.profit <= r.optimum.totals.profit + 1e-9);
    }
}

TEST_CASE("reports: JSON, CSV and HTML shapes") {
    Fleet f;
    f.classes.push_back(miner_class("m", 3, 3000, 100, 2400, 85));
    f.classes[0].wake_time = 5min;
    const Economics e{0.05, 0.02, 1.05};
    const PriceSeries prices = series({20, 300, 250, 40, -5, 90, 30, 1200}, 15min);
    const Result r = run_backtest(prices, f, e, {15min, 15min, {}}, threshold_policy(100, 50));

    const auto v = boost::json::parse(to_json_text(r));
    const auto& o = v.as_object();
    CHECK(o.at("intervals").to_number<std::uint64_t>() == 8);
    CHECK(o.at("hours").as_double() == doctest::Approx(2));
    CHECK(o.at("miners").to_number<std::uint64_t>() == 3);
    for (const char* run : {"always_on", "policy", "optimum"}) {
        const auto& t = o.at(run).as_object();
        for (const char* key : {"energy_mwh", "revenue", "cost", "profit", "curtailed_miner_hours",
                                "switches", "switches_per_miner", "max_switches_per_miner_day"}) {
            CHECK_MESSAGE(t.contains(key), run, ".", key);
        }
    }
    CHECK(o.at("policy").as_object().contains("held_by_dwell"));
    CHECK(o.at("optimum").as_object().at("exact").as_bool());
    const double expected_ratio = (r.policy.totals.profit - r.always_on.totals.profit) /
                                  (r.optimum.totals.profit - r.always_on.totals.profit);
    CHECK(o.at("capture_ratio").as_double() == doctest::Approx(expected_ratio));
    CHECK(o.at("capture_ratio").as_double() <= 1 + 1e-9);

    std::ostringstream csv;
    write_csv(r, csv);
    std::istringstream lines(csv.str());
    std::string line;
    std::vector<std::string> rows;
    while (std::getline(lines, line)) rows.push_back(line);
    REQUIRE(rows.size() == 9);
    CHECK(rows[0] ==
          "time,price_per_mwh,always_on_kw,policy_kw,optimum_kw,policy_curtailed_share,"
          "always_on_cumulative_profit,policy_cumulative_profit,optimum_cumulative_profit");
    CHECK(rows[1].starts_with("2025-03-01T00:00:00.000Z,20.00,9.000,9.000,"));
    for (const auto& row : rows) CHECK(std::count(row.begin(), row.end(), ',') == 8);
    // The last row's cumulative profits are the totals.
    const auto last_comma = rows.back().rfind(',');
    CHECK(std::stod(rows.back().substr(last_comma + 1)) ==
          doctest::Approx(r.optimum.totals.profit).epsilon(1e-4));

    std::ostringstream html;
    write_html(r, html, "week <1>");
    const std::string h = html.str();
    std::size_t svgs = 0;
    for (auto p = h.find("<svg"); p != std::string::npos; p = h.find("<svg", p + 1)) ++svgs;
    CHECK(svgs == 3);
    CHECK(h.find("<script") == std::string::npos);
    CHECK(h.find("src=") == std::string::npos);
    CHECK(h.find("href=") == std::string::npos);
    CHECK(h.find("week &lt;1&gt;") != std::string::npos);
    CHECK(h.find("fill=\"#f4b6b6\" fill-opacity") != std::string::npos);  // curtailed shading
}

TEST_CASE("capture ratio: undefined when the optimum gains nothing over always-on") {
    Fleet f;
    f.classes.push_back(miner_class("m", 1, 3000, 100));
    const Result r =
        run_backtest(series({10, 20, 30}), f, {0.05, 0, 1}, {}, threshold_policy(1000, 500));
    CHECK(std::isnan(r.capture_ratio));
    CHECK(to_json(r).at("capture_ratio").is_null());
}

TEST_CASE("fleet file: the example in deploy/config is valid") {
    const Fleet f = load_fleet_file(HASHWATT_SOURCE_DIR "/deploy/config/fleet.toml");
    CHECK(f.miner_count() == 1000);
    REQUIRE(f.economics);
    CHECK(f.classes[2].points[0] == OperatingPoint{PointKind::full, 3280, 104});
}

TEST_CASE("optimum: a state space too large for memory is refused with the reason") {
    Fleet f;
    f.classes.push_back(miner_class("m", 1, 3000, 100));
    std::vector<double> p(400'000, 30.0);
    const Constraints long_dwell{std::chrono::hours(24 * 7), 0ms, {}};
    CHECK_THROWS_WITH_AS(
        optimum(series(p, 1min), f, {0.05, 0, 1}, long_dwell),
        doctest::Contains("states (long min on/off or response times for the interval length)"),
        std::invalid_argument);
}
