// The layout of the `stats` reply of bmminer-derived firmware: stock Antminer and LuxOS (which
// runs on Antminers and keeps bmminer's key names). Pure lookups over a parsed reply.
#pragma once

#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace hashwatt::agent {

struct BmminerStatsBlocks {
    const boost::json::object* version = nullptr;  // Type, CompileTime
    const boost::json::object* device = nullptr;   // chain_*, temp*, fan* keys
};

// The blocks of a STATS array: STATS[0] is the version block (Type or CompileTime), the device
// block follows it (the element with the "STATS" counter, "GHS 5s" or "Elapsed"; the S9's
// arrives after a repaired `}{`). Either is null when the array has none.
BmminerStatsBlocks bmminer_stats_blocks(const boost::json::array& stats) noexcept;

// The slot number of a per-chain or per-fan key: ("chain_acn6", "chain_acn") -> 6; 0 when `key`
// is not `prefix` followed by digits only, or the number is outside 1..`max_slot`.
int bmminer_slot(std::string_view key, std::string_view prefix, int max_slot) noexcept;

}  // namespace hashwatt::agent
