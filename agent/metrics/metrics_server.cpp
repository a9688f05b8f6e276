#include "agent/metrics/metrics_server.hpp"

#include "agent/metrics/self_metrics.hpp"
#include "common/log.hpp"

#include <list>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
    Impl(asio::any_io_executor ex_, MetricsServerOptions options_, Render render_)
        : ex(std::move(ex_))
        , options(std::move(options_))
        , render(std::move(render_))
        , acceptor(ex) {}

    asio::any_io_executor ex;
    MetricsServerOptions options;
    Render render;
    tcp::acceptor acceptor;
    std::uint16_t bound_port = 0;
    bool stopped = false;
    std::list<beast::tcp_stream*> connections;  // for stop(); each removes its own entry

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(tcp::socket socket);
    http::response<http::string_body> answer(const http::request<http::string_body>& req);
};

asio::awaitable<void> MetricsServer::Impl::accept_loop() {
    auto self = shared_from_this();
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted) co_return;
            log::warn("metrics accept failed", {{"error", ec.message()}});
            continue;
        }
        if (connections.size() >= options.max_connections) {
            socket.close(ec);  // a scraper retries; the agent's sockets are for its miners
            continue;
        }
        asio::co_spawn(ex, self->serve(std::move(socket)), asio::detached);
    }
}

http::response<http::string_body> MetricsServer::Impl::answer(
    const http::request<http::string_body>& req) {
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (path != "/metrics") {
        res.result(http::status::not_found);
        res.body() = "not found: the agent serves only GET /metrics\n";
    } else if (req.method() != http::verb::get) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET");
        res.body() = "method not allowed; use GET\n";
    } else {
        try {
            res.body() = render();
            res.set(http::field::content_type, std::string(kAgentMetricsContentType));
        } catch (const std::exception& e) {
            log::error("agent metrics scrape failed", {{"error", e.what()}});
            res.result(http::status::internal_server_error);
            res.body() = "internal error building the metrics\n";
        }
    }
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
}

asio::awaitable<void> MetricsServer::Impl::serve(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    auto entry = connections.insert(connections.end(), &stream);
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!stopped) {
        // The idle deadline covers the wait for the first byte, the request deadline the rest,
        // so a client trickling a request is cut off. A timeout closes the connection.
        if (buffer.size() == 0) {
            stream.expires_after(options.idle_timeout);
            const std::size_t n = co_await stream.async_read_some(
                buffer.prepare(1024), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) break;
            buffer.commit(n);
        }
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(options.header_limit_bytes));
        parser.body_limit(options.body_limit_bytes);
        stream.expires_after(options.request_timeout);
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::header_limit || ec == http::error::body_limit ||
            ec == http::error::bad_target || ec == http::error::bad_method ||
            ec == http::error::bad_version || ec == http::error::bad_line_ending) {
            // A bad request is told so, then the connection closes.
            http::response<http::string_body> res{http::status::bad_request, 11};
            if (ec == http::error::header_limit) {
                res.result(http::status::request_header_fields_too_large);
            } else if (ec == http::error::body_limit) {
                res.result(http::status::payload_too_large);
            }
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "bad request: " + ec.message() + "\n";
            res.keep_alive(false);
            res.prepare_payload();
            stream.expires_after(options.request_timeout);
            co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
            break;
        }
        if (ec || stopped) break;
        auto res = answer(parser.get());
        stream.expires_after(options.request_timeout);  // the answer gets a deadline of its own
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !res.keep_alive()) break;
    }
    connections.erase(entry);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
}

MetricsServer::MetricsServer(asio::any_io_executor ex, MetricsServerOptions options, Render render)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(options), std::move(render))) {}

MetricsServer::~MetricsServer() {
    // Connections keep the Impl alive; closing their sockets ends each coroutine on its own.
    stop();
}

void MetricsServer::start() {
    const auto& l = impl_->options.listen;
    const std::string where = l.address + ":" + std::to_string(l.port);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(l.address, ec);
    if (ec) throw std::runtime_error("metrics: bad listen address " + l.address);
    const tcp::endpoint ep(address, l.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("metrics: cannot listen on " + where + ": " + ec.message());
    impl_->bound_port = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->ex, impl_->accept_loop(), asio::detached);
    log::info("metrics listening", {{"url", url()}});
}

std::uint16_t MetricsServer::port() const noexcept { return impl_->bound_port; }

std::string MetricsServer::url() const {
    const auto& a = impl_->options.listen.address;
    const std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
    return "http://" + host + ":" + std::to_string(impl_->bound_port) + "/metrics";
}

void MetricsServer::stop() {
    if (!impl_ || impl_->stopped) return;
    impl_->stopped = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto* s : impl_->connections) s->socket().close(ignored);
}

}  // namespace hashwatt::agent
