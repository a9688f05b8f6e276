// The agent's uplink to the collector: samples are gathered into batches, each batch goes to
// the disk spool first (so it survives a crash or a collector outage) and a sender POSTs the
// spooled batches to /api/v1/ingest, oldest first, deleting each only after a 2xx. The
// collector acknowledges a repeated (agent_id, batch_seq) as a duplicate, so a batch whose
// acknowledgement was lost is simply sent again. Wire format and retry rules: docs/api.md.
#pragma once

#include "agent/config.hpp"
#include "agent/uplink/spool.hpp"
#include "common/miner_sample.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace boost::asio::ssl {
class context;
}

namespace hashwatt::agent {

// The POST /api/v1/ingest body: {"agent_id","site","batch_seq","samples":[...]}.
std::string encode_ingest_batch(std::string_view agent_id, std::string_view site,
                                std::int64_t batch_seq, const std::vector<MinerSample>& samples);

// The wait before retry number `failures` (1, 2, ...): retry_min * 2^(failures-1), at most
// retry_max, then scaled into [half, all] of that by `draw` in [0, 1] (jitter, so that agents
// cut off together do not come back together). Pure.
Duration retry_delay(Duration retry_min, Duration retry_max, int failures, double draw);

// Retry-After in its delay-seconds form ("5"); nullopt for anything else (HTTP dates included).
std::optional<Duration> parse_retry_after(std::string_view value);

// How the collector answered one POST, as the sender sees it.
enum class SendVerdict {
    delivered,  // 2xx (a duplicate included): the batch leaves the spool
    rejected,   // a 4xx that will never change (bad batch): moved to rejected/
    retry,      // connection error, timeout, 5xx, 408, 429, or a configuration problem
                // (401, 403, 404, 405) that the operator must fix; the batch stays
};
SendVerdict classify_status(unsigned status);

struct UplinkStats {
    std::uint64_t samples_spooled = 0;    // samples written to the spool
    std::uint64_t batches_sent = 0;       // acknowledged with a 2xx (duplicates included)
    std::uint64_t samples_sent = 0;       // samples in those batches
    std::uint64_t batches_duplicate = 0;  // of batches_sent: the collector had them already
    std::uint64_t send_failures = 0;      // POSTs that did not end in 2xx or rejection
    std::uint64_t batches_dropped = 0;    // lost to the spool's limits or to spool I/O errors
    std::uint64_t samples_dropped = 0;
    std::uint64_t batches_rejected = 0;  // moved to rejected/
    std::size_t buffered_samples = 0;    // not yet cut into a batch
    SpoolDepth spool;
};

class Uplink {
  public:
    // Opens the spool in cfg.spool_dir (throws std::system_error naming the directory when it
    // cannot) and, for https, loads cfg.ca_file (throws std::runtime_error naming it). Nothing
    // is sent before start().
    Uplink(boost::asio::any_io_executor ex, UplinkConfig cfg, std::string agent_id,
           std::string site);
    ~Uplink();
    Uplink(const Uplink&) = delete;
    Uplink& operator=(const Uplink&) = delete;

    // Starts the sender, which first delivers what an earlier run left in the spool.
    void start();

    // Buffers a sample; the batch is cut (and spooled) at batch_max_samples, or once its
    // oldest sample is batch_max_age old. Call on the executor.
    void add(MinerSample sample);
    // Cuts the buffered samples into a batch now (no-op when empty). Call on the executor.
    void flush();

    // Flushes the buffer to the spool and gives the sender until shutdown_timeout to deliver
    // what is spooled (a request in flight is cut off at that deadline too); stops at the first
    // failure. Returns with the rest still spooled, for the next run. Call on the executor and
    // let it complete before the Uplink is destroyed. Idempotent.
    boost::asio::awaitable<void> stop();

    // Safe from any thread.
    UplinkStats stats() const;
    Spool& spool() noexcept { return *spool_; }
    // The verifying client context of an https:// uplink (null for http), for the command
    // loop, which talks to the same collector.
    std::shared_ptr<boost::asio::ssl::context> tls_context() const { return tls_; }

  private:
    boost::asio::awaitable<void> send_loop();
    boost::asio::awaitable<SendVerdict> send(const SpooledBatch& batch,
                                             std::optional<Duration>& retry_after);
    boost::asio::awaitable<void> wait_abort();
    void arm_age_timer();

    boost::asio::any_io_executor ex_;
    UplinkConfig cfg_;
    std::string agent_id_;
    std::string site_;
    std::string target_;
    std::unique_ptr<Spool> spool_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    std::vector<MinerSample> buffer_;
    std::uint64_t generation_ = 0;  // bumped at every cut; a stale age timer does nothing
    std::mt19937_64 rng_;

    boost::asio::steady_timer age_timer_;
    boost::asio::steady_timer wake_;     // the idle sender sleeps on it; a cut cancels it
    boost::asio::steady_timer backoff_;  // between retries; stop() cancels it
    boost::asio::steady_timer abort_;    // expires at the shutdown deadline, cutting a request
    boost::asio::steady_timer done_;     // stop() waits on it for the sender to finish

    bool started_ = false;
    bool stopping_ = false;
    bool stopped_ = false;
    bool sender_running_ = false;
    std::chrono::steady_clock::time_point shutdown_deadline_{};

    std::atomic<std::uint64_t> samples_spooled_{0}, batches_sent_{0}, samples_sent_{0},
        batches_duplicate_{0}, send_failures_{0}, io_dropped_batches_{0}, io_dropped_samples_{0};
    std::atomic<std::size_t> buffered_{0};
};

}  // namespace hashwatt::agent
