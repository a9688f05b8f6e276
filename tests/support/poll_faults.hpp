// The simulator's output faults every driver suite injects, and the checks each faulted poll must
// pass whatever the firmware: the poll fails (offline, with the driver's reason and a message) and
// the cached identity keeps the sample attributable. What differs per driver (the reason a fault
// maps to, timing bounds, message wording) stays in the suite: the table is passed in and the
// faulted samples come back for the suite's own checks.
#pragma once

#include "common/miner_sample.hpp"
#include "tests/support/driver_harness.hpp"
#include "tests/support/sim_process.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace hashwatt::test {

struct PollFault {
    std::string kind;  // the simulator's fault kind: "offline", "hung", "garbage", ...
    PollError reason;  // what the driver must report for it
};

// The six output faults and the reasons a driver reading a JSON-over-TCP RPC reply reports for
// them (antminer, whatsminer, braiins, luxos, avalon). HTTP-only drivers list their own.
inline const std::vector<PollFault>& rpc_poll_faults() {
    static const std::vector<PollFault> faults{
        {"offline", PollError::refused},     {"hung", PollError::timeout},
        {"garbage", PollError::parse},       {"truncated", PollError::parse},
        {"oversized", PollError::too_large}, {"reset", PollError::reset},
    };
    return faults;
}

using FaultedPolls = std::map<std::string, MinerSample, std::less<>>;

// For each fault in turn: injects it on the miner at `ip`, polls once, checks the poll failed
// (not up, offline, error == the fault's reason, an error message) with `good`'s miner_id and
// model (the cached identity), then clears the fault. Returns the faulted samples by kind.
inline FaultedPolls expect_poll_faults(DriverHarness& h, const SimProcess& sim,
                                       const std::string& ip, const agent::MinerEndpoint& ep,
                                       agent::DriverState& st, const MinerSample& good,
                                       const std::vector<PollFault>& faults) {
    const std::string path = "/api/v1/miners/" + ip + "/faults";
    FaultedPolls out;
    for (const PollFault& f : faults) {
        CAPTURE(f.kind);
        REQUIRE(sim.post(path, "{\"kind\":\"" + f.kind + "\"}") == 200);
        const MinerSample s = h.poll(ep, st);
        INFO("error_message: " << s.error_message.value_or("<none>"));
        CHECK_FALSE(s.up);
        CHECK(s.state == MinerState::offline);
        CHECK(s.error == f.reason);
        CHECK(s.error_message.has_value());
        CHECK(s.miner_id == good.miner_id);  // the cached MAC keeps the id stable
        CHECK(s.model == good.model);
        REQUIRE(sim.del(path) == 200);
        out.emplace(f.kind, s);
    }
    return out;
}

}  // namespace hashwatt::test
