// `hashwatt demo` as a new user runs it: the URLs first, a live summary that shows the whole
// fleet, metrics and API answering while it runs, the scheduled faults firing alerts, and a
// clean stop after --duration.
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;

TEST_CASE(
    "demo: URLs first, the whole fleet in the summary, metrics and API live, alerts fire, stops "
    "by itself") {
    TempDir dir;
    const std::string state = dir.path() + "/state";
    Child demo({HASHWATT_BINARY, "demo", "--miners", "30", "--duration", "45s", "--listen",
                "127.0.0.1:0", "--state-dir", state, "--interval", "2s", "--summary-every", "2s",
                "--base-ip", "127.39.0.1"},
               dir.path() + "/demo");
    std::string out;
    REQUIRE_MESSAGE(wait_until(
                        [&] {
                            out = demo.stdout_text();
                            return std::count(out.begin(), out.end(), '\n') >= 2;
                        },
                        30s),
                    demo.stderr_text());
    // std::regex is avoided: GCC 12 warns inside it under the sanitizers.
    unsigned metrics_port = 0, api_port = 0;
    int used = 0;
    REQUIRE_MESSAGE(
        std::sscanf(out.c_str(),
                    "metrics: http://127.0.0.1:%u/metrics\napi: http://127.0.0.1:%u/api/v1\n%n",
                    &metrics_port, &api_port, &used) == 2,
        out);
    CHECK(used > 0);
    CHECK(metrics_port == api_port);
    const unsigned port = metrics_port;

    // The summary reaches the whole fleet, and the API and metrics show it.
    REQUIRE_MESSAGE(
        wait_until([&] { return demo.stdout_text().find("30/30 up") != std::string::npos; }, 30s,
                   100ms),
        std::string(demo.stdout_text() + demo.stderr_text()));
    const auto metrics = http_request("127.0.0.1", port, "GET", "/metrics");
    CHECK(metrics.status == 200);
    std::size_t up_series = 0;
    std::istringstream lines(metrics.body);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("hashwatt_miner_up{")) ++up_series;
    }
    CHECK(up_series == 30);

    std::ifstream token_file(state + "/read.token");
    std::string token;
    token_file >> token;
    REQUIRE(token.size() >= 16);
    const auto sites = http_request("127.0.0.1", port, "GET", "/api/v1/sites", {},
                                    {"Authorization: Bearer " + token});
    REQUIRE(sites.status == 200);
    const auto site = json::parse(sites.body).at("sites").at(0).as_object();
    CHECK(site.at("site").as_string() == "demo");
    CHECK(site.at("miners").to_number<int>() == 30);
    CHECK(site.at("hashrate_ths").to_number<double>() > 1000);  // 30 miners of 100-200 TH/s

    // The offline fault (sim-00007 from 20 s to 60 s) fires MinerOffline within a few polls,
    // the fan fault (sim-00014 from 30 s) MinerFanFailure. Miner ids are the simulated MACs,
    // 02:68:77 and the miner's index from 0.
    REQUIRE_MESSAGE(
        wait_until(
            [&] {
                return demo.stdout_text().find(
                           "alert firing: MinerOffline 02:68:77:00:00:06 (critical): ") !=
                       std::string::npos;
            },
            45s, 100ms),
        std::string(demo.stdout_text() + demo.stderr_text()));
    const auto alerts = http_request("127.0.0.1", port, "GET", "/api/v1/alerts?state=firing", {},
                                     {"Authorization: Bearer " + token});
    REQUIRE(alerts.status == 200);
    CHECK(alerts.body.find("02:68:77:00:00:06") != std::string::npos);

    // It stops by itself at --duration, exit 0, with the data kept.
    REQUIRE(wait_until([&] { return !demo.running(); }, 60s, 100ms));
    CHECK(demo.stop(SIGTERM) == 0);
    const std::string all = demo.stdout_text();
    CHECK(all.find("stopped: ") != std::string::npos);
    CHECK(all.find("alerts fired, ") != std::string::npos);
    CHECK(all.find("alert firing: MinerFanFailure 02:68:77:00:00:0d (critical): ") !=
          std::string::npos);
    CHECK(std::filesystem::exists(state + "/collector.db"));
    // The power policy's line (its price replay), and its policy file for the user to read.
    CHECK(all.find("replay of ERCOT HB_WEST 2025-03-01..07 x180 (a 15-minute price every 5 s)\n") !=
          std::string::npos);
    CHECK(std::filesystem::exists(state + "/policy.toml"));
    // Every summary line has the fields the README shows.
    // "HH:MM:SS  N/30 up  X TH/s  Y kW  Z J/TH  faults now/seen: offline a/b, fan a/b, ...
    //  alerts firing N  price P $/MWh (replay YYYY-MM-DD HH:MM CT)"
    int most_firing = 0;
    const auto is_summary = [&](const std::string& line) {
        int h, mi, se, up, total, o1, o2, f1, f2, b1, b2, t1, t2, firing = 0, end = 0;
        double ths, kw, jth;
        const int n =
            std::sscanf(line.c_str(),
                        "%2d:%2d:%2d  %d/%d up  %lf TH/s  %lf kW  %lf J/TH  faults now/seen: "
                        "offline %d/%d, fan %d/%d, board %d/%d, hot %d/%d  alerts firing %d%n",
                        &h, &mi, &se, &up, &total, &ths, &kw, &jth, &o1, &o2, &f1, &f2, &b1, &b2,
                        &t1, &t2, &firing, &end);
        if (n != 17 || total != 30) return false;
        const std::string price = line.substr(static_cast<std::size_t>(end));
        double p = 0;
        int y, mo, d, ph, pm, pend = 0;
        if (std::sscanf(price.c_str(), "  price %lf $/MWh (replay %4d-%2d-%2d %2d:%2d CT)%n", &p,
                        &y, &mo, &d, &ph, &pm, &pend) != 6 ||
            static_cast<std::size_t>(pend) != price.size()) {
            return false;
        }
        most_firing = std::max(most_firing, firing);
        return true;
    };
    std::size_t summaries = 0;
    std::istringstream out_lines(all);
    for (std::string line; std::getline(out_lines, line);) {
        if (is_summary(line)) ++summaries;
    }
    CHECK(summaries >= 5);
    CHECK(most_firing >= 1);
}
