// The entries of a cgminer `pools` reply (POOLS array), as stock Antminer, LuxOS and Avalon
// firmware write them. Which pool counts as active when none says so stays with each driver.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::agent {

// How a driver reads a share counter (exactly, or through its quoted-number rules).
using PoolCountReader = std::optional<std::int64_t> (*)(const boost::json::value*) noexcept;

// One POOLS element: URL ("" when missing), User (kept even when ""), alive = Status is "Alive"
// (anything else, "Dead" or a sleeping S19's "Deed", is not), active = the boolean
// "Stratum Active", and Accepted / Rejected / Stale read by `count`. A member of the wrong type
// is left unset.
PoolSample cgminer_pool(const boost::json::object& o, PoolCountReader count);

}  // namespace hashwatt::agent
