#include "agent/runtime.hpp"

#include "agent/auth_watch.hpp"
#include "common/log.hpp"
#include "common/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hashwatt::agent {

AgentRuntime::AgentRuntime(boost::asio::any_io_executor ex, AgentConfig cfg, Observer observer)
    : observer_(std::move(observer)) {
    if (cfg.uplink) {
        const UplinkConfig& up = *cfg.uplink;
        uplink_ = std::make_unique<Uplink>(ex, up, cfg.agent_id, cfg.site);
        CommandLoopOptions co;
        co.host = up.host;
        co.port = up.port;
        co.base_path = up.base_path;
        co.token = up.token;
        co.tls = uplink_->tls_context();
        co.agent_id = cfg.agent_id;
        co.request_timeout = up.request_timeout;
        co.concurrency = cfg.command_concurrency;
        co.miner_transport.connect_timeout = cfg.connect_timeout;
        co.miner_transport.reply_timeout = cfg.poll_timeout;
        co.miner_transport.max_reply_bytes = cfg.max_reply_bytes;
        poller_ = std::make_unique<Poller>(ex, std::move(cfg));
        commands_ = std::make_unique<CommandLoop>(
            ex, co, [p = poller_.get()](const std::string& id) { return p->find_target(id); });
    } else {
        poller_ = std::make_unique<Poller>(ex, std::move(cfg));
    }
}

AgentRuntime::~AgentRuntime() = default;

boost::asio::awaitable<void> AgentRuntime::run() {
    using namespace boost::asio::experimental::awaitable_operators;
    co_await poller_->discover();
    log::info("agent running", {{"agent_id", poller_->config().agent_id},
                                {"miners", std::to_string(poller_->target_count())},
                                {"interval", format_duration(poller_->config().interval)}});
    if (stopping_) co_return;
    if (uplink_) uplink_->start();
    rounds_ = RoundTracker(std::chrono::steady_clock::now());
    auto sink = [this](MinerSample&& s) {
        rounds_.record(s.host + ":" + std::to_string(s.port), s.up, poller_->target_count());
        ++window_.polled;
        ++(s.up ? window_.up : window_.failed);
        if (refused_credentials(s)) ++auth_refused_polls_;
        if (observer_) observer_(s);
        if (uplink_) uplink_->add(std::move(s));
    };
    if (commands_) {
        // Both end at stop(): the poller returns, and the command loop is cancelled with it.
        co_await (poller_->run(sink) && commands_->run());
    } else {
        co_await poller_->run(sink);
    }
    // The poller is done: spool what is buffered and try once more to deliver it.
    if (uplink_) co_await uplink_->stop();
}

void AgentRuntime::stop() {
    if (stopping_) return;
    stopping_ = true;
    if (commands_) commands_->stop();
    poller_->stop();
}

std::optional<UplinkStats> AgentRuntime::uplink_stats() const {
    if (!uplink_) return std::nullopt;
    return uplink_->stats();
}

AgentSelfSnapshot AgentRuntime::self_metrics() const {
    AgentSelfSnapshot s;
    s.version = kVersion;
    s.last_round = rounds_.last();
    s.rounds = rounds_.rounds();
    s.auth_refused_polls = auth_refused_polls_;
    if (uplink_) s.uplink = uplink_->stats();
    if (commands_) s.commands = commands_->stats();
    return s;
}

RoundSummary AgentRuntime::take_window() noexcept {
    RoundSummary w = window_;
    window_ = {};
    return w;
}

}  // namespace hashwatt::agent
