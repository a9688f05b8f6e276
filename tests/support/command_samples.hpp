// A minimal sample of a miner in a given state, for the command tests: what verification reads
// (state, power, hash rate) and the identity the store requires.
#pragma once

#include "common/miner_sample.hpp"

#include <optional>
#include <string>

namespace hashwatt::test {

inline MinerSample state_sample(const std::string& id, TimePoint at, MinerState state,
                                double power_w, std::optional<std::string> site = "north",
                                const std::string& host = "10.0.0.7") {
    MinerSample s;
    s.miner_id = id;
    s.site = std::move(site);
    s.host = host;
    s.port = 4028;
    s.observed_at = at;
    s.up = true;
    s.state = state;
    s.power_w = power_w;
    s.hashrate_ths = state == MinerState::mining ? 100.0 : 0.0;
    return s;
}

}  // namespace hashwatt::test
