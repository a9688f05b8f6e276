#include "collector/control/price_feed.hpp"

#include "agent/transport/transport.hpp"
#include "collector/alerts/notifier_config.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace hashwatt::collector::control {

namespace asio = boost::asio;
namespace prices = policies::prices;

namespace {

const prices::HttpSource& http_source(const prices::PriceSourceConfig& cfg) {
    const auto* h = std::get_if<prices::HttpSource>(&cfg.source);
    if (cfg.kind != prices::SourceKind::http || h == nullptr) {
        throw std::invalid_argument("price feed: a " + std::string(to_string(cfg.kind)) +
                                    " price source is not an http feed");
    }
    return *h;
}

}  // namespace

struct HttpPriceFeed::Impl {
    prices::PriceSourceConfig cfg;
    prices::HttpSource src;
    alerts::HttpEndpoint endpoint;
    HttpFeedOptions options;

    mutable std::mutex mu;
    prices::FeedState state;
    std::string failing;  // the last poll's error while polls fail, "" while they succeed
    bool stale_logged = false;
    std::atomic<std::uint64_t> polls{0}, failures{0};

    // Declared last among what the polling coroutine uses, reset first in ~Impl: destroying
    // the io_context destroys an abandoned poll's frame while the rest is still alive.
    std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
    std::thread thread;
    std::mutex run_mu;  // start/stop
    bool started = false;
    bool stopped = false;

    Impl(prices::PriceSourceConfig c, HttpFeedOptions o)
        : cfg(std::move(c)), src(http_source(cfg)), options(std::move(o)), state(src.stale_after) {
        try {
            endpoint = alerts::parse_http_endpoint(src.url);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("price feed url: " + std::string(e.what()));
        }
        if (src.interval <= Duration::zero()) {
            throw std::invalid_argument("price feed: interval must be positive");
        }
        if (options.timeout <= Duration::zero()) {
            throw std::invalid_argument("price feed: timeout must be positive");
        }
        if (!options.clock) options.clock = [] { return now_ms(); };
    }

    ~Impl() {
        stop();
        io.reset();
    }

    void stop() {
        std::lock_guard lock(run_mu);
        stopped = true;
        io->stop();
        if (thread.joinable()) thread.join();
    }

    // Logs a change between fresh and stale. Before the first poll has finished the feed has
    // no price yet, which is no news: that is not logged until a poll says why.
    void note_staleness(TimePoint now) {
        const auto r = state.current(now);
        if (r.stale && !stale_logged && (r.received_at || polls.load() > 0)) {
            stale_logged = true;
            std::string msg = "price feed stale: " + r.reason;
            if (!options.on_stale.empty()) msg += "; policy on_stale=" + options.on_stale;
            log::error(msg, {{"url", src.url}});
        } else if (!r.stale && stale_logged) {
            stale_logged = false;
            log::info("price feed fresh again",
                      {{"url", src.url}, {"price_per_mwh", *r.price_per_mwh}});
        }
    }

    void record_success(double price, TimePoint at) {
        std::lock_guard lock(mu);
        state.update(price, at);
        if (!failing.empty()) {
            log::info("price feed answering again", {{"url", src.url}, {"price_per_mwh", price}});
            failing.clear();
        }
        ++polls;
        note_staleness(options.clock());
    }

    void record_failure(std::string error, TimePoint at) {
        std::lock_guard lock(mu);
        // Once per change of reason: a feed down for a day is one line, not 288.
        if (error != failing) {
            log::warn("price feed poll failed", {{"url", src.url}, {"reason", error}});
            failing = error;
        }
        state.failed(std::move(error), at);
        ++failures;
        ++polls;
        note_staleness(options.clock());
    }

    asio::awaitable<void> poll_once() {
        agent::HttpRequestSpec req;
        req.method = "GET";
        req.target = endpoint.target;
        req.headers = {{"Accept", "application/json"}};
        agent::TransportOptions opts;
        opts.connect_timeout = options.timeout;
        opts.reply_timeout = options.timeout;
        opts.max_reply_bytes = options.max_body_bytes;
        opts.deadline = std::chrono::steady_clock::now() + options.timeout;
        const agent::HttpAuth no_auth;
        const auto r = co_await agent::http_request(io->get_executor(), endpoint.host,
                                                    endpoint.port, req, no_auth, opts);
        const TimePoint at = options.clock();
        if (r.error) {
            record_failure(std::string(to_string(r.error->reason)) + ": " + r.error->detail, at);
            co_return;
        }
        if (r.status < 200 || r.status > 299) {
            std::string e = "HTTP " + std::to_string(r.status);
            if (!r.body.empty()) e += ": " + r.body.substr(0, 120);
            record_failure(std::move(e), at);
            co_return;
        }
        try {
            record_success(prices::feed_price(cfg, r.body), at);
        } catch (const std::invalid_argument& e) {
            record_failure("bad reply: " + std::string(e.what()), at);
        }
    }

    asio::awaitable<void> run() {
        asio::steady_timer timer(io->get_executor());
        auto next = std::chrono::steady_clock::now();
        for (;;) {
            try {
                co_await poll_once();
            } catch (const std::exception& e) {
                record_failure("internal: " + std::string(e.what()), options.clock());
            }
            // Fixed rate from each poll's start; a poll that overran its slot is followed
            // by the next one at once rather than by a burst of catch-up polls.
            next += src.interval;
            const auto now = std::chrono::steady_clock::now();
            if (next < now) next = now;
            timer.expires_at(next);
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
};

HttpPriceFeed::HttpPriceFeed(prices::PriceSourceConfig cfg, HttpFeedOptions options)
    : impl_(std::make_unique<Impl>(std::move(cfg), std::move(options))) {}

HttpPriceFeed::~HttpPriceFeed() = default;

policies::PriceInput HttpPriceFeed::current(TimePoint now) {
    std::lock_guard lock(impl_->mu);
    impl_->note_staleness(now);
    const auto r = impl_->state.current(now);
    policies::PriceInput in;
    if (!r.stale) {
        in.price_per_mwh = r.price_per_mwh;
        return in;
    }
    in.price_per_mwh = r.last_price_per_mwh;
    in.stale = true;
    in.why = r.reason;
    return in;
}

std::string HttpPriceFeed::describe() const {
    return "http feed " + impl_->src.url + " " + impl_->src.json_path + " every " +
           format_duration(impl_->src.interval);
}

void HttpPriceFeed::start() {
    std::lock_guard lock(impl_->run_mu);
    if (impl_->started || impl_->stopped) return;
    impl_->started = true;
    log::info("price feed polling", {{"url", impl_->src.url},
                                     {"json_path", impl_->src.json_path},
                                     {"interval", format_duration(impl_->src.interval)},
                                     {"stale_after", format_duration(impl_->src.stale_after)}});
    asio::co_spawn(*impl_->io, impl_->run(), asio::detached);
    impl_->thread = std::thread([io = impl_->io.get()] { io->run(); });
}

void HttpPriceFeed::stop() { impl_->stop(); }

prices::FeedReading HttpPriceFeed::reading(TimePoint now) const {
    std::lock_guard lock(impl_->mu);
    return impl_->state.current(now);
}

std::uint64_t HttpPriceFeed::polls() const noexcept { return impl_->polls.load(); }
std::uint64_t HttpPriceFeed::failures() const noexcept { return impl_->failures.load(); }

std::unique_ptr<PriceProvider> make_http_price_feed(const prices::PriceSourceConfig& cfg) {
    return std::make_unique<HttpPriceFeed>(cfg);
}

}  // namespace hashwatt::collector::control
