// Internal to collector/api: the command routes and the per-agent waiters of the long poll.
#pragma once

#include "collector/api/routes.hpp"

#include <chrono>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/verb.hpp>

namespace hashwatt::collector {

// Long polls waiting for an agent's commands, woken when commands for that agent are created.
// Lives on the server's io_context and is used from its one thread only (not locked).
class CommandHub {
  public:
    explicit CommandHub(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

    // Wakes every long poll of `agent_id`.
    void notify(const std::string& agent_id);
    // Bumped by every notify(): a long poll reads it before looking at the store, and if it
    // moved meanwhile looks again instead of waiting for a wake-up that already happened.
    std::uint64_t generation() const noexcept { return generation_; }
    // Returns once notify(agent_id) runs, `until` passes, or stop().
    boost::asio::awaitable<void> wait(const std::string& agent_id,
                                      std::chrono::steady_clock::time_point until);
    // Ends every wait now and every later one at once. Idempotent.
    void stop();
    bool stopped() const noexcept { return stopped_; }

  private:
    boost::asio::any_io_executor ex_;
    std::unordered_map<std::string, std::list<boost::asio::steady_timer*>> waiters_;
    std::uint64_t generation_ = 0;
    bool stopped_ = false;
};

struct CommandRoutes {
    const Store& store;
    StoreWriter& writer;
    CommandHub& hub;
};

// True for the paths handle_commands serves: /api/v1/commands[/...] and
// /api/v1/agents/{agent_id}/commands.
bool is_command_route(std::string_view path);

// The command routes for an authenticated caller; roles are checked here (docs/api.md).
boost::asio::awaitable<Reply> handle_commands(const CommandRoutes& ctx, const Token& caller,
                                              boost::beast::http::verb method,
                                              const boost::urls::url_view& url,
                                              const std::string& body);

}  // namespace hashwatt::collector
