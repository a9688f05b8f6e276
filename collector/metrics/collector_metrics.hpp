// Everything /metrics serves: the per-miner families (exposition.hpp) from the LatestState,
// further collectables other modules register (alerts, policy), and the collector's own
// metrics (ingest counts, HTTP requests, queue depth, build info) in a prometheus::Registry.
// Families and labels are listed in docs/metrics.md.
#pragma once

#include "collector/metrics/exposition.hpp"
#include "collector/metrics/latest_state.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace hashwatt::collector {

struct CollectorMetricsOptions {
    LatestStateOptions latest;
};

enum class IngestOutcome { stored, duplicate, rejected };
// Where a SQLite failure the collector survived happened: an ingest batch the writer could not
// commit, a maintenance job (rollups, retention, command verification, WAL checkpoint), a read
// route that failed on the store.
enum class StoreOperation { ingest, maintenance, query };

class CollectorMetrics {
  public:
    explicit CollectorMetrics(CollectorMetricsOptions options = {},
                              std::function<TimePoint()> clock = MinerExposition::default_clock);
    CollectorMetrics(const CollectorMetrics&) = delete;
    CollectorMetrics& operator=(const CollectorMetrics&) = delete;

    LatestState& latest() noexcept { return latest_; }
    const LatestState& latest() const noexcept { return latest_; }

    // The registry of the self-metrics; a module with plain counters or gauges of its own may
    // register its families here with prometheus-cpp's builders.
    prometheus::Registry& registry() noexcept { return *registry_; }
    // A module whose families are built at scrape time (alerts, policy) adds its Collectable
    // once; it is collected after the miner families on every scrape. Thread-safe.
    void add_collectable(std::shared_ptr<const prometheus::Collectable> collectable);

    // One POST /api/v1/ingest: how it ended and how many samples were written.
    void record_ingest(IngestOutcome outcome, std::size_t samples_stored);
    // One SQLite failure that was logged and survived. Thread-safe (the writer's threads call
    // it too); the three operations are exported from the start at 0, so rate() works at once.
    void record_store_error(StoreOperation operation);
    // An ingest batch of `agent_id` was stored at `at`. The exported time only moves forward:
    // an older `at` than the one held is ignored. Thread-safe.
    void record_agent_ingest(const std::string& agent_id, TimePoint at);
    // Every agent the store knows, with its newest batch of the last 24 h (else its miners'
    // newest last_seen: older batch records are not read, or retention removed them), as
    // AgentSilent judges it, so that a restart makes no agent look silent or fresh. Returns
    // the number of agents.
    std::size_t seed_agents(const Store& store);

    // One answered HTTP request. `route` must be a route pattern ("/api/v1/miners/{id}"),
    // never a raw path, so the label's values stay few.
    void record_http(std::string_view route, unsigned status, double seconds);

    // The exposition text (format 0.0.4) of every family. `ingest_queue_batches` is the
    // writer's queue depth at this moment. Thread-safe; the miner families are written
    // straight from the snapshot (append_miner_text), so the peak memory is about the text.
    std::string render(std::size_t ingest_queue_batches);
    // The same families as render() would write, as data (tests, the docs check).
    std::vector<prometheus::MetricFamily> collect(std::size_t ingest_queue_batches);

    static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  private:
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables() const;

    LatestState latest_;
    std::function<TimePoint()> clock_;
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& ingest_batches_;
    prometheus::Counter& ingest_stored_;
    prometheus::Counter& ingest_duplicate_;
    prometheus::Counter& ingest_rejected_;
    prometheus::Counter& ingest_samples_;
    prometheus::Family<prometheus::Counter>& http_requests_;
    prometheus::Family<prometheus::Histogram>& http_duration_;
    prometheus::Gauge& queue_batches_;
    prometheus::Gauge& miners_;
    prometheus::Gauge& scrape_duration_;
    prometheus::Family<prometheus::Counter>& store_errors_;
    prometheus::Counter& store_errors_ingest_;
    prometheus::Counter& store_errors_maintenance_;
    prometheus::Counter& store_errors_query_;
    prometheus::Family<prometheus::Gauge>& agent_last_ingest_;
    std::mutex agents_mutex_;  // makes "only forward" of record_agent_ingest atomic
    std::atomic<std::size_t> last_render_bytes_{0};
    mutable std::mutex collectables_mutex_;
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables_;
};

}  // namespace hashwatt::collector
