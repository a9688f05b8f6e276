// For the end-to-end tests that run Debian's Prometheus next to hashwatt: its HTTP API as a
// blocking client, and the helpers that adapt a shipped deploy/ file to the test's addresses.
#pragma once

#include "tests/support/process.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::test {

// A port on `ip` (a loopback address) that was free a moment ago.
unsigned free_port_on(const std::string& ip);

// "ip:port".
std::string host_port(const std::string& ip, unsigned port);

// The whole file; throws std::runtime_error naming it when it cannot be read.
std::string read_text_file(const std::string& path);

// `text` (the content of the shipped `file`) with every `from` replaced by `to`. Throws
// std::runtime_error when there is none: what the shipped file says is what a test adapts, so a
// change to it must show as a failure, not as a test quietly running the old address.
std::string adapt(std::string text, const std::string& file, const std::string& from,
                  const std::string& to);

// Waits up to `timeout` for GET `path` on ip:port to answer 200 while `child` runs; false if it
// did not, or the child exited.
bool wait_ready(const std::string& ip, unsigned port, Child& child, const std::string& path,
                std::chrono::milliseconds timeout);

struct PrometheusApi {
    std::string ip;
    unsigned port = 0;

    // GET /api/v1/<target> (query string included), parsed; nullopt when Prometheus did not
    // answer 200 with JSON (status and body then in `error`).
    std::optional<boost::json::value> api(const std::string& target,
                                          std::string* error = nullptr) const;
    // The `data` of the instant query `expr` now, or nullopt with the error.
    std::optional<boost::json::value> query(const std::string& expr,
                                            std::string* error = nullptr) const;
    // How many series (1 for a scalar or string) `expr` returns now; -1 on an error.
    long series(const std::string& expr, std::string* error = nullptr) const;
    // The series of a vector query (empty for another result type), or nullopt on an error.
    std::optional<boost::json::array> vector(const std::string& expr,
                                             std::string* error = nullptr) const;
    // The value of a query with exactly one series, or nullopt.
    std::optional<double> value(const std::string& expr) const;
    // Each series' value keyed by its `label` ("" when it has none).
    std::map<std::string, double> by(const std::string& expr, const std::string& label) const;
};

}  // namespace hashwatt::test
