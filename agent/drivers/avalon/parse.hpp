// Canaan Avalon (cgminer 4.11.1, Avalon10-family driver, RPC on 4028): raw replies in,
// MinerSample fields out (PROTOCOLS.md §6). Pure functions: no I/O, no clocks, no globals.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::agent {

// A reply that cannot be understood. what() names the command and the problem
// ("estats: STATS[0] has no MM ID0 string"); the driver reports it as PollError::parse.
class AvalonParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The multi-command reply carries no usable stats section (an error STATUS for the whole join,
// as the replay and firmware without `estats` give): the commands must be sent one by one.
class AvalonJoinRefused : public AvalonParseError {
  public:
    using AvalonParseError::AvalonParseError;
};

// One `Key[value]` token of an MM ID string. Both views point into the string given.
struct MmToken {
    std::string_view key;
    std::string_view value;
};

// Splits an MM ID string ("Ver[1246-81-…] DNA[0201…] SYSTEMSTATU[Work: In Work, Hash Board: 3 ]
// MGHS[25280.59 24670.18 25830.72] …") into its tokens, in order. A key is the text between the
// previous `]` and the next `[`, trimmed (keys may repeat and may hold spaces); a value is
// everything up to the next `]`. A token cut off before its `]` is dropped. One linear pass.
std::vector<MmToken> avalon_mm_tokens(std::string_view mm);

// The numbers of a token value: "25280.59 24670.18" -> {25280.59, 24670.18}; "49%" -> {49};
// entries that are not numbers ("nan", "inf", "-") are nullopt, so positions are kept.
std::vector<std::optional<double>> avalon_numbers(std::string_view value);

// What one poll collected. Each field is the raw text as received (NUL already stripped); absent
// = not fetched or not answered. A reply with an error STATUS counts as absent.
struct AvalonReplies {
    // {"command":"summary+estats+pools[+version]"} (a `stats` member is read as well): its
    // sections stand in for the separate replies below that are absent.
    std::optional<std::string_view> joined;
    std::optional<std::string_view> version;
    std::optional<std::string_view> summary;
    std::optional<std::string_view> stats;  // the reply to `estats` or `stats`
    std::optional<std::string_view> pools;
    // Identity from an earlier poll (model, firmware_version, serial, mac), used for what this
    // poll's replies do not say. May be null.
    const MinerSample* identity = nullptr;
};

// Everything the replies carry: identity (make Canaan, model, firmware build, DNA as serial,
// MAC), hash rates (TH/s), boards, fans, temperatures, power and limit, uptime, pools, the
// error flags the firmware raises and the state. `up` is true; miner_id/host/port/site/driver/
// observed_at are the driver's to fill.
//
// Hash rate: now = MM `GHSspd`, else summary `MHS 30s` / `MHS 5s` / `MHS 1m`; average = summary
// `MHS av` when the summary is there (a `nan` there stays unknown), else MM `GHSavg`; expected =
// `GHSmm`. Power: `WALLPOWER` (measured, at the wall) when present, else `PS[4]`, the PSU's DC
// output, marked estimated because the wall draw is higher by the PSU's losses; 0 = not reported.
//
// State: mining when hashing; sleeping when `SoftOFF` is non-zero (or, on firmware without
// `SoftOFF`, SYSTEMSTATU says "In Idle"); booting within kAvalonBootingGraceS of the daemon's
// start when the average since then is not above 0 (it has not hashed yet); idle when the hash rate
// is unknown (nan); otherwise error when the firmware reports `SoftOFF` (so it was not told to
// sleep) or error flags, idle when it cannot say.
//
// Throws AvalonJoinRefused (see above) or AvalonParseError, also when no stats reply is usable.
MinerSample parse_avalon(const AvalonReplies& replies);

// Seconds after cgminer starts during which a miner that is not hashing yet is booting.
inline constexpr std::int64_t kAvalonBootingGraceS = 180;

// "AvalonMiner 1246" from PROD "AvalonMiner 1246-81" (cut at the first '-'); for the series whose
// PROD does not name the model ("AvalonMiner 15-194", "AvalonNano…"), from MODEL.
std::string avalon_model_name(std::string_view prod, std::string_view model);

// The reply to an `ascset` command.
struct AscsetReply {
    bool ok = false;      // the firmware accepted it
    char status = '\0';   // STATUS letter
    int code = 0;         // 118 info, 119 set OK, 120 error
    std::string message;  // Msg
};

// Reads an ascset reply. `option` is what was set ("softoff", "workmode"): softoff and softon
// answer STATUS I / Code 118 "ASC 0 set info: success softoff:<ts>", so for them ok needs
// "success"; for the others a STATUS S or I is ok. Throws AvalonParseError when the reply is not
// a cgminer reply.
AscsetReply parse_avalon_ascset(std::string_view raw, std::string_view option);

// The Key[value] tokens of an ascset info message: "ASC 0 set info: PS[0 1197 1249 260 3247
// 1248]" -> {PS, "0 1197 …"}; "ASC 0 set info: LED[0]" -> {LED, "0"}.
std::vector<MmToken> avalon_ascset_info(std::string_view message);

// Work modes (ascset 0,workmode,<n>) and the share of the model's nominal power each draws:
// 0 low ~80 %, 1 normal 100 %, 2 high ~110 % (capped at the model's maximum). The shares are the
// commonly quoted ones (PROTOCOLS.md §6: exact meaning is model-specific).
inline constexpr int kAvalonWorkModeLow = 0;
inline constexpr int kAvalonWorkModeNormal = 1;
inline constexpr int kAvalonWorkModeHigh = 2;
double avalon_work_mode_power_w(int mode, double nominal_w, double max_w) noexcept;

// The work mode for a power target: the highest mode whose power does not exceed the target;
// nullopt when even the low mode draws more than the target.
std::optional<int> avalon_work_mode_for(double target_w, double nominal_w, double max_w) noexcept;

}  // namespace hashwatt::agent
