#include "tests/support/webhook_receiver.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace hashwatt::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::uint16_t free_loopback_port() {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

struct WebhookReceiver::Impl {
    WebhookReceiver& owner;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    mutable std::mutex mu;
    std::vector<ReceivedRequest> requests;
    std::thread thread;

    explicit Impl(WebhookReceiver& o) : owner(o) {}

    asio::awaitable<void> serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buf;
        try {
            for (;;) {
                http::request_parser<http::string_body> parser;
                parser.body_limit(1 << 20);
                stream.expires_after(std::chrono::seconds(5));
                co_await http::async_read(stream, buf, parser, asio::use_awaitable);
                auto& req = parser.get();
                const unsigned status = owner.status_.load();
                {
                    std::lock_guard lock(mu);
                    ReceivedRequest r;
                    r.method = std::string(req.method_string());
                    r.target = std::string(req.target());
                    r.authorization = std::string(req[http::field::authorization]);
                    r.extra_header = std::string(req["X-Test"]);
                    r.body = req.body();
                    r.answered = status;
                    requests.push_back(std::move(r));
                }
                http::response<http::string_body> res{static_cast<http::status>(status),
                                                      req.version()};
                res.set(http::field::content_type, "text/plain");
                res.body() = "ok\n";
                res.keep_alive(req.keep_alive());
                res.prepare_payload();
                co_await http::async_write(stream, res, asio::use_awaitable);
                if (!req.keep_alive()) break;
            }
        } catch (const std::exception&) {
            // The peer closed or timed out: nothing to record.
        }
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, s] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(io, serve(std::move(s)), asio::detached);
        }
    }
};

WebhookReceiver::WebhookReceiver(std::uint16_t port, const std::string& host)
    : impl_(std::make_unique<Impl>(*this)) {
    const tcp::endpoint ep(asio::ip::make_address(host), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

WebhookReceiver::~WebhookReceiver() {
    impl_->io.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<ReceivedRequest> WebhookReceiver::requests() const {
    std::lock_guard lock(impl_->mu);
    return impl_->requests;
}

std::size_t WebhookReceiver::count() const {
    std::lock_guard lock(impl_->mu);
    return impl_->requests.size();
}

}  // namespace hashwatt::test
