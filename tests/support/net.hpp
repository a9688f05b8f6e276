// Blocking loopback clients for tests: one cgminer-style RPC exchange, one HTTP request.
// Every call has a deadline; failures are reported, never thrown.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace hashwatt::test {

struct RpcExchange {
    std::string reply;  // bytes received (NUL included if sent)
    std::string error;  // "", "refused", "reset", "timeout", or strerror text
    double elapsed_ms = 0;
};

// Connects to ip:port, sends `request`, reads until EOF or the deadline.
RpcExchange rpc_exchange(const std::string& ip, unsigned port, const std::string& request,
                         std::chrono::milliseconds deadline = std::chrono::seconds(5));

struct HttpResult {
    int status = 0;  // 0 when no response
    std::string body;
    std::string headers;  // raw header block
    std::string error;
};

HttpResult http_request(const std::string& ip, unsigned port, const std::string& method,
                        const std::string& path, const std::string& body = {},
                        const std::vector<std::string>& extra_headers = {},
                        std::chrono::milliseconds deadline = std::chrono::seconds(5));

// "http://127.0.0.1:4567" -> {"127.0.0.1", 4567}
std::pair<std::string, unsigned> split_url(const std::string& url);

}  // namespace hashwatt::test
