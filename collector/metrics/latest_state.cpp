#include "collector/metrics/latest_state.hpp"

#include "collector/storage/store.hpp"

#include <algorithm>
#include <utility>

namespace hashwatt::collector {

namespace {

double value_or_absent(const std::optional<double>& v) { return v ? *v : LatestMiner::kAbsent; }

double value_or_absent(const std::optional<std::int64_t>& v) {
    return v ? static_cast<double>(*v) : LatestMiner::kAbsent;
}

// Adds `v` to `sum` if reported; `sum` stays absent until some pool reports.
void add_count(double& sum, const std::optional<std::int64_t>& v) {
    if (!v) return;
    sum = (LatestMiner::has(sum) ? sum : 0.0) + static_cast<double>(*v);
}

}  // namespace

LatestState::LatestState(LatestStateOptions options) : options_(options) {}

std::shared_ptr<const MinerIdentity> LatestState::intern(MinerIdentity identity) {
    std::lock_guard lock(intern_mutex_);
    auto key = std::make_tuple(identity.site, identity.make, identity.model, identity.firmware,
                               identity.driver);
    auto& slot = identities_[std::move(key)];
    if (auto held = slot.lock()) return held;
    auto fresh = std::make_shared<const MinerIdentity>(std::move(identity));
    slot = fresh;
    return fresh;
}

std::vector<LatestMinerPtr> LatestState::prepare(const std::vector<MinerSample>& samples,
                                                 const std::optional<std::string>& default_site) {
    std::vector<LatestMinerPtr> out;
    out.reserve(samples.size());
    for (const auto& s : samples) {
        auto m = std::make_shared<LatestMiner>();
        m->miner_id = s.miner_id;
        MinerIdentity id;
        if (s.site) {
            id.site = *s.site;
        } else if (default_site) {
            id.site = *default_site;
        }
        id.make = s.make.value_or("");
        id.model = s.model.value_or("");
        id.firmware = s.firmware.value_or("");
        id.driver = s.driver.value_or("");
        m->identity = intern(std::move(id));
        m->observed_at = s.observed_at;
        m->up = s.up;
        m->state = s.state;
        m->hashrate_ths = value_or_absent(s.hashrate_ths);
        m->expected_hashrate_ths = value_or_absent(s.expected_hashrate_ths);
        m->power_w = value_or_absent(s.power_w);
        m->power_limit_w = value_or_absent(s.power_limit_w);
        m->inlet_temp_c = value_or_absent(s.inlet_temp_c);
        m->outlet_temp_c = value_or_absent(s.outlet_temp_c);
        m->hw_errors_total = value_or_absent(s.hw_errors_total);
        m->uptime_s = value_or_absent(s.uptime_s);
        for (const auto& p : s.pools) {
            add_count(m->shares_accepted, p.accepted);
            add_count(m->shares_rejected, p.rejected);
            add_count(m->shares_stale, p.stale);
        }
        m->boards.reserve(s.boards.size());
        for (const auto& b : s.boards) {
            m->boards.push_back({b.index, value_or_absent(b.hashrate_ths),
                                 value_or_absent(b.chip_temp_max_c),
                                 value_or_absent(b.board_temp_max_c)});
        }
        m->fans_rpm.reserve(s.fans_rpm.size());
        for (auto rpm : s.fans_rpm) m->fans_rpm.push_back(static_cast<double>(rpm));
        out.push_back(std::move(m));
    }
    return out;
}

std::size_t LatestState::apply(const std::vector<LatestMinerPtr>& entries) {
    std::size_t kept = 0;
    std::lock_guard lock(mutex_);
    for (const auto& e : entries) {
        auto it = miners_.find(e->miner_id);
        if (it == miners_.end()) {
            miners_.emplace(e->miner_id, e);
            ++kept;
        } else if (e->observed_at > it->second->observed_at) {
            it->second = e;
            ++kept;
        }
    }
    return kept;
}

std::size_t LatestState::update(const std::vector<MinerSample>& samples,
                                const std::optional<std::string>& default_site) {
    return apply(prepare(samples, default_site));
}

std::size_t LatestState::seed(const Store& store) { return update(store.latest_samples()); }

bool LatestState::forget(const std::string& miner_id) {
    std::lock_guard lock(mutex_);
    return miners_.erase(miner_id) > 0;
}

std::size_t LatestState::retain_only(const std::vector<std::string>& miner_ids) {
    std::vector<std::string_view> keep(miner_ids.begin(), miner_ids.end());
    std::sort(keep.begin(), keep.end());
    std::size_t dropped = 0;
    std::lock_guard lock(mutex_);
    for (auto it = miners_.begin(); it != miners_.end();) {
        if (std::binary_search(keep.begin(), keep.end(), std::string_view(it->first))) {
            ++it;
        } else {
            it = miners_.erase(it);
            ++dropped;
        }
    }
    return dropped;
}

std::size_t LatestState::prune(TimePoint now) {
    const TimePoint horizon =
        now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.stale_after);
    std::size_t dropped = 0;
    {
        std::lock_guard lock(mutex_);
        for (auto it = miners_.begin(); it != miners_.end();) {
            if (it->second->observed_at < horizon) {
                it = miners_.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
    }
    std::lock_guard lock(intern_mutex_);
    std::erase_if(identities_, [](const auto& kv) { return kv.second.expired(); });
    return dropped;
}

std::vector<LatestMinerPtr> LatestState::snapshot(TimePoint now) const {
    const TimePoint horizon =
        now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.stale_after);
    std::vector<LatestMinerPtr> out;
    std::lock_guard lock(mutex_);
    out.reserve(miners_.size());
    for (const auto& [id, m] : miners_) {
        if (m->observed_at >= horizon) out.push_back(m);
    }
    return out;
}

std::size_t LatestState::size() const {
    std::lock_guard lock(mutex_);
    return miners_.size();
}

}  // namespace hashwatt::collector
