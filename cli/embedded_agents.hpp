// Agents that run inside another hashwatt process (the collector's [[agent]] sections, the
// demo's agent) and send to that process's collector over loopback, exactly as a separate
// agent would: same batches, spool, retries and command long poll. Wiring only.
#pragma once

#include "agent/config.hpp"
#include "agent/runtime.hpp"
#include "collector/config/collector_config.hpp"
#include "collector/service.hpp"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace hashwatt::cli {

class EmbeddedAgents {
  public:
    // Issues each agent a fresh agent token (added to `collector`'s tokens, so call before the
    // collector starts) and, where the config named none, a spool directory beside the database.
    EmbeddedAgents(std::vector<agent::AgentConfig> agents, collector::CollectorConfig& collector);
    ~EmbeddedAgents();  // stop()
    EmbeddedAgents(const EmbeddedAgents&) = delete;
    EmbeddedAgents& operator=(const EmbeddedAgents&) = delete;

    // Points every agent at the running collector and starts them on one thread of their own.
    void start(const collector::CollectorService& service);
    // Stops polling and gives each uplink its shutdown_timeout to deliver; joins the thread.
    // Call before the collector stops, so the last batches still find it. Idempotent.
    void stop();

    bool empty() const noexcept { return configs_.empty(); }
    std::size_t size() const noexcept { return configs_.size(); }

  private:
    std::vector<agent::AgentConfig> configs_;
    std::string tls_cert_file_;  // the collector's, when its API speaks TLS
    boost::asio::io_context io_{1};
    std::vector<std::unique_ptr<agent::AgentRuntime>> runtimes_;
    std::thread thread_;
    std::size_t finished_ = 0;  // runtimes whose run() has returned (on the loop's thread)
    bool stopped_ = false;
};

}  // namespace hashwatt::cli
