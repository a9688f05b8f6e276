// The agent's side of collector commands: long-poll the collector for this agent's commands,
// run each on its miner (agent/control.hpp) and post back what came of it. Outbound HTTP only,
// so an agent behind NAT needs no inbound port.
#pragma once

#include "agent/control.hpp"
#include "agent/poller.hpp"
#include "agent/transport/transport.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <unordered_set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace hashwatt::agent {

struct CommandLoopOptions {
    std::string host;  // the collector's address or name
    std::uint16_t port = 0;
    std::string base_path;  // "" or "/prefix" (a collector behind a reverse proxy)
    std::string token;      // bearer token of role agent, issued to agent_id
    std::string agent_id;   // as in the ingest batches
    // HTTPS to the collector with this verifying client context (the uplink's); null: http.
    std::shared_ptr<boost::asio::ssl::context> tls;
    // The long poll's wait asked of the collector (it allows at most 60 s).
    Duration wait{std::chrono::seconds(25)};
    // Connect deadline of each request to the collector, and how long past `wait` a reply may
    // take before the poll is abandoned.
    Duration request_timeout{std::chrono::seconds(10)};
    // Commands running at once (never two on one miner); AgentConfig::command_concurrency.
    std::size_t concurrency = 64;
    // How long a command's effect is watched on the miner; it ends before the command's deadline
    // (by a fifth of the time left, at most 2 s) so that the result arrives in time.
    VerifyOptions verify;
    TransportOptions miner_transport;  // bounds of each request to a miner
    // After a failed poll or result post: retry_initial, doubling up to retry_max.
    Duration retry_initial{std::chrono::seconds(1)};
    Duration retry_max{std::chrono::seconds(30)};
    int result_attempts = 5;  // posts of one result before it is dropped (and logged)
};

struct CommandLoopStats {
    std::uint64_t polls = 0;            // long polls answered 200
    std::uint64_t poll_failures = 0;    // transport errors and non-200 answers
    std::uint64_t received = 0;         // commands received
    std::uint64_t finished = 0;         // commands run (or refused) with a result to post
    std::uint64_t results_posted = 0;   // results the collector accepted (or had already)
    std::uint64_t results_dropped = 0;  // given up after result_attempts, refused, or stopped
    // Of `finished`, by outcome: succeeded, failed, unsupported, timed_out.
    std::uint64_t succeeded = 0, failed = 0, unsupported = 0, timed_out = 0;
    // Of `failed`, those the miner refused for its credentials (message "auth: ...").
    std::uint64_t auth_refused = 0;
};

class CommandLoop {
  public:
    // Finds the poll target of a miner by the miner_id the collector knows it by (Poller::
    // find_target); nullptr when this agent does not poll it.
    using Lookup = std::function<PollTarget*(const std::string& miner_id)>;

    // The targets `lookup` returns must outlive run().
    CommandLoop(boost::asio::any_io_executor ex, CommandLoopOptions options, Lookup lookup);
    CommandLoop(const CommandLoop&) = delete;
    CommandLoop& operator=(const CommandLoop&) = delete;

    // Long-polls until stop(), backing off while the collector cannot be reached, and runs
    // what arrives. Returns once stop() has cancelled the poll and the commands in flight.
    boost::asio::awaitable<void> run();
    // Ends run() promptly: the poll, commands in flight and result retries are cancelled (a
    // command cut short gets no result; the collector settles it at its deadline). Call on
    // the executor's thread.
    void stop();

    const CommandLoopStats& stats() const noexcept { return stats_; }

  private:
    boost::asio::awaitable<void> sleep_until(std::chrono::steady_clock::time_point until);
    boost::asio::awaitable<bool> poll_once();
    void dispatch();
    boost::asio::awaitable<void> execute(Command cmd);
    boost::asio::awaitable<void> post_result(const CommandResult& result);
    Duration next_backoff(int failures) const;

    boost::asio::any_io_executor ex_;
    CommandLoopOptions opts_;
    Lookup lookup_;
    CommandLoopStats stats_;
    std::deque<Command> backlog_;                  // received, waiting for a slot or their miner
    std::unordered_set<std::string> busy_;         // miners with a command running
    std::size_t running_ = 0;                      // command coroutines alive
    std::set<boost::asio::steady_timer*> timers_;  // every sleep, cancelled by stop()
    boost::asio::steady_timer idle_;               // woken when a command coroutine ends
    bool stopping_ = false;
};

}  // namespace hashwatt::agent
