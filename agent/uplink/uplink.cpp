#include "agent/uplink/uplink.hpp"

#include "agent/transport/transport.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/tls.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::agent {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

// The collector answers in a few dozen bytes; anything near this is not our collector.
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

// The collector's {"error","path"} as one line, else the start of the body.
std::string error_text(const std::string& body) {
    boost::json::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        const auto& o = v.get_object();
        if (const auto* e = o.if_contains("error"); e && e->is_string()) {
            std::string text(e->get_string());
            if (const auto* p = o.if_contains("path");
                p && p->is_string() && !p->get_string().empty()) {
                text += " (at " + std::string(p->get_string()) + ")";
            }
            return text;
        }
    }
    return body.substr(0, 200);
}

bool reply_says_duplicate(const std::string& body) {
    boost::json::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return false;
    const auto* d = v.get_object().if_contains("duplicate");
    return d && d->is_bool() && d->get_bool();
}

}  // namespace

std::string encode_ingest_batch(std::string_view agent_id, std::string_view site,
                                std::int64_t batch_seq, const std::vector<MinerSample>& samples) {
    std::string out;
    out.reserve(256 + samples.size() * 1024);
    JsonWriter w(out);
    w.begin_object();
    w.field("agent_id", agent_id);
    w.field("site", site);
    w.field("batch_seq", batch_seq);
    w.key("samples");
    w.begin_array();
    for (const auto& s : samples) write_json(w, s);
    w.end_array();
    w.end_object();
    return out;
}

Duration retry_delay(Duration retry_min, Duration retry_max, int failures, double draw) {
    double d = static_cast<double>(retry_min.count());
    for (int i = 1; i < failures && d < static_cast<double>(retry_max.count()); ++i) d *= 2;
    d = std::min(d, static_cast<double>(retry_max.count()));
    d *= 0.5 + 0.5 * std::clamp(draw, 0.0, 1.0);
    return std::max(Duration(static_cast<Duration::rep>(d)), Duration(1));
}

std::optional<Duration> parse_retry_after(std::string_view value) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    std::uint32_t seconds = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size()) {
        return std::nullopt;
    }
    return std::chrono::seconds(seconds);
}

SendVerdict classify_status(unsigned status) {
    if (status >= 200 && status < 300) return SendVerdict::delivered;
    // A bad token or a wrong URL concerns every batch alike: rejecting them one by one would
    // empty the spool into rejected/. Keep them and wait for the operator.
    if (status == 401 || status == 403 || status == 404 || status == 405) return SendVerdict::retry;
    if (status == 408 || status == 429) return SendVerdict::retry;
    if (status >= 400 && status < 500) return SendVerdict::rejected;
    return SendVerdict::retry;
}

Uplink::Uplink(asio::any_io_executor ex, UplinkConfig cfg, std::string agent_id, std::string site)
    : ex_(std::move(ex))
    , cfg_(std::move(cfg))
    , agent_id_(std::move(agent_id))
    , site_(std::move(site))
    , target_(cfg_.base_path + "/api/v1/ingest")
    , spool_(std::make_unique<Spool>(cfg_.spool_dir,
                                     SpoolLimits{cfg_.spool_max_bytes, cfg_.spool_max_batches}))
    , tls_(cfg_.tls ? tls::make_client_context(cfg_.ca_file, cfg_.ca_pinned) : nullptr)
    , rng_(std::random_device{}())
    , age_timer_(ex_)
    , wake_(ex_)
    , backoff_(ex_)
    , abort_(ex_, SteadyClock::time_point::max())
    , done_(ex_) {
    buffer_.reserve(cfg_.batch_max_samples);
}

Uplink::~Uplink() = default;

void Uplink::start() {
    if (started_ || stopping_) return;
    started_ = true;
    sender_running_ = true;
    asio::co_spawn(ex_, send_loop(), [this](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& err) {
                log::error("uplink sender failed", {{"error", err.what()}});
            }
        }
        sender_running_ = false;
        done_.cancel();
    });
    log::info("uplink started", {{"url", cfg_.url},
                                 {"spool_dir", spool_->dir()},
                                 {"spooled_batches", spool_->depth().batches}});
}

void Uplink::add(MinerSample sample) {
    const bool first = buffer_.empty();
    buffer_.push_back(std::move(sample));
    buffered_ = buffer_.size();
    if (buffer_.size() >= cfg_.batch_max_samples || stopped_) {
        flush();
    } else if (first) {
        arm_age_timer();
    }
}

void Uplink::arm_age_timer() {
    age_timer_.expires_after(cfg_.batch_max_age);
    age_timer_.async_wait([this, gen = generation_](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: `this` may be gone
        if (gen == generation_) flush();
    });
}

void Uplink::flush() {
    if (buffer_.empty()) return;
    ++generation_;
    age_timer_.cancel();
    std::vector<MinerSample> batch;
    batch.swap(buffer_);
    buffer_.reserve(cfg_.batch_max_samples);
    buffered_ = 0;
    try {
        const std::int64_t seq = spool_->reserve_seq();
        spool_->push(seq, encode_ingest_batch(agent_id_, site_, seq, batch), batch.size());
        samples_spooled_ += batch.size();
    } catch (const std::exception& e) {
        // The disk refused it (full, read-only): the samples cannot be kept; say so.
        ++io_dropped_batches_;
        io_dropped_samples_ += batch.size();
        log::error("uplink: cannot spool a batch, its samples are lost",
                   {{"samples", batch.size()}, {"error", e.what()}});
    }
    wake_.cancel();
}

asio::awaitable<void> Uplink::wait_abort() {
    for (;;) {
        boost::system::error_code ec;
        co_await abort_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) co_return;  // the shutdown deadline passed
        const auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) co_return;  // the request ended
        // Otherwise stop() moved the deadline: wait for the new one.
    }
}

asio::awaitable<SendVerdict> Uplink::send(const SpooledBatch& batch,
                                          std::optional<Duration>& retry_after) {
    using namespace asio::experimental::awaitable_operators;
    HttpRequestSpec spec;
    spec.method = "POST";
    spec.target = target_;
    spec.body = batch.body;
    HttpAuth auth;
    auth.kind = HttpAuth::Kind::bearer;
    auth.token = cfg_.token;
    TransportOptions opts;
    opts.connect_timeout = cfg_.request_timeout;
    opts.reply_timeout = cfg_.request_timeout;
    opts.max_reply_bytes = kMaxReplyBytes;
    opts.tls = tls_;
    opts.deadline = SteadyClock::now() + cfg_.request_timeout;
    if (stopping_) opts.deadline = std::min(*opts.deadline, shutdown_deadline_);

    // Named first: GCC 12 mishandles temporaries passed to a coroutine (see transport.hpp).
    auto request = http_request(ex_, cfg_.host, cfg_.port, spec, auth, opts);
    auto abort = wait_abort();
    auto outcome = co_await (std::move(request) || std::move(abort));
    if (outcome.index() == 1) {
        log::warn("uplink: shutdown deadline cut a request short", {{"seq", batch.seq}});
        co_return SendVerdict::retry;
    }
    const HttpResult& r = std::get<0>(outcome);
    if (r.error) {
        log::warn("uplink: collector unreachable", {{"url", cfg_.url},
                                                    {"seq", batch.seq},
                                                    {"reason", to_string(r.error->reason)},
                                                    {"detail", r.error->detail}});
        co_return SendVerdict::retry;
    }
    const SendVerdict verdict = classify_status(r.status);
    switch (verdict) {
        case SendVerdict::delivered:
            if (reply_says_duplicate(r.body)) {
                ++batches_duplicate_;
                log::info("uplink: batch acknowledged as a duplicate (an earlier send arrived)",
                          {{"seq", batch.seq}});
            }
            break;
        case SendVerdict::rejected:
            log::error("uplink: collector rejected a batch for good; moved to rejected/",
                       {{"seq", batch.seq},
                        {"samples", batch.samples},
                        {"status", r.status},
                        {"error", error_text(r.body)},
                        {"dir", spool_->rejected_dir()}});
            break;
        case SendVerdict::retry:
            if (r.status == 401 || r.status == 403) {
                log::error(
                    "uplink: collector refuses the agent's token; batches kept until it is "
                    "fixed",
                    {{"url", cfg_.url}, {"status", r.status}, {"error", error_text(r.body)}});
            } else if (r.status == 404 || r.status == 405) {
                log::error("uplink: no ingest endpoint at this URL; check [uplink].url",
                           {{"url", cfg_.url}, {"target", target_}, {"status", r.status}});
            } else {
                log::warn(
                    "uplink: collector asked to retry",
                    {{"seq", batch.seq}, {"status", r.status}, {"error", error_text(r.body)}});
            }
            if (!r.retry_after.empty()) retry_after = parse_retry_after(r.retry_after);
            break;
    }
    co_return verdict;
}

asio::awaitable<void> Uplink::send_loop() {
    int failures = 0;
    bool final_failed = false;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (;;) {
        if (stopping_ && (final_failed || SteadyClock::now() >= shutdown_deadline_)) break;
        std::optional<SpooledBatch> batch;
        std::optional<Duration> retry_after;
        SendVerdict verdict = SendVerdict::retry;
        bool read_failed = false;
        try {
            batch = spool_->oldest();
        } catch (const std::exception& e) {
            read_failed = true;
            log::error("uplink: cannot read the spool", {{"error", e.what()}});
        }
        if (!batch && !read_failed && !stopping_) {
            wake_.expires_at(SteadyClock::time_point::max());
            boost::system::error_code ec;
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (!batch && !read_failed) break;  // stopping, and nothing left
        if (batch) verdict = co_await send(*batch, retry_after);
        try {
            if (batch && verdict == SendVerdict::delivered) {
                spool_->remove(batch->seq);
                ++batches_sent_;
                samples_sent_ += batch->samples;
                if (failures > 0) {
                    log::info("uplink: collector reachable again", {{"failed_attempts", failures}});
                }
                failures = 0;
                continue;
            }
            if (batch && verdict == SendVerdict::rejected) {
                spool_->reject(batch->seq);
                failures = 0;
                continue;
            }
        } catch (const std::exception& e) {
            log::error("uplink: spool update failed", {{"error", e.what()}});
        }
        if (batch) ++send_failures_;
        ++failures;
        if (stopping_) {
            final_failed = true;
            continue;
        }
        Duration delay = retry_delay(cfg_.retry_min, cfg_.retry_max, failures, unit(rng_));
        if (retry_after) delay = std::max(delay, std::min(*retry_after, cfg_.retry_max));
        backoff_.expires_after(delay);
        boost::system::error_code ec;
        co_await backoff_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> Uplink::stop() {
    if (stopped_) co_return;
    stopping_ = true;
    shutdown_deadline_ = SteadyClock::now() + cfg_.shutdown_timeout;
    flush();
    // Moving the expiry cancels a pending wait; wait_abort() then waits for the new deadline.
    abort_.expires_at(shutdown_deadline_);
    wake_.cancel();
    backoff_.cancel();
    while (sender_running_) {
        done_.expires_at(SteadyClock::time_point::max());
        boost::system::error_code ec;
        co_await done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    stopped_ = true;
    const auto d = spool_->depth();
    log::info("uplink stopped", {{"spooled_batches", d.batches},
                                 {"spooled_samples", d.samples},
                                 {"samples_spooled", samples_spooled_.load()},
                                 {"samples_sent", samples_sent_.load()},
                                 {"samples_dropped", stats().samples_dropped}});
}

UplinkStats Uplink::stats() const {
    UplinkStats s;
    s.samples_spooled = samples_spooled_;
    s.batches_sent = batches_sent_;
    s.samples_sent = samples_sent_;
    s.batches_duplicate = batches_duplicate_;
    s.send_failures = send_failures_;
    s.batches_dropped = spool_->dropped_batches() + io_dropped_batches_;
    s.samples_dropped = spool_->dropped_samples() + io_dropped_samples_;
    s.batches_rejected = spool_->rejected_batches();
    s.buffered_samples = buffered_;
    s.spool = spool_->depth();
    return s;
}

}  // namespace hashwatt::agent
