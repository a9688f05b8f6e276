// A collector in the test's own process (Store on a real SQLite file, StoreWriter, ApiServer on
// 127.0.0.1, one io_context thread), and blocking HTTP clients for its API. Every exchange has a
// deadline and a size bound; a collector is stopped and joined when it goes out of scope, so a
// failing test leaves no thread or listener behind.
#pragma once

#include "collector/api/server.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::test {

// What tests want from a writer unless they say otherwise: no rollups or retention running
// behind their backs (verify_interval keeps the library default).
collector::StoreWriterOptions quiet_writer_options();

struct InProcessCollectorOptions {
    // api.port 0 picks a free port; a fixed one lets a collector started again on the same
    // db_path come back where its agents expect it.
    collector::ApiOptions api{};
    collector::StoreWriterOptions writer = quiet_writer_options();
    // Empty: collector.db in a temporary directory this collector owns and removes.
    std::string db_path{};
    // Runs against the store before the server starts (so start() seeds /metrics from it).
    std::function<void(collector::Store&)> seed{};
};

class InProcessCollector {
  public:
    // Opens the store, starts the writer and the server, and runs the io_context on its own
    // thread. Throws what Store or ApiServer::start() throw (a bad path, a port in use).
    explicit InProcessCollector(InProcessCollectorOptions options = {});
    // stop(), then the writer drains (posting to the still-live io_context) before it goes.
    ~InProcessCollector();
    InProcessCollector(const InProcessCollector&) = delete;
    InProcessCollector& operator=(const InProcessCollector&) = delete;

    // Stops the server (listener and open connections) and the io_context, and joins its
    // thread; the store and writer stay usable. Idempotent.
    void stop();

    std::uint16_t port() const noexcept { return server_.port(); }
    const std::string& db_path() const noexcept { return db_path_; }
    boost::asio::io_context& io() noexcept { return io_; }
    collector::Store& store() noexcept { return store_; }
    const collector::Store& store() const noexcept { return store_; }
    collector::StoreWriter& writer() noexcept { return writer_; }
    collector::ApiServer& server() noexcept { return server_; }

    // Stored samples of every miner, over all time.
    std::size_t sample_rows() const;
    std::size_t miner_rows() const;
    // Every stored sample as "miner_id|observed_at" (observed_at as format_time writes it).
    std::multiset<std::string> sample_keys() const;

  private:
    // In this order: the writer is destroyed (drained) before the io_context it posts to.
    boost::asio::io_context io_;
    std::unique_ptr<TempDir> dir_;
    std::string db_path_;
    collector::Store store_;
    collector::StoreWriter writer_;
    collector::ApiServer server_;
    std::thread thread_;
    bool stopped_ = false;
};

struct ApiResponse {
    unsigned status = 0;  // 0: no answer (connect, write or read failed, or the deadline passed)
    std::string body;
    boost::beast::http::fields headers;
    std::string failure;   // why there was no answer, when status is 0
    double elapsed_s = 0;  // from connect to the end of the answer (or the failure)

    // The body as JSON; throws boost::system::system_error when it is not JSON.
    boost::json::value json() const;
    // The "error" member of a JSON error body; throws when there is none.
    std::string error() const;
};

inline constexpr std::chrono::milliseconds kExchangeDeadline = std::chrono::seconds(10);

// One request on its own connection to 127.0.0.1:port, connect to last byte within `deadline`.
// A token becomes "Authorization: Bearer <token>"; a body (and any POST) goes as
// application/json. Answers of up to 64 MiB are read. Never throws for network failures (see
// status and failure).
ApiResponse api_request(std::uint16_t port, boost::beast::http::verb method,
                        const std::string& target, const std::string& body = {},
                        const std::optional<std::string>& token = std::nullopt,
                        std::chrono::milliseconds deadline = kExchangeDeadline);

// The same with the Authorization header as given (nullopt: none), not built from a token, and
// the client socket bound to `source_address` (any 127.0.0.0/8 address on Linux), so tests of
// per-address behaviour can be several clients on loopback.
ApiResponse api_request_raw(std::uint16_t port, boost::beast::http::verb method,
                            const std::string& target, const std::string& body,
                            const std::optional<std::string>& authorization,
                            const std::string& source_address = "127.0.0.1",
                            std::chrono::milliseconds deadline = kExchangeDeadline);
// A socket connected to 127.0.0.1:port, for tests that speak HTTP by hand (slow clients,
// keep-alive). Throws if the connect fails.
boost::asio::ip::tcp::socket connect_loopback(boost::asio::io_context& io, std::uint16_t port);

// Reads one response from `socket` within `deadline` (timed_out when it passes). Runs the
// socket's io_context on this thread, so nothing else may be running it.
boost::system::error_code read_response(
    boost::asio::ip::tcp::socket& socket, boost::beast::flat_buffer& buffer,
    boost::beast::http::response<boost::beast::http::string_body>& response,
    std::chrono::milliseconds deadline = kExchangeDeadline);

// Reads one byte within `deadline`: eof when the peer has closed the connection, timed_out
// when nothing came.
boost::system::error_code read_byte(boost::asio::ip::tcp::socket& socket,
                                    std::chrono::milliseconds deadline = kExchangeDeadline);

}  // namespace hashwatt::test
