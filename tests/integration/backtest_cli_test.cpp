// `hashwatt backtest` end to end on the shared ERCOT week (tests/fixtures/prices): the shipped
// example policy and fleet, through the live engine. The policy earns more than always-on and
// no more than the optimum, captures at least 95 % of the optimum's gain (issue 8), and the
// JSON, CSV and HTML outputs have their documented shape. Bad inputs exit 2 naming them.
#include "tests/support/process.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kSource = HASHWATT_SOURCE_DIR;
const std::string kPrices =
    kSource + "/tests/fixtures/prices/ercot_rtm_spp_15min_2025-03-01_to_03-07.csv";
const std::string kFleet = kSource + "/deploy/config/fleet.toml";
const std::string kPolicy = kSource + "/deploy/config/policy.toml";

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

double num(const json::value& v) { return v.is_double() ? v.as_double() : v.to_number<double>(); }

}  // namespace

TEST_CASE("backtest: the example policy on every ERCOT hub of the shared week") {
    for (const std::string hub : {"HB_BUSAVG", "HB_HOUSTON", "HB_NORTH", "HB_SOUTH", "HB_WEST"}) {
        CAPTURE(hub);
        const auto r = run_hashwatt({"backtest", "--prices", kPrices, "--settlement-point", hub,
                                     "--fleet", kFleet, "--policy", kPolicy, "--json"});
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const auto v = json::parse(r.out).as_object();
        CHECK(num(v.at("intervals")) == 672);
        CHECK(num(v.at("hours")) == doctest::Approx(168));
        const double always = num(v.at("always_on").at("profit"));
        const double policy = num(v.at("policy").at("profit"));
        const double optimum = num(v.at("optimum").at("profit"));
        MESSAGE(hub << ": always_on " << always << ", policy " << policy << ", optimum " << optimum
                    << ", capture " << num(v.at("capture_ratio")));
        CHECK(policy > always);
        CHECK(policy <= optimum + 1e-6);
        CHECK(num(v.at("capture_ratio")) >= 0.95);
        CHECK(num(v.at("capture_ratio")) ==
              doctest::Approx((policy - always) / (optimum - always)));
        CHECK(v.at("optimum").at("exact").as_bool());
        CHECK(num(v.at("policy").at("held_by_dwell")) == 0);  // the engine kept min on/off
        // The example's safety: at most 12 switches per miner per day.
        CHECK(num(v.at("policy").at("max_switches_per_miner_day")) <= 12);
    }
}

TEST_CASE("backtest: the table, the CSV and the HTML report") {
    TempDir dir;
    const std::string csv = dir.path() + "/week.csv";
    const std::string html = dir.path() + "/week.html";
    const auto r =
        run_hashwatt({"backtest", "--prices", kPrices, "--settlement-point", "HB_WEST", "--fleet",
                      kFleet, "--policy", kPolicy, "--csv", csv, "--report", html});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("672 intervals of 15m") != std::string::npos);
    CHECK(r.out.find("1000 miners in 4 classes") != std::string::npos);
    CHECK(r.out.find("capture ratio: ") != std::string::npos);
    CHECK(r.out.find("profit") != std::string::npos);

    const std::string c = slurp(csv);
    std::size_t lines = 0;
    for (char ch : c) lines += ch == '\n';
    CHECK(lines == 673);  // header and one row per interval
    CHECK(c.starts_with("time,price_per_mwh,always_on_kw,policy_kw,optimum_kw,"));
    CHECK(c.find("\n2025-03-01T06:00:00.000Z,") != std::string::npos);

    const std::string h = slurp(html);
    CHECK(h.find("<svg") != std::string::npos);
    CHECK(h.find("<script") == std::string::npos);  // self-contained, nothing to run or fetch
    // Nothing fetched: no source or link but the SVG namespace.
    CHECK(h.find("src=") == std::string::npos);
    CHECK(h.find("href=\"http") == std::string::npos);
}

TEST_CASE("backtest: bad inputs exit 2 and say which") {
    TempDir dir;
    // Several settlement points and none chosen: the choices are listed.
    auto r =
        run_hashwatt({"backtest", "--prices", kPrices, "--fleet", kFleet, "--policy", kPolicy});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("several settlement points; choose one of: HB_BUSAVG") != std::string::npos);
    r = run_hashwatt({"backtest", "--prices", kPrices, "--settlement-point", "HB_NOWHERE",
                      "--fleet", kFleet, "--policy", kPolicy});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("HB_NOWHERE") != std::string::npos);

    const auto bad_prices = dir.write("p.csv",
                                      "timestamp,price\n2025-03-01T00:00:00Z,12\n"
                                      "2025-03-01T00:15:00Z,abc\n");
    r = run_hashwatt({"backtest", "--prices", bad_prices, "--fleet", kFleet, "--policy", kPolicy});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.csv:3") != std::string::npos);

    const auto bad_fleet = dir.write("f.toml", "[[miners]]\nmodel = \"s99\"\ncount = 1\n");
    r = run_hashwatt({"backtest", "--prices", kPrices, "--settlement-point", "HB_WEST", "--fleet",
                      bad_fleet, "--policy", kPolicy});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("f.toml:2:9: miners[0].model: unknown model 's99'") != std::string::npos);

    r = run_hashwatt({"backtest", "--prices", kPrices, "--fleet", kFleet});
    CHECK(r.exit_code == 2);  // --policy is required
    r = run_hashwatt(
        {"backtest", "--prices", dir.path() + "/none.csv", "--fleet", kFleet, "--policy", kPolicy});
    CHECK(r.exit_code == 2);
}
