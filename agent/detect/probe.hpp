// Identifying what answers at an address (PROTOCOLS.md §8): ask the RPC port for `version`,
// fall back to the web root, and let each registered driver say whether the replies are its
// firmware's, in registry order.
#pragma once

#include "agent/drivers/driver.hpp"

#include <optional>
#include <string>

namespace hashwatt::agent {

struct Identification {
    const MinerDriver* driver = nullptr;  // nullptr: nothing claimed it
    bool answered = false;                // something replied on the RPC or HTTP port
    ProbeResult probe;
    std::optional<TransportError> error;  // why nothing answered (from the RPC port)
};

boost::asio::awaitable<Identification> identify(DriverContext& ctx, const MinerEndpoint& ep);

}  // namespace hashwatt::agent
