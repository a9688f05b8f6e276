// The power policy's control loop (issue 8; DESIGN.md "Power policy"): every RuleSet::interval
// it reads the fleet as stored (miners and their newest samples), asks the PolicyEngine what
// each miner should run at, commands the changes through Store::create_commands (the path the
// API's POST /api/v1/commands takes) and records every change, dry-run change and held change
// in the decisions table (decision_store.hpp). docs/policy.md, "The control loop".
#pragma once

#include "collector/control/decision_store.hpp"
#include "collector/control/policy_control.hpp"
#include "collector/storage/store.hpp"
#include "common/clock_step.hpp"
#include "policies/economics.hpp"
#include "policies/engine.hpp"

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hashwatt::collector::control {

// A fixed, time-of-use, csv or ercot price source as a PriceProvider. A file's series is read
// here, once (a missing interval is "no price", which the policy's on_stale handles). Throws
// std::runtime_error naming the file for a bad one. Kind http is the HttpPriceFeed
// (price_feed.hpp), polling on its own thread once started.
std::unique_ptr<PriceProvider> make_price_provider(const policies::prices::PriceSourceConfig& cfg);

struct ControlOptions {
    // The time of a round (tests inject theirs); default now_ms().
    std::function<TimePoint()> clock;
    // The steady clock beside it, to tell a step of the wall clock from time passing
    // (common/clock_step.hpp); default steady_clock::now. With `clock` injected and this not,
    // no steps are looked for (a test's clock jumps as it likes).
    std::function<std::chrono::steady_clock::time_point()> steady_clock;
    // Tried first for config.prices when set; nullptr from it means "not mine" and
    // make_price_provider is used (tests plug their own providers in here).
    std::function<std::unique_ptr<PriceProvider>(const policies::prices::PriceSourceConfig&)>
        make_provider;
    // Called after a round queued commands, with the agents they are for (the service wakes
    // those agents' long polls with it). On the loop's thread; must not block.
    std::function<void(const std::vector<std::string>& agent_ids)> on_commands;
    // Deadline of each command the loop creates.
    std::chrono::milliseconds command_deadline{std::chrono::minutes(5)};
    // A mining miner whose power target (else power) is within this share of a reduced point's
    // power_w runs at that point.
    double reduced_match = 0.05;
    // Which points to offer (reduced fractions, sleep power). Reduced points are offered only
    // to a miner whose samples report a power limit (power_limit_w): the collector does not
    // know its driver's capabilities, and a firmware that reports its target accepts one.
    policies::PointOptions points;
    // A changed mtime of the policy file reloads it at the next round once the file has not
    // changed for this long, so that a file an editor rewrites in place is not read half
    // written (SIGHUP and reload() do not wait: the operator says it is done). A file whose
    // size or mtime move while it is read is never taken (policies::load_policy_file).
    std::chrono::milliseconds policy_quiet{std::chrono::seconds(2)};
};

// What one round did.
struct RoundResult {
    TimePoint at{};
    std::size_t miners = 0;     // decided for
    std::size_t commanded = 0;  // changes sent (a sleep -> reduced change sends two commands)
    std::size_t dry_run = 0;    // changes a dry-run policy would have sent
    std::size_t held = 0;       // changes a safety limit held
    std::size_t recorded = 0;   // decision rows written
};

// What /metrics shows of the loop (collector/metrics/policy_metrics.hpp).
struct PolicySnapshot {
    bool have_round = false;
    policies::PriceInput price;
    double hashprice_per_th_day = 0;
    struct Miner {
        std::string miner_id;
        std::optional<std::string> site;
        policies::PointKind target = policies::PointKind::full;
        double break_even_per_mwh = 0;  // of its full point
    };
    std::vector<Miner> miners;                   // of the last round, by miner_id
    std::map<std::string, double> site_power_w;  // sum of the newest samples' power, by site
    // By site, the lowest site_cap of the policy that names the site, in miner watts (cap_kw x
    // 1000 / pue: what the engine holds site_power_w to). Caps without a site (the whole
    // fleet) are not listed.
    std::map<std::string, double> site_power_cap_w;
};

class ControlLoop : public PolicyControl {
  public:
    // Loads config.policy_file and builds the price provider (config.price_provider, else
    // options.make_provider, else make_price_provider(*config.prices)). Throws
    // config::ConfigError (file:line:column) for a bad policy, std::invalid_argument when there
    // is no price source, and what the provider's construction throws. Nothing runs yet.
    ControlLoop(Store& store, ControlConfig config, ControlOptions options = {});
    ~ControlLoop() override;  // stop()
    ControlLoop(const ControlLoop&) = delete;
    ControlLoop& operator=(const ControlLoop&) = delete;

    // Starts the provider and a thread that runs a round every RuleSet::interval (the first at
    // once) until stop(); a failed round is logged, kept in status().last_error, and the next
    // runs on schedule. Idempotent.
    void start();
    // Stops the thread and the provider. Idempotent.
    void stop();

    // One round at options.clock(): also checks the policy file's mtime first and reloads
    // when it changed. Thread-safe (rounds are serialized). Throws what the store throws.
    RoundResult run_once();

    // Re-reads the policy file; on success the engine gets the new rules (keeping its memory
    // of each miner) and true is returned. A bad file is logged with its file:line:column,
    // kept in status().last_error, and the old rules stay (false). Thread-safe.
    bool reload();

    // The last round's price, hashprice, targets and site power, for /metrics.
    PolicySnapshot snapshot() const;
    // A copy of the rules in effect (what a refused reload left in place).
    policies::RuleSet rules() const;

    // PolicyControl
    ControlStatus status() const override;
    std::vector<policies::Decision> last_decisions() const override;
    void add_override(const policies::Override& o) override;
    bool remove_override(const std::string& id) override;
    std::vector<policies::Override> overrides(TimePoint now) const override;

  private:
    TimePoint now() const;
    bool reload_locked();  // reload() with round_mu_ held
    RoundResult round(TimePoint now);
    std::optional<std::filesystem::file_time_type> policy_mtime() const;

    Store& store_;
    ControlConfig config_;
    ControlOptions options_;
    std::shared_ptr<PriceProvider> provider_;

    mutable std::mutex round_mu_;  // one round or reload at a time; guards engine_
    policies::PolicyEngine engine_;
    std::optional<std::filesystem::file_time_type> loaded_mtime_;
    WallClockSteps clock_steps_;  // under round_mu_
    bool price_bad_ = false;      // the last round's price was stale or missing (round_mu_)
    std::uint64_t rounds_ = 0;    // rounds run (round_mu_)
    // Each miner's points measured at full power, kept so a sleeping miner keeps its
    // measured efficiency.
    std::map<std::string, std::vector<policies::OperatingPoint>> measured_;
    // Miners whose samples have shown a power limit: only those are offered reduced points
    // (a firmware that reports its power target can be given one; stock Antminer cannot).
    std::set<std::string> targetable_;
    // The last kind each miner was commanded to and when, so that a miner still settling
    // into sleep is woken (not given a power target) when the price turns meanwhile.
    std::map<std::string, std::pair<policies::PointKind, TimePoint>> sent_;
    // The last held or dry-run row per miner ("held|safety:min_off|sleep"): repeated ones of
    // the following rounds are not written again.
    std::map<std::string, std::string> last_noted_;

    mutable std::mutex mu_;  // what the API and metrics read
    ControlStatus status_;
    std::vector<policies::Decision> last_decisions_;
    PolicySnapshot snapshot_;

    std::mutex run_mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace hashwatt::collector::control
