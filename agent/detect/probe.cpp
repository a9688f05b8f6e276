#include "agent/detect/probe.hpp"

namespace hashwatt::agent {

boost::asio::awaitable<Identification> identify(DriverContext& ctx, const MinerEndpoint& ep) {
    Identification id;
    const auto rpc = co_await rpc_request(ctx.executor, ep.host, ep.rpc_port,
                                          R"({"command":"version"})", ctx.transport);
    if (!rpc.error || !rpc.body.empty()) {
        id.answered = true;
        id.probe.version_reply = rpc.body;
        for (const auto* d : all_drivers()) {
            if (d->claims(id.probe)) {
                id.driver = d;
                co_return id;
            }
        }
    } else {
        id.error = rpc.error;
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
    co_return id;
}

}  // namespace hashwatt::agent
