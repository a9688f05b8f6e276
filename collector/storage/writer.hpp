// The single writer: one thread owns the Store's write side and commits the batches in arrival
// order (those queued back to back in one transaction, each in a savepoint of its own), so the
// HTTP layer never writes and can answer an agent only after its batch is durable. Between
// batches it runs the periodic rollup and retention jobs and the command verification; other
// writes (commands) come as jobs on the same queue.
#pragma once

#include "collector/storage/schema.hpp"
#include "collector/storage/store.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace hashwatt::collector {

// How far past checkpoint_after_pages the WAL may grow before the writer checkpoints itself.
inline constexpr std::int64_t kWalBackstopFactor = 4;

struct StoreWriterOptions {
    std::size_t queue_capacity = 256;  // batches waiting; beyond it try_submit refuses
    // Batches already queued when the writer takes the next one commit with it in one
    // transaction, up to this many samples in all (a larger batch still commits alone).
    // 1 commits every batch on its own.
    std::size_t group_max_samples = 4000;
    // How often rollups and retention run on the writer thread; nullopt never (tests, tools).
    std::optional<std::chrono::milliseconds> maintenance_interval = std::chrono::minutes{1};
    RetentionHorizons horizons;
    // How often every open command is checked against the samples and its deadline
    // (Store::verify_commands); nullopt never. A batch's own miners are checked after each
    // committed batch regardless.
    std::optional<std::chrono::milliseconds> verify_interval = std::chrono::seconds{5};
    // How often a thread of the writer's own looks at the WAL's length and, once it passes
    // checkpoint_after_pages, copies it back into the file (Store::checkpoint), so that commits
    // never wait for that copy and its fsync; nullopt: the write connection checkpoints as it
    // commits (SQLite's way).
    std::optional<std::chrono::milliseconds> checkpoint_poll = std::chrono::milliseconds{100};
    std::int64_t checkpoint_after_pages = kWalCheckpointPages;
    // Past kWalBackstopFactor x checkpoint_after_pages the writer checkpoints (RESTART) itself
    // between batches instead of waiting for that thread.
    // The time maintenance and verification run at; empty: the system clock. A benchmark whose
    // samples' clock runs faster than the wall clock gives its own, so that rollups see the
    // buckets it completes as they complete.
    std::function<TimePoint()> clock;
    // Called after a maintenance job (rollups, retention, command verification, a WAL
    // checkpoint) failed and was logged, on the writer's or the checkpointer's thread: the
    // collector counts these in hashwatt_collector_store_errors_total. Must be thread-safe and
    // should not throw.
    std::function<void()> on_maintenance_error;
};

class StoreWriter {
  public:
    // `store` must outlive the writer.
    StoreWriter(Store& store, StoreWriterOptions options = {});
    // Drains the queue and stops (shutdown()).
    ~StoreWriter();
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;

    // Queues a batch, waiting while the queue is full. The future holds the IngestResult once
    // the batch is committed, or the exception ingest threw (InvalidBatch, sqlite::Error).
    // Throws std::runtime_error after shutdown().
    std::future<IngestResult> submit(IngestBatch batch);
    // As submit, but returns nullopt at once when the queue is full (the caller answers 503 and
    // the agent retries from its spool).
    std::optional<std::future<IngestResult>> try_submit(IngestBatch batch);

    // Called on the writer thread once the batch is committed (error == nullptr) or refused
    // (result empty, error holds InvalidBatch or sqlite::Error). For an event loop that must
    // not block on a future: post the answer back to its own executor. Should not throw (a
    // std::exception thrown is logged and swallowed).
    using Callback = std::function<void(const IngestResult& result, std::exception_ptr error)>;
    // As try_submit with a callback: false (callback never called) when the queue is full.
    bool try_submit(IngestBatch batch, Callback done);

    // Any other write, run on the writer thread in queue order with the batches; `done` is
    // called there afterwards with what `write` threw (nullptr when it returned). As the
    // callback form of try_submit: false (nothing called) when the queue is full; throws
    // std::runtime_error after shutdown(). `done` should not throw.
    using WriteJob = std::function<void(Store& store)>;
    using WriteDone = std::function<void(std::exception_ptr error)>;
    bool try_submit_write(WriteJob write, WriteDone done);

    // Stops accepting batches, commits every queued one, and joins the thread. Idempotent.
    void shutdown();

    std::size_t queued() const;
    // False once shutdown() has begun; /readyz reports it.
    bool accepting() const;

  private:
    struct Job {
        IngestBatch batch;
        std::promise<IngestResult> done;
        Callback callback;  // when set, used instead of `done`
        WriteJob write;     // when set, the job is this instead of the batch
        WriteDone write_done;
    };

    // Queues under the lock; false when full. Throws after shutdown().
    bool enqueue(Job& job, bool wait);

    void run();
    // Commits a group of ingest jobs and answers each.
    void ingest(std::vector<Job>& group, const std::function<TimePoint()>& now);
    void checkpoint_loop();
    void maintain(TimePoint now);
    void verify(TimePoint now, const std::vector<std::string>* miner_ids);
    void maintenance_failed() noexcept;

    Store& store_;
    StoreWriterOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    bool restart_due_ = false;  // the checkpointer asks the writer to restart the WAL
    std::condition_variable checkpoint_stop_;
    std::thread thread_;
    std::thread checkpointer_;
};

}  // namespace hashwatt::collector
