#include "sim/http_session.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace hashwatt::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<void> serve_http_connection(asio::ip::tcp::socket socket, HttpHandler handler,
                                            HttpLimits limits) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(limits.body_bytes);
        parser.header_limit(16 * 1024);
        stream.expires_after(first ? limits.io : limits.idle);
        first = false;
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == http::error::body_limit || ec == http::error::header_limit) {
                http::response<http::string_body> res{http::status::payload_too_large, 11};
                res.set(http::field::content_type, "application/json");
                res.body() = R"({"error":"request too large"})";
                res.prepare_payload();
                res.keep_alive(false);
                stream.expires_after(limits.io);
                co_await http::async_write(stream, res,
                                           asio::redirect_error(asio::use_awaitable, ec));
            }
            break;
        }
        const auto& req = parser.get();
        const std::string_view target(req.target().data(), req.target().size());
        const auto q = target.find('?');
        HttpRequest view;
        view.method = std::string_view(req.method_string().data(), req.method_string().size());
        view.path = target.substr(0, q);
        view.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
        if (auto it = req.find(http::field::authorization); it != req.end()) {
            view.authorization = std::string_view(it->value().data(), it->value().size());
        }
        if (auto it = req.find(http::field::content_type); it != req.end()) {
            view.content_type = std::string_view(it->value().data(), it->value().size());
        }
        view.body = req.body();

        HttpResponse answer = handler(view);
        http::response<http::string_body> res{static_cast<http::status>(answer.status),
                                              req.version()};
        res.set(http::field::content_type, answer.content_type);
        for (const auto& [k, v] : answer.headers) res.set(k, v);
        res.body() = std::move(answer.body);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        stream.expires_after(limits.io);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace hashwatt::sim
