#include "tests/support/net.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

namespace hashwatt::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string classify(int err) {
    if (err == ECONNREFUSED) return "refused";
    if (err == ECONNRESET || err == EPIPE) return "reset";
    if (err == ETIMEDOUT) return "timeout";
    return std::strerror(err);
}

// Connect with a deadline; returns fd or -1 with `error` set.
int connect_to(const std::string& ip, unsigned port, Clock::time_point end, std::string& error) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
        error = "bad address";
        return -1;
    }
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
        error = classify(errno);
        close(fd);
        return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (poll(&p, 1, static_cast<int>(std::max<long>(0, left))) != 1) {
        error = "timeout";
        close(fd);
        return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
        error = classify(so_error);
        close(fd);
        return -1;
    }
    return fd;
}

// Sends all, then reads until EOF or the deadline. Returns false on error/timeout.
bool exchange(int fd, const std::string& request, Clock::time_point end, std::string& reply,
              std::string& error) {
    std::size_t sent = 0;
    while (sent < request.size()) {
        const auto n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno != EAGAIN) {
            error = classify(errno);
            return false;
        }
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 100);
        if (Clock::now() > end) {
            error = "timeout";
            return false;
        }
    }
    char buf[65536];
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) {
            error = "timeout";
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) != 1) continue;
        const auto n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            reply.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            return true;
        } else if (errno != EAGAIN && errno != EINTR) {
            error = classify(errno);
            return false;
        }
    }
}

}  // namespace

RpcExchange rpc_exchange(const std::string& ip, unsigned port, const std::string& request,
                         std::chrono::milliseconds deadline) {
    RpcExchange r;
    const auto start = Clock::now();
    const auto end = start + deadline;
    const int fd = connect_to(ip, port, end, r.error);
    if (fd >= 0) {
        exchange(fd, request, end, r.reply, r.error);
        close(fd);
    }
    r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
}

HttpResult http_request(const std::string& ip, unsigned port, const std::string& method,
                        const std::string& path, const std::string& body,
                        const std::vector<std::string>& extra_headers,
                        std::chrono::milliseconds deadline) {
    HttpResult r;
    const auto end = Clock::now() + deadline;
    const int fd = connect_to(ip, port, end, r.error);
    if (fd < 0) return r;
    std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n";
    for (const auto& h : extra_headers) req += h + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
    }
    req += "\r\n" + body;
    std::string raw;
    exchange(fd, req, end, raw, r.error);
    close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) {
        if (r.error.empty()) r.error = "no HTTP response";
        return r;
    }
    r.status = std::atoi(raw.c_str() + 9);
    r.headers = raw.substr(0, head_end);
    r.body = raw.substr(head_end + 4);
    // Servers such as Prometheus send large answers chunked: Beast's parser undoes the
    // transfer encoding (the whole message is in `raw`, the server having closed).
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::beast::error_code ec;
    std::size_t used = 0;
    while (!ec && !parser.is_done() && used < raw.size()) {
        const std::size_t n =
            parser.put(boost::asio::buffer(raw.data() + used, raw.size() - used), ec);
        if (n == 0) break;
        used += n;
    }
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (!ec && parser.is_done()) r.body = parser.get().body();
    return r;
}

std::pair<std::string, unsigned> split_url(const std::string& url) {
    const auto host_start = url.find("://") + 3;
    const auto colon = url.find(':', host_start);
    const auto slash = url.find('/', colon);
    return {url.substr(host_start, colon - host_start),
            static_cast<unsigned>(std::stoul(url.substr(colon + 1, slash - colon - 1)))};
}

}  // namespace hashwatt::test
