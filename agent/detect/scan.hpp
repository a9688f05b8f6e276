// Finding miners in address ranges: every host is probed with bounded concurrency, identified
// by the drivers, and polled once for its make, model, firmware and MAC.
#pragma once

#include "agent/drivers/driver.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::agent {

// Expands "10.0.0.0/22" (or a single address) into host addresses, skipping the network and
// broadcast addresses of prefixes shorter than /31. Throws std::invalid_argument with the reason.
std::vector<std::string> expand_cidr(std::string_view cidr, std::size_t max_hosts = 65536);

struct ScanOptions {
    std::size_t concurrency = 256;
    std::uint16_t rpc_port = 4028;
    std::uint16_t http_port = 80;
    int retries = 1;  // extra attempts for hosts that timed out (busy miners answer late)
};

struct ScanResult {
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::string> make, model, firmware, mac;
    bool identified = false;
    std::string error;  // why an answering host could not be identified or polled
};

// Hosts that answered, in address order. Hosts that refused or never answered are not listed.
boost::asio::awaitable<std::vector<ScanResult>> scan(DriverContext& ctx,
                                                     const std::vector<std::string>& hosts,
                                                     const ScanOptions& opts);

}  // namespace hashwatt::agent
