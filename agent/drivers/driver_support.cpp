#include "agent/drivers/driver_support.hpp"

#include <algorithm>

namespace hashwatt::agent {

namespace asio = boost::asio;

TimePoint now_ms() { return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()); }

bool contains_upper(std::string_view hay, std::string_view upper) noexcept {
    if (upper.size() > hay.size()) return false;
    for (std::size_t i = 0; i + upper.size() <= hay.size(); ++i) {
        std::size_t j = 0;
        for (; j < upper.size(); ++j) {
            char c = hay[i + j];
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            if (c != upper[j]) break;
        }
        if (j == upper.size()) return true;
    }
    return false;
}

MinerSample failed_poll(const DriverState& state, PollError reason, std::string message) {
    // Drivers that cache a setting with the identity (the power limit) must not report it for a
    // poll that read nothing: only the identity fields are kept.
    MinerSample s = state.identity ? identity_fields(*state.identity) : MinerSample{};
    s.up = false;
    s.state = MinerState::offline;
    s.error = reason;
    s.error_message = std::move(message);
    return s;
}

std::string_view rpc_command_name(std::string_view request) {
    const auto colon = request.find(':');
    if (colon == std::string_view::npos) return request;
    std::string_view v = request.substr(colon + 1);
    v.remove_prefix(std::min(v.size(), v.find_first_not_of("\" ")));
    return v.substr(0, v.find('"'));
}

MinerSample failed_rpc_poll(const DriverState& state, std::string_view request,
                            const TransportError& error) {
    return failed_poll(state, error.reason,
                       std::string(rpc_command_name(request)) + ": " + error.detail);
}

void stamp_sample(MinerSample& s, std::string_view driver, const MinerEndpoint& ep,
                  std::chrono::steady_clock::time_point started) {
    s.miner_id = make_miner_id(ep.configured_id, s.mac.value_or(""), ep.host, ep.rpc_port);
    s.host = ep.host;
    s.port = ep.rpc_port;
    if (!ep.site.empty()) s.site = ep.site;
    s.driver = std::string(driver);
    s.observed_at = now_ms();
    s.poll_duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
}

asio::awaitable<std::optional<CommandOutcome>> identify_before_command(const MinerDriver& driver,
                                                                       DriverContext& ctx,
                                                                       const MinerEndpoint& ep,
                                                                       DriverState& state) {
    if (state.identity) co_return std::nullopt;
    const MinerSample s = co_await driver.poll(ctx, ep, state);
    if (state.identity) co_return std::nullopt;
    co_return CommandOutcome{
        CommandStatus::failed,
        "cannot identify the miner before the command: " + s.error_message.value_or("poll failed")};
}

TransportError request_failed_unexpectedly() {
    return TransportError{PollError::internal, "request failed unexpectedly"};
}

asio::awaitable<RpcResult> rpc_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                    std::string_view request) {
    const std::string text(request);
    co_return co_await rpc_request(ctx.executor, ep.host, ep.rpc_port, text, ctx.transport);
}

asio::awaitable<std::vector<RpcResult>> rpc_calls_at_once(
    const DriverContext& ctx, const MinerEndpoint& ep,
    const std::vector<std::string_view>& requests) {
    const auto start = [&](std::size_t i) { return rpc_call(ctx, ep, requests[i]); };
    const auto failed = [](std::size_t) {
        RpcResult r;
        r.error = request_failed_unexpectedly();
        return r;
    };
    co_return co_await all_at_once<RpcResult>(ctx.executor, requests.size(), start, failed);
}

asio::awaitable<HttpResult> http_call(const DriverContext& ctx, const MinerEndpoint& ep,
                                      std::string_view method, std::string_view target,
                                      std::string_view body, const HttpAuth& auth) {
    HttpRequestSpec spec;
    spec.method = std::string(method);
    spec.target = std::string(target);
    spec.body = std::string(body);
    co_return co_await http_request(ctx.executor, ep.host, ep.http_port, spec, auth, ctx.transport);
}

HttpAuth token_auth(HttpAuth::Kind kind, std::string_view token) {
    HttpAuth auth;
    if (!token.empty()) {
        auth.kind = kind;
        auth.token = std::string(token);
    }
    return auth;
}

PollRequest rpc_command(std::string_view command) {
    PollRequest r;
    r.rpc = R"({"command":")";
    r.rpc += command;
    r.rpc += "\"}";
    return r;
}

PollRequest web_get(std::string_view target) {
    PollRequest r;
    r.web = true;
    r.target = target;
    return r;
}

namespace {

asio::awaitable<PollReply> send_poll_request(const DriverContext& ctx, const MinerEndpoint& ep,
                                             const PollRequest& request, const HttpAuth& web_auth) {
    PollReply r;
    if (request.web) {
        r.http = co_await http_call(ctx, ep, "GET", request.target, {}, web_auth);
    } else {
        r.rpc =
            co_await rpc_request(ctx.executor, ep.host, ep.rpc_port, request.rpc, ctx.transport);
    }
    co_return r;
}

}  // namespace

asio::awaitable<std::vector<PollReply>> poll_requests_at_once(
    const DriverContext& ctx, const MinerEndpoint& ep, const std::vector<PollRequest>& requests,
    const HttpAuth& web_auth) {
    const auto start = [&](std::size_t i) {
        return send_poll_request(ctx, ep, requests[i], web_auth);
    };
    const auto failed = [&](std::size_t i) {
        PollReply r;
        if (requests[i].web) {
            r.http = HttpResult{};
            r.http->error = request_failed_unexpectedly();
        } else {
            r.rpc.error = request_failed_unexpectedly();
        }
        return r;
    };
    co_return co_await all_at_once<PollReply>(ctx.executor, requests.size(), start, failed);
}

std::optional<std::string_view> ok_http_body(const std::optional<HttpResult>& r) {
    if (!r || r->error || r->status != 200) return std::nullopt;
    return std::string_view(r->body);
}

}  // namespace hashwatt::agent
