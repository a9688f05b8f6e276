#include "collector/alerts/engine.hpp"

#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/evaluate.hpp"
#include "common/clock_step.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <optional>
#include <set>

namespace hashwatt::collector::alerts {

AlertEngine::AlertEngine(Store& store, std::vector<AlertRule> rules, NotifySink sink,
                         AlertEngineOptions options)
    : store_(store), sink_(std::move(sink)), options_(std::move(options)) {
    for (auto& r : rules) {
        if (r.enabled) rules_.push_back(std::move(r));
    }
    const TimePoint now = now_ms();
    for (auto& a : load_active_alerts(store_)) {
        // Whether a silenced alert's firing was sent before the restart is not stored; taken
        // as not, so that no resend leaks it (it is announced when the silence ends).
        if (a.state == AlertState::firing && a.silenced_until && *a.silenced_until > now) {
            unannounced_.insert(a.fingerprint);
        }
        state_.emplace(a.fingerprint, std::move(a));
    }
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
    // Each miner's newest sample, looked up once instead of once per rule.
    std::vector<const MinerSample*> sample_of(miners.size(), nullptr);
    for (std::size_t i = 0; i < miners.size(); ++i) {
        const auto it = latest.find(miners[i].miner_id);
        if (it != latest.end()) sample_of[i] = &it->second;
    }

    EvaluationStats stats;
    std::vector<AlertWrite> writes;
    std::vector<Alert> announce;
    std::map<std::string, Alert> next = current;
    std::set<std::string> seen;  // fingerprints of `current` that a (rule, subject) produced
    const auto apply = [&](Step s) {
        if (!s.updated) return;
        const auto before = current.find(s.alert.fingerprint);
        const bool again = before == current.end() || before->second.state == AlertState::resolved;
        if (again && (s.change == Change::pending || s.change == Change::firing)) {
            // A new occurrence: the acknowledgement was of the last one.
            s.alert.acked_by.reset();
            s.alert.acked_at.reset();
        }
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

    // What the command and agent rules read: one query each, only when such a rule is enabled,
    // reaching back as far as the widest of them needs.
    std::map<std::string, CommandRecord> commands, wanted;
    std::vector<AgentActivity> agents;
    {
        std::optional<Duration> window, silent;
        bool states = false;
        for (const auto& r : rules_) {
            states = states || r.kind == RuleKind::state_unexpected;
            if (r.kind == RuleKind::command_failed)
                window = std::max(window.value_or(r.window), r.window);
            if (r.kind == RuleKind::agent_silent) {
                const auto t = std::chrono::duration_cast<Duration>(
                    std::chrono::duration<double>(2 * r.threshold));
                silent = std::max(silent.value_or(t), t);
            }
        }
        if (window) commands = latest_finished_commands(store_, now - *window);
        if (states) wanted = latest_state_commands(store_);
        // Twice the threshold: an agent with no batch in that span is silent either way, and
        // its time then comes from its miners' last_seen.
        if (silent) agents = agent_activity(miners, agent_last_batches(store_, now - *silent));
    }

    for (const auto& rule : rules_) {
        if (is_agent_rule(rule.kind)) {
            for (const auto& a : agents) {
                ++stats.evaluated;
                const auto fp = alert_fingerprint(rule.name, a.agent_id);
                Evaluation e = evaluate_agent(rule, a, now);
                // Only a site scopes an agent rule: the selector's labels are miners'.
                if (rule.site && a.site != rule.site) {
                    e.holds = false;
                    e.since.reset();
                }
                const auto cur = current.find(fp);
                if (cur != current.end()) seen.insert(fp);
                if (cur == current.end() && !e.holds) continue;
                apply(step(cur == current.end() ? Alert{} : cur->second, e, now, rule, a.agent_id));
            }
            continue;
        }
        for (std::size_t i = 0; i < miners.size(); ++i) {
            const auto& m = miners[i];
            ++stats.evaluated;
            const MinerSample* sample = sample_of[i];
            const auto fp = alert_fingerprint(rule.name, m.miner_id);
            Evaluation e;
            if (rule.kind == RuleKind::command_failed) {
                const auto c = commands.find(m.miner_id);
                e = evaluate_command(rule, m, c == commands.end() ? nullptr : &c->second, now);
            } else if (rule.kind == RuleKind::state_unexpected) {
                const auto w = wanted.find(m.miner_id);
                e = evaluate_state(m, sample, w == wanted.end() ? nullptr : &w->second);
            } else {
                e = evaluate(rule, m, sample, now);
            }
            if (!rule_applies(rule, m, sample)) {
                e.holds = false;  // out of the rule's scope (now): as if healthy
                e.since.reset();
            }
            const auto cur = current.find(fp);
            if (cur != current.end()) seen.insert(fp);
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

    // What to announce is settled before the commit (the queue writes it in the same
    // transaction); unannounced_ changes only once that commit is done.
    const auto silenced = [now](const Alert& a) {
        return a.silenced_until && *a.silenced_until > now;
    };
    std::vector<Alert> send;
    std::set<std::string> unannounced;
    {
        std::lock_guard lock(mu_);
        unannounced = unannounced_;
    }
    for (auto& a : announce) {
        if (a.state == AlertState::firing && silenced(a)) {
            unannounced.insert(a.fingerprint);
            log::debug("alert firing, silenced", {{"fingerprint", a.fingerprint}});
        } else if (a.state == AlertState::resolved && unannounced.erase(a.fingerprint) > 0) {
            // Its firing was never sent, so its resolve would be news of nothing.
            log::debug("alert resolved while silenced", {{"fingerprint", a.fingerprint}});
        } else {
            send.push_back(std::move(a));
        }
    }
    // Silences that ended (expired or lifted) over alerts that still fire: announced now.
    for (auto it = unannounced.begin(); it != unannounced.end();) {
        const auto a = next.find(*it);
        const bool fires = a != next.end() && a->second.state == AlertState::firing;
        if (fires && silenced(a->second)) {
            ++it;
            continue;
        }
        if (fires) send.push_back(a->second);
        it = unannounced.erase(it);
    }
    std::vector<Notification> notifications;
    for (const auto& a : send) notifications.push_back(to_notification(a, options_.external_url));
    std::function<void(sqlite::Database&)> queue;
    if (options_.queue && !notifications.empty()) {
        queue = [&](sqlite::Database& db) {
            for (const auto& n : notifications) options_.queue(db, n, now);
        };
    }
    save_alerts(store_, writes, queue);
    stats.written = writes.size();
    {
        std::lock_guard lock(mu_);
        state_ = std::move(next);
        unannounced_ = std::move(unannounced);
    }
    for (std::size_t i = 0; i < send.size(); ++i) {
        const Alert& a = send[i];
        log::debug(
            a.state == AlertState::firing ? "alert firing" : "alert resolved",
            {{"alertname", a.alertname}, {"subject", a.subject}, {"fingerprint", a.fingerprint}});
        if (!sink_) continue;
        try {
            sink_(notifications[i]);
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
        WallClockSteps steps;
        std::unique_lock run_lock(run_mu_);
        while (!stopping_) {
            run_lock.unlock();
            try {
                const TimePoint now = now_ms();
                if (const auto step = steps.observe(now, std::chrono::steady_clock::now());
                    step != Duration::zero()) {
                    log::warn(
                        "wall clock stepped; alert for and keep_firing_for keep their real "
                        "length",
                        {{"step_ms", std::to_string(step.count())}});
                    shift_clock(step);
                }
                evaluate_once(now);
            } catch (const std::exception& e) {
                log::error("alert evaluation failed", {{"error", e.what()}});
            }
            run_lock.lock();
            wake_.wait_for(run_lock, options_.interval, [this] { return stopping_; });
        }
    });
}

void AlertEngine::shift_clock(Duration step) {
    std::lock_guard eval_lock(eval_mu_);
    store_.with_write([&](sqlite::Database& db) {
        sqlite::Transaction tx(db);
        auto pending = db.prepare(
            "UPDATE alerts SET active_since_ms = active_since_ms + ?1 WHERE state = 'pending'");
        pending.bind(1, step.count());
        pending.run();
        auto firing =
            db.prepare("UPDATE alerts SET last_true_ms = last_true_ms + ?1 WHERE state = 'firing'");
        firing.bind(1, step.count());
        firing.run();
        tx.commit();
    });
    std::lock_guard lock(mu_);
    for (auto& [fingerprint, a] : state_) {
        if (a.state == AlertState::pending && a.active_since) *a.active_since += step;
        if (a.state == AlertState::firing && a.last_true) *a.last_true += step;
    }
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
        if (a.state != AlertState::firing || unannounced_.count(fp) > 0) continue;
        out.push_back(to_notification(a, options_.external_url));
    }
    return out;
}

std::optional<Alert> AlertEngine::state_find(const std::string& fingerprint) const {
    std::lock_guard lock(mu_);
    const auto it = state_.find(fingerprint);
    if (it == state_.end()) return std::nullopt;
    return it->second;
}

std::optional<Alert> AlertEngine::update_alert(const std::string& fingerprint, TimePoint now,
                                               const std::function<std::string(Alert&)>& change) {
    // Under eval_mu_ so that an evaluation neither misses the change nor overwrites it with
    // its own copy of the state taken before.
    std::lock_guard eval_lock(eval_mu_);
    auto a = state_find(fingerprint);
    if (!a) return std::nullopt;
    const std::string message = change(*a);
    a->updated_at = std::max(now, a->updated_at);
    save_alert(store_, *a, message);
    std::lock_guard lock(mu_);
    state_[fingerprint] = *a;
    return a;
}

std::optional<Alert> AlertEngine::acknowledge(const std::string& fingerprint, const std::string& by,
                                              const std::optional<std::string>& comment,
                                              TimePoint now) {
    return update_alert(fingerprint, now, [&](Alert& a) {
        a.acked_by = by;
        a.acked_at = now;
        std::string m = "acknowledged by " + by;
        if (comment && !comment->empty()) m += ": " + *comment;
        return m;
    });
}

std::optional<Alert> AlertEngine::silence(const std::string& fingerprint,
                                          std::optional<TimePoint> until, const std::string& by,
                                          TimePoint now) {
    return update_alert(fingerprint, now, [&](Alert& a) {
        if (!until) {
            a.silenced_until.reset();
            return "silence ended by " + by;
        }
        a.silenced_until = until;
        return "silenced until " + format_time(*until) + " by " + by;
    });
}

std::vector<Alert> AlertEngine::alerts() const {
    std::vector<Alert> out;
    std::lock_guard lock(mu_);
    for (const auto& [fp, a] : state_) out.push_back(a);
    return out;
}

}  // namespace hashwatt::collector::alerts
