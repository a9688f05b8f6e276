// A `hashwatt sim` child process for integration tests: started with the given flags, waited
// on until it prints "ready", killed when the object goes away.
#pragma once

#include "tests/support/process.hpp"

#include <memory>
#include <string>
#include <vector>

namespace hashwatt::test {

class SimProcess {
  public:
    // `args` follow "hashwatt sim"; "--admin 127.0.0.1:0" is added unless given. Throws
    // std::runtime_error (with the child's stderr) if it is not ready within 60 s.
    SimProcess(const std::string& binary, std::vector<std::string> args,
               const std::string& log_prefix);

    const std::string& admin_ip() const noexcept { return admin_ip_; }
    unsigned admin_port() const noexcept { return admin_port_; }
    unsigned http_port() const noexcept { return http_port_; }
    unsigned rpc_port() const noexcept { return rpc_port_; }
    Child& child() noexcept { return *child_; }

    // Admin API helpers: GET returns the body (throws on a non-200), POST/DELETE return the status.
    std::string get(const std::string& path) const;
    int post(const std::string& path, const std::string& body) const;
    int del(const std::string& path) const;

  private:
    std::unique_ptr<Child> child_;
    std::string admin_ip_;
    unsigned admin_port_ = 0;
    unsigned http_port_ = 0;
    unsigned rpc_port_ = 0;
};

}  // namespace hashwatt::test
