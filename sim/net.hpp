// Socket plumbing shared by the fleet server and replay mode.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

namespace hashwatt::sim {

// Deadlines for many short connections without a timer each: a connection registers with a
// deadline, and one periodic sweep closes the sockets whose deadline has passed (their pending
// I/O then completes with an error). Saves two timerfd syscalls and a timer-queue update per
// request, which matters at tens of thousands of requests per second.
class Reaper {
  public:
    using SteadyClock = std::chrono::steady_clock;
    using AutoUnlink = boost::intrusive::list_base_hook<
        boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

    // One watched socket. The entry lives in the connection's own coroutine frame and unlinks
    // itself when destroyed, so watching costs no allocation. It cannot move: `watch` returns
    // it as a prvalue, constructed in place.
    class Ticket : public AutoUnlink {
      public:
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        void extend(SteadyClock::duration d) { deadline_ = SteadyClock::now() + d; }

      private:
        friend class Reaper;
        Ticket(Reaper& r, boost::asio::ip::tcp::socket& s, SteadyClock::duration d)
            : socket_(&s), deadline_(SteadyClock::now() + d) {
            r.entries_.push_front(*this);
        }
        boost::asio::ip::tcp::socket* socket_;
        SteadyClock::time_point deadline_;
    };

    // Sweeps every `period` (the deadlines' resolution). Tickets must not outlive the Reaper.
    Reaper(boost::asio::io_context& io, SteadyClock::duration period);
    Ticket watch(boost::asio::ip::tcp::socket& s, SteadyClock::duration d) {
        return Ticket(*this, s, d);
    }

  private:
    void sweep();
    boost::asio::steady_timer timer_;
    SteadyClock::duration period_;
    boost::intrusive::list<Ticket, boost::intrusive::constant_time_size<false>> entries_;
};

// Opens, binds and listens; throws std::runtime_error naming the address on failure. With
// `defer_accept`, the kernel hands over a connection only once its first bytes have arrived,
// which saves a wake-up per request when clients connect and send at once (pollers do).
std::shared_ptr<boost::asio::ip::tcp::acceptor> bind_listener(
    boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& ep,
    bool defer_accept = false);

// Reads one cgminer-style request: up to a NUL, a balanced JSON object, or what the first read
// brings for the text form. nullopt when the client sent nothing usable (the caller's Reaper
// ticket bounds the time) or more than 64 KiB. The trailing NUL, if any, is removed.
boost::asio::awaitable<std::optional<std::string>> read_rpc_request(
    boost::asio::ip::tcp::socket& s);

// Writes all of `bytes`; errors end the write silently (the peer went away). The caller's Reaper
// ticket bounds the time.
boost::asio::awaitable<void> write_all(boost::asio::ip::tcp::socket& s, std::string_view bytes);

// Closes with a TCP reset instead of an orderly FIN.
void hard_reset(boost::asio::ip::tcp::socket& s);

}  // namespace hashwatt::sim
