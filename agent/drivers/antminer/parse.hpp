// Stock Antminer (bmminer / "cgminer 1.0.0" RPC on 4028 and the web CGI): raw replies in,
// MinerSample fields out (PROTOCOLS.md §2). Pure functions: no I/O, no clocks, no globals.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hashwatt::agent {

// A reply that cannot be understood. what() names the command and the problem
// ("stats: STATS[1] is not an object"); the driver reports it as PollError::parse.
class AntminerParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The multi-command reply is a well-formed cgminer reply that does not carry the sections asked
// for (an error STATUS for the join, or sections missing): the firmware does not join commands,
// so they must be sent one by one.
class AntminerJoinRefused : public AntminerParseError {
  public:
    using AntminerParseError::AntminerParseError;
};

// What one poll collected. Each field is the raw text as received (NUL already stripped); absent
// = not fetched or not answered. A command whose reply has an error STATUS counts as absent, so
// a firmware without `summary` still yields a sample from `stats`.
struct AntminerReplies {
    // {"command":"summary+stats+pools[+version]"}: its sections stand in for the separate
    // replies below that are absent.
    std::optional<std::string_view> joined;
    std::optional<std::string_view> version;
    std::optional<std::string_view> summary;
    std::optional<std::string_view> stats;
    std::optional<std::string_view> pools;
    // Web CGI bodies.
    std::optional<std::string_view> system_info;  // get_system_info.cgi
    std::optional<std::string_view> miner_conf;   // get_miner_conf.cgi (bitmain-work-mode)
    std::optional<std::string_view> web_summary;  // summary.cgi (status items -> errors)
    // Identity from an earlier poll (make, model, firmware, firmware_version, serial, mac), used
    // for whatever this poll's replies do not say. May be null.
    const MinerSample* identity = nullptr;
};

// Everything the replies carry: identity, hash rates (TH/s), boards, fans, uptime, pools,
// errors, power (estimated from the model table: stock firmware measures none) and the state.
// `up` is true; miner_id/host/port/site/driver/observed_at are the driver's to fill.
//
// State: sleeping when not hashing and bitmain-work-mode is "1" or stats `Mode` is 254; mining
// when hashing; otherwise error when the miner reports errors (summary.cgi), booting in the first
// kBootingGraceS of the daemon, error when the sleep indicator says "not asleep", idle when the
// indicator is unknown.
//
// Throws AntminerJoinRefused (see above) or AntminerParseError; also when neither summary nor
// stats is usable.
MinerSample parse_antminer(const AntminerReplies& replies);

// The web-side state for a sample parse_antminer produced without it (the driver fetches the
// work mode only when the miner is not hashing): reads bitmain-work-mode and summary.cgi's
// status items, then decides the state again. Unreadable bodies are ignored (the state stays as
// the RPC replies alone decide it).
void apply_antminer_web_state(MinerSample& sample, std::optional<std::string_view> miner_conf,
                              std::optional<std::string_view> web_summary);

// Seconds after the mining daemon starts during which a miner that is not hashing yet is
// booting (chains initialising), not failed.
inline constexpr std::int64_t kBootingGraceS = 180;

// bitmain-work-mode of a get_miner_conf.cgi body: 0 normal, 1 sleep, 3 low power. nullopt when
// the body is unreadable or the key is missing.
std::optional<int> antminer_work_mode(std::string_view miner_conf);

// The set_miner_conf.cgi body that switches to `mode` (0 normal, 1 sleep, 3 low power), built
// from a get_miner_conf.cgi body: the firmware replaces its whole configuration with what it is
// sent, so pools and fan settings are re-sent as read. Keys written differ from keys read
// (`miner-mode` for bitmain-work-mode, `freq-level` for bitmain-freq-level). `mode_as_string`
// sends "1" instead of 1 (firmware builds differ). Throws AntminerParseError when the body is not
// a readable configuration.
std::string antminer_set_conf_body(std::string_view miner_conf, int mode,
                                   bool mode_as_string = false);

// Whether a set_miner_conf.cgi reply acknowledges the change: "ok" (older firmware) or JSON with
// code "M000".
bool antminer_set_conf_ok(std::string_view reply);

// The model as the firmware reports it, without firmware tags: "Antminer S19 Pro" from
// "Antminer S19 Pro", "Antminer S9 (vnish 3.8.6)", "Antminer S9\nV1.3.58", "Antminer S9 Hiveon".
std::string antminer_model_name(std::string_view type);

// "stock", "hiveon" or "vnish", from the version reply's Type and BMMiner strings.
std::string_view antminer_firmware(std::string_view type, std::string_view daemon);

}  // namespace hashwatt::agent
