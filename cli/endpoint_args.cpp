#include "cli/endpoint_args.hpp"

#include "agent/config.hpp"
#include "agent/drivers/driver.hpp"
#include "common/config.hpp"
#include "common/units.hpp"

#include <stdexcept>
#include <string>
#include <tuple>

#include <CLI/CLI.hpp>

namespace hashwatt::cli {

void add_endpoint_args(CLI::App& cmd, EndpointArgs& a) {
    cmd.add_option("target", a.target,
                   "Miner address: HOST, HOST:PORT or [IPv6]:PORT (RPC port, default 4028)")
        ->required();
    cmd.add_option("--http-port", a.http_port, "Port of the miner's web API (default 80)");
    // The names come from the registry, so --help lists exactly the drivers there are.
    std::string names;
    for (const auto* d : agent::all_drivers()) names += ", " + std::string(d->name());
    cmd.add_option(
        "--driver", a.driver,
        "Driver to use (" + names.substr(2) + "), or auto to identify the firmware (default auto)");
    cmd.add_option("--user", a.user,
                   "User name for the miner's web/write API (default: the firmware's)");
    cmd.add_option("--password-file", a.password_file,
                   "File holding the miner's password (default: the firmware's factory password)");
    cmd.add_option("--id", a.id, "miner_id to report (default: the MAC, else host:port)");
    cmd.add_option("--site", a.site, "Site to report");
    cmd.add_option("--timeout", a.timeout, "Deadline for each reply (default 10s)");
    cmd.add_option("--connect-timeout", a.connect_timeout,
                   "Deadline for each connection (default 3s)");
}

agent::MinerEndpoint make_endpoint(const EndpointArgs& a) {
    agent::MinerEndpoint ep;
    std::string host;
    std::uint16_t port = 4028;
    try {
        std::tie(host, port) = agent::parse_host_port(a.target, 4028);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("target", e.what());
    }
    ep.host = host;
    ep.rpc_port = port;
    ep.http_port = a.http_port;
    ep.configured_id = a.id;
    ep.site = a.site;
    if (!a.password_file.empty()) {
        try {
            ep.credentials = agent::Credentials{a.user, config::read_secret_file(a.password_file)};
        } catch (const std::exception& e) {
            throw CLI::ValidationError("--password-file", e.what());
        }
    } else if (!a.user.empty()) {
        throw CLI::ValidationError("--user", "needs --password-file");
    }
    return ep;
}

agent::TransportOptions make_transport(const EndpointArgs& a) {
    agent::TransportOptions t;
    std::string err;
    auto reply = parse_duration(a.timeout, &err);
    if (!reply || *reply <= Duration::zero())
        throw CLI::ValidationError("--timeout", err.empty() ? "must be > 0" : err);
    auto conn = parse_duration(a.connect_timeout, &err);
    if (!conn || *conn <= Duration::zero()) {
        throw CLI::ValidationError("--connect-timeout", err.empty() ? "must be > 0" : err);
    }
    t.reply_timeout = *reply;
    t.connect_timeout = *conn;
    return t;
}

}  // namespace hashwatt::cli
