#include "collector/metrics/collector_metrics.hpp"

#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/evaluate.hpp"
#include "collector/storage/store.hpp"
#include "common/version.hpp"

#include <map>
#include <sstream>
#include <utility>

#include <prometheus/text_serializer.h>

namespace hashwatt::collector {

namespace {

namespace pm = prometheus;

// From a fast read route to the long poll of the command route (it waits up to 25 s).
const pm::Histogram::BucketBoundaries kHttpBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

pm::Family<pm::Counter>& ingest_family(pm::Registry& r) {
    return pm::BuildCounter()
        .Name("hashwatt_collector_ingest_batches_total")
        .Help(
            "Ingest batches received, by result: stored (committed), duplicate (a retry of a "
            "stored batch), rejected (refused: bad input, or queue full / storage failure).")
        .Register(r);
}

pm::Family<pm::Counter>& store_errors_family(pm::Registry& r) {
    return pm::BuildCounter()
        .Name("hashwatt_collector_store_errors_total")
        .Help(
            "SQLite failures the collector logged and survived, by operation: ingest (a batch "
            "not committed), maintenance (rollups, retention, verification, checkpoint), query "
            "(a read route).")
        .Register(r);
}

double unix_seconds(TimePoint t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

CollectorMetrics::CollectorMetrics(CollectorMetricsOptions options,
                                   std::function<TimePoint()> clock)
    : latest_(options.latest)
    , clock_(std::move(clock))
    , registry_(std::make_shared<pm::Registry>())
    , ingest_batches_(ingest_family(*registry_))
    , ingest_stored_(ingest_batches_.Add({{"result", "stored"}}))
    , ingest_duplicate_(ingest_batches_.Add({{"result", "duplicate"}}))
    , ingest_rejected_(ingest_batches_.Add({{"result", "rejected"}}))
    , ingest_samples_(pm::BuildCounter()
                          .Name("hashwatt_collector_ingest_samples_total")
                          .Help("Samples written to the store by ingest.")
                          .Register(*registry_)
                          .Add({}))
    , http_requests_(pm::BuildCounter()
                         .Name("hashwatt_collector_http_requests_total")
                         .Help("HTTP requests answered, by route pattern and status code.")
                         .Register(*registry_))
    , http_duration_(pm::BuildHistogram()
                         .Name("hashwatt_collector_http_request_duration_seconds")
                         .Help("Time from a request having been read to the end of writing its "
                               "answer, by route pattern.")
                         .Register(*registry_))
    , queue_batches_(pm::BuildGauge()
                         .Name("hashwatt_collector_ingest_queue_batches")
                         .Help("Ingest batches waiting for the store writer at scrape time.")
                         .Register(*registry_)
                         .Add({}))
    , miners_(pm::BuildGauge()
                  .Name("hashwatt_collector_miners")
                  .Help("Miners exported by this scrape (seen within the staleness window).")
                  .Register(*registry_)
                  .Add({}))
    , scrape_duration_(pm::BuildGauge()
                           .Name("hashwatt_collector_scrape_duration_seconds")
                           .Help("Time taken to build the previous /metrics answer.")
                           .Register(*registry_)
                           .Add({}))
    , store_errors_(store_errors_family(*registry_))
    , store_errors_ingest_(store_errors_.Add({{"operation", "ingest"}}))
    , store_errors_maintenance_(store_errors_.Add({{"operation", "maintenance"}}))
    , store_errors_query_(store_errors_.Add({{"operation", "query"}}))
    , agent_last_ingest_(pm::BuildGauge()
                             .Name("hashwatt_collector_agent_last_ingest_timestamp_seconds")
                             .Help("When the newest batch of each agent was stored (Unix "
                                   "seconds); seeded from the store at startup.")
                             .Register(*registry_)) {
    pm::BuildGauge()
        .Name("hashwatt_build_info")
        .Help("The collector's version; always 1.")
        .Register(*registry_)
        .Add({{"version", kVersion}})
        .Set(1);
}

void CollectorMetrics::add_collectable(std::shared_ptr<const pm::Collectable> collectable) {
    std::lock_guard lock(collectables_mutex_);
    collectables_.push_back(std::move(collectable));
}

std::vector<std::shared_ptr<const pm::Collectable>> CollectorMetrics::collectables() const {
    std::lock_guard lock(collectables_mutex_);
    return collectables_;
}

void CollectorMetrics::record_ingest(IngestOutcome outcome, std::size_t samples_stored) {
    switch (outcome) {
        case IngestOutcome::stored:
            ingest_stored_.Increment();
            break;
        case IngestOutcome::duplicate:
            ingest_duplicate_.Increment();
            break;
        case IngestOutcome::rejected:
            ingest_rejected_.Increment();
            break;
    }
    if (samples_stored > 0) ingest_samples_.Increment(static_cast<double>(samples_stored));
}

void CollectorMetrics::record_store_error(StoreOperation operation) {
    switch (operation) {
        case StoreOperation::ingest:
            store_errors_ingest_.Increment();
            break;
        case StoreOperation::maintenance:
            store_errors_maintenance_.Increment();
            break;
        case StoreOperation::query:
            store_errors_query_.Increment();
            break;
    }
}

void CollectorMetrics::record_agent_ingest(const std::string& agent_id, TimePoint at) {
    const double t = unix_seconds(at);
    std::lock_guard lock(agents_mutex_);
    auto& g = agent_last_ingest_.Add({{"agent", agent_id}});
    if (t > g.Value()) g.Set(t);
}

std::size_t CollectorMetrics::seed_agents(const Store& store) {
    // A day of batch records is what the index on received_at keeps cheap to read at
    // startup; an agent silent for longer is dated by its miners, as AgentSilent does.
    const auto batches = alerts::agent_last_batches(store, clock_() - std::chrono::hours(24));
    std::map<std::string, TimePoint> heard(batches.begin(), batches.end());
    for (const auto& a : alerts::agent_activity(store.miners(), batches)) {
        heard[a.agent_id] = a.last_batch.value_or(a.last_seen);
    }
    for (const auto& [id, at] : heard) record_agent_ingest(id, at);
    return heard.size();
}

void CollectorMetrics::record_http(std::string_view route, unsigned status, double seconds) {
    const std::string r(route);
    http_requests_.Add({{"route", r}, {"code", std::to_string(status)}}).Increment();
    http_duration_.Add({{"route", r}}, kHttpBuckets).Observe(seconds);
}

std::string CollectorMetrics::render(std::size_t ingest_queue_batches) {
    const auto started = std::chrono::steady_clock::now();
    const TimePoint now = clock_();
    latest_.prune(now);  // what a scrape no longer shows need not be held either
    const auto miners = latest_.snapshot(now);
    std::string text;
    // About the last scrape's size, so the text is not copied while it grows.
    text.reserve(last_render_bytes_.load(std::memory_order_relaxed) * 11 / 10 + 4096);
    append_miner_text(miners, text);
    const pm::TextSerializer serializer;
    std::ostringstream out;
    for (const auto& c : collectables()) serializer.Serialize(out, c->Collect());
    miners_.Set(static_cast<double>(miners.size()));
    queue_batches_.Set(static_cast<double>(ingest_queue_batches));
    serializer.Serialize(out, registry_->Collect());
    text.append(std::move(out).str());
    last_render_bytes_.store(text.size(), std::memory_order_relaxed);
    scrape_duration_.Set(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return text;
}

std::vector<pm::MetricFamily> CollectorMetrics::collect(std::size_t ingest_queue_batches) {
    const auto miners = latest_.snapshot(clock_());
    std::vector<pm::MetricFamily> out;
    for (std::size_t i = 0; i < miner_families().size(); ++i) {
        out.push_back(build_miner_family(i, miners));
    }
    for (const auto& c : collectables()) {
        for (auto& f : c->Collect()) out.push_back(std::move(f));
    }
    miners_.Set(static_cast<double>(miners.size()));
    queue_batches_.Set(static_cast<double>(ingest_queue_batches));
    for (auto& f : registry_->Collect()) out.push_back(std::move(f));
    return out;
}

}  // namespace hashwatt::collector
