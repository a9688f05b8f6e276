#include "agent/detect/scan.hpp"

#include "agent/detect/probe.hpp"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

std::optional<std::uint32_t> parse_v4(std::string_view s) {
    std::uint32_t ip = 0;
    int parts = 0;
    std::size_t pos = 0;
    while (parts < 4) {
        std::size_t end = pos;
        unsigned v = 0;
        while (end < s.size() && s[end] >= '0' && s[end] <= '9' && end - pos < 3)
            v = v * 10 + static_cast<unsigned>(s[end++] - '0');
        if (end == pos || v > 255) return std::nullopt;
        ip = (ip << 8) | v;
        ++parts;
        pos = end;
        if (parts < 4) {
            if (pos >= s.size() || s[pos] != '.') return std::nullopt;
            ++pos;
        }
    }
    if (pos != s.size()) return std::nullopt;
    return ip;
}

std::string format_v4(std::uint32_t ip) {
    return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
           std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

}  // namespace

std::vector<std::string> expand_cidr(std::string_view cidr, std::size_t max_hosts) {
    const auto slash = cidr.find('/');
    const auto base = parse_v4(cidr.substr(0, slash));
    if (!base)
        throw std::invalid_argument("'" + std::string(cidr) +
                                    "' is not an IPv4 address or CIDR range");
    int prefix = 32;
    if (slash != std::string_view::npos) {
        const auto p = cidr.substr(slash + 1);
        prefix = 0;
        for (char c : p) {
            if (c < '0' || c > '9' || prefix > 32)
                throw std::invalid_argument("bad prefix in '" + std::string(cidr) + "'");
            prefix = prefix * 10 + (c - '0');
        }
        if (p.empty() || prefix > 32)
            throw std::invalid_argument("bad prefix in '" + std::string(cidr) + "'");
    }
    const std::uint64_t size = 1ULL << (32 - prefix);
    const std::uint32_t mask = prefix == 0 ? 0 : ~0U << (32 - prefix);
    const std::uint32_t net = *base & mask;
    std::uint64_t first = 0, last = size - 1;
    if (prefix < 31) {
        first = 1;        // network address
        last = size - 2;  // broadcast address
    }
    if (last - first + 1 > max_hosts) {
        throw std::invalid_argument("'" + std::string(cidr) + "' holds " +
                                    std::to_string(last - first + 1) +
                                    " hosts, more than the limit of " + std::to_string(max_hosts));
    }
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(last - first + 1));
    for (std::uint64_t i = first; i <= last; ++i)
        out.push_back(format_v4(net + static_cast<std::uint32_t>(i)));
    return out;
}

asio::awaitable<std::vector<ScanResult>> scan(DriverContext& ctx,
                                              const std::vector<std::string>& hosts,
                                              const ScanOptions& opts) {
    std::vector<std::optional<ScanResult>> found(hosts.size());
    std::size_t next = 0;
    std::size_t running = 0;
    auto ex = co_await asio::this_coro::executor;
    asio::experimental::channel<void(boost::system::error_code)> done(ex, opts.concurrency + 1);

    auto worker = [&]() -> asio::awaitable<void> {
        while (next < hosts.size()) {
            const std::size_t i = next++;
            MinerEndpoint ep;
            ep.host = hosts[i];
            ep.rpc_port = opts.rpc_port;
            ep.http_port = opts.http_port;
            Identification id;
            for (int attempt = 0; attempt <= opts.retries; ++attempt) {
                id = co_await identify(ctx, ep);
                if (id.answered || !id.error || id.error->reason != PollError::timeout) break;
            }
            if (!id.answered) continue;
            ScanResult r;
            r.host = ep.host;
            r.port = ep.rpc_port;
            if (!id.driver) {
                r.error = "answered, but no driver recognises the firmware";
            } else {
                DriverState state;
                const MinerSample s = co_await id.driver->poll(ctx, ep, state);
                r.identified = true;
                r.make = s.make;
                r.model = s.model;
                r.firmware = s.firmware;
                r.mac = s.mac;
                if (!s.up)
                    r.error = std::string(to_string(s.error.value_or(PollError::internal))) + ": " +
                              s.error_message.value_or("");
            }
            found[i] = std::move(r);
        }
        co_return;
    };
    const std::size_t workers = std::min(opts.concurrency, hosts.size());
    for (std::size_t w = 0; w < workers; ++w) {
        ++running;
        asio::co_spawn(ex, worker(), [&](std::exception_ptr) {
            --running;
            done.try_send(boost::system::error_code{});
        });
    }
    while (running > 0) co_await done.async_receive(asio::use_awaitable);
    std::vector<ScanResult> out;
    for (auto& f : found) {
        if (f) out.push_back(std::move(*f));
    }
    co_return out;
}

}  // namespace hashwatt::agent
