// The RPC transport against a real loopback socket, for what the driver suites do not reach:
// host names (resolved, within the poll's deadline) rather than the usual IP literals.
#include "agent/transport/transport.hpp"

#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>

namespace asio = boost::asio;
using namespace hashwatt;
using namespace hashwatt::agent;

TEST_CASE("transport: an RPC request to a host name resolves it and gets the reply") {
    // A one-shot cgminer-style peer on 127.0.0.1: reads the request, answers with a NUL, closes.
    asio::io_context server_io;
    asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    const std::string reply = R"({"STATUS":[{"STATUS":"S","Code":22}],"id":1})";
    asio::co_spawn(
        server_io,
        [&]() -> asio::awaitable<void> {
            auto sock = co_await acceptor.async_accept(asio::use_awaitable);
            char buf[256];
            (void)co_await sock.async_read_some(asio::buffer(buf), asio::use_awaitable);
            const std::string out = reply + '\0';
            co_await asio::async_write(sock, asio::buffer(out), asio::use_awaitable);
        },
        asio::detached);
    std::thread server([&] { server_io.run(); });

    asio::io_context io;
    TransportOptions opts;
    opts.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    // "localhost" comes from /etc/hosts: no DNS query leaves the machine.
    const std::string host = "localhost";
    const std::string request = R"({"command":"version"})";
    auto fut = asio::co_spawn(io, rpc_request(io.get_executor(), host, port, request, opts),
                              asio::use_future);
    io.run();
    const RpcResult r = fut.get();
    server.join();
    // localhost may resolve to ::1 first; the connect tries each address in turn.
    CHECK_FALSE(r.error.has_value());
    CHECK(r.body == reply);
}
