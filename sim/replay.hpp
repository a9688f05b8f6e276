// Replay mode: serves captured replies from a directory so a real capture can be polled
// through the whole agent path. RPC `<command>` is answered from DIR/<command>.json or .txt
// (bytes as stored plus a NUL); a multi-command is joined as cgminer joins them when every
// part has a file; HTTP GET /<path> is answered from DIR/http/<path>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace hashwatt::sim {

struct ReplayOptions {
    std::string dir;
    std::string listen_ip = "127.0.0.1";
    std::uint16_t rpc_port = 4028;  // 0 = any free port
    std::uint16_t http_port = 80;   // 0 = any free port
};

class ReplayServer {
  public:
    ReplayServer(boost::asio::io_context& io, ReplayOptions opts);
    ~ReplayServer();
    // Throws std::runtime_error when the directory is unreadable or a port cannot be bound.
    void start();
    std::uint16_t rpc_port() const noexcept;
    std::uint16_t http_port() const noexcept;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// The reply replay mode gives to one raw RPC request (exposed for tests). Returns the bytes to
// send, NUL included.
std::string replay_rpc_reply(const std::string& dir, std::string_view request);

}  // namespace hashwatt::sim
