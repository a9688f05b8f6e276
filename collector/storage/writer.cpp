#include "collector/storage/writer.hpp"

#include "collector/storage/schema.hpp"
#include "common/log.hpp"

#include <stdexcept>
#include <utility>

namespace hashwatt::collector {

StoreWriter::StoreWriter(Store& store, StoreWriterOptions options)
    : store_(store), options_(std::move(options)) {
    if (options_.queue_capacity == 0) options_.queue_capacity = 1;
    if (options_.checkpoint_poll) {
        store_.set_auto_checkpoint(false);
        checkpointer_ = std::thread([this] { checkpoint_loop(); });
    }
    thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() { shutdown(); }

bool StoreWriter::enqueue(Job& job, bool wait) {
    std::unique_lock lock(mutex_);
    if (wait) {
        not_full_.wait(lock, [&] { return stopping_ || queue_.size() < options_.queue_capacity; });
    }
    if (stopping_) throw std::runtime_error("store writer is shut down");
    if (queue_.size() >= options_.queue_capacity) return false;
    queue_.push_back(std::move(job));
    not_empty_.notify_one();
    return true;
}

std::future<IngestResult> StoreWriter::submit(IngestBatch batch) {
    Job job{std::move(batch), {}, {}, {}, {}};
    auto future = job.done.get_future();
    enqueue(job, true);
    return future;
}

std::optional<std::future<IngestResult>> StoreWriter::try_submit(IngestBatch batch) {
    Job job{std::move(batch), {}, {}, {}, {}};
    auto future = job.done.get_future();
    if (!enqueue(job, false)) return std::nullopt;
    return future;
}

bool StoreWriter::try_submit(IngestBatch batch, Callback done) {
    Job job{std::move(batch), {}, std::move(done), {}, {}};
    return enqueue(job, false);
}

bool StoreWriter::try_submit_write(WriteJob write, WriteDone done) {
    Job job{{}, {}, {}, std::move(write), std::move(done)};
    return enqueue(job, false);
}

void StoreWriter::shutdown() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    if (thread_.joinable()) thread_.join();
    checkpoint_stop_.notify_all();
    if (checkpointer_.joinable()) {
        checkpointer_.join();
        // The writer is done: whoever writes next (tools, tests) checkpoints as it commits.
        try {
            store_.set_auto_checkpoint(true);
        } catch (const std::exception& e) {
            log::warn("cannot restore automatic checkpoints", {{"error", e.what()}});
        }
    }
}

void StoreWriter::checkpoint_loop() {
    // Passive checkpoints copy the WAL while commits go on; what they leave (the frames
    // committed meanwhile) shrinks each time. The last step is a restart, done by the writer
    // for that remainder only, so that the next commit starts the WAL afresh instead of
    // growing the file forever.
    constexpr std::int64_t kSmallRemainder = 1024;
    constexpr int kPassiveTries = 3;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        checkpoint_stop_.wait_for(lock, *options_.checkpoint_poll, [this] { return stopping_; });
        if (stopping_) break;
        if (store_.wal_frames() < options_.checkpoint_after_pages) continue;
        lock.unlock();
        bool copied = false;
        try {
            for (int i = 0; i < kPassiveTries; ++i) {
                const auto r = store_.checkpoint(false);
                copied = true;
                if (r.wal_frames - r.checkpointed < kSmallRemainder) break;
            }
        } catch (const std::exception& e) {
            log::warn("WAL checkpoint failed", {{"error", e.what()}});
            maintenance_failed();
        }
        lock.lock();
        if (!copied || stopping_) continue;
        // The writer restarts the log between two batches (see run()); until it has, there
        // is nothing to do here.
        restart_due_ = true;
        not_empty_.notify_one();
        checkpoint_stop_.wait(lock, [this] { return stopping_ || !restart_due_; });
    }
}

std::size_t StoreWriter::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

bool StoreWriter::accepting() const {
    std::lock_guard lock(mutex_);
    return !stopping_;
}

void StoreWriter::run() {
    using Steady = std::chrono::steady_clock;
    auto next_maintenance = Steady::now();
    auto next_verify = Steady::now();
    std::int64_t backstop_frames = kWalBackstopFactor * options_.checkpoint_after_pages;
    const std::function<TimePoint()> wall_now = [this] {
        if (options_.clock) return options_.clock();
        return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
    };
    for (;;) {
        std::unique_lock lock(mutex_);
        const auto ready = [&] { return stopping_ || !queue_.empty() || restart_due_; };
        auto wake = Steady::time_point::max();
        if (options_.maintenance_interval) wake = std::min(wake, next_maintenance);
        if (options_.verify_interval) wake = std::min(wake, next_verify);
        if (wake != Steady::time_point::max()) {
            not_empty_.wait_until(lock, wake, ready);
        } else {
            not_empty_.wait(lock, ready);
        }
        if (restart_due_) {
            // The checkpointer copied the bulk of the WAL already; restarting the log takes
            // the write lock, which a writer with batches queued back to back would hardly
            // ever leave free for another connection: it is done here, between two batches.
            lock.unlock();
            try {
                const auto r = store_.checkpoint(true);
                if (r.busy) {
                    log::debug("WAL checkpoint could not restart the log (a reader); retrying",
                               {{"wal_frames", std::to_string(r.wal_frames)}});
                }
            } catch (const std::exception& e) {
                log::warn("WAL checkpoint failed", {{"error", e.what()}});
                maintenance_failed();
            }
            lock.lock();
            restart_due_ = false;
            checkpoint_stop_.notify_all();
            continue;
        }
        if (queue_.empty() && stopping_) return;  // drained
        // Checked before each batch, not only when idle, so that steady ingest cannot starve
        // rollups, retention and verification.
        if (options_.maintenance_interval && Steady::now() >= next_maintenance) {
            lock.unlock();
            maintain(wall_now());
            next_maintenance = Steady::now() + *options_.maintenance_interval;
            continue;
        }
        if (options_.verify_interval && Steady::now() >= next_verify) {
            lock.unlock();
            verify(wall_now(), nullptr);
            next_verify = Steady::now() + *options_.verify_interval;
            continue;
        }
        if (queue_.empty()) continue;
        // Batches queued back to back commit together (group commit): under load the
        // per-transaction cost (the WAL append and lock, the statement resets) is paid once for
        // the group instead of once a batch. A write job ends a group, so queue order holds.
        std::vector<Job> group;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
        if (!group.front().write) {
            std::size_t samples = group.front().batch.samples.size();
            while (!queue_.empty() && !queue_.front().write &&
                   samples + queue_.front().batch.samples.size() <= options_.group_max_samples) {
                samples += queue_.front().batch.samples.size();
                group.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        lock.unlock();
        not_full_.notify_all();
        if (options_.checkpoint_poll) {
            // The checkpointer has fallen far behind (starved of CPU, or its copies keep
            // failing): the writer restarts the log itself before this job, so the WAL stays
            // bounded whatever the other thread's luck. The frame count is the last commit's,
            // so the next try waits until the WAL has grown by another checkpoint_after_pages:
            // a reader that keeps the log from restarting does not make each batch wait.
            const std::int64_t frames = store_.wal_frames();
            const std::int64_t limit = kWalBackstopFactor * options_.checkpoint_after_pages;
            if (frames < limit) backstop_frames = limit;
            if (frames >= backstop_frames) {
                backstop_frames = frames + options_.checkpoint_after_pages;
                try {
                    store_.checkpoint(true);
                } catch (const std::exception& e) {
                    log::warn("WAL checkpoint failed", {{"error", e.what()}});
                    maintenance_failed();
                }
            }
        }
        if (group.front().write) {
            Job& job = group.front();
            std::exception_ptr error;
            try {
                job.write(store_);
            } catch (...) {
                error = std::current_exception();
            }
            try {
                if (job.write_done) job.write_done(error);
            } catch (const std::exception& e) {
                log::error("store writer callback threw", {{"error", e.what()}});
            }
            continue;
        }
        ingest(group, wall_now);
    }
}

void StoreWriter::ingest(std::vector<Job>& group, const std::function<TimePoint()>& now) {
    std::vector<const IngestBatch*> batches;
    batches.reserve(group.size());
    for (const auto& job : group) batches.push_back(&job.batch);
    std::vector<GroupedIngest> outcomes;
    try {
        // received_at by the writer's clock when it has one of its own: a benchmark whose
        // samples run ahead of the wall clock is judged (future skew, retention) by it.
        outcomes = store_.ingest_group(batches, options_.clock ? now() : TimePoint{});
    } catch (...) {
        // The transaction itself could not start (BEGIN, SAVEPOINT): nothing was written, every
        // batch of the group gets the error and its agent resends it.
        outcomes.assign(group.size(), GroupedIngest{{}, std::current_exception()});
    }
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < group.size(); ++i) {
        Job& job = group[i];
        const GroupedIngest& o = outcomes[i];
        if (job.callback) {
            try {
                job.callback(o.result, o.error);
            } catch (const std::exception& e) {
                // A throwing callback must not take the only writer down with it.
                log::error("store writer callback threw", {{"error", e.what()}});
            }
        } else if (o.error) {
            job.done.set_exception(o.error);
        } else {
            job.done.set_value(o.result);
        }
        if (!o.error && o.result.stored > 0) {
            for (const auto& s : job.batch.samples) ids.push_back(s.miner_id);
        }
    }
    // After the answers, so the agents are not kept waiting: a command on these miners gets
    // its verdict from the batch that shows it.
    if (!ids.empty()) verify(now(), &ids);
}

void StoreWriter::maintain(TimePoint now) {
    // A failed job is logged and retried at the next interval; ingest must go on regardless.
    try {
        store_.run_rollups(now);
        store_.apply_retention(now, options_.horizons);
    } catch (const std::exception& e) {
        log::warn("storage maintenance failed", {{"error", e.what()}});
        maintenance_failed();
    }
}

void StoreWriter::verify(TimePoint now, const std::vector<std::string>* miner_ids) {
    try {
        const auto r = store_.verify_commands(now, miner_ids);
        if (r.succeeded + r.failed + r.timed_out > 0) {
            log::info("commands verified", {{"succeeded", std::to_string(r.succeeded)},
                                            {"failed", std::to_string(r.failed)},
                                            {"timed_out", std::to_string(r.timed_out)}});
        }
    } catch (const std::exception& e) {
        log::warn("command verification failed", {{"error", e.what()}});
        maintenance_failed();
    }
}

void StoreWriter::maintenance_failed() noexcept {
    if (!options_.on_maintenance_error) return;
    try {
        options_.on_maintenance_error();
    } catch (const std::exception& e) {
        log::error("store writer error hook threw", {{"error", e.what()}});
    } catch (...) {
        log::error("store writer error hook threw", {});
    }
}

}  // namespace hashwatt::collector
