// One running agent: the poller, and with [uplink] the sender of its samples to the collector
// and the long poll for the collector's commands. `hashwatt agent`, the agents a collector
// embeds, and `hashwatt demo` all run this.
#pragma once

#include "agent/commands/command_loop.hpp"
#include "agent/config.hpp"
#include "agent/metrics/self_metrics.hpp"
#include "agent/poller.hpp"
#include "agent/uplink/uplink.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace hashwatt::agent {

class AgentRuntime {
  public:
    // Sees every sample before it goes to the uplink (printing, counting); may be empty.
    using Observer = std::function<void(const MinerSample&)>;

    // Opens the spool when cfg.uplink is set (throws std::system_error naming the directory
    // when it cannot). Nothing runs before run().
    AgentRuntime(boost::asio::any_io_executor ex, AgentConfig cfg, Observer observer = {});
    ~AgentRuntime();
    AgentRuntime(const AgentRuntime&) = delete;
    AgentRuntime& operator=(const AgentRuntime&) = delete;

    // Searches the [[scan]] ranges, starts the uplink and the command loop, and polls until
    // stop(); then ends the command loop and gives the uplink its shutdown_timeout to deliver
    // what is buffered (the rest stays spooled for the next start). Call once.
    boost::asio::awaitable<void> run();
    // Call on the executor. Idempotent; run() returns soon after.
    void stop();

    const Poller& poller() const noexcept { return *poller_; }
    const AgentConfig& config() const noexcept { return poller_->config(); }
    // nullopt without [uplink]. Safe from any thread.
    std::optional<UplinkStats> uplink_stats() const;
    // Polls since the last call: polled, up, failed. Call on the executor.
    RoundSummary take_window() noexcept;
    // What the agent's /metrics shows now (agent/metrics/self_metrics.hpp). Call on the
    // executor.
    AgentSelfSnapshot self_metrics() const;

  private:
    std::unique_ptr<Poller> poller_;
    std::unique_ptr<Uplink> uplink_;
    std::unique_ptr<CommandLoop> commands_;
    Observer observer_;
    RoundSummary window_;
    RoundTracker rounds_;
    std::uint64_t auth_refused_polls_ = 0;  // polls whose miner refused the credentials
    bool stopping_ = false;
};

}  // namespace hashwatt::agent
