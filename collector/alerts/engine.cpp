#include "collector/alerts/engine.hpp"

#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/evaluate.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <set>

namespace hashwatt::collector::alerts {

AlertEngine::AlertEngine(Store& store, std::vector<AlertRule> rules, NotifySink sink,
                         AlertEngineOptions options)
    : store_(store), sink_(std::move(sink)), options_(std::move(options)) {
    for (auto& r : rules) {
        if (r.enabled) rules_.push_back(std::move(r));
    }
    for (auto& a : load_active_alerts(store_)) state_.emplace(a.fingerprint, std::move(a));
}

AlertEngine::~AlertEngine() { stop(); }

EvaluationStats AlertEngine::evaluate_once(TimePoint now) {
    std::lock_guard eval_lock(eval_mu_);
    std::map<std::string, Alert> current;
    {
        std::lock_guard lock(mu_);
        current = state_;
    }
    const auto miners = store_.miners();
    std::map<std::string, MinerSample> latest;
    for (auto& s : store_.latest_samples()) latest.emplace(s.miner_id, std::move(s));

    EvaluationStats stats;
    std::vector<AlertWrite> writes;
    std::vector<Alert> announce;
    std::map<std::string, Alert> next = current;
    std::set<std::string> seen;
    const auto apply = [&](const Step& s) {
        if (!s.updated) return;
        std::optional<std::string> message;
        switch (s.change) {
            case Change::none:
                break;
            case Change::pending:
                ++stats.pending;
                message = s.alert.annotations.at("summary");
                break;
            case Change::firing:
                ++stats.firing;
                message = s.alert.annotations.at("summary");
                announce.push_back(s.alert);
                break;
            case Change::resolved:
                ++stats.resolved;
                message = "resolved";
                announce.push_back(s.alert);
                break;
            case Change::inactive:
                ++stats.inactive;
                message = "condition cleared before firing";
                break;
        }
        writes.push_back({s.alert, message});
        if (s.alert.state == AlertState::inactive) {
            next.erase(s.alert.fingerprint);
        } else {
            next[s.alert.fingerprint] = s.alert;
        }
    };

    for (const auto& rule : rules_) {
        for (const auto& m : miners) {
            ++stats.evaluated;
            const auto it = latest.find(m.miner_id);
            const MinerSample* sample = it == latest.end() ? nullptr : &it->second;
            const auto fp = alert_fingerprint(rule.name, m.miner_id);
            seen.insert(fp);
            Evaluation e = evaluate(rule, m, sample, now);
            if (!rule_applies(rule, m, sample)) {
                e.holds = false;  // out of the rule's scope (now): as if healthy
                e.since.reset();
            }
            const auto cur = current.find(fp);
            if (cur == current.end() && !e.holds) continue;  // inactive and staying so
            apply(step(cur == current.end() ? Alert{} : cur->second, e, now, rule, m.miner_id));
        }
    }
    // Alerts no (rule, miner) pair produced this time: a miner gone from the table, or a rule
    // removed or disabled since they were saved. They must not stay firing forever.
    for (const auto& [fp, a] : current) {
        if (seen.count(fp)) continue;
        const AlertRule* rule = nullptr;
        for (const auto& r : rules_) {
            if (r.name == a.alertname) rule = &r;
        }
        if (rule != nullptr) {
            apply(step(a, false, now, *rule, a.subject));
            continue;
        }
        Step s{a, Change::none, true};
        s.alert.updated_at = now;
        s.alert.active_since.reset();
        if (a.state == AlertState::firing) {
            s.alert.state = AlertState::resolved;
            s.alert.resolved_at = now;
            s.change = Change::resolved;
        } else if (a.state == AlertState::pending) {
            s.alert.state = AlertState::inactive;
            s.change = Change::inactive;
        } else {
            continue;  // resolved stays resolved
        }
        apply(s);
    }

    save_alerts(store_, writes);
    stats.written = writes.size();
    {
        std::lock_guard lock(mu_);
        state_ = std::move(next);
    }
    for (const auto& a : announce) {
        log::debug(
            a.state == AlertState::firing ? "alert firing" : "alert resolved",
            {{"alertname", a.alertname}, {"subject", a.subject}, {"fingerprint", a.fingerprint}});
        if (!sink_) continue;
        try {
            sink_(to_notification(a, options_.external_url));
        } catch (const std::exception& e) {
            log::error("alert notification failed",
                       {{"fingerprint", a.fingerprint}, {"error", e.what()}});
        }
    }
    return stats;
}

void AlertEngine::start() {
    std::lock_guard lock(run_mu_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this] {
        std::unique_lock run_lock(run_mu_);
        while (!stopping_) {
            run_lock.unlock();
            try {
                evaluate_once(now_ms());
            } catch (const std::exception& e) {
                log::error("alert evaluation failed", {{"error", e.what()}});
            }
            run_lock.lock();
            wake_.wait_for(run_lock, options_.interval, [this] { return stopping_; });
        }
    });
}

void AlertEngine::stop() {
    {
        std::lock_guard lock(run_mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::vector<Notification> AlertEngine::firing() const {
    std::vector<Notification> out;
    std::lock_guard lock(mu_);
    for (const auto& [fp, a] : state_) {
        if (a.state == AlertState::firing) out.push_back(to_notification(a, options_.external_url));
    }
    return out;
}

std::vector<Alert> AlertEngine::alerts() const {
    std::vector<Alert> out;
    std::lock_guard lock(mu_);
    for (const auto& [fp, a] : state_) out.push_back(a);
    return out;
}

}  // namespace hashwatt::collector::alerts
