// The newest sample of every miner, kept in memory in a compact form for /metrics (and later
// for alerts): updated after each committed ingest batch, seeded from the store at startup.
// Entries are immutable and shared, so a scrape takes a snapshot under the lock and builds its
// output without holding it. Staleness and memory are described in docs/metrics.md.
#pragma once

#include "common/miner_sample.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace hashwatt::collector {

class Store;

// The labels of hashwatt_miner_info and the site label. Interned: the miners of one site and
// model share one instance, so 10,000 miners hold a handful of these. Empty = not reported.
struct MinerIdentity {
    std::string site;
    std::string make;
    std::string model;
    std::string firmware;
    std::string driver;
};

// What /metrics needs of one sample. Numbers are NaN when the miner did not report them
// (has() tells), which keeps an entry about a third the size of a MinerSample.
struct LatestMiner {
    struct Board {
        int index = 0;
        double hashrate_ths = kAbsent;
        double chip_temp_max_c = kAbsent;
        double board_temp_max_c = kAbsent;
    };

    static constexpr double kAbsent = __builtin_nan("");
    static bool has(double v) noexcept { return v == v; }

    std::string miner_id;
    std::shared_ptr<const MinerIdentity> identity;  // never null
    TimePoint observed_at{};
    bool up = false;
    MinerState state = MinerState::offline;
    double hashrate_ths = kAbsent;
    double expected_hashrate_ths = kAbsent;
    double power_w = kAbsent;
    double power_limit_w = kAbsent;
    double inlet_temp_c = kAbsent;
    double outlet_temp_c = kAbsent;
    double hw_errors_total = kAbsent;
    double uptime_s = kAbsent;
    // Summed over the pools that reported each count; absent when none did.
    double shares_accepted = kAbsent;
    double shares_rejected = kAbsent;
    double shares_stale = kAbsent;
    std::vector<Board> boards;
    std::vector<double> fans_rpm;
};

using LatestMinerPtr = std::shared_ptr<const LatestMiner>;

struct LatestStateOptions {
    // A miner whose newest sample was observed longer ago than this is no longer exported
    // (the agent stopped reporting it, or it was removed). Measured against observed_at.
    std::chrono::milliseconds stale_after = std::chrono::hours{1};
};

// Thread-safe: every member may be called from any thread.
class LatestState {
  public:
    explicit LatestState(LatestStateOptions options = {});

    // Compacts samples into entries without touching the map, so that the ingest path can do
    // this work before the commit and apply() only after it. `default_site` fills in samples
    // that carry no site (as Store::ingest does).
    std::vector<LatestMinerPtr> prepare(const std::vector<MinerSample>& samples,
                                        const std::optional<std::string>& default_site = {});
    // Keeps each entry whose observed_at is newer than what is held for its miner (or that is
    // the first for it). Returns how many were kept.
    std::size_t apply(const std::vector<LatestMinerPtr>& entries);
    // prepare() + apply() in one step.
    std::size_t update(const std::vector<MinerSample>& samples,
                       const std::optional<std::string>& default_site = {});
    // Loads the newest sample of every miner in the store (startup); only-newer as apply().
    std::size_t seed(const Store& store);

    // Stops exporting a miner (deleted from the store, decommissioned). True if it was held.
    bool forget(const std::string& miner_id);
    // Drops every miner not in `miner_ids` (e.g. the store's miners after retention).
    // Returns how many were dropped.
    std::size_t retain_only(const std::vector<std::string>& miner_ids);
    // Drops entries that are stale at `now`, freeing their memory. Returns how many.
    std::size_t prune(TimePoint now);

    // The entries that are not stale at `now`, ordered by miner_id. Holds the lock only to
    // copy the pointers; the entries themselves never change.
    std::vector<LatestMinerPtr> snapshot(TimePoint now) const;
    // Every entry held, stale or not.
    std::size_t size() const;
    const LatestStateOptions& options() const noexcept { return options_; }

  private:
    std::shared_ptr<const MinerIdentity> intern(MinerIdentity identity);

    LatestStateOptions options_;
    mutable std::mutex mutex_;
    std::map<std::string, LatestMinerPtr, std::less<>> miners_;
    // Interned identities; a weak reference, so a tuple no miner uses any more is reclaimed
    // (its slot is swept by prune()).
    std::mutex intern_mutex_;
    std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>,
             std::weak_ptr<const MinerIdentity>>
        identities_;
};

}  // namespace hashwatt::collector
