// Talking to miners: one cgminer-style RPC exchange per TCP connection, and HTTP requests with
// Digest, Basic or Bearer auth. Every call has a connect deadline, a reply deadline and a size
// bound; failures come back as a PollError reason, never as an exception.
#pragma once

#include "common/miner_sample.hpp"
#include "common/units.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace boost::asio::ssl {
class context;
}

namespace hashwatt::agent {

struct TransportOptions {
    Duration connect_timeout{std::chrono::seconds(3)};
    Duration reply_timeout{std::chrono::seconds(10)};  // from connected to the whole reply read
    std::size_t max_reply_bytes = 1 << 20;
    // The end of the whole poll, when set: every connect and reply wait also ends by then, so a
    // poll that takes several requests still finishes within its per-miner deadline.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // http_request only: speak HTTPS with this client context (common/tls.hpp, which always
    // verifies), and accept only a certificate for the `host` being connected to. The
    // handshake counts against reply_timeout.
    std::shared_ptr<boost::asio::ssl::context> tls;
};

struct TransportError {
    PollError reason = PollError::internal;
    std::string detail;  // for logs and `error_message`, never a metric label
};

struct RpcResult {
    std::string body;  // the reply without its trailing NUL
    std::optional<TransportError> error;
    double elapsed_ms = 0;
};

// The calls below take their arguments by reference and must be co_awaited at once (as in
// `co_await rpc_request(...)`), which keeps the arguments alive. By-value parameters would be
// safer in theory, but GCC 12 destroys temporary arguments of a coroutine call twice.

// Connects to host:port, sends `request` (e.g. {"command":"summary"}), reads until the peer
// closes or sends a NUL, and strips the NUL. `host` is an IPv4/IPv6 literal or a name.
boost::asio::awaitable<RpcResult> rpc_request(boost::asio::any_io_executor ex,
                                              const std::string& host, std::uint16_t port,
                                              const std::string& request,
                                              const TransportOptions& opts);

// Sends raw bytes and reads a reply whose end is known from a 4-byte little-endian length
// prefix (Whatsminer API v3 on 4433). Used for detection only.
boost::asio::awaitable<RpcResult> framed_request(boost::asio::any_io_executor ex,
                                                 const std::string& host, std::uint16_t port,
                                                 const std::string& payload,
                                                 const TransportOptions& opts);

struct HttpAuth {
    enum class Kind { none, basic, digest, bearer, raw_token };
    Kind kind = Kind::none;
    std::string user;
    std::string password;
    std::string token;  // bearer / raw_token
    // Digest: a challenge (WWW-Authenticate value) from an earlier response. When set, the
    // request is answered up front and the 401 round trip is saved; if the miner rejects the
    // stale nonce, the fresh challenge is answered as usual.
    std::string challenge;
};

struct HttpRequestSpec {
    std::string method = "GET";
    std::string target = "/";
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpResult {
    unsigned status = 0;
    std::string body;
    std::string
        www_authenticate;     // the Digest challenge in force (cache it in HttpAuth::challenge)
    std::string location;     // redirect target, if any
    std::string retry_after;  // Retry-After as sent (429/503), if any
    std::optional<TransportError> error;
    double elapsed_ms = 0;
};

// One HTTP/1.1 request (Connection: close). With Digest auth, a 401 challenge is answered once
// on a new connection; a second 401 is reported as status 401 (the caller maps it to `auth`).
boost::asio::awaitable<HttpResult> http_request(boost::asio::any_io_executor ex,
                                                const std::string& host, std::uint16_t port,
                                                const HttpRequestSpec& req, const HttpAuth& auth,
                                                const TransportOptions& opts);

}  // namespace hashwatt::agent
