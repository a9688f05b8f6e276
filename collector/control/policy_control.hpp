// The seams of collector/control, the power policy's control loop (issue 8; DESIGN.md "Power
// policy"): where the loop gets its price, what it is configured with, and what the API and
// the metrics see of it while it runs. The loop itself is collector/control/control_loop.hpp.
#pragma once

#include "common/units.hpp"
#include "policies/engine.hpp"
#include "policies/prices/sources.hpp"
#include "policies/rules.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::collector::control {

// The price now, for one decision round. Implementations: a fixed, time-of-use or file price
// (make_price_provider), an HTTP JSON feed polled on its interval (HttpPriceFeed), and the
// demo's fast replay of a price series (ReplayPriceProvider). current() must not block on
// I/O: a feed polls on its own thread and current() reads what it has, stale or not.
class PriceProvider {
  public:
    virtual ~PriceProvider() = default;
    virtual policies::PriceInput current(TimePoint now) = 0;
    // What the operator reads in logs and /api/v1/policy: "ercot HB_WEST from prices.csv".
    virtual std::string describe() const = 0;
    virtual void start() {}
    virtual void stop() {}
};

// The collector TOML's [policy] and [prices] (docs/configuration.md).
struct ControlConfig {
    bool enabled = false;     // a [policy] table with a file
    std::string policy_file;  // the policy TOML (policies/rules.hpp), reloaded on SIGHUP
    std::optional<policies::prices::PriceSourceConfig> prices;  // [prices]; required if enabled
    // Set by code (the demo, tests), not by the TOML: used instead of `prices`.
    std::shared_ptr<PriceProvider> price_provider;
};

struct ControlStatus {
    bool running = false;
    std::string policy_file;
    std::string price_source;  // PriceProvider::describe()
    bool dry_run = false;
    bool kill_switch = false;
    std::optional<TimePoint> last_round;
    policies::PriceInput last_price;
    std::size_t miners = 0;              // decided for in the last round
    std::size_t changes_last_round = 0;  // commanded (or dry-run) in it
    std::size_t held_last_round = 0;
    std::optional<std::string> last_error;  // the last round's or reload's failure, if any
};

// What the API (/api/v1/policy, /api/v1/decisions, overrides) and the metrics see of the
// running loop. Thread-safe.
class PolicyControl {
  public:
    virtual ~PolicyControl() = default;
    virtual ControlStatus status() const = 0;
    // Each miner's decision of the last round (empty before the first).
    virtual std::vector<policies::Decision> last_decisions() const = 0;
    // Demand-response and manual overrides, beside the policy file's own (kept in memory and
    // in the database, so a restart keeps them until they expire).
    virtual void add_override(const policies::Override& o) = 0;
    virtual bool remove_override(const std::string& id) = 0;
    virtual std::vector<policies::Override> overrides(TimePoint now) const = 0;
};

}  // namespace hashwatt::collector::control
