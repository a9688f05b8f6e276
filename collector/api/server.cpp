#include "collector/api/server.hpp"

#include "collector/api/auth_guard.hpp"
#include "collector/api/commands.hpp"
#include "collector/api/routes.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "common/tls.hpp"

#include <atomic>
#include <charconv>
#include <list>
#include <stdexcept>
#include <type_traits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

namespace hashwatt::collector {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view to_string(Role r) noexcept {
    switch (r) {
        case Role::agent:
            return "agent";
        case Role::read:
            return "read";
        case Role::admin:
            return "admin";
    }
    return "unknown";
}

std::optional<Role> parse_role(std::string_view s) noexcept {
    if (s == "agent") return Role::agent;
    if (s == "read") return Role::read;
    if (s == "admin") return Role::admin;
    return std::nullopt;
}

Reply json_reply(unsigned status, std::string body) {
    Reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

std::size_t parse_limit(std::string_view value) {
    std::size_t n = 0;
    const auto* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, n);
    if (value.empty() || ec != std::errc{} || ptr != end || n < 1 || n > 1000) {
        throw BadParam{"limit", "expected an integer 1..1000"};
    }
    return n;
}

Reply json_error(unsigned status, std::string_view message, std::string_view path) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("error", message);
    if (!path.empty()) w.field("path", path);
    w.end_object();
    return json_reply(status, std::move(out));
}

namespace {

// Every token is compared, each in constant time, so neither the position of a match nor the
// length of a common prefix shows in the timing. Secrets of another length are compared
// against themselves so that the work does not depend on the length either.
const Token* find_token(const std::vector<Token>& tokens, std::string_view presented) {
    const Token* found = nullptr;
    for (const auto& t : tokens) {
        const bool same_length = t.secret.size() == presented.size();
        const void* other = same_length ? presented.data() : t.secret.data();
        const bool equal =
            CRYPTO_memcmp(t.secret.data(), other, t.secret.size()) == 0 && same_length;
        if (equal && found == nullptr && !t.secret.empty()) found = &t;
    }
    return found;
}

std::optional<std::string_view> bearer_of(std::string_view header) {
    constexpr std::string_view scheme = "Bearer ";
    if (header.size() <= scheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        const char c = header[i];
        const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        const char want = scheme[i];
        const char want_lower =
            (want >= 'A' && want <= 'Z') ? static_cast<char>(want - 'A' + 'a') : want;
        if (lower != want_lower) return std::nullopt;
    }
    auto token = header.substr(scheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return std::nullopt;
    return token;
}

Reply unauthorized(std::string_view why) {
    Reply r = json_error(401, why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hashwatt\"");
    return r;
}

}  // namespace

struct ApiServer::Impl : std::enable_shared_from_this<ApiServer::Impl> {
    Impl(asio::io_context& io_, Store& store_, StoreWriter& writer_, ApiOptions options_,
         std::shared_ptr<CollectorMetrics> metrics_)
        : io(io_)
        , store(store_)
        , writer(writer_)
        , options(std::move(options_))
        , metrics(metrics_ ? std::move(metrics_) : std::make_shared<CollectorMetrics>())
        , acceptor(io_)
        , hub(io_.get_executor())
        , command_routes{store_, writer_, hub}
        , auth_guard(options.auth_limit, *metrics) {}

    asio::io_context& io;
    Store& store;
    StoreWriter& writer;
    ApiOptions options;
    std::shared_ptr<CollectorMetrics> metrics;
    tcp::acceptor acceptor;
    std::uint16_t bound_port = 0;
    bool stopped = false;
    // Streams of open connections, so that stop() can close them; each connection removes
    // its own entry when it ends.
    std::list<beast::tcp_stream*> connections;
    CommandHub hub;                           // long polls waiting for commands
    std::shared_ptr<asio::ssl::context> tls;  // set by start() when options.tls is
    CommandRoutes command_routes;
    std::atomic<alerts::AlertEngine*> alert_engine{nullptr};
    std::atomic<control::PolicyControl*> policy_control{nullptr};
    AuthGuard auth_guard;  // per-address lockout after failed authentication

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(tcp::socket& socket);
    // `client` is the peer's IP address, the key of the failed-authentication lockout.
    asio::awaitable<Reply> dispatch(const http::request<http::string_body>& req,
                                    const std::string& client);
    template <class Stream>
    asio::awaitable<void> serve_http(Stream& stream, const std::string& client);
    asio::awaitable<bool> tls_handshake(beast::ssl_stream<beast::tcp_stream>& stream);
    asio::awaitable<Reply> answer_raw(std::string request);
    Reply readiness();
    Reply metrics_reply();
};

asio::awaitable<void> ApiServer::Impl::accept_loop() {
    auto self = shared_from_this();
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted) co_return;
            log::warn("api accept failed", {{"error", ec.message()}});
            continue;
        }
        asio::co_spawn(
            io,
            [self, s = std::move(socket)]() mutable -> asio::awaitable<void> {
                tcp::socket mine = std::move(s);
                co_await self->serve(mine);
            },
            asio::detached);
    }
}

Reply ApiServer::Impl::readiness() {
    try {
        if (store.schema_version() <= 0) return json_error(503, "store not initialised");
    } catch (const std::exception& e) {
        return json_error(503, std::string("store unavailable: ") + e.what());
    }
    if (!writer.accepting()) return json_error(503, "writer is not accepting batches");
    return json_reply(200, R"({"status":"ready"})");
}

Reply ApiServer::Impl::metrics_reply() {
    Reply r;
    try {
        r.body = metrics->render(writer.queued());
    } catch (const std::exception& e) {
        log::error("metrics scrape failed", {{"error", e.what()}});
        return json_error(500, "internal error building the metrics");
    }
    r.headers.emplace_back("Content-Type", std::string(CollectorMetrics::kContentType));
    return r;
}

asio::awaitable<Reply> ApiServer::Impl::dispatch(const http::request<http::string_body>& req,
                                                 const std::string& client) {
    const std::string_view target(req.target().data(), req.target().size());
    auto parsed = boost::urls::parse_origin_form(target);
    if (!parsed) co_return json_error(400, "request target is not a valid origin-form URL");
    const boost::urls::url_view url = *parsed;
    const std::string path = url.path();

    const bool is_get = req.method() == http::verb::get;
    if (path == "/healthz") {
        if (!is_get) co_return json_error(405, "method not allowed; use GET");
        co_return json_reply(200, R"({"status":"ok"})");
    }
    if (path == "/readyz") {
        if (!is_get) co_return json_error(405, "method not allowed; use GET");
        co_return readiness();
    }

    const bool scrape = path == "/metrics";
    if (scrape && !is_get) {
        Reply r = json_error(405, "method not allowed; use GET");
        r.headers.emplace_back("Allow", "GET");
        co_return r;
    }
    if (scrape && !options.metrics_require_token) co_return metrics_reply();

    const bool ingest = path == "/api/v1/ingest";
    const bool alert_action = is_alert_action_route(path);  // checks its own methods and roles
    const bool policy = is_policy_route(path);              // likewise
    const bool query = !alert_action && !policy &&
                       (path == "/api/v1/miners" || path.starts_with("/api/v1/miners/") ||
                        path == "/api/v1/sites" || path == "/api/v1/alerts" ||
                        path.starts_with("/api/v1/alerts/"));
    const bool commands = is_command_route(path);  // checks its own methods and roles
    if (!ingest && !query && !scrape && !commands && !alert_action && !policy) {
        co_return json_error(404, "no such route");
    }
    if (ingest && req.method() != http::verb::post) {
        Reply r = json_error(405, "method not allowed; use POST");
        r.headers.emplace_back("Allow", "POST");
        co_return r;
    }
    if (query && !is_get) {
        Reply r = json_error(405, "method not allowed; use GET");
        r.headers.emplace_back("Allow", "GET");
        co_return r;
    }

    // A locked-out address is refused even with a valid token: otherwise guessing could go on,
    // only the answers to the right guess would differ.
    if (auto locked = auth_guard.refuse_if_locked(client, path)) co_return std::move(*locked);
    auto auth = req.find(http::field::authorization);
    if (auth == req.end()) {
        auth_guard.failed(client, AuthFailure::missing, path);
        co_return unauthorized("missing bearer token");
    }
    auto presented = bearer_of(std::string_view(auth->value().data(), auth->value().size()));
    if (!presented) {
        auth_guard.failed(client, AuthFailure::malformed, path);
        co_return unauthorized("authorization is not a bearer token");
    }
    const Token* caller = find_token(options.tokens, *presented);
    if (caller == nullptr) {
        auth_guard.failed(client, AuthFailure::unknown, path);
        co_return unauthorized("unknown token");
    }

    if (ingest) {
        if (caller->role == Role::read) {
            co_return json_error(403, "role read may not ingest; use an agent token");
        }
        co_return co_await handle_ingest(*caller, req.body(), writer, metrics.get());
    }
    if (commands) {
        co_return co_await handle_commands(command_routes, *caller, req.method(), url, req.body());
    }
    if (alert_action) {
        try {
            co_return handle_alert_action(alert_engine.load(), *caller, req.method(), path,
                                          req.body());
        } catch (const std::exception& e) {
            log::error("api alert change failed", {{"path", path}, {"error", e.what()}});
            co_return json_error(500, "internal error saving the alert");
        }
    }
    if (policy) {
        try {
            co_return handle_policy(policy_control.load(), store, *caller, req.method(), url,
                                    req.body(), now_ms());
        } catch (const std::exception& e) {
            log::error("api policy route failed", {{"path", path}, {"error", e.what()}});
            co_return json_error(500, "internal error in the policy route (see the collector log)");
        }
    }
    if (caller->role == Role::agent) {
        co_return json_error(403, "role agent may not read; use a read token");
    }
    if (scrape) co_return metrics_reply();
    std::optional<Reply> r;
    try {
        r = handle_query(store, url);
        if (!r) r = handle_alerts(store, url);
    } catch (const sqlite::Error& e) {
        metrics->record_store_error(StoreOperation::query);
        log::error("api query failed", {{"path", path}, {"error", e.what()}});
        co_return json_error(500, "internal error reading the store");
    } catch (const std::exception& e) {
        log::error("api query failed", {{"path", path}, {"error", e.what()}});
        co_return json_error(500, "internal error reading the store");
    }
    if (!r) co_return json_error(404, "no such route");
    co_return std::move(*r);
}

namespace {

// The answer to a request the HTTP parser gave up on; nullopt when the client went away (no
// one to answer).
std::optional<Reply> refusal_for(const boost::system::error_code& ec, const ApiOptions& options) {
    if (ec == http::error::body_limit) {
        return json_error(
            413, "request body exceeds " + std::to_string(options.body_limit_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
        return json_error(
            431, "request headers exceed " + std::to_string(options.header_limit_bytes) + " bytes");
    }
    if (ec == beast::error::timeout) {
        return json_error(408, "request not completed within " +
                                   std::to_string(options.request_timeout.count()) + " ms");
    }
    if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
        ec != asio::error::eof && ec != asio::error::connection_reset) {
        return json_error(400, "malformed HTTP request: " + ec.message());
    }
    return std::nullopt;
}

}  // namespace

asio::awaitable<Reply> ApiServer::Impl::answer_raw(std::string request) {
    // The parser of serve() fed from memory: all bytes at once, then the end of the stream.
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.body_limit_bytes);
    parser.header_limit(static_cast<std::uint32_t>(options.header_limit_bytes));
    parser.eager(true);
    boost::system::error_code ec;
    std::string_view rest(request);
    while (!ec && !parser.is_done() && !rest.empty()) {
        const std::size_t used = parser.put(asio::buffer(rest.data(), rest.size()), ec);
        rest.remove_prefix(used);
        if (ec == http::error::need_more) {
            ec = {};
            break;  // everything there is was given: the stream ends here
        }
        if (used == 0) break;
    }
    // put_eof asserts that something arrived; nothing at all is a client that went away.
    if (!ec && !parser.is_done() && parser.got_some()) parser.put_eof(ec);
    if (!ec && !parser.is_done()) ec = http::error::end_of_stream;
    if (ec) {
        std::optional<Reply> refusal = refusal_for(ec, options);
        co_return refusal ? std::move(*refusal) : Reply{0, {}, {}};
    }
    // No peer here: one name for every raw request, so the lockout applies as to one client.
    co_return co_await dispatch(parser.get(), "raw");
}

asio::awaitable<void> ApiServer::Impl::serve(tcp::socket& socket) {
    std::string client;
    {
        boost::system::error_code peer_ec;
        auto peer = socket.remote_endpoint(peer_ec).address();
        // An IPv4 client on a dual-stack listener is one address, however it arrives.
        if (peer.is_v6() && peer.to_v6().is_v4_mapped()) {
            peer = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6());
        }
        client = peer_ec ? std::string("unknown") : peer.to_string();
    }
    if (!tls) {
        beast::tcp_stream stream(std::move(socket));
        co_await serve_http(stream, client);
    } else {
        beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
        co_await serve_http(stream, client);
    }
}

// A failed handshake ends the connection (false). A plain-HTTP request is answered with a
// plain 400 saying to use https, so that someone trying curl http:// learns why at once.
asio::awaitable<bool> ApiServer::Impl::tls_handshake(beast::ssl_stream<beast::tcp_stream>& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(std::min(options.tls_handshake_timeout, options.request_timeout));
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return true;
    if (stopped) co_return false;
    boost::system::error_code peer_ec;
    const auto peer = lowest.socket().remote_endpoint(peer_ec);
    const std::string peer_text =
        peer_ec ? std::string("unknown")
                : peer.address().to_string() + ":" + std::to_string(peer.port());
    const bool plain_http =
        ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
    // Scanners and health checks that only open the port end up here too: not a warning.
    log::info("api: TLS handshake failed",
              {{"peer", peer_text},
               {"reason", ec == beast::error::timeout ? std::string("handshake timed out")
                                                      : tls::handshake_error(ec, nullptr)}});
    if (plain_http) {
        const std::string body = R"({"error":"this port speaks TLS only; use https://"})";
        const std::string answer =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: "
            "close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        lowest.expires_after(std::min(options.request_timeout, std::chrono::milliseconds(2000)));
        co_await asio::async_write(lowest.socket(), asio::buffer(answer),
                                   asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return false;
}

template <class Stream>
asio::awaitable<void> ApiServer::Impl::serve_http(Stream& stream, const std::string& client) {
    constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
    auto& lowest = beast::get_lowest_layer(stream);
    auto entry = connections.insert(connections.end(), &lowest);
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    bool open = true;
    if constexpr (kTls) open = co_await tls_handshake(stream);
    for (; open;) {
        // The idle deadline covers the wait for a request's first byte; from then on the
        // request deadline covers the whole request, so a client that trickles bytes is cut.
        if (buffer.size() == 0) {
            lowest.expires_after(options.idle_timeout);
            const std::size_t n = co_await stream.async_read_some(
                buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) break;
            buffer.commit(n);
        }
        http::request_parser<http::string_body> parser;
        parser.body_limit(options.body_limit_bytes);
        parser.header_limit(static_cast<std::uint32_t>(options.header_limit_bytes));
        // A timer that cancels rather than tcp_stream's expiry, which would close the socket
        // and leave no way to tell the client why (408).
        lowest.expires_never();
        bool timed_out = false;
        asio::steady_timer deadline(lowest.get_executor(), options.request_timeout);
        deadline.async_wait([&lowest, &timed_out](boost::system::error_code e) {
            if (e) return;  // cancelled: the request arrived in time
            timed_out = true;
            boost::system::error_code ignored;
            lowest.socket().cancel(ignored);
        });
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        deadline.cancel();
        if (ec && timed_out && !stopped) ec = beast::error::timeout;
        if (ec) {
            const std::optional<Reply> refusal = refusal_for(ec, options);
            if (refusal) {
                http::response<http::string_body> res{static_cast<http::status>(refusal->status),
                                                      11};
                res.set(http::field::content_type, "application/json");
                res.body() = std::move(refusal->body);
                res.keep_alive(false);
                res.prepare_payload();
                lowest.expires_after(options.request_timeout);
                co_await http::async_write(stream, res,
                                           asio::redirect_error(asio::use_awaitable, ec));
                // Half-close and drain briefly so the client reads the answer instead of a
                // reset caused by the body it is still sending.
                lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
                lowest.expires_after(
                    std::min(options.request_timeout, std::chrono::milliseconds(2000)));
                for (std::size_t drained = 0; !ec && drained < 64 * 1024 * 1024;) {
                    buffer.clear();
                    drained += co_await stream.async_read_some(
                        buffer.prepare(64 * 1024), asio::redirect_error(asio::use_awaitable, ec));
                }
            }
            break;
        }
        const auto& req = parser.get();
        const auto received = std::chrono::steady_clock::now();
        Reply answer = co_await dispatch(req, client);
        if (stopped) break;
        // Every 403 follows a valid token (a role or scope refusal): counted, never locks out.
        if (answer.status == 403) {
            const std::string_view target(req.target().data(), req.target().size());
            auth_guard.failed(client, AuthFailure::forbidden, target.substr(0, target.find('?')));
        }
        http::response<http::string_body> res{static_cast<http::status>(answer.status),
                                              req.version()};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : answer.headers) res.set(k, v);
        res.body() = std::move(answer.body);
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        lowest.expires_after(options.request_timeout);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        {
            const std::string_view target(req.target().data(), req.target().size());
            metrics->record_http(
                route_pattern(target.substr(0, target.find('?'))), answer.status,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
        }
        if (ec || !res.keep_alive() || stopped) break;
    }
    if constexpr (kTls) {
        // close_notify, so the client can tell the end from a cut; bounded, and skipped when
        // the connection is already broken.
        if (open && !ec && !stopped && lowest.socket().is_open()) {
            lowest.expires_after(
                std::min(options.request_timeout, std::chrono::milliseconds(1000)));
            co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    connections.erase(entry);
    boost::system::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.socket().close(ignored);
}

ApiServer::ApiServer(asio::io_context& io, Store& store, StoreWriter& writer, ApiOptions options,
                     std::shared_ptr<CollectorMetrics> metrics)
    : impl_(std::make_shared<Impl>(io, store, writer, std::move(options), std::move(metrics))) {}

ApiServer::~ApiServer() {
    // Connections hold the Impl alive; closing them makes each coroutine end on its own.
    if (impl_ && !impl_->stopped) {
        boost::system::error_code ignored;
        impl_->stopped = true;
        impl_->acceptor.close(ignored);
        impl_->hub.stop();
        for (auto* s : impl_->connections) s->socket().close(ignored);
    }
}

void ApiServer::start() {
    // Before listening, so the first scrape already shows every miner the store knows.
    impl_->metrics->latest().seed(impl_->store);
    impl_->metrics->seed_agents(impl_->store);
    // Before binding: a certificate that cannot be used is a start-up error, not a port
    // that refuses every handshake.
    if (impl_->options.tls && !impl_->tls) {
        const auto& t = *impl_->options.tls;
        impl_->tls = tls::make_server_context(t.cert_chain_pem, t.key_pem,
                                              "api: TLS certificate " + t.cert_file);
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(impl_->options.address, ec);
    if (ec) throw std::runtime_error("api: bad listen address " + impl_->options.address);
    const tcp::endpoint ep(address, impl_->options.port);
    const std::string where = impl_->options.address + ":" + std::to_string(impl_->options.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("api: cannot listen on " + where + ": " + ec.message());
    impl_->bound_port = impl_->acceptor.local_endpoint().port();

    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    log::info("api listening", {{"address", impl_->options.address},
                                {"port", static_cast<unsigned>(impl_->bound_port)},
                                {"tls", impl_->tls ? "on" : "off"}});
}

std::uint16_t ApiServer::port() const noexcept { return impl_->bound_port; }

CollectorMetrics& ApiServer::metrics() noexcept { return *impl_->metrics; }

void ApiServer::set_alert_engine(alerts::AlertEngine* engine) noexcept {
    impl_->alert_engine.store(engine);
}

void ApiServer::set_policy_control(control::PolicyControl* control) noexcept {
    impl_->policy_control.store(control);
}

control::PolicyControl* ApiServer::policy_control() const noexcept {
    return impl_->policy_control.load();
}

void ApiServer::notify_agents(std::vector<std::string> agent_ids) {
    // The hub belongs to the io_context's thread; the Impl is kept alive by the handler.
    asio::post(impl_->io, [impl = impl_, ids = std::move(agent_ids)] {
        for (const auto& a : ids) impl->hub.notify(a);
    });
}

std::optional<ApiServer::RawAnswer> ApiServer::answer_raw(std::string_view request,
                                                          std::chrono::milliseconds budget) {
    // Shared with the completion handler, which may run in a later call (a long poll).
    auto answer = std::make_shared<std::optional<RawAnswer>>();
    asio::co_spawn(impl_->io, impl_->answer_raw(std::string(request)),
                   [answer](std::exception_ptr e, Reply r) {
                       if (e) std::rethrow_exception(e);
                       *answer = RawAnswer{r.status, std::move(r.body)};
                   });
    const auto until = std::chrono::steady_clock::now() + budget;
    impl_->io.restart();
    while (!*answer && std::chrono::steady_clock::now() < until) {
        impl_->io.run_one_for(std::chrono::milliseconds(20));
    }
    return std::move(*answer);
}

void ApiServer::stop() {
    if (impl_->stopped) return;
    impl_->stopped = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->hub.stop();  // waiting long polls end; their connections close without an answer
    for (auto* s : impl_->connections) s->socket().close(ignored);
}

}  // namespace hashwatt::collector
