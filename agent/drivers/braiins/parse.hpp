// Braiins OS: BOSminer's cgminer-compatible RPC on 4028 (all versions) and the public REST API of
// Braiins OS 25.07+ on HTTP (PROTOCOLS.md §3.1, §3.3): raw replies in, MinerSample fields out.
// Pure functions: no I/O, no clocks, no globals.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hashwatt::agent {

// A reply that cannot be understood. what() names the command or route and the problem
// ("temps: TEMPS is not an array", "miner/stats: not JSON ..."); the driver reports it as
// PollError::parse.
class BraiinsParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The multi-command reply is a well-formed cgminer reply without a usable `summary` section (an
// error STATUS for the whole join): send the commands one by one.
class BraiinsJoinRefused : public BraiinsParseError {
  public:
    using BraiinsParseError::BraiinsParseError;
};

// The RPC commands of a steady poll, joined with '+' (BOSminer joins like cgminer >= 3.1).
inline constexpr std::string_view kBraiinsTelemetryJoin =
    "summary+devs+temps+fans+pools+tunerstatus";
// Added to the join when the identity is due.
inline constexpr std::string_view kBraiinsIdentityJoin = "version+devdetails";

// What one poll collected: raw text as received (NUL stripped); absent = not fetched or not
// answered. An RPC reply whose STATUS is an error counts as absent (old BOSminer builds answer
// `tunerstatus` with "Invalid command").
struct BraiinsReplies {
    // RPC: the joined reply stands in for the separate ones that are absent.
    std::optional<std::string_view> joined;
    std::optional<std::string_view> version, summary, devs, temps, fans, pools, tunerstatus,
        devdetails;
    // REST bodies (HTTP 200 only), routes under /api/v1/.
    std::optional<std::string_view> details;        // miner/details
    std::optional<std::string_view> stats;          // miner/stats
    std::optional<std::string_view> hashboards;     // miner/hw/hashboards
    std::optional<std::string_view> cooling;        // cooling/state
    std::optional<std::string_view> configuration;  // configuration/miner
    std::optional<std::string_view> rest_pools;     // pools/
    // Identity from an earlier poll, used for whatever these replies do not say. May be null.
    const MinerSample* identity = nullptr;
};

// Everything the replies carry. Telemetry comes from the RPC when its `summary` is usable, else
// from REST miner/stats (+ hashboards, cooling, configuration, pools); identity from REST
// miner/details, else RPC devdetails/version, else `identity`.
// Hash rates in TH/s: RPC summary `MHS 5s` / `MHS av` (MH/s), REST real_hashrate.last_5s /
// since_restart (GH/s). Power is the firmware's approximation (PowerSource::estimated), the limit
// the tuner's power target. `up` is true; miner_id/host/port/site/driver/observed_at are the
// driver's to fill.
//
// State: mining when hashing; otherwise sleeping when miner/details status is 3 PAUSED or 4
// SUSPENDED (or, without REST, a tuner chain status says "paused"); error when the tuner reports
// failed chains; else, with miner/details, booting for status 1 NOT_STARTED and error for NORMAL
// (not hashing although nobody paused it); without it, booting in the first
// kBraiinsBootingGraceS of bosminer and idle after.
//
// Throws BraiinsJoinRefused (see above) or BraiinsParseError; also when neither RPC summary nor
// REST miner/stats is usable.
MinerSample parse_braiins(const BraiinsReplies& replies);

// Seconds after bosminer starts during which a miner that is not hashing yet is booting.
inline constexpr std::int64_t kBraiinsBootingGraceS = 180;

// miner/details `status` (MinerStatus: 1 NOT_STARTED, 2 NORMAL, 3 PAUSED, 4 SUSPENDED,
// 5 RESTRICTED); nullopt when the body is unreadable or has none.
std::optional<int> braiins_miner_status(std::string_view details);

// Whether the REST API (Braiins OS 25.07+) is there, from a firmware version as parse_braiins
// reports it: bos_version.current of the REST API ("2025-08-06-0-3881c51d-25.07-plus", release
// 25.07) is, a BOSminer daemon version from the RPC ("0.2.0-36c56a9363") is not.
bool braiins_has_rest(std::string_view firmware_version) noexcept;

// The power target range of a configuration/constraints body
// (tuner_constraints.power_target.{min,max}.watt); nullopt when unreadable.
struct BraiinsPowerRange {
    double min_w = 0;
    double max_w = 0;
};
std::optional<BraiinsPowerRange> braiins_power_constraints(std::string_view constraints);

// The token of an auth/login reply ({"token":"...","timeout_s":3600}); nullopt when there is
// none.
std::optional<std::string> braiins_login_token(std::string_view reply);

// The model as the firmware names it, in the model table's spelling when it is known:
// "Bitmain Antminer S19XP" (RPC devdetails) and "Antminer S19 XP" (REST) -> "Antminer S19 XP".
std::string braiins_model_name(std::string_view reported);

}  // namespace hashwatt::agent
