#include "sim/replay.hpp"

#include "common/time.hpp"
#include "sim/cgminer.hpp"
#include "sim/frontend.hpp"
#include "sim/http_session.hpp"
#include "sim/net.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hashwatt::sim {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

std::optional<std::string> read_file(const fs::path& p) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return std::nullopt;
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A command name may only name a file directly inside DIR.
bool safe_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return name != "." && name != "..";
}

std::optional<std::string> capture_for(const std::string& dir, std::string_view command) {
    if (!safe_name(command)) return std::nullopt;
    for (const char* ext : {".json", ".txt"}) {
        if (auto body = read_file(fs::path(dir) / (std::string(command) + ext))) return body;
    }
    return std::nullopt;
}

}  // namespace

std::string replay_rpc_reply(const std::string& dir, std::string_view request) {
    RpcRequest req;
    std::string out;
    const auto now = now_ms();
    if (!parse_rpc_request(request, req) || req.command.empty()) {
        out = status_reply('E', 23, "Invalid JSON", "replay", now);
    } else if (req.command.find('+') != std::string::npos) {
        bool all = true;
        std::size_t start = 0;
        while (start <= req.command.size()) {
            const auto end = std::min(req.command.find('+', start), req.command.size());
            if (!capture_for(dir, std::string_view(req.command).substr(start, end - start)))
                all = false;
            start = end + 1;
        }
        if (all) {
            out = *join_multi_command(req.command,
                                      [&](std::string_view c) { return *capture_for(dir, c); });
        } else {
            out = invalid_command_reply("replay", now);
        }
    } else if (auto body = capture_for(dir, req.command)) {
        out = std::move(*body);
    } else {
        out = invalid_command_reply("replay", now);
    }
    out.push_back('\0');
    return out;
}

struct ReplayServer::Impl {
    Impl(asio::io_context& i, ReplayOptions o) : io(i), opts(std::move(o)) {}
    asio::io_context& io;
    ReplayOptions opts;
    std::shared_ptr<tcp::acceptor> rpc;
    std::shared_ptr<tcp::acceptor> http;
    Reaper reaper{io, std::chrono::milliseconds(250)};

    asio::awaitable<void> serve_rpc(tcp::socket s) {
        auto ticket = reaper.watch(s, std::chrono::seconds(10));
        auto request = co_await read_rpc_request(s);
        if (!request) co_return;
        co_await write_all(s, replay_rpc_reply(opts.dir, *request));
        error_code ignored;
        s.shutdown(tcp::socket::shutdown_both, ignored);
    }

    HttpResponse serve_http(const HttpRequest& req) const {
        HttpResponse r;
        std::string rel(req.path.empty() ? "/" : req.path);
        if (rel.back() == '/') rel += "index.html";
        const fs::path p = (fs::path(opts.dir) / "http" / rel.substr(1)).lexically_normal();
        const fs::path root = (fs::path(opts.dir) / "http").lexically_normal();
        const auto [root_end, _] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
        std::optional<std::string> body;
        if (req.method == "GET" && root_end == root.end()) body = read_file(p);
        if (!body) {
            r.status = 404;
            r.content_type = "text/plain";
            r.body = "not captured: " + std::string(req.path) + "\n";
            return r;
        }
        r.body = std::move(*body);
        const auto ext = p.extension().string();
        r.content_type = ext == ".html"  ? "text/html"
                         : ext == ".txt" ? "text/plain"
                                         : "application/json";
        return r;
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acc, bool is_http) {
        for (;;) {
            error_code ec;
            tcp::socket s =
                co_await acc->async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
            if (ec) continue;
            if (is_http) {
                co_spawn(io,
                         serve_http_connection(
                             std::move(s), [this](const HttpRequest& r) { return serve_http(r); }),
                         asio::detached);
            } else {
                co_spawn(io, serve_rpc(std::move(s)), asio::detached);
            }
        }
    }
};

ReplayServer::ReplayServer(asio::io_context& io, ReplayOptions opts)
    : impl_(std::make_unique<Impl>(io, std::move(opts))) {}

ReplayServer::~ReplayServer() = default;

void ReplayServer::start() {
    auto& im = *impl_;
    std::error_code fec;
    if (!fs::is_directory(im.opts.dir, fec)) {
        throw std::runtime_error("replay directory '" + im.opts.dir +
                                 "' is not a readable directory");
    }
    const auto addr = asio::ip::make_address(im.opts.listen_ip);
    im.rpc = bind_listener(im.io, {addr, im.opts.rpc_port});
    co_spawn(im.io, im.accept_loop(im.rpc, false), asio::detached);
    im.http = bind_listener(im.io, {addr, im.opts.http_port});
    co_spawn(im.io, im.accept_loop(im.http, true), asio::detached);
}

std::uint16_t ReplayServer::rpc_port() const noexcept {
    return impl_->rpc->local_endpoint().port();
}
std::uint16_t ReplayServer::http_port() const noexcept {
    return impl_->http->local_endpoint().port();
}

}  // namespace hashwatt::sim
