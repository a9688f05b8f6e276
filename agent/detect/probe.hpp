// Identifying what answers at an address (PROTOCOLS.md §8): ask the RPC port for `version`,
// fall back to the web root and then to Whatsminer API v3's TCP 4433, and let each registered
// driver say whether the replies are its firmware's, in registry order.
#pragma once

#include "agent/drivers/driver.hpp"

#include <optional>
#include <string>

namespace hashwatt::agent {

struct Identification {
    const MinerDriver* driver = nullptr;  // nullptr: nothing claimed it
    bool answered = false;                // something replied on the RPC or HTTP port
    ProbeResult probe;
    // What went wrong on the RPC port (nothing answered, or the reply was cut off), if anything.
    std::optional<TransportError> error;
};

boost::asio::awaitable<Identification> identify(DriverContext& ctx, const MinerEndpoint& ep);

}  // namespace hashwatt::agent
