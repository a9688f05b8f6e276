#include "agent/detect/probe.hpp"

namespace hashwatt::agent {

boost::asio::awaitable<Identification> identify(DriverContext& ctx, const MinerEndpoint& ep) {
    Identification id;
    const auto rpc = co_await rpc_request(ctx.executor, ep.host, ep.rpc_port,
                                          R"({"command":"version"})", ctx.transport);
    id.error = rpc.error;  // kept even when bytes came: a reply cut off at the size bound
    if (!rpc.error || !rpc.body.empty()) {
        id.answered = true;
        id.probe.version_reply = rpc.body;
        for (const auto* d : all_drivers()) {
            if (d->claims(id.probe)) {
                id.driver = d;
                co_return id;
            }
        }
    }
    // The web root identifies firmware whose RPC is off or ambiguous (and stock Antminer by its
    // Digest realm).
    // Named, not temporaries: GCC 12 destroys temporary arguments of a coroutine call twice.
    const HttpRequestSpec root;
    const HttpAuth no_auth;
    const auto web =
        co_await http_request(ctx.executor, ep.host, ep.http_port, root, no_auth, ctx.transport);
    if (!web.error) {
        id.answered = true;
        id.probe.http_root_status = web.status;
        id.probe.http_root_body = web.body;
        id.probe.http_www_authenticate = web.www_authenticate;
        for (const auto* d : all_drivers()) {
            if (d->claims(id.probe)) {
                id.driver = d;
                break;
            }
        }
    }
    if (!id.driver && !(id.error && id.error->reason == PollError::timeout)) {
        // Whatsminer API v3 firmware closes 4028 and speaks only framed JSON on 4433
        // (PROTOCOLS.md §8, step 3). Asked only of hosts that are there (refused, or answered
        // something unclaimed): a scan's silent addresses cost no extra wait.
        const std::string v3_request = R"({"cmd":"get.device.info"})";
        const auto v3 =
            co_await framed_request(ctx.executor, ep.host, 4433, v3_request, ctx.transport);
        if (!v3.error && !v3.body.empty()) {
            ProbeResult p;
            p.version_reply = v3.body;
            for (const auto* d : all_drivers()) {
                if (d->claims(p)) {
                    id.driver = d;
                    id.answered = true;
                    id.probe.version_reply = v3.body;
                    break;
                }
            }
        }
    }
    co_return id;
}

}  // namespace hashwatt::agent
