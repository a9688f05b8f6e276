// LuxOS (Luxor's LUXminer on Antminers, cgminer-style RPC on 4028): raw replies in, MinerSample
// fields out (PROTOCOLS.md §4). Pure functions: no I/O, no clocks, no globals.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::agent::luxos {

// A reply that cannot be understood. what() names the command and the problem
// ("devs: DEVS is not an array"); the driver reports it as PollError::parse.
class ParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The multi-command reply is a well-formed cgminer reply without the sections asked for (an
// error STATUS for the join, or sections missing): send the commands one by one instead.
class JoinRefused : public ParseError {
  public:
    using ParseError::ParseError;
};

// The commands of a steady poll, joined into one request; `+profiles` is added when the
// profile table is needed (first poll, identity refresh, the active profile changed) and
// `+version` when the identity is due. Every part is a parameter-less report command, which
// cgminer allows to be joined. (The profile table is the largest reply, ~4.4 KB of ~14 KB, and
// JSON parsing is most of a poll's CPU.)
inline constexpr std::string_view kPollCommands =
    "summary+stats+devs+pools+fans+temps+power+config+events";

// What one poll collected. Each field is the raw text as received (NUL already stripped); absent
// = not fetched. A command whose reply has an error STATUS counts as absent.
struct Replies {
    // The reply to kPollCommands (optionally "+version"): its sections stand in for the separate
    // replies below that are absent.
    std::optional<std::string_view> joined;
    std::optional<std::string_view> version;
    std::optional<std::string_view> summary;
    std::optional<std::string_view> stats;
    std::optional<std::string_view> devs;
    std::optional<std::string_view> pools;
    std::optional<std::string_view> fans;
    std::optional<std::string_view> temps;
    std::optional<std::string_view> power;
    std::optional<std::string_view> config;
    std::optional<std::string_view> profiles;
    std::optional<std::string_view> events;
    // Identity from an earlier poll, used for what this poll's replies do not say. May be null.
    const MinerSample* identity = nullptr;
    // Without a profiles reply: the Watts of the profile named `known_profile`, read earlier,
    // become the power limit while config still names that profile.
    std::string_view known_profile;
    std::optional<double> known_profile_w;
};

// What a poll's replies say, with what the driver needs beyond the sample.
struct Reading {
    MinerSample sample;
    std::string active_profile;  // config `Profile` ("" when not reported)
    bool profiles_read = false;  // a usable profiles reply was among the replies
};

// Everything the replies carry. `up` is true; miner_id/host/port/site/driver/observed_at are the
// driver's to fill. Units: hash rates TH/s (summary `GHS *` / 1000, devs `MHS *` / 1e6), power W,
// temperatures °C, uptime s.
//
// - make "Bitmain", firmware "luxos", model version/stats `Type` (else config `Model`),
//   firmware_version `Miner` ("2025.4.8.220305"), serial/MAC from config.
// - hashrate summary `GHS 5s`, average `GHS av`, expected stats `total_rateideal` (rate_unit).
// - boards: one per devs entry, sorted, numbered as stats numbers its chains (devs ID + 1);
//   5 s rate and nominal from devs, chips/HW/chip temperature from stats, board temperature the
//   max of the four `temps` sensors (else stats temp_pcbN).
// - fans: `fans` FANS[].RPM in ID order (else stats fan1..fan_num); inlet/outlet: the hottest
//   intake-side and exhaust-side board sensor (as METADATA labels them).
// - power `power.POWER[0].Watts`, estimated when `PSU` is false; power limit the Watts of the
//   active profile (config `Profile` looked up in `profiles`).
// - errors: `events` since the daemon started (the log keeps older ones), except the sleep
//   notice.
// - state: mining while hashing; else sleeping when config `CurtailMode` is not "None"; else
//   error when the miner reports events; booting in the first kBootingGraceS of the daemon;
//   error when neither curtailed nor hashing after that; idle when the curtail mode is unknown.
// Throws JoinRefused or ParseError; also when neither summary nor stats is usable.
Reading read_luxos(const Replies& replies);
// read_luxos(..).sample.
MinerSample parse_luxos(const Replies& replies);

// Seconds after the daemon starts during which a miner that does not hash yet is booting.
inline constexpr std::int64_t kBootingGraceS = 180;

// The identity part of a sample (make, model, firmware, firmware_version, serial, mac, and the
// power limit), which the driver caches between identity refreshes.
MinerSample luxos_identity(const MinerSample& sample);

// ---------------------------------------------------------------------------------------------
// Control: sessions, profiles, ATM.

// The envelope of a reply: whether it succeeded, its Code and Msg.
struct Status {
    bool ok = false;
    int code = 0;
    std::string msg;
};

// The status of a (non-joined) reply. Throws ParseError ("<command>: ...") when the reply is not
// a cgminer reply at all.
Status read_status(std::string_view reply, std::string_view command);

// LUXminer's "Another session is active" (a second logon while a session is open).
inline constexpr int kCodeSessionBusy = 402;

// The reply to `logon` or `session`: the session id (SESSION[0].SessionID; `session` answers ""
// when none is open) and the status. Throws ParseError when unreadable.
struct SessionReply {
    Status status;
    std::string session_id;
};
SessionReply read_session_reply(std::string_view reply, std::string_view command);

struct Profile {
    std::string name;  // "Profile Name": "290MHz", "default"
    double watts = 0;
    std::optional<double> hashrate_ths;
};

// PROFILES of a `profiles` reply (or of a joined reply's "profiles" section), in the order given;
// entries without a name or positive Watts are skipped.
// Throws ParseError when the reply is unreadable or not a success.
std::vector<Profile> read_profiles(std::string_view reply);

// The profile a power target selects: the one with the highest Watts at or under `target_w`;
// nullopt when every profile draws more.
std::optional<Profile> choose_profile(const std::vector<Profile>& profiles, double target_w);

// What a control action needs to know before it writes: the profiles, whether ATM (LuxOS's
// automatic tuning, which owns the profile while enabled) is on, and the active profile.
struct ControlState {
    std::vector<Profile> profiles;
    std::optional<bool> atm_enabled;  // atm.ATM[0].Enabled, else config.IsAtmEnabled
    std::optional<std::string> active_profile;
};
// From the reply to {"command":"profiles+atm+config"}. Throws ParseError (JoinRefused when the
// join is not answered).
ControlState read_control_state(std::string_view joined);
// The same from separate replies (firmware that refuses joins); `atm` may be absent (old
// firmware). Throws ParseError.
ControlState read_control_state(std::string_view profiles, std::optional<std::string_view> atm,
                                std::string_view config);

// The JSON request for `command` with `parameter` ("" = none), escaped as JSON.
std::string rpc_json(std::string_view command, std::string_view parameter = {});

}  // namespace hashwatt::agent::luxos
