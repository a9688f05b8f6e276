#include "sim/net.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hashwatt::sim {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxRequestBytes = 64 * 1024;

bool request_complete(std::string_view buf) {
    if (buf.find('\0') != std::string_view::npos) return true;
    const auto first = buf.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return false;
    if (buf[first] != '{') return true;  // text form: taken as the first read brings it
    int depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t i = first; i < buf.size(); ++i) {
        const char c = buf[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace

Reaper::Reaper(asio::io_context& io, SteadyClock::duration period) : timer_(io), period_(period) {
    sweep();
}

void Reaper::sweep() {
    const auto now = SteadyClock::now();
    for (auto& e : entries_) {
        if (e.deadline_ <= now && e.socket_->is_open()) {
            error_code ignored;
            e.socket_->close(ignored);
        }
    }
    timer_.expires_after(period_);
    timer_.async_wait([this](error_code ec) {
        if (!ec) sweep();
    });
}

std::shared_ptr<tcp::acceptor> bind_listener(asio::io_context& io, const tcp::endpoint& ep,
                                             bool defer_accept) {
    auto acc = std::make_shared<tcp::acceptor>(io);
    error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec && defer_accept) {
        const int seconds = 5;  // after this a silent client is handed over anyway
        ::setsockopt(acc->native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds);
    }
    if (ec) {
        throw std::runtime_error("cannot listen on " + ep.address().to_string() + ":" +
                                 std::to_string(ep.port()) + ": " + ec.message());
    }
    return acc;
}

asio::awaitable<std::optional<std::string>> read_rpc_request(tcp::socket& s) {
    std::string buf;
    char chunk[2048];
    for (;;) {
        error_code ec;
        const std::size_t n = co_await s.async_read_some(
            asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        buf.append(chunk, n);
        if (buf.size() > kMaxRequestBytes) co_return std::nullopt;
        if (request_complete(buf)) break;
        if (ec) co_return buf.empty() || !s.is_open() ? std::nullopt : std::optional(buf);
    }
    if (const auto nul = buf.find('\0'); nul != std::string::npos) buf.resize(nul);
    co_return buf;
}

asio::awaitable<void> write_all(tcp::socket& s, std::string_view bytes) {
    error_code ec;
    co_await asio::async_write(s, asio::buffer(bytes.data(), bytes.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
}

void hard_reset(tcp::socket& s) {
    error_code ignored;
    s.set_option(asio::socket_base::linger(true, 0), ignored);
    s.close(ignored);
}

}  // namespace hashwatt::sim
