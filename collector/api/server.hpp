// The collector's HTTP API: agents POST sample batches, operators and dashboards read miners,
// series and site totals. One coroutine per connection on the caller's io_context; every
// request is authenticated with a bearer token and every error is a JSON body naming the
// problem. Routes, roles and limits are documented in docs/api.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace hashwatt::collector {

class CollectorMetrics;
class Store;
namespace alerts {
class AlertEngine;
}
namespace control {
class PolicyControl;
}
class StoreWriter;

// agent: batches, the command long poll and results, for its own agent_id only; read: the query
// routes (commands included); admin: all.
enum class Role { agent, read, admin };

std::string_view to_string(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

struct Token {
    std::string secret;
    Role role = Role::read;
    std::string agent_id;  // for role agent: the only agent_id it may post for
    // For role agent, optional: the only site its batches may name. A batch without a site is
    // stored under this one, so a scoped agent cannot land samples outside its site.
    std::string site{};  // {}: brace-initialised Tokens may leave it out
};

// Lockout of a client address after repeated failed authentication ([api] auth_*, docs/api.md
// "Failed authentication"). max_failures 0 turns it off.
struct AuthLimitOptions {
    std::size_t max_failures = 10;  // failures within `window` that lock the address out
    std::chrono::milliseconds window{std::chrono::seconds(60)};
    std::chrono::milliseconds lockout{std::chrono::seconds(60)};
    // Addresses tracked at once; beyond it the one updated longest ago is forgotten, so a
    // flood from many addresses costs bounded memory.
    std::size_t max_clients = 4096;
};

struct ApiOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0 picks a free port (ApiServer::port() tells which)
    // When set, the listener speaks only TLS (1.2 or later) with this certificate; both PEM
    // texts are read at config load (the key with the secret-file care), so a changed file
    // takes a restart. The limits below apply inside TLS just the same.
    struct Tls {
        std::string cert_file;  // where the chain came from, for logs and errors
        std::string cert_chain_pem;
        std::string key_pem;
    };
    std::optional<Tls> tls;
    // From accept to the end of the TLS handshake; a client that stalls it is cut off.
    std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};
    std::size_t body_limit_bytes = 16 * 1024 * 1024;
    std::size_t header_limit_bytes = 64 * 1024;
    // From the first byte of a request to its last; also bounds writing the answer.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    // How long a kept-alive connection may sit between requests.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
    std::vector<Token> tokens;
    // GET /metrics is open by default (Prometheus usually scrapes without a token); when set,
    // it needs a read or admin token like the query routes.
    bool metrics_require_token = false;
    AuthLimitOptions auth_limit;
};

class ApiServer {
  public:
    // `store` and `writer` must outlive the server, and the writer must be shut down before the
    // io_context is destroyed (its commit callbacks post to it). The io_context is expected to
    // run on one thread: connection bookkeeping is not locked. `metrics` is what /metrics
    // serves and what ingest and requests are counted in; null makes one with defaults.
    ApiServer(boost::asio::io_context& io, Store& store, StoreWriter& writer, ApiOptions options,
              std::shared_ptr<CollectorMetrics> metrics = nullptr);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Seeds the metrics' latest state from the store, binds and starts accepting. Throws
    // std::runtime_error naming the address on failure.
    void start();
    std::uint16_t port() const noexcept;  // the port actually bound
    CollectorMetrics& metrics() noexcept;
    // The engine the acknowledge and silence routes write through (null, the default: they
    // answer 503). Thread-safe; `engine` must outlive the server or be unset first.
    void set_alert_engine(alerts::AlertEngine* engine) noexcept;
    // The power policy's control loop the policy routes read and add overrides to (null, the
    // default: /api/v1/policy and the override routes answer 503). Thread-safe; `control`
    // must outlive the server or be unset first.
    void set_policy_control(control::PolicyControl* control) noexcept;
    control::PolicyControl* policy_control() const noexcept;
    // Wakes the command long polls of these agents (commands were queued for them outside the
    // API: the power policy). Thread-safe: posts to the io_context.
    void notify_agents(std::vector<std::string> agent_ids);
    // What a connection would answer to `request` (its raw bytes: request line, headers and
    // body), without a socket: the same parser limits, then the same routes. For the fuzz target
    // fuzz/collector_http_fuzz.cpp and tests. Runs the io_context, which must not be running
    // elsewhere, until the answer is there or `budget` has passed (nullopt: a long poll still
    // waiting; it completes during a later call or ends with stop()). status 0: no answer
    // would be sent (the bytes end before a request does, as when a client goes away).
    struct RawAnswer {
        unsigned status = 0;
        std::string body;
    };
    std::optional<RawAnswer> answer_raw(std::string_view request, std::chrono::milliseconds budget);

    // Closes the listener and every open connection; in-flight ingest commits still finish
    // on the writer. Call on the io_context's thread (or post it there). Idempotent.
    void stop();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace hashwatt::collector
