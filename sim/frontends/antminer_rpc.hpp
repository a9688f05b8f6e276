// The pieces stock Antminer (bmminer) and Vnish share: Vnish bundles a cgminer that answers RPC on
// TCP 4028 like stock bmminer, so both front-ends call bmminer_rpc with their own Type string.
// Implemented in antminer.cpp.
#pragma once

#include "common/json_writer.hpp"
#include "sim/frontend.hpp"

#include <string>
#include <string_view>

namespace hashwatt::sim {

// Answers one bmminer RPC request: version, summary, stats (also the new_api form), pools, devs,
// devdetails and "a+b" joins of them, in the JSON or the "cmd|param" text form; anything else
// gets cgminer's invalid-command reply. `type` is the model string VERSION and STATS print
// ("Antminer S19 Pro", "Antminer S19j Pro (Vnish 1.2.0-rc3)") and `compile_time` their
// CompileTime (the daemon's build date). While the miner boots the daemon is not up yet, so the
// reply is no reply at all. Never throws.
RpcReply bmminer_rpc(const SimMiner& m, const RpcRequest& req, TimePoint now, std::string_view type,
                     std::string_view compile_time);

// `v` with exactly `decimals` decimals ("37603.30", "0.00"); non-finite values print as 0.
// Firmware writes float fields with fixed decimals, so an integral value still reads 0.00.
std::string fixed_string(double v, int decimals);

// Writes `"key":<v with fixed decimals>` (a JSON number, not a string) into an open object.
void write_fixed(JsonWriter& w, std::string_view key, double v, int decimals);

// cgminer's short form of a difficulty: "524K", "65.5K", "2.05K", "1.2M".
std::string suffix_string(double v);

}  // namespace hashwatt::sim
