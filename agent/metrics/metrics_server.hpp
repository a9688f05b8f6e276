// The agent's /metrics listener ([metrics] listen in agent.toml): GET /metrics answers with
// what `render` returns; every other path is 404 and every other method on /metrics 405. Small
// on purpose: no tokens, no TLS (bind it to a management address). Each request must arrive
// within request_timeout and fit header_limit_bytes, and connections are capped, so a slow or
// hostile client cannot hold the agent's memory or sockets.
#pragma once

#include "agent/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

namespace hashwatt::agent {

struct MetricsServerOptions {
    MetricsListen listen;
    std::size_t header_limit_bytes = 8 * 1024;
    std::size_t body_limit_bytes = 4 * 1024;  // a scrape has none; anything bigger is refused
    // From the first byte of a request to its last, and writing the answer.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    // How long a kept-alive connection may wait for its next request.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
    std::size_t max_connections = 16;  // more are closed at once
};

class MetricsServer {
  public:
    // The page's text, built on the server's executor at every scrape.
    using Render = std::function<std::string()>;

    MetricsServer(boost::asio::any_io_executor ex, MetricsServerOptions options, Render render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds and starts accepting. Throws std::runtime_error naming the address on failure.
    void start();
    std::uint16_t port() const noexcept;  // the port bound (the one picked for port 0)
    // "http://IP:PORT/metrics" (IPv6 in brackets).
    std::string url() const;
    // Closes the listener and open connections. Call on the executor. Idempotent.
    void stop();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace hashwatt::agent
