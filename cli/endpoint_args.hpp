// Command-line pieces shared by the commands that talk to one miner (poll, miner).
#pragma once

#include "agent/drivers/driver.hpp"

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace hashwatt::cli {

struct EndpointArgs {
    std::string target;  // HOST[:PORT], [v6]:PORT
    std::uint16_t http_port = 80;
    std::string driver = "auto";
    std::string user;
    std::string password_file;
    std::string id;
    std::string site;
    std::string timeout = "10s";
    std::string connect_timeout = "3s";
};

// Adds the positional HOST[:PORT] and the connection flags to `cmd`.
void add_endpoint_args(CLI::App& cmd, EndpointArgs& a);

// Builds the endpoint and transport options; throws CLI::ValidationError on bad values.
agent::MinerEndpoint make_endpoint(const EndpointArgs& a);
agent::TransportOptions make_transport(const EndpointArgs& a);

}  // namespace hashwatt::cli
