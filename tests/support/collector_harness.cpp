#include "tests/support/collector_harness.hpp"

#include "common/time.hpp"

#include <functional>

#include <boost/asio/post.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

namespace hashwatt::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

collector::StoreWriterOptions quiet_writer_options() {
    collector::StoreWriterOptions o;
    o.maintenance_interval = std::nullopt;
    return o;
}

InProcessCollector::InProcessCollector(InProcessCollectorOptions options)
    : dir_(options.db_path.empty() ? std::make_unique<TempDir>() : nullptr)
    , db_path_(dir_ ? dir_->path() + "/collector.db" : options.db_path)
    , store_(db_path_)
    , writer_(store_, options.writer)
    , server_(io_, store_, writer_, std::move(options.api)) {
    if (options.seed) options.seed(store_);
    server_.start();
    thread_ = std::thread([this] { io_.run(); });
}

InProcessCollector::~InProcessCollector() { stop(); }

void InProcessCollector::stop() {
    if (stopped_) return;
    stopped_ = true;
    // The server's bookkeeping belongs to the io_context's thread.
    asio::post(io_, [this] {
        server_.stop();
        io_.stop();
    });
    thread_.join();
}

std::size_t InProcessCollector::sample_rows() const {
    std::size_t n = 0;
    for (const auto& m : store_.miners()) {
        n += store_.samples(m.miner_id, TimePoint{}, TimePoint{std::chrono::hours(24 * 365 * 200)})
                 .size();
    }
    return n;
}

std::size_t InProcessCollector::miner_rows() const { return store_.miners().size(); }

std::multiset<std::string> InProcessCollector::sample_keys() const {
    std::multiset<std::string> out;
    for (const auto& m : store_.miners()) {
        for (const auto& s : store_.samples(m.miner_id, TimePoint{},
                                            TimePoint{std::chrono::hours(24 * 365 * 200)})) {
            out.insert(s.miner_id + "|" + format_time(s.observed_at));
        }
    }
    return out;
}

boost::json::value ApiResponse::json() const { return boost::json::parse(body); }

std::string ApiResponse::error() const { return std::string(json().at("error").as_string()); }

namespace {

// Runs `start` (which begins one async operation on `socket` and hands it the completion) on
// the socket's io_context for at most `deadline`; on expiry cancels it and says timed_out.
boost::system::error_code run_bounded(
    tcp::socket& socket, std::chrono::milliseconds deadline,
    const std::function<void(std::function<void(boost::system::error_code)>)>& start) {
    auto& io = static_cast<asio::io_context&>(
        asio::query(socket.get_executor(), asio::execution::context));
    std::optional<boost::system::error_code> result;
    start([&](boost::system::error_code ec) { result = ec; });
    io.restart();
    io.run_for(deadline);
    if (result) return *result;
    socket.cancel();
    io.restart();
    io.run();  // lets the cancelled operation complete before its buffers go
    return asio::error::timed_out;
}

}  // namespace

tcp::socket connect_loopback(asio::io_context& io, std::uint16_t port) {
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    return socket;
}

boost::system::error_code read_response(tcp::socket& socket, beast::flat_buffer& buffer,
                                        http::response<http::string_body>& response,
                                        std::chrono::milliseconds deadline) {
    return run_bounded(socket, deadline, [&](auto done) {
        http::async_read(socket, buffer, response,
                         [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
}

boost::system::error_code read_byte(tcp::socket& socket, std::chrono::milliseconds deadline) {
    char byte = 0;
    return run_bounded(socket, deadline, [&](auto done) {
        socket.async_read_some(asio::buffer(&byte, 1),
                               [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
}

ApiResponse api_request(std::uint16_t port, http::verb method, const std::string& target,
                        const std::string& body, const std::optional<std::string>& token,
                        std::chrono::milliseconds deadline) {
    return api_request_raw(port, method, target, body,
                           token ? std::optional<std::string>("Bearer " + *token) : std::nullopt,
                           "127.0.0.1", deadline);
}

ApiResponse api_request_raw(std::uint16_t port, http::verb method, const std::string& target,
                            const std::string& body,
                            const std::optional<std::string>& authorization,
                            const std::string& source_address, std::chrono::milliseconds deadline) {
    const auto t0 = SteadyClock::now();
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (authorization) req.set(http::field::authorization, *authorization);
    if (!body.empty() || method == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.prepare_payload();

    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(deadline);  // one deadline for connect, write and read together
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    std::string failure;
    const auto failed = [&](const char* step, boost::system::error_code ec) {
        failure = std::string(step) + " " + std::string(http::to_string(method)) + " " + target +
                  " on 127.0.0.1:" + std::to_string(port) + ": " + ec.message();
    };
    if (source_address != "127.0.0.1") {
        stream.socket().open(tcp::v4());
        stream.socket().bind(tcp::endpoint(asio::ip::make_address(source_address), 0));
    }
    stream.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
        [&](boost::system::error_code connected) {
            if (connected) return failed("connect for", connected);
            http::async_write(stream, req, [&](boost::system::error_code written, std::size_t) {
                if (written) return failed("write", written);
                http::async_read(stream, buffer, parser,
                                 [&](boost::system::error_code read, std::size_t) {
                                     if (read) failed("read the answer to", read);
                                 });
            });
        });
    io.run();

    ApiResponse r;
    r.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    if (!failure.empty()) {
        r.failure = std::move(failure);
        return r;
    }
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    for (const auto& f : parser.get()) r.headers.set(f.name_string(), f.value());
    return r;
}

}  // namespace hashwatt::test
