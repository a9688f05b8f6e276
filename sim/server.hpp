// Serves a Fleet on loopback: each miner's RPC port on its own address, its HTTP port (per
// miner when file descriptors allow, else one shared listener that dispatches by the local
// address the client connected to), the admin API, and the scheduled faults.
#pragma once

#include "sim/fleet.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace boost::asio {
class io_context;
}

namespace hashwatt::sim {

class SimServer {
  public:
    SimServer(boost::asio::io_context& io, Fleet& fleet);
    ~SimServer();
    SimServer(const SimServer&) = delete;
    SimServer& operator=(const SimServer&) = delete;

    // Binds every listener and starts serving. Throws std::runtime_error naming the address
    // that could not be bound.
    void start();

    std::uint16_t http_port() const noexcept;  // the port actually bound
    bool shared_http() const noexcept;         // one listener for all miners' HTTP
    std::string admin_url() const;             // "http://127.0.0.1:PORT"

    // Fault control (also used by the admin API). `offline` closes the miner's listeners.
    void inject(SimMiner& m, FaultKind kind, const FaultParams& params);
    void clear(SimMiner& m, std::optional<FaultKind> kind);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// Raises the soft open-files limit to the hard one; returns the limit now in force.
std::uint64_t raise_fd_limit();

}  // namespace hashwatt::sim
