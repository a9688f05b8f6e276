// What the drivers' I/O parts (agent/drivers/<family>/driver.cpp) have in common: the poll and
// execute wrappers every driver puts around its own work, the failed sample built from the cached
// identity, the request helpers over agent/transport, and running the requests of one poll at
// once. What differs per firmware (which requests, which auth, how replies are read) stays in
// the driver and is passed in. Included by driver.cpp files only (it brings in Asio).
#pragma once

#include "agent/drivers/driver.hpp"

#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hashwatt::agent {

// Now on the sample clock, truncated to milliseconds (what samples and caches carry).
TimePoint now_ms();

// Whether `hay` contains `upper`, ignoring the case of `hay`'s ASCII letters; `upper` must be in
// upper case already. For `claims`, which looks for a firmware's name in probe replies.
bool contains_upper(std::string_view hay, std::string_view upper) noexcept;

// A failed poll: the identity fields of the cached identity (so the miner id does not change),
// up=false, state offline, the reason and message; no telemetry, no settings.
MinerSample failed_poll(const DriverState& state, PollError reason, std::string message);

// The command name inside an RPC request, for messages: {"command":"summary+devs"} ->
// summary+devs (the request itself when it has no colon).
std::string_view rpc_command_name(std::string_view request);

// A failed poll for an RPC request that got no reply: the message is "<command>: <detail>".
MinerSample failed_rpc_poll(const DriverState& state, std::string_view request,
                            const TransportError& error);

// Fills what every sample carries whichever driver made it: miner_id, host, port (the RPC port
// names the miner for every driver, so configs and ids stay alike), site, driver, observed_at,
// and poll_duration_ms since `started`.
void stamp_sample(MinerSample& sample, std::string_view driver, const MinerEndpoint& ep,
                  std::chrono::steady_clock::time_point started);

// The body of every driver's `poll`: awaits `poll_once()` (a callable returning
// awaitable<MinerSample>), turns an exception into an `internal` failed poll ("<driver> driver:
// <what>") and stamps the sample. Never throws. (GCC 12: `poll_once` is taken by const& and
// callers pass a named lambda; see CONTRIBUTING.md.)
template <class PollOnce>
boost::asio::awaitable<MinerSample> timed_poll(std::string_view driver, const MinerEndpoint& ep,
                                               const DriverState& state,
                                               const PollOnce& poll_once) {
    const auto started = std::chrono::steady_clock::now();
    MinerSample s;
    try {
        s = co_await poll_once();
    } catch (const std::exception& e) {
        s = failed_poll(state, PollError::internal, std::string(driver) + " driver: " + e.what());
    }
    stamp_sample(s, driver, ep, started);
    co_return s;
}

// The body of every driver's `execute`: awaits `execute_once()` (a callable returning
// awaitable<CommandOutcome>) and turns an exception into a failed outcome whose message is
// `message_prefix` and the exception's text. Never throws.
template <class ExecuteOnce>
boost::asio::awaitable<CommandOutcome> guarded_execute(std::string_view message_prefix,
                                                       const ExecuteOnce& execute_once) {
    try {
        co_return co_await execute_once();
    } catch (const std::exception& e) {
        co_return CommandOutcome{CommandStatus::failed, std::string(message_prefix) + e.what()};
    }
}

// Capabilities depend on the cached identity (model, firmware): when there is none, one poll
// (reads only) learns it before a command. nullopt when the identity is known afterwards, else
// the failed outcome saying why. (`driver` is the caller itself, an lvalue: no temporaries.)
boost::asio::awaitable<std::optional<CommandOutcome>> identify_before_command(
    const MinerDriver& driver, DriverContext& ctx, const MinerEndpoint& ep, DriverState& state);

// The failure a request gets when its coroutine threw inside a parallel group (the transport
// reports its own faults as values, so this is a bug, not the network).
TransportError request_failed_unexpectedly();

// Starts `count` requests at once, one connection each (`start(i)` returns the i-th one's
// awaitable<Result>), and gives the results in the order given. A request that throws gets
// `failed(i)` instead, so the others' replies are kept. A single request is simply awaited (an
// exception then reaches the poll wrapper). `count` must be at least 1.
template <class Result, class Start, class Failed>
boost::asio::awaitable<std::vector<Result>> all_at_once(const boost::asio::any_io_executor& ex,
                                                        std::size_t count, const Start& start,
                                                        const Failed& failed) {
    namespace asio = boost::asio;
    std::vector<Result> results;
    if (count == 1) {
        results.push_back(co_await start(std::size_t{0}));
        co_return results;
    }
    using Op = decltype(asio::co_spawn(ex, start(std::size_t{0}), asio::deferred));
    std::vector<Op> ops;
    ops.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        ops.push_back(asio::co_spawn(ex, start(i), asio::deferred));
    }
    auto [order, exceptions, values] =
        co_await asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (exceptions[i]) values[i] = failed(i);
    }
    co_return std::move(values);
}

// One RPC exchange on the endpoint's RPC port. It owns a copy of `request` for as long as the
// exchange runs (the transport takes references, and a parallel group starts it later).
boost::asio::awaitable<RpcResult> rpc_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                           std::string_view request);

// Sends the RPC requests at once, one connection each; results in the order given. The texts
// `requests` points into must outlive the call.
boost::asio::awaitable<std::vector<RpcResult>> rpc_calls_at_once(
    const DriverContext& ctx, const MinerEndpoint& ep,
    const std::vector<std::string_view>& requests);

// One HTTP request on the endpoint's HTTP port with `auth` (which the driver builds: Digest,
// bearer, raw token or none). Coroutine: co_await it at once, pass named variables.
boost::asio::awaitable<HttpResult> http_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                             std::string_view method, std::string_view target,
                                             std::string_view body, const HttpAuth& auth);

// Token auth of the given kind (bearer, raw_token) for `token`; none when `token` is empty.
HttpAuth token_auth(HttpAuth::Kind kind, std::string_view token);

// One request of a poll that mixes the RPC port and the web port: an RPC command, or a GET of a
// web path with the auth of the moment.
struct PollRequest {
    bool web = false;
    std::string rpc;          // the RPC request
    std::string_view target;  // the web path (a constant of the driver)
};

struct PollReply {
    RpcResult rpc;
    std::optional<HttpResult> http;  // set for web requests
};

// {"command":"<command>"} on the RPC port.
PollRequest rpc_command(std::string_view command);
// GET `target` on the web port.
PollRequest web_get(std::string_view target);

// Sends the requests at once, one connection each, the web ones with `web_auth`; replies in the
// order given. Auth is fixed for the whole batch, so concurrent requests never write shared
// state (the caller updates its caches afterwards).
boost::asio::awaitable<std::vector<PollReply>> poll_requests_at_once(
    const DriverContext& ctx, const MinerEndpoint& ep, const std::vector<PollRequest>& requests,
    const HttpAuth& web_auth);

// A usable web body: a 200 that arrived.
std::optional<std::string_view> ok_http_body(const std::optional<HttpResult>& r);

}  // namespace hashwatt::agent
