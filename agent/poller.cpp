#include "agent/poller.hpp"

#include "agent/auth_watch.hpp"
#include "agent/detect/probe.hpp"
#include "agent/detect/scan.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

double ms_since(SteadyClock::time_point t0) {
    return std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
}

bool is_json(std::string_view reply) {
    try {
        (void)parse_cgminer_json(reply);
        return true;
    } catch (const CgminerJsonError&) {
        return false;
    }
}

// Nothing that answered could be identified (or nothing answered at all).
MinerSample unidentified_sample(const MinerEndpoint& ep, const Identification& id) {
    MinerSample s;
    s.host = ep.host;
    s.port = ep.rpc_port;
    if (!ep.site.empty()) s.site = ep.site;
    s.miner_id = make_miner_id(ep.configured_id, "", ep.host, ep.rpc_port);
    s.observed_at = now_ms();
    s.up = false;
    s.state = MinerState::offline;
    if (id.answered && id.error && id.error->reason == PollError::too_large) {
        s.error = PollError::too_large;
        s.error_message = "version reply: " + id.error->detail;
    } else if (id.answered && !id.probe.version_reply.empty() && !is_json(id.probe.version_reply)) {
        // Garbage or a cut-off reply is a miner in trouble, not an unknown kind of miner.
        s.error = PollError::parse;
        s.error_message = "the reply to version is not JSON";
    } else if (id.answered) {
        s.error = PollError::unsupported;
        s.error_message = "something answered but no driver recognises it";
    } else {
        s.error = id.error ? id.error->reason : PollError::unreachable;
        s.error_message = id.error ? id.error->detail : "no answer";
    }
    return s;
}

std::string target_key(const std::string& host, std::uint16_t port) {
    return host + "|" + std::to_string(port);
}

using HeapEntry = std::pair<SteadyClock::time_point, PollTarget*>;
constexpr auto kHeapOrder = [](const HeapEntry& a, const HeapEntry& b) {
    return a.first > b.first;  // min-heap on the due time
};

}  // namespace

asio::awaitable<MinerSample> poll_target(DriverContext& ctx, PollTarget& t) {
    const auto t0 = SteadyClock::now();
    if (!t.driver && t.driver_name != "auto") t.driver = find_driver(t.driver_name);
    if (!t.driver) {
        const Identification id = co_await identify(ctx, t.endpoint);
        if (!id.driver) {
            ++t.failures;
            MinerSample s = unidentified_sample(t.endpoint, id);
            if (t.miner_id.empty()) t.miner_id = s.miner_id;
            s.poll_duration_ms = ms_since(t0);
            co_return s;
        }
        t.driver = id.driver;
    }
    MinerSample s = co_await t.driver->poll(ctx, t.endpoint, t.state);
    // A failed poll may not know the miner's own id (its MAC); keep the last one that did.
    if (!s.miner_id.empty() && (s.up || t.miner_id.empty())) t.miner_id = s.miner_id;
    if (s.up) {
        t.failures = 0;
    } else {
        ++t.failures;
        // A reply the driver cannot read may mean other firmware now runs there: identify anew.
        // (Not on `unsupported`: that is the driver's own verdict on firmware it recognised,
        // such as Whatsminer API v3, and its state remembers why.)
        if (t.driver_name == "auto" && s.error == PollError::parse) {
            t.driver = nullptr;
            t.state = DriverState{};
        }
    }
    // A refusal the driver learnt on an earlier poll (and does not ask again every time) stays
    // on every sample until the credentials work.
    if (s.up && !t.state.auth_refused.empty() && !refused_credentials(s)) {
        s.errors.push_back(MinerErrorReport{"auth", t.state.auth_refused});
    }
    // Only a poll that reached the miner tells whether it takes the credentials.
    if (refused_credentials(s)) {
        const auto& why = s.error == PollError::auth ? s.error_message : std::nullopt;
        std::string detail = why.value_or("");
        for (const auto& e : s.errors) {
            if (detail.empty() && e.code == "auth") detail = e.message;
        }
        note_auth_state(t, AuthSource::poll, true, detail);
    } else if (s.up) {
        note_auth_state(t, AuthSource::poll, false, {});
    }
    s.poll_duration_ms = ms_since(t0);
    co_return s;
}

SteadyClock::duration next_poll_delay(const AgentConfig& cfg, int failures, double jitter_draw) {
    using Secs = std::chrono::duration<double>;
    const double interval = Secs(cfg.interval).count();
    double delay = interval;
    if (failures > 1) {
        const double cap = std::max(interval, Secs(cfg.max_backoff).count());
        delay = std::min(cap, interval * std::ldexp(1.0, std::min(failures - 1, 30)));
    }
    delay *= 1.0 + std::clamp(jitter_draw, -1.0, 1.0) * cfg.jitter;
    return std::chrono::duration_cast<SteadyClock::duration>(Secs(delay));
}

Poller::Poller(asio::any_io_executor ex, AgentConfig cfg)
    : ex_(ex), cfg_(std::move(cfg)), rng_(std::random_device{}()), wake_(ex) {
    transport_.connect_timeout = cfg_.connect_timeout;
    transport_.reply_timeout = cfg_.poll_timeout;
    transport_.max_reply_bytes = cfg_.max_reply_bytes;
    targets_.reserve(cfg_.miners.size());
    for (const auto& m : cfg_.miners) add_target(m.endpoint, m.driver, false);
}

bool Poller::add_target(MinerEndpoint ep, std::string driver_name, bool from_scan) {
    if (!known_.insert(target_key(ep.host, ep.rpc_port)).second) return false;
    auto t = std::make_unique<PollTarget>();
    t->endpoint = std::move(ep);
    t->driver_name = std::move(driver_name);
    t->from_scan = from_scan;
    targets_.push_back(std::move(t));
    return true;
}

DriverContext Poller::context_for_poll() const {
    DriverContext ctx{ex_, transport_};
    ctx.transport.deadline = SteadyClock::now() + cfg_.poll_timeout;
    return ctx;
}

asio::awaitable<std::size_t> Poller::discover_one(const ScanEntry& scan) {
    std::vector<std::string> hosts;
    for (const auto& r : scan.ranges) {
        auto more = expand_cidr(r, 65536);
        hosts.insert(hosts.end(), more.begin(), more.end());
    }
    ScanOptions opts;
    opts.concurrency = cfg_.scan_concurrency;
    opts.rpc_port = scan.rpc_port;
    opts.http_port = scan.http_port;
    DriverContext ctx{ex_, transport_};
    const auto t0 = SteadyClock::now();
    const auto found = co_await agent::scan(ctx, hosts, opts);
    std::size_t added = 0, identified = 0;
    for (const auto& r : found) {
        if (!r.identified) continue;  // answered, but nothing we can poll
        ++identified;
        MinerEndpoint ep;
        ep.host = r.host;
        ep.rpc_port = scan.rpc_port;
        ep.http_port = scan.http_port;
        ep.site = scan.site;
        ep.credentials = scan.credentials;
        if (add_target(std::move(ep), "auto", true)) ++added;
    }
    log::info("scan finished", {{"ranges", std::to_string(scan.ranges.size())},
                                {"hosts", std::to_string(hosts.size())},
                                {"answered", std::to_string(found.size())},
                                {"identified", std::to_string(identified)},
                                {"added", std::to_string(added)},
                                {"wall_ms", std::to_string(static_cast<long>(ms_since(t0)))}});
    co_return added;
}

asio::awaitable<std::size_t> Poller::discover() {
    std::size_t added = 0;
    for (const auto& s : cfg_.scans) added += co_await discover_one(s);
    co_return added;
}

// One pass over the targets shared by the round's workers.
struct Poller::Round {
    Sink* sink = nullptr;
    std::size_t next = 0;
    std::size_t workers = 0;
    RoundSummary sum;
    asio::steady_timer* all_done = nullptr;
};

asio::awaitable<void> Poller::round_worker(Round& r) {
    while (r.next < targets_.size()) {
        PollTarget& t = *targets_[r.next++];
        DriverContext ctx = context_for_poll();
        MinerSample s = co_await poll_target(ctx, t);
        ++r.sum.polled;
        ++(s.up ? r.sum.up : r.sum.failed);
        (*r.sink)(std::move(s));
    }
    if (--r.workers == 0) r.all_done->cancel();
}

asio::awaitable<RoundSummary> Poller::poll_all(Sink sink) {
    Round r;
    r.sink = &sink;
    r.workers = std::min(cfg_.concurrency, targets_.size());
    if (r.workers == 0) co_return r.sum;
    asio::steady_timer all_done(ex_, SteadyClock::time_point::max());
    r.all_done = &all_done;
    const std::size_t workers = r.workers;
    for (std::size_t w = 0; w < workers; ++w) asio::co_spawn(ex_, round_worker(r), asio::detached);
    error_code ec;
    while (r.workers > 0) {
        co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return r.sum;
}

asio::awaitable<void> Poller::poll_and_reschedule(PollTarget& t, Sink& sink) {
    DriverContext ctx = context_for_poll();
    MinerSample s = co_await poll_target(ctx, t);
    sink(std::move(s));
    std::uniform_real_distribution<double> draw(-1.0, 1.0);
    t.next_due = SteadyClock::now() + next_poll_delay(cfg_, t.failures, draw(rng_));
    heap_.emplace_back(t.next_due, &t);
    std::push_heap(heap_.begin(), heap_.end(), kHeapOrder);
    --in_flight_;
    wake_.cancel();
}

asio::awaitable<void> Poller::rescan_loop(std::size_t scan_index) {
    const ScanEntry& scan = cfg_.scans[scan_index];
    asio::steady_timer timer(ex_);
    rescan_timers_.push_back(&timer);
    error_code ec;
    while (!stopping_) {
        timer.expires_after(scan.rescan);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (stopping_) break;
        const std::size_t before = targets_.size();
        co_await discover_one(scan);
        std::uniform_real_distribution<double> spread(0.0, 1.0);
        const auto now = SteadyClock::now();
        for (std::size_t i = before; i < targets_.size(); ++i) {
            PollTarget& t = *targets_[i];
            t.next_due = now + std::chrono::duration_cast<SteadyClock::duration>(cfg_.interval *
                                                                                 spread(rng_));
            heap_.emplace_back(t.next_due, &t);
            std::push_heap(heap_.begin(), heap_.end(), kHeapOrder);
        }
        wake_.cancel();
    }
    std::erase(rescan_timers_, &timer);
}

asio::awaitable<void> Poller::run(Sink sink) {
    // First polls spread over one interval, so a restart does not poll the farm in one burst.
    std::uniform_real_distribution<double> spread(0.0, 1.0);
    const auto start = SteadyClock::now();
    heap_.clear();
    for (auto& t : targets_) {
        t->next_due =
            start + std::chrono::duration_cast<SteadyClock::duration>(cfg_.interval * spread(rng_));
        heap_.emplace_back(t->next_due, t.get());
    }
    std::make_heap(heap_.begin(), heap_.end(), kHeapOrder);
    for (std::size_t i = 0; i < cfg_.scans.size(); ++i) {
        asio::co_spawn(ex_, rescan_loop(i), asio::detached);
    }
    error_code ec;
    while (!stopping_) {
        const auto now = SteadyClock::now();
        while (!heap_.empty() && heap_.front().first <= now && in_flight_ < cfg_.concurrency) {
            PollTarget* t = heap_.front().second;
            std::pop_heap(heap_.begin(), heap_.end(), kHeapOrder);
            heap_.pop_back();
            ++in_flight_;
            asio::co_spawn(ex_, poll_and_reschedule(*t, sink), asio::detached);
        }
        if (in_flight_ >= cfg_.concurrency || heap_.empty()) {
            wake_.expires_at(SteadyClock::time_point::max());
        } else {
            wake_.expires_at(heap_.front().first);
        }
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    // Let the polls in flight finish (each is bounded by poll_timeout) before the sink goes.
    while (in_flight_ > 0) {
        wake_.expires_after(std::chrono::milliseconds(50));
        co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

PollTarget* Poller::find_target(std::string_view miner_id) noexcept {
    if (miner_id.empty()) return nullptr;  // targets not polled yet have no id
    for (auto& t : targets_) {
        if (t->miner_id == miner_id) return t.get();
    }
    return nullptr;
}

void Poller::stop() {
    stopping_ = true;
    wake_.cancel();
    for (auto* t : rescan_timers_) t->cancel();
}

}  // namespace hashwatt::agent
