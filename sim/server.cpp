#include "sim/server.hpp"

#include "common/log.hpp"
#include "common/time.hpp"
#include "sim/admin.hpp"
#include "sim/frontend.hpp"
#include "sim/http_session.hpp"
#include "sim/net.hpp"

#include <random>
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hashwatt::sim {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using boost::system::error_code;

std::uint64_t raise_fd_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

namespace {

constexpr auto kRequestDeadline = std::chrono::seconds(10);  // btminer drops idle clients at 10 s
constexpr auto kWriteDeadline = std::chrono::seconds(30);
constexpr auto kHungHold = std::chrono::minutes(10);
constexpr std::size_t kOversizedBytes = 4 << 20;

std::string garbage_bytes(std::mt19937_64& rng) {
    std::string out = "\x8b\x13<html>garbage";
    for (int i = 0; i < 64; ++i) out.push_back(static_cast<char>(rng() & 0xFF));
    return out;
}

}  // namespace

struct SimServer::Impl {
    asio::io_context& io;
    Fleet& fleet;
    std::vector<std::shared_ptr<tcp::acceptor>> rpc_acc;
    std::vector<std::shared_ptr<tcp::acceptor>> http_acc;
    std::shared_ptr<tcp::acceptor> shared_http_acc;
    std::shared_ptr<tcp::acceptor> admin_acc;
    std::vector<std::unique_ptr<asio::steady_timer>> schedule;
    std::uint16_t http_port = 0;
    bool shared = false;
    std::mt19937_64 rng{42};
    SimServer* owner = nullptr;
    Reaper reaper;

    Impl(asio::io_context& i, Fleet& f)
        : io(i), fleet(f), reaper(i, std::chrono::milliseconds(250)) {}

    std::shared_ptr<tcp::acceptor> bind(const tcp::endpoint& ep) {
        return bind_listener(io, ep, true);
    }

    void open_listeners(SimMiner& m) {
        const auto addr = asio::ip::address_v4(m.ip);
        rpc_acc[m.index] = bind({addr, fleet.config().rpc_port});
        co_spawn(io, accept_loop(rpc_acc[m.index], &m, false), asio::detached);
        if (!shared && frontend_for(m.family).has_http()) {
            http_acc[m.index] = bind({addr, http_port});
            if (http_port == 0) http_port = http_acc[m.index]->local_endpoint().port();
            co_spawn(io, accept_loop(http_acc[m.index], &m, true), asio::detached);
        }
    }

    void close_listeners(SimMiner& m) {
        for (auto* v : {&rpc_acc, &http_acc}) {
            if (auto& acc = (*v)[m.index]) {
                error_code ignored;
                acc->close(ignored);
                acc.reset();
            }
        }
    }

    awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acc, SimMiner* m, bool http) {
        for (;;) {
            error_code ec;
            tcp::socket s =
                co_await acc->async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
            if (ec) {
                // Out of descriptors or a transient error: back off briefly, keep serving.
                log::warn("sim accept failed", {{"error", ec.message()}});
                asio::steady_timer t(io, std::chrono::milliseconds(50));
                co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            SimMiner* target = m;
            if (!target) {
                // Shared HTTP listener: the address the client dialled names the miner.
                const auto local = s.local_endpoint(ec).address();
                const auto remote = s.remote_endpoint(ec).address();
                if (!ec && local.is_v4() && remote.is_loopback()) {
                    target = fleet.by_ip(local.to_v4().to_uint());
                }
                if (!target || target->faults.has(FaultKind::offline) ||
                    !frontend_for(target->family).has_http()) {
                    hard_reset(s);
                    continue;
                }
            }
            if (http) {
                co_spawn(io, serve_http(std::move(s), *target), asio::detached);
            } else {
                co_spawn(io, serve_rpc(std::move(s), *target), asio::detached);
            }
        }
    }

    // Connection-level faults shared by RPC and HTTP. Returns false when the connection is done.
    awaitable<bool> before_reply(tcp::socket& s, SimMiner& m, Reaper::Ticket& ticket) {
        if (m.faults.has(FaultKind::reset)) {
            hard_reset(s);
            co_return false;
        }
        if (m.faults.has(FaultKind::hung)) {
            // Hold the connection without answering until the client gives up.
            ticket.extend(kHungHold);
            char sink[512];
            error_code ec;
            while (!ec) {
                co_await s.async_read_some(asio::buffer(sink),
                                           asio::redirect_error(asio::use_awaitable, ec));
            }
            co_return false;
        }
        if (m.faults.has(FaultKind::slow)) {
            asio::steady_timer t(io, m.faults.slow_delay());
            error_code ec;
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        co_return true;
    }

    // Sends `reply` as the active output faults dictate.
    awaitable<void> send_with_faults(tcp::socket& s, SimMiner& m, std::string reply) {
        if (m.faults.has(FaultKind::garbage)) {
            co_await write_all(s, garbage_bytes(rng));
        } else if (m.faults.has(FaultKind::truncated)) {
            co_await write_all(s, std::string_view(reply).substr(0, reply.size() / 2));
        } else if (m.faults.has(FaultKind::oversized)) {
            std::string big = R"({"STATUS":[{"STATUS":"S","Code":70,"Msg":"x"}],"DATA":")";
            big.append(kOversizedBytes, 'A');
            big += "\"}";
            big.push_back('\0');
            co_await write_all(s, big);
        } else {
            co_await write_all(s, reply);
        }
    }

    awaitable<void> serve_rpc(tcp::socket s, SimMiner& m) {
        auto ticket = reaper.watch(s, kRequestDeadline);
        auto request = co_await read_rpc_request(s);
        if (!request || !s.is_open()) co_return;
        const std::string buf = std::move(*request);
        if (!co_await before_reply(s, m, ticket)) co_return;
        ticket.extend(kWriteDeadline);

        RpcRequest req;
        RpcReply reply;
        if (!parse_rpc_request(buf, req)) {
            // cgminer's answer to bytes that are not a request.
            req = RpcRequest{};
            req.raw = buf;
            req.json = true;
        }
        reply = frontend_for(m.family).rpc(m, req, now_ms());
        if (reply.no_reply) {
            error_code ignored;
            s.close(ignored);
            co_return;
        }
        if (reply.nul) reply.body.push_back('\0');
        co_await send_with_faults(s, m, std::move(reply.body));
        error_code ignored;
        s.close(ignored);  // cgminer closes after each reply
    }

    awaitable<void> serve_http(tcp::socket s, SimMiner& m) {
        {
            auto ticket = reaper.watch(s, kWriteDeadline);
            if (!co_await before_reply(s, m, ticket)) co_return;
        }
        if (m.faults.has(FaultKind::garbage) || m.faults.has(FaultKind::truncated) ||
            m.faults.has(FaultKind::oversized)) {
            // Output faults on HTTP: answer the first request badly, then close.
            auto ticket = reaper.watch(s, kWriteDeadline);
            co_await send_with_faults(s, m,
                                      "HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{\"x\":");
            error_code ignored;
            s.close(ignored);
            co_return;
        }
        const Frontend& fe = frontend_for(m.family);
        co_await serve_http_connection(
            std::move(s), [&fe, &m](const HttpRequest& r) { return fe.http(m, r, now_ms()); });
    }

    awaitable<void> admin_loop(std::shared_ptr<tcp::acceptor> acc) {
        for (;;) {
            error_code ec;
            tcp::socket s =
                co_await acc->async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
            if (ec) continue;
            co_spawn(io,
                     serve_http_connection(std::move(s),
                                           [this](const HttpRequest& r) {
                                               return handle_admin(fleet, *owner, r, now_ms());
                                           }),
                     asio::detached);
        }
    }

    void schedule_faults() {
        for (const auto& sf : fleet.config().faults) {
            SimMiner* m = fleet.by_id_or_ip(sf.miner);
            if (!m) {
                log::warn("scheduled fault names an unknown miner", {{"miner", sf.miner}});
                continue;
            }
            auto t = std::make_unique<asio::steady_timer>(io, sf.at);
            t->async_wait([this, m, sf](error_code ec) {
                if (ec) return;
                owner->inject(*m, sf.kind, sf.params);
                if (sf.duration) {
                    auto clear_t = std::make_unique<asio::steady_timer>(io, *sf.duration);
                    clear_t->async_wait([this, m, kind = sf.kind](error_code ec2) {
                        if (!ec2) owner->clear(*m, kind);
                    });
                    schedule.push_back(std::move(clear_t));
                }
            });
            schedule.push_back(std::move(t));
        }
    }
};

SimServer::SimServer(asio::io_context& io, Fleet& fleet)
    : impl_(std::make_unique<Impl>(io, fleet)) {
    impl_->owner = this;
}

SimServer::~SimServer() = default;

void SimServer::start() {
    auto& im = *impl_;
    auto& miners = im.fleet.miners();
    im.rpc_acc.resize(miners.size());
    im.http_acc.resize(miners.size());

    // One descriptor per listener: per-miner HTTP listeners only when they fit beside the RPC
    // ones and room for connections.
    const std::uint64_t limit = raise_fd_limit();
    std::uint64_t http_miners = 0;
    for (const auto& m : miners) http_miners += frontend_for(m->family).has_http() ? 1U : 0U;
    im.shared = miners.size() + http_miners + 4096 > limit;
    im.http_port = im.fleet.config().http_port;
    if (im.shared && http_miners > 0) {
        // All interfaces, but only loopback peers are served (checked per connection).
        im.shared_http_acc = im.bind({asio::ip::address_v4::any(), im.http_port});
        im.http_port = im.shared_http_acc->local_endpoint().port();
        co_spawn(im.io, im.accept_loop(im.shared_http_acc, nullptr, true), asio::detached);
    }
    for (auto& m : miners) {
        if (!m->faults.has(FaultKind::offline)) im.open_listeners(*m);
    }
    const auto colon = im.fleet.config().admin_listen.rfind(':');
    const std::string host = im.fleet.config().admin_listen.substr(0, colon);
    const auto port =
        static_cast<std::uint16_t>(std::stoi(im.fleet.config().admin_listen.substr(colon + 1)));
    im.admin_acc = im.bind({asio::ip::make_address(host), port});
    co_spawn(im.io, im.admin_loop(im.admin_acc), asio::detached);
    im.schedule_faults();
}

std::uint16_t SimServer::http_port() const noexcept { return impl_->http_port; }
bool SimServer::shared_http() const noexcept { return impl_->shared; }

std::string SimServer::admin_url() const {
    const auto ep = impl_->admin_acc->local_endpoint();
    return "http://" + ep.address().to_string() + ":" + std::to_string(ep.port());
}

void SimServer::inject(SimMiner& m, FaultKind kind, const FaultParams& params) {
    const bool was_offline = m.faults.has(FaultKind::offline);
    const auto now = now_ms();
    m.faults.set(kind, params, now);
    // Rejects are counted by the physics, which keeps them after the fault clears.
    if (kind == FaultKind::rejects) m.physics.set_reject_ratio(now, m.faults.reject_ratio());
    if (kind == FaultKind::offline && !was_offline) impl_->close_listeners(m);
    log::info("fault injected", {{"miner", m.id}, {"fault", to_string(kind)}});
}

void SimServer::clear(SimMiner& m, std::optional<FaultKind> kind) {
    const bool was_offline = m.faults.has(FaultKind::offline);
    if (m.faults.has(FaultKind::rejects) && (!kind || *kind == FaultKind::rejects)) {
        m.physics.set_reject_ratio(now_ms(), 0);
    }
    if (kind) {
        m.faults.clear(*kind);
    } else {
        m.faults.clear_all();
    }
    if (was_offline && !m.faults.has(FaultKind::offline)) impl_->open_listeners(m);
    log::info("fault cleared", {{"miner", m.id}, {"fault", kind ? to_string(*kind) : "all"}});
}

}  // namespace hashwatt::sim
