// The agent's configuration file (agent.toml): which miners to poll, how often, and how hard.
// Loaded through the strict TOML helpers, so a misspelt key or a bad value is an error that
// names file:line:column. deploy/config/agent.toml is the annotated example.
#pragma once

#include "agent/drivers/driver.hpp"
#include "common/units.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hashwatt::config {
class Table;
}

namespace hashwatt::agent {

// "HOST", "HOST:PORT" or "[IPv6]:PORT" -> host and port (`default_port` when none is given).
// Throws std::invalid_argument naming what is wrong.
std::pair<std::string, std::uint16_t> parse_host_port(std::string_view text,
                                                      std::uint16_t default_port);

// One explicitly configured miner ([[miner]]).
struct MinerEntry {
    MinerEndpoint endpoint;
    std::string driver = "auto";  // a registry name, or auto (identify on first contact)
};

// An address range to search for miners ([[scan]]), searched at start and every `rescan`.
struct ScanEntry {
    std::vector<std::string> ranges;  // CIDR or single addresses
    std::uint16_t rpc_port = 4028;
    std::uint16_t http_port = 80;
    std::string site;  // defaults to the agent's site
    std::optional<Credentials> credentials;
    Duration rescan{std::chrono::minutes(10)};
};

// Where and how the agent sends its samples ([uplink]); see agent/uplink/uplink.hpp.
struct UplinkConfig {
    std::string url;  // the collector's base URL as written ("http://10.0.0.2:8080")
    std::string host;
    std::uint16_t port = 80;
    std::string base_path;   // "" or "/prefix", without a trailing slash
    bool tls = false;        // https:// (the certificate is always verified, for `host`)
    std::string ca_file;     // PEM CA bundle to verify the collector with; empty: system store
    bool ca_pinned = false;  // ca_file's certificates trusted as they are (embedded agents)
    std::string token;       // from `token` or `token_file`
    std::size_t batch_max_samples = 500;
    Duration batch_max_age{std::chrono::seconds(5)};
    std::string spool_dir = "/var/lib/hashwatt/spool";
    std::uint64_t spool_max_bytes = std::uint64_t{256} << 20;
    std::size_t spool_max_batches = 100000;
    Duration retry_min{std::chrono::seconds(1)};
    Duration retry_max{std::chrono::seconds(60)};
    Duration request_timeout{std::chrono::seconds(30)};
    Duration shutdown_timeout{std::chrono::seconds(5)};
};

// "http[s]://HOST[:PORT][/PATH]" -> tls, host, port (80 or 443 by default) and base path of `c`.
// Throws std::invalid_argument naming what is wrong.
void parse_collector_url(std::string_view url, UplinkConfig& c);

// Where the agent serves its own /metrics ([metrics] listen = "IP:PORT").
struct MetricsListen {
    std::string address;     // an IP literal to bind ("127.0.0.1", "::1")
    std::uint16_t port = 0;  // 0 picks a free port (logged at start)
};

// "IP:PORT" or "[IPv6]:PORT", the port 0..65535 -> address and port. Throws
// std::invalid_argument naming what is wrong.
MetricsListen parse_listen_address(std::string_view text);

struct AgentConfig {
    std::string agent_id;  // defaults to the host name
    std::string site = "default";
    Duration interval{std::chrono::seconds(30)};
    // Each poll lands up to this fraction of the interval early or late, so that miners polled
    // together at start drift apart and do not hit the network (or the collector) in bursts.
    double jitter = 0.1;
    std::size_t concurrency = 512;                    // polls in flight at once, over all miners
    Duration poll_timeout{std::chrono::seconds(10)};  // a whole poll of one miner, all requests
    Duration connect_timeout{std::chrono::seconds(3)};
    std::size_t max_reply_bytes = 1 << 20;
    // A miner that keeps failing is polled at interval * 2^(failures-1), up to this.
    Duration max_backoff{std::chrono::minutes(5)};
    std::size_t scan_concurrency = 256;
    // Commands carried out at once (never two on one miner). A command spends most of its time
    // watching the miner get there (a wake boots the boards for minutes), so a policy waking a
    // site must not queue behind a handful; the policy's own stagger limits what goes out.
    std::size_t command_concurrency = 64;

    std::vector<MinerEntry> miners;
    std::vector<ScanEntry> scans;
    // Without [uplink] the agent only prints its samples.
    std::optional<UplinkConfig> uplink;
    // Without [metrics] listen the agent serves no HTTP at all.
    std::optional<MetricsListen> metrics;
};

// Loads and validates `path`. Throws config::ConfigError (file:line:column: key: message).
AgentConfig load_agent_config(const std::string& path);
// The same from text, for tests; `source_name` stands for the file in messages.
AgentConfig parse_agent_config(std::string_view text, const std::string& source_name);

// One agent embedded in another file (collector.toml's [[agent]]): the [agent] keys, an
// optional `spool_dir`, and its own [[agent.miner]] / [[agent.scan]] entries, all in `t`. `id` is
// required. The result's uplink holds only spool_dir (empty when not given): the embedding
// process fills in its own address and a token. The caller finishes the document.
AgentConfig read_embedded_agent_config(const config::Table& t);

}  // namespace hashwatt::agent
