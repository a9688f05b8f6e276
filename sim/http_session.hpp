// Minimal HTTP/1.1 server plumbing shared by the simulated miners' web APIs, the admin API and
// replay mode: read a request with limits and deadlines, hand it to a handler, write the answer.
#pragma once

#include "sim/frontend.hpp"

#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace hashwatt::sim {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
    std::size_t body_bytes = 1 << 20;
    Duration idle{std::chrono::seconds(15)};  // between requests on a kept-alive connection
    Duration io{std::chrono::seconds(30)};    // to read one request or write one response
};

// Serves requests on `socket` until the peer closes, asks to close, or a deadline passes.
boost::asio::awaitable<void> serve_http_connection(boost::asio::ip::tcp::socket socket,
                                                   HttpHandler handler, HttpLimits limits = {});

}  // namespace hashwatt::sim
