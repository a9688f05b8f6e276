// The driver interface: one implementation per firmware family (agent/drivers/<family>/), each
// split into a pure parse part (raw replies -> MinerSample, tested on real captures) and an I/O
// part (which requests to send, through agent/transport). The registry lists them all.
#pragma once

#include "agent/transport/transport.hpp"
#include "common/command.hpp"
#include "common/miner_sample.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace hashwatt::agent {

struct Credentials {
    std::string username;
    std::string password;
};

// Where a miner is and how to reach it.
struct MinerEndpoint {
    std::string host;
    std::uint16_t rpc_port = 4028;
    std::uint16_t http_port = 80;
    std::string configured_id;  // from the agent config; empty = derive (MAC, else host:port)
    std::string site;
    // From the config (password_file); nullopt = the firmware's factory defaults.
    std::optional<Credentials> credentials;
};

// What a driver can do to a miner of a given model and firmware. Decided before anything is
// sent: an unsupported command is refused with `reason`.
struct Capabilities {
    bool sleep = false;
    bool wake = false;
    bool reboot = false;
    std::optional<double> power_target_min_w;  // both set when power targets are supported
    std::optional<double> power_target_max_w;
    bool power_target_reboots = false;  // Whatsminer adjust_power_limit restarts the miner
    std::string notes;                  // e.g. "power target by work mode presets only"
};

// What a driver remembers about one miner between polls (kept by the poller, one per miner).
struct DriverState {
    std::string digest_challenge;    // last HTTP Digest challenge, answered up front next time
    bool joins_unsupported = false;  // multi-command refused once: send commands one by one
    // Identity that changes rarely (model, serial, MAC, firmware), refreshed every few polls.
    std::optional<MinerSample> identity;
    TimePoint identity_at{};
    std::string token;  // a session or bearer token the firmware issued
    TimePoint token_at{};
    // LuxOS: the active frequency profile whose Watts (the power limit) are cached in `identity`,
    // so the 4 KB profile table is read again only when the profile changes.
    std::string profile;
    // Set while the miner refuses the configured credentials on a part of the poll that is not
    // retried every time (Braiins: the REST login of identity rounds): what to say about it.
    // poll_target adds it to every sample as an errors[] entry with code `auth` until cleared.
    std::string auth_refused;
};

struct DriverContext {
    boost::asio::any_io_executor executor;
    TransportOptions transport;
};

struct CommandOutcome {
    CommandStatus status = CommandStatus::failed;
    std::string message;
};

// What detection learnt from the probes, handed to drivers' `claims`.
struct ProbeResult {
    std::string version_reply;   // raw reply to {"command":"version"} on the RPC port ("" if none)
    std::string http_root_body;  // body of GET / on the HTTP port ("" if none)
    unsigned http_root_status = 0;
    std::string http_www_authenticate;
};

class MinerDriver {
  public:
    virtual ~MinerDriver() = default;
    virtual std::string_view name() const = 0;
    // Whether the probes identify this driver's firmware (PROTOCOLS.md §8 order is the
    // registry's order).
    virtual bool claims(const ProbeResult& probe) const = 0;
    // Polls once. Never throws: a failure is a sample with up=false, state offline and the reason.
    virtual boost::asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                                     DriverState& state) const = 0;
    virtual Capabilities capabilities(const MinerSample& identity) const = 0;
    // Sends the command and reports the miner's answer (verification against later samples is
    // the caller's job).
    virtual boost::asio::awaitable<CommandOutcome> execute(DriverContext& ctx,
                                                           const MinerEndpoint& ep,
                                                           DriverState& state,
                                                           const Command& cmd) const = 0;
};

// The registry (agent/drivers/registry.cpp): every driver, in detection order.
const std::vector<const MinerDriver*>& all_drivers();
const MinerDriver* find_driver(std::string_view name);

}  // namespace hashwatt::agent
