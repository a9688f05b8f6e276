#include "collector/storage/writer.hpp"

#include "common/log.hpp"

#include <stdexcept>
#include <utility>

namespace hashwatt::collector {

StoreWriter::StoreWriter(Store& store, StoreWriterOptions options)
    : store_(store), options_(std::move(options)) {
    if (options_.queue_capacity == 0) options_.queue_capacity = 1;
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
    const auto wall_now = [] {
        return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
    };
    for (;;) {
        std::unique_lock lock(mutex_);
        const auto ready = [&] { return stopping_ || !queue_.empty(); };
        auto wake = Steady::time_point::max();
        if (options_.maintenance_interval) wake = std::min(wake, next_maintenance);
        if (options_.verify_interval) wake = std::min(wake, next_verify);
        if (wake != Steady::time_point::max()) {
            not_empty_.wait_until(lock, wake, ready);
        } else {
            not_empty_.wait(lock, ready);
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
        Job job = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        not_full_.notify_one();
        if (job.write) {
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
        IngestResult result;
        std::exception_ptr error;
        try {
            result = store_.ingest(job.batch);
        } catch (...) {
            error = std::current_exception();
        }
        if (job.callback) {
            try {
                job.callback(result, error);
            } catch (const std::exception& e) {
                // A throwing callback must not take the only writer down with it.
                log::error("store writer callback threw", {{"error", e.what()}});
            }
        } else if (error) {
            job.done.set_exception(error);
        } else {
            job.done.set_value(result);
        }
        if (!error && result.stored > 0) {
            // After the answer, so the agent is not kept waiting: a command on these miners
            // gets its verdict from the batch that shows it.
            std::vector<std::string> ids;
            ids.reserve(job.batch.samples.size());
            for (const auto& s : job.batch.samples) ids.push_back(s.miner_id);
            verify(wall_now(), &ids);
        }
    }
}

void StoreWriter::maintain(TimePoint now) {
    // A failed job is logged and retried at the next interval; ingest must go on regardless.
    try {
        store_.run_rollups(now);
        store_.apply_retention(now, options_.horizons);
    } catch (const std::exception& e) {
        log::warn("storage maintenance failed", {{"error", e.what()}});
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
    }
}

}  // namespace hashwatt::collector
