// The `hashwatt sim` fleet the driver integration suites poll: fast wake/sleep ramps and boots so
// state changes finish within a test's deadlines. Header-only because it names the binary through
// HASHWATT_BINARY, which only the test executables define.
#pragma once

#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <string>

namespace hashwatt::test {

// `miners` simulated miners of `mix` from `base_ip` upward, web API on an ephemeral port; the
// child's log goes under `dir`.
inline SimProcess start_driver_sim(const TempDir& dir, const std::string& base_ip,
                                   const std::string& mix, int miners) {
    return SimProcess(
        HASHWATT_BINARY,
        {"--miners", std::to_string(miners), "--mix", mix, "--base-ip", base_ip, "--http-port", "0",
         "--wake-ramp", "2s", "--sleep-ramp", "1s", "--boot-time", "3s"},
        dir.path() + "/sim");
}

}  // namespace hashwatt::test
