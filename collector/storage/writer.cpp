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
    Job job{std::move(batch), {}, {}};
    auto future = job.done.get_future();
    enqueue(job, true);
    return future;
}

std::optional<std::future<IngestResult>> StoreWriter::try_submit(IngestBatch batch) {
    Job job{std::move(batch), {}, {}};
    auto future = job.done.get_future();
    if (!enqueue(job, false)) return std::nullopt;
    return future;
}

bool StoreWriter::try_submit(IngestBatch batch, Callback done) {
    Job job{std::move(batch), {}, std::move(done)};
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
    auto next_maintenance = std::chrono::steady_clock::now();
    for (;;) {
        std::unique_lock lock(mutex_);
        const auto ready = [&] { return stopping_ || !queue_.empty(); };
        if (options_.maintenance_interval) {
            not_empty_.wait_until(lock, next_maintenance, ready);
        } else {
            not_empty_.wait(lock, ready);
        }
        if (queue_.empty() && stopping_) return;  // drained
        // Checked before each batch, not only when idle, so that steady ingest cannot starve
        // rollups and retention.
        if (options_.maintenance_interval && std::chrono::steady_clock::now() >= next_maintenance) {
            lock.unlock();
            maintain(std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()));
            next_maintenance = std::chrono::steady_clock::now() + *options_.maintenance_interval;
            continue;
        }
        if (queue_.empty()) continue;
        Job job = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        not_full_.notify_one();
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

}  // namespace hashwatt::collector
