// Polling at scale: every configured or discovered miner polled on its own schedule (the
// interval, jittered), a global bound on polls in flight, a deadline per poll, and back-off for
// miners that keep failing. Samples go to a sink as each poll completes.
#pragma once

#include "agent/config.hpp"
#include "agent/drivers/driver.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hashwatt::agent {

// One miner the agent polls, with what it remembers between polls.
struct PollTarget {
    MinerEndpoint endpoint;
    std::string driver_name = "auto";     // fixed by the config, or auto
    const MinerDriver* driver = nullptr;  // nullptr until identified
    DriverState state;
    int failures = 0;  // consecutive failed polls
    std::chrono::steady_clock::time_point next_due{};
    bool from_scan = false;
    // The miner_id of the last sample that knew the miner (up, or the first ever): the name
    // the collector addresses commands to.
    std::string miner_id;
    // Whether the miner refused the credentials at the last poll / command that could tell
    // (agent/auth_watch.hpp): the refusal is logged when it begins, not on every poll.
    bool poll_auth_refused = false;
    bool command_auth_refused = false;
};

// Polls `t` once within ctx.transport's limits: identifies the firmware first when the driver
// is not known yet. Never throws; a failure is a sample with up=false and the reason. Updates
// t.driver (forgotten again after a parse or identification failure, so a miner whose firmware
// changed is identified anew), t.failures and t.miner_id.
boost::asio::awaitable<MinerSample> poll_target(DriverContext& ctx, PollTarget& t);

// How long to wait before polling a miner again: the interval, then interval * 2^(failures-1)
// up to max_backoff while it keeps failing (never less than the interval), shifted by
// `jitter_draw` (in [-1, 1]) times the configured jitter fraction. Pure.
std::chrono::steady_clock::duration next_poll_delay(const AgentConfig& cfg, int failures,
                                                    double jitter_draw);

struct RoundSummary {
    std::size_t polled = 0;
    std::size_t up = 0;
    std::size_t failed = 0;
};

class Poller {
  public:
    using Sink = std::function<void(MinerSample&&)>;

    // Targets for the [[miner]] entries are added at once; [[scan]] ranges by discover().
    Poller(boost::asio::any_io_executor ex, AgentConfig cfg);

    // Searches every [[scan]] range once and adds the miners found that are not targets yet
    // (found twice = same host and RPC port). Returns how many were added.
    boost::asio::awaitable<std::size_t> discover();

    // Polls every target once, at most `concurrency` at a time; each sample goes to `sink` as
    // its poll completes.
    boost::asio::awaitable<RoundSummary> poll_all(Sink sink);

    // Polls each target on its own schedule until stop(): the first polls spread over one
    // interval, then every interval (jittered, backed off for failing miners); [[scan]] ranges
    // are searched again every `rescan`.
    boost::asio::awaitable<void> run(Sink sink);
    void stop();

    const AgentConfig& config() const noexcept { return cfg_; }
    std::size_t target_count() const noexcept { return targets_.size(); }
    const PollTarget& target(std::size_t i) const { return *targets_[i]; }
    // The target whose last sample carried `miner_id`, or nullptr (not polled yet, or not
    // ours). Targets are never removed, so the pointer stays valid for the Poller's life.
    PollTarget* find_target(std::string_view miner_id) noexcept;

  private:
    struct Round;
    boost::asio::awaitable<void> round_worker(Round& r);
    bool add_target(MinerEndpoint ep, std::string driver_name, bool from_scan);
    DriverContext context_for_poll() const;
    boost::asio::awaitable<void> poll_and_reschedule(PollTarget& t, Sink& sink);
    boost::asio::awaitable<void> rescan_loop(std::size_t scan_index);
    boost::asio::awaitable<std::size_t> discover_one(const ScanEntry& scan);

    boost::asio::any_io_executor ex_;
    AgentConfig cfg_;
    TransportOptions transport_;
    std::vector<std::unique_ptr<PollTarget>> targets_;
    std::unordered_set<std::string> known_;  // "host|port"
    std::mt19937_64 rng_;
    boost::asio::steady_timer wake_;  // the scheduler's sleep; cancelled to wake it early
    // Targets waiting for their next poll, a min-heap on the due time.
    std::vector<std::pair<std::chrono::steady_clock::time_point, PollTarget*>> heap_;
    std::vector<boost::asio::steady_timer*> rescan_timers_;
    std::size_t in_flight_ = 0;
    bool stopping_ = false;
};

}  // namespace hashwatt::agent
