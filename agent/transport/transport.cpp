#include "agent/transport/transport.hpp"

#include "common/crypto.hpp"
#include "common/http_digest.hpp"
#include "common/tls.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace hashwatt::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

using SteadyClock = std::chrono::steady_clock;

double ms_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

TransportError classify(const error_code& ec, bool timed_out, bool got_bytes) {
    if (timed_out) return {PollError::timeout, "deadline passed"};
    if (ec == asio::error::connection_refused) return {PollError::refused, ec.message()};
    if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
        (ec == asio::error::eof && !got_bytes)) {
        return {PollError::reset, ec == asio::error::eof ? "closed without a reply" : ec.message()};
    }
    if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
        ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again) {
        return {PollError::unreachable, ec.message()};
    }
    return {PollError::reset, ec.message()};
}

// `d`, cut short by the poll's overall deadline.
Duration within(Duration d, const TransportOptions& opts) {
    if (!opts.deadline) return d;
    const auto left = std::chrono::duration_cast<Duration>(*opts.deadline - SteadyClock::now());
    return std::max(Duration::zero(), std::min(d, left));
}

// Closes the socket when the deadline passes; `fired` tells the caller why its I/O failed.
// The timer's handler may already be queued when the caller finishes and its socket goes away,
// so the handler reaches the socket through shared state that the destructor disarms.
class Deadline {
  public:
    Deadline(tcp::socket& s, Duration d)
        : timer_(s.get_executor()), state_(std::make_shared<State>(State{&s, false})) {
        timer_.expires_after(d);
        timer_.async_wait([st = state_](error_code ec) {
            if (!ec && st->socket) {
                st->fired = true;
                error_code ignored;
                st->socket->close(ignored);
            }
        });
    }
    ~Deadline() { state_->socket = nullptr; }
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;
    bool fired() const { return state_->fired; }

  private:
    struct State {
        tcp::socket* socket;
        bool fired;
    };
    asio::steady_timer timer_;
    std::shared_ptr<State> state_;
};

// Ends the connection with a reset instead of a FIN once the exchange is over, so that neither
// side keeps it: the miner closed first (cgminer closes after each reply), so a graceful close
// would leave it holding the connection in TIME_WAIT, a minute of kernel memory on a small
// control board for every poll. Nothing is lost: the caller has read all it wanted. The agent
// saves work too: there is no FIN to send and acknowledge (about 6 % of its CPU per poll,
// docs/performance.md).
class AbortiveClose {
  public:
    explicit AbortiveClose(tcp::socket& s) : s_(s) {}
    ~AbortiveClose() {
        if (!s_.is_open()) return;
        error_code ignored;
        s_.set_option(asio::socket_base::linger(true, 0), ignored);
        s_.close(ignored);
    }
    AbortiveClose(const AbortiveClose&) = delete;
    AbortiveClose& operator=(const AbortiveClose&) = delete;

  private:
    tcp::socket& s_;
};

// Resolves and connects within opts.connect_timeout.
asio::awaitable<std::optional<TransportError>> connect(tcp::socket& s, const std::string& host,
                                                       std::uint16_t port,
                                                       const TransportOptions& opts) {
    error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    std::vector<tcp::endpoint> endpoints;
    if (!ec) {
        endpoints.emplace_back(addr, port);
    } else {
        // getaddrinfo runs on Asio's resolver thread and cannot be cancelled once started, so
        // the wait is on a timer that the lookup cuts short: past the deadline the poll moves on
        // and the lookup's late answer only releases the shared state.
        struct Lookup {
            tcp::resolver resolver;
            asio::steady_timer timer;
            tcp::resolver::results_type results;
            error_code ec;
            bool done = false;
        };
        auto lookup = std::make_shared<Lookup>(
            Lookup{tcp::resolver(s.get_executor()), asio::steady_timer(s.get_executor()), {}, {}});
        lookup->timer.expires_after(within(opts.connect_timeout, opts));
        lookup->resolver.async_resolve(
            host, std::to_string(port),
            [lookup](const error_code& e, tcp::resolver::results_type results) {
                lookup->ec = e;
                lookup->results = std::move(results);
                lookup->done = true;
                lookup->timer.cancel();
            });
        error_code waited;
        co_await lookup->timer.async_wait(asio::redirect_error(asio::use_awaitable, waited));
        if (!lookup->done)
            co_return TransportError{PollError::timeout, "deadline passed while resolving " + host};
        if (lookup->ec)
            co_return TransportError{PollError::unreachable,
                                     "cannot resolve " + host + ": " + lookup->ec.message()};
        for (const auto& r : lookup->results) endpoints.push_back(r.endpoint());
    }
    Deadline deadline(s, within(opts.connect_timeout, opts));
    co_await asio::async_connect(s, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || deadline.fired()) co_return classify(ec, deadline.fired(), false);
    co_return std::nullopt;
}

}  // namespace

asio::awaitable<RpcResult> rpc_request(asio::any_io_executor ex, const std::string& host,
                                       std::uint16_t port, const std::string& request,
                                       const TransportOptions& opts) {
    const auto t0 = SteadyClock::now();
    RpcResult r;
    tcp::socket s(ex);
    const AbortiveClose closing(s);
    if (auto err = co_await connect(s, host, port, opts)) {
        r.error = std::move(err);
        r.elapsed_ms = ms_since(t0);
        co_return r;
    }
    Deadline deadline(s, within(opts.reply_timeout, opts));
    error_code ec;
    co_await asio::async_write(s, asio::buffer(request),
                               asio::redirect_error(asio::use_awaitable, ec));
    // Read straight into the reply's spare capacity: no chunk buffer in the coroutine frame,
    // which with hundreds of polls in flight would be megabytes of memory doing nothing.
    std::string& body = r.body;
    bool nul = false;
    std::size_t used = 0;
    while (!ec) {
        if (body.size() - used < 2048) body.resize(std::max<std::size_t>(4096, body.size() * 2));
        const std::size_t n =
            co_await s.async_read_some(asio::buffer(body.data() + used, body.size() - used),
                                       asio::redirect_error(asio::use_awaitable, ec));
        const char* start = body.data() + used;
        const char* end = std::find(start, start + n, '\0');
        used += static_cast<std::size_t>(end - start);
        if (end != start + n) {
            nul = true;  // cgminer's end of reply; anything after it is not ours
            break;
        }
        if (used > opts.max_reply_bytes) {
            r.error =
                TransportError{PollError::too_large,
                               "reply exceeds " + std::to_string(opts.max_reply_bytes) + " bytes"};
            break;
        }
    }
    body.resize(used);
    if (!r.error && !nul && ec != asio::error::eof) {
        r.error = classify(ec, deadline.fired(), !body.empty());
    } else if (!r.error && !nul && body.empty()) {
        r.error = TransportError{PollError::reset, "closed without a reply"};
    }
    r.elapsed_ms = ms_since(t0);
    co_return r;
}

asio::awaitable<RpcResult> framed_request(asio::any_io_executor ex, const std::string& host,
                                          std::uint16_t port, const std::string& payload,
                                          const TransportOptions& opts) {
    const auto t0 = SteadyClock::now();
    RpcResult r;
    tcp::socket s(ex);
    const AbortiveClose closing(s);
    if (auto err = co_await connect(s, host, port, opts)) {
        r.error = std::move(err);
        co_return r;
    }
    Deadline deadline(s, within(opts.reply_timeout, opts));
    std::string frame(4, '\0');
    const auto len = static_cast<std::uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i)
        frame[static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
    frame += payload;
    error_code ec;
    co_await asio::async_write(s, asio::buffer(frame),
                               asio::redirect_error(asio::use_awaitable, ec));
    unsigned char hdr[4] = {};
    if (!ec)
        co_await asio::async_read(s, asio::buffer(hdr),
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        std::uint32_t n = 0;
        for (int i = 3; i >= 0; --i) n = (n << 8) | hdr[i];
        if (n > opts.max_reply_bytes) {
            r.error =
                TransportError{PollError::too_large, "frame of " + std::to_string(n) + " bytes"};
        } else {
            r.body.resize(n);
            co_await asio::async_read(s, asio::buffer(r.body),
                                      asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    if (!r.error && ec) r.error = classify(ec, deadline.fired(), false);
    r.elapsed_ms = ms_since(t0);
    co_return r;
}

namespace {

// Writes the request and reads the answer on `s` (the TCP socket or TLS over it); the
// caller's deadline closes the socket underneath when it passes.
template <class Stream>
asio::awaitable<void> exchange(Stream& s, const Deadline& deadline, const std::string& host,
                               const HttpRequestSpec& spec, const std::string& authorization,
                               const TransportOptions& opts, HttpResult& r) {
    http::request<http::string_body> req{http::string_to_verb(spec.method), spec.target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "hashwatt");
    req.set(http::field::connection, "close");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    for (const auto& [k, v] : spec.headers) req.set(k, v);
    if (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT") {
        req.set(http::field::content_type, spec.content_type);
        req.body() = spec.body;
        req.prepare_payload();
    }
    error_code ec;
    co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(opts.max_reply_bytes);
    parser.header_limit(64 * 1024);
    if (!ec)
        co_await http::async_read(s, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
            r.error = TransportError{PollError::too_large,
                                     "HTTP body exceeds " + std::to_string(opts.max_reply_bytes)};
        } else if (ec == http::error::end_of_stream || ec == asio::error::eof) {
            r.error = TransportError{PollError::reset, "closed without a reply"};
        } else if (ec.category() == make_error_code(http::error::bad_method).category() &&
                   !deadline.fired()) {
            r.error = TransportError{PollError::parse, "malformed HTTP response: " + ec.message()};
        } else {
            r.error = classify(ec, deadline.fired(), false);
        }
        co_return;
    }
    auto& res = parser.get();
    r.status = res.result_int();
    r.body = std::move(res.body());
    if (auto it = res.find(http::field::www_authenticate); it != res.end())
        r.www_authenticate = std::string(it->value());
    if (auto it = res.find(http::field::location); it != res.end())
        r.location = std::string(it->value());
    if (auto it = res.find(http::field::retry_after); it != res.end())
        r.retry_after = std::string(it->value());
}

asio::awaitable<HttpResult> http_once(asio::any_io_executor ex, const std::string& host,
                                      std::uint16_t port, const HttpRequestSpec& spec,
                                      const std::string& authorization,
                                      const TransportOptions& opts) {
    HttpResult r;
    tcp::socket s(ex);
    const AbortiveClose closing(s);
    if (auto err = co_await connect(s, host, port, opts)) {
        r.error = std::move(err);
        co_return r;
    }
    Deadline deadline(s, within(opts.reply_timeout, opts));
    if (!opts.tls) {
        co_await exchange(s, deadline, host, spec, authorization, opts, r);
        co_return r;
    }
    asio::ssl::stream<tcp::socket&> ts(s, *opts.tls);
    if (!tls::expect_peer(ts.native_handle(), host)) {
        r.error = TransportError{PollError::internal, "TLS: cannot expect the name " + host};
        co_return r;
    }
    error_code ec;
    co_await ts.async_handshake(asio::ssl::stream_base::client,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        if (deadline.fired()) {
            r.error = TransportError{PollError::timeout, "deadline passed in the TLS handshake"};
        } else if (SSL_get_verify_result(ts.native_handle()) != X509_V_OK) {
            // Not the collector we were told to trust: the same standing as a refused token.
            r.error =
                TransportError{PollError::auth, "TLS handshake with " + host + ": " +
                                                    tls::handshake_error(ec, ts.native_handle())};
        } else {
            r.error = TransportError{
                ec.category() == asio::error::get_ssl_category()
                    ? PollError::parse
                    : classify(ec, false, false).reason,
                "TLS handshake with " + host + ": " + tls::handshake_error(ec, ts.native_handle())};
        }
        co_return r;
    }
    // The answer is read to its end by length, so no close_notify is needed from either side;
    // the socket is reset when `closing` goes.
    co_await exchange(ts, deadline, host, spec, authorization, opts, r);
    co_return r;
}

}  // namespace

asio::awaitable<HttpResult> http_request(asio::any_io_executor ex, const std::string& host,
                                         std::uint16_t port, const HttpRequestSpec& req,
                                         const HttpAuth& auth, const TransportOptions& opts) {
    const auto t0 = SteadyClock::now();
    std::string authorization;
    switch (auth.kind) {
        case HttpAuth::Kind::basic:
            authorization = "Basic " + crypto::base64_encode(auth.user + ":" + auth.password);
            break;
        case HttpAuth::Kind::bearer:
            authorization = "Bearer " + auth.token;
            break;
        case HttpAuth::Kind::raw_token:
            authorization = auth.token;
            break;
        case HttpAuth::Kind::none:
        case HttpAuth::Kind::digest:
            break;
    }
    std::string challenge = auth.kind == HttpAuth::Kind::digest ? auth.challenge : std::string();
    if (!challenge.empty()) {
        if (auto answer = http_digest::authorization(challenge, auth.user, auth.password,
                                                     req.method, req.target)) {
            authorization = *answer;
        }
    }
    HttpResult r = co_await http_once(ex, host, port, req, authorization, opts);
    if (auth.kind == HttpAuth::Kind::digest && !r.error && r.status == 401 &&
        !r.www_authenticate.empty()) {
        // The challenge names the realm and a fresh nonce; answer it once.
        challenge = r.www_authenticate;
        const auto answer =
            http_digest::authorization(challenge, auth.user, auth.password, req.method, req.target);
        if (answer) r = co_await http_once(ex, host, port, req, *answer, opts);
    }
    if (r.www_authenticate.empty()) r.www_authenticate = challenge;
    r.elapsed_ms = ms_since(t0);
    co_return r;
}

}  // namespace hashwatt::agent
