// The alert engine: every interval, each enabled rule against each miner's latest state (its
// newest finished command for command_failed, its newest sleep or wake for state_unexpected;
// each agent's last batch for agent_silent), the
// lifecycle step, the changes saved (one transaction) and then announced to a NotifySink.
// State lives in the alerts table, so a restarted engine resumes where it stopped: a firing
// alert is not announced again, and one that resolved meanwhile is announced as resolved.
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/lifecycle.hpp"
#include "collector/alerts/rules.hpp"
#include "collector/storage/store.hpp"

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hashwatt::collector::alerts {

// Called once per alert that starts firing and once when it resolves, after the change is
// committed; on the engine's thread (or evaluate_once's caller), so it must not block for long.
using NotifySink = std::function<void(const Notification&)>;
// Called for the same notifications as the sink, but inside the transaction that saves the
// alerts' change, on its write connection: what it writes (the notifiers' outbox) commits
// with the change or not at all, so that a crash between the two cannot lose a notification
// nor leave one queued for a change that was never saved.
using NotifyQueue = std::function<void(sqlite::Database&, const Notification&, TimePoint now)>;

struct AlertEngineOptions {
    Duration interval{std::chrono::seconds(15)};
    // The collector's own base URL ("http://10.0.0.2:8480") for Notification::generator_url.
    std::string external_url;
    NotifyQueue queue;  // optional
};

struct EvaluationStats {
    std::size_t evaluated = 0;  // (rule, miner) pairs
    std::size_t pending = 0;    // transitions in this evaluation
    std::size_t firing = 0;
    std::size_t resolved = 0;
    std::size_t inactive = 0;
    std::size_t written = 0;  // alerts saved
};

class AlertEngine {
  public:
    // Loads the alerts that are not inactive from `store`. Disabled rules are dropped here.
    AlertEngine(Store& store, std::vector<AlertRule> rules, NotifySink sink,
                AlertEngineOptions options = {});
    // stop().
    ~AlertEngine();
    AlertEngine(const AlertEngine&) = delete;
    AlertEngine& operator=(const AlertEngine&) = delete;

    // One evaluation of every rule for every miner at `now`. An alert whose rule is gone (removed
    // or disabled in the config) resolves. Throws what the store throws; nothing is announced
    // then and the next evaluation starts again from the last committed state.
    EvaluationStats evaluate_once(TimePoint now);

    // Evaluates every options.interval on a thread of its own until stop(); a failed evaluation
    // is logged and the next one runs on schedule. Idempotent.
    void start();
    // Stops and joins the thread. Idempotent; not from the sink.
    void stop();

    // The wall clock stepped by `step` (common/clock_step.hpp; the thread of start() looks
    // for steps before each evaluation): pending alerts' active_since and firing alerts'
    // last_true move with it, saved and in memory, so that `for` and keep_firing_for last
    // their real length instead of being cut short or stretched by the step. Thread-safe;
    // waits for a running evaluation. Throws what the store throws; nothing changes then.
    void shift_clock(Duration step);

    // The firing alerts, as notifications (for a notifier that resends them: Alertmanager),
    // but for those whose firing a silence has kept from the sink. docs/alerts.md,
    // "Acknowledge and silence".
    std::vector<Notification> firing() const;
    // Every alert the engine holds that is not inactive.
    std::vector<Alert> alerts() const;
    // The enabled rules, as given to the constructor.
    const std::vector<AlertRule>& rules() const noexcept { return rules_; }

    // Marks the alert acknowledged by `by` at `now` and records an alert_events row (the
    // comment in its message). Returns the alert as saved, or nullopt when the engine holds no
    // alert `fingerprint` (unknown, or inactive). Thread-safe; waits for a running evaluation,
    // and the next one keeps the acknowledgement (a resolved alert that comes back as pending
    // starts unacknowledged). Throws what the store throws; nothing changes then.
    std::optional<Alert> acknowledge(const std::string& fingerprint, const std::string& by,
                                     const std::optional<std::string>& comment, TimePoint now);
    // Silences the alert until `until` (nullopt: ends a silence now), with an alert_events row
    // naming `by`. While silenced, the sink is not called for it: a firing is announced when
    // the silence ends if the alert still fires then; a resolve is announced only if its
    // firing was. Same return, locking and failure as acknowledge().
    std::optional<Alert> silence(const std::string& fingerprint, std::optional<TimePoint> until,
                                 const std::string& by, TimePoint now);

  private:
    std::optional<Alert> state_find(const std::string& fingerprint) const;
    std::optional<Alert> update_alert(const std::string& fingerprint, TimePoint now,
                                      const std::function<std::string(Alert&)>& change);

    Store& store_;
    std::vector<AlertRule> rules_;
    NotifySink sink_;
    AlertEngineOptions options_;
    mutable std::mutex mu_;               // state_, unannounced_
    std::map<std::string, Alert> state_;  // by fingerprint; no inactive ones
    // Firing alerts whose firing a silence kept from the sink (mu_). In memory; on load, every
    // firing alert silenced then.
    std::set<std::string> unannounced_;
    std::mutex eval_mu_;  // one evaluation at a time
    std::mutex run_mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace hashwatt::collector::alerts
