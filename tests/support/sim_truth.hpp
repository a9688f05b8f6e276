// Reading the simulator's true state of one miner (its admin API, GET /api/v1/miners/<ip>) and
// comparing a driver's numbers with it, for the driver integration suites.
#pragma once

#include "common/miner_sample.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <string>

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::test {

// The simulator's record of the miner at `ip`; throws (through SimProcess::get) on a non-200.
inline boost::json::object truth(const SimProcess& sim, const std::string& ip) {
    return boost::json::parse(sim.get("/api/v1/miners/" + ip)).as_object();
}

// The simulator's state name for the miner at `ip` ("mining", "sleeping", ...).
inline std::string truth_state(const SimProcess& sim, const std::string& ip) {
    return std::string(truth(sim, ip).at("state").as_string());
}

// Any JSON number (int64, uint64 or double) as a double.
inline double num(const boost::json::value& v) { return v.to_number<double>(); }

// Waits until the simulated mining daemon at `ip` has run for `seconds` whole seconds. Firmware
// averages since start are work over whole seconds of uptime, so they read 0 in the first one,
// which a loaded machine can reach between starting the simulator and polling it.
inline bool wait_until_daemon_ran(const SimProcess& sim, const std::string& ip, int seconds = 2) {
    return wait_until([&] { return truth(sim, ip).at("elapsed_s").as_int64() >= seconds; },
                      std::chrono::seconds(10));
}

// `a` is within `rel` of `b`, relative to |b| but never tighter than `rel` in absolute terms, so
// values near zero compare sensibly.
inline bool near(double a, double b, double rel) {
    return std::fabs(a - b) <= rel * std::max(std::fabs(b), 1.0);
}

// The identity every driver reads from the miner matches the simulated one: model, MAC (the
// miner id), firmware version. Make, firmware and serial differ per family and stay with the
// suite.
inline void check_identity_matches_truth(const MinerSample& s, const boost::json::object& t) {
    CHECK(s.model == std::string(t.at("model").as_string()));
    CHECK(s.mac == normalize_mac(t.at("mac").as_string()));
    CHECK(s.miner_id == *s.mac);
    CHECK(s.firmware_version == std::string(t.at("firmware_version").as_string()));
}

// Every simulated fan is reported, in order, within 5 % of its true speed.
inline void check_fans_match_truth(const MinerSample& s, const boost::json::object& t) {
    const auto& fans = t.at("fans_rpm").as_array();
    REQUIRE(s.fans_rpm.size() == fans.size());
    for (std::size_t i = 0; i < fans.size(); ++i) {
        CAPTURE(i);
        CHECK(near(static_cast<double>(s.fans_rpm[i]), num(fans[i]), 0.05));
    }
}

}  // namespace hashwatt::test
