// The agent's own metrics (docs/metrics.md, "Agent"): how its polling keeps up, how many of its
// miners answer, what waits in its spool and how its uplink and commands fare. Built at scrape
// time from what the runtime already counts, as Prometheus text (0.0.4) through prometheus-cpp.
#pragma once

#include "agent/commands/command_loop.hpp"
#include "agent/uplink/uplink.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/metric_family.h>

namespace hashwatt::agent {

// One completed poll round: the time it took and its miners' results.
struct PollRound {
    double duration_s = 0;
    std::size_t up = 0;    // miners whose newest poll in the round answered
    std::size_t down = 0;  // the others
};

// Cuts the poller's continuous stream of polls into rounds. Miners are polled each on its own
// schedule, so a round is: every miner polled once more since the previous round ended (the
// first round: since the tracker was made). A miner whose previous poll failed is backed off
// (polled up to max_backoff apart) and does not hold a round up, unless every miner is down;
// it counts as down until it answers again. Not thread-safe: feed it from the poller's
// executor.
class RoundTracker {
  public:
    explicit RoundTracker(
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now());

    // Records one poll of the miner `key` (host:port; unique per agent). `targets` is how many
    // miners the agent polls now. Returns the round this poll completed, if it did.
    std::optional<PollRound> record(
        std::string_view key, bool up, std::size_t targets,
        std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

    const std::optional<PollRound>& last() const noexcept { return last_; }
    std::uint64_t rounds() const noexcept { return rounds_; }

  private:
    struct Miner {
        bool up = false;
        bool polled = false;  // in the current round
        bool exempt = false;  // down when the round began: does not hold it up
    };
    std::chrono::steady_clock::time_point start_;
    std::unordered_map<std::string, Miner> miners_;
    std::size_t settled_ = 0;  // miners polled in this round, or exempt
    std::size_t up_ = 0;       // miners whose newest poll answered
    std::optional<PollRound> last_;
    std::uint64_t rounds_ = 0;
};

// What the agent's /metrics shows; absent parts have no families.
struct AgentSelfSnapshot {
    std::string version;
    std::optional<PollRound> last_round;  // none before the first round completes
    std::uint64_t rounds = 0;
    std::uint64_t auth_refused_polls = 0;      // polls whose miner refused the credentials
    std::optional<UplinkStats> uplink;         // without [uplink]: none
    std::optional<CommandLoopStats> commands;  // without [uplink]: none
};

// The families, in exposition order (tests and the docs check read them as data).
std::vector<prometheus::MetricFamily> build_agent_families(const AgentSelfSnapshot& s);
// The same as Prometheus text format 0.0.4.
std::string render_agent_metrics(const AgentSelfSnapshot& s);

inline constexpr std::string_view kAgentMetricsContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace hashwatt::agent
