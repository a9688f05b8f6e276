// The alert engine: every interval, each enabled rule against each miner's latest state, the
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
#include <string>
#include <thread>
#include <vector>

namespace hashwatt::collector::alerts {

// Called once per alert that starts firing and once when it resolves, after the change is
// committed; on the engine's thread (or evaluate_once's caller), so it must not block for long.
using NotifySink = std::function<void(const Notification&)>;

struct AlertEngineOptions {
    Duration interval{std::chrono::seconds(15)};
    // The collector's own base URL ("http://10.0.0.2:8480") for Notification::generator_url.
    std::string external_url;
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

    // The firing alerts, as notifications (for a notifier that resends them).
    std::vector<Notification> firing() const;
    // Every alert the engine holds that is not inactive.
    std::vector<Alert> alerts() const;

  private:
    Store& store_;
    std::vector<AlertRule> rules_;
    NotifySink sink_;
    AlertEngineOptions options_;
    mutable std::mutex mu_;               // state_
    std::map<std::string, Alert> state_;  // by fingerprint; no inactive ones
    std::mutex eval_mu_;                  // one evaluation at a time
    std::mutex run_mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace hashwatt::collector::alerts
