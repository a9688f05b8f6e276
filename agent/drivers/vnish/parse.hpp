// Vnish (AnthillOS, "xminer-api") on Antminer hardware: replies of the web API under /api/v1 in,
// MinerSample fields out (PROTOCOLS.md §7). Pure functions: no I/O, no clocks, no globals.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::agent {

// A reply that cannot be understood. what() names the request and the problem
// ("summary: no \"miner\" object"); the driver reports it as PollError::parse.
class VnishParseError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// What one poll collected: the bodies of 200 replies as received; absent = not fetched or not
// answered with 200.
struct VnishReplies {
    std::string_view summary;                  // GET /api/v1/summary (required)
    std::optional<std::string_view> info;      // GET /api/v1/info (serial, firmware build)
    std::optional<std::string_view> settings;  // GET /api/v1/settings (power limit from preset)
    // Identity from an earlier poll (serial, power limit), used for whatever this poll's replies
    // do not say. May be null.
    const MinerSample* identity = nullptr;
};

// The top-level hash rates of /summary, kept apart from the sample: in both captured builds they
// are exactly 0.7 x the chains' figures (README.md beside this file: the sample reports the
// chains).
struct VnishTopLevel {
    std::optional<double> hashrate_ths;      // hr_realtime (GH/s), else instant_hashrate (TH/s)
    std::optional<double> hashrate_avg_ths;  // hr_average (GH/s), else average_hashrate (TH/s)
};

struct VnishParsed {
    MinerSample sample;
    VnishTopLevel top_level;
};

// Everything the replies carry: identity (make "Bitmain", model from miner_type without the
// parentheses, firmware "vnish" and its version from inside them, MAC, serial from info), hash
// rates in TH/s (current = the miner-level hr_realtime, else the chains' sum; average =
// hr_average; expected = sum of hashrate_ideal; the chains' own rates in boards), fans, measured
// power
// (power_consumption, older builds power_usage), the power limit (settings'
// miner.overclock.preset, a watt figure), uptime (system.uptime text), pools without the DevFee
// pseudo-pool, and the state from miner_status.miner_state.
// `up` is true; miner_id/host/port/site/driver/observed_at are the driver's to fill.
// Throws VnishParseError when the summary is not JSON, is an error reply ({"err":...}) or has no
// "miner" object. Unreadable info or settings bodies are ignored (they only add identity).
VnishParsed parse_vnish(const VnishReplies& replies);

// The state a miner_state string stands for; `hashing` decides for states that may or may not
// hash (auto-tuning, unknown strings). "stopped" is asleep (mining/stop).
MinerState vnish_state(std::string_view miner_state, bool hashing) noexcept;

// "Antminer S19j Pro (Vnish 1.2.0-rc3)" -> model "Antminer S19j Pro", version "1.2.0-rc3".
struct VnishType {
    std::string model;
    std::optional<std::string> firmware_version;
};
VnishType vnish_type(std::string_view miner_type);

// Seconds from the uptime text Vnish copies from `uptime`: " 1:00" (h:mm), "5 min",
// "3 days, 18:00", "1 day, 5 min". nullopt for anything else, and for a part beyond a century.
std::optional<std::int64_t> vnish_uptime_s(std::string_view text) noexcept;

// Whether a `version` reply (RPC 4028) is Vnish with the /api/v1 web API: its Type carries
// "(Vnish x.y.z)". Vnish 3.x for S9/L3 ("Antminer S9 (vnish 3.8.6)") has no /api/v1 and is left
// to the stock Antminer driver.
bool vnish_version_claims(std::string_view version_reply) noexcept;

struct VnishPreset {
    std::string name;  // as sent back in settings: "3000"
    double watts = 0;
    bool tuned = false;
};

// The power presets of GET /api/v1/autotune/presets that name a wattage, ascending. "disabled"
// (stock clocks) and presets that need a modded PSU are left out. Throws VnishParseError when
// the body is not a JSON array.
std::vector<VnishPreset> vnish_presets(std::string_view body);

// The highest preset at or under `target_w`; nullptr when every preset is above it.
const VnishPreset* vnish_choose_preset(const std::vector<VnishPreset>& presets,
                                       double target_w) noexcept;

// miner.overclock.preset of a GET /api/v1/settings body ("3486"); nullopt when missing. Throws
// VnishParseError when the body is not a JSON object.
std::optional<std::string> vnish_settings_preset(std::string_view body);

// The token of a POST /api/v1/unlock reply ({"token":"..."}); throws VnishParseError otherwise.
std::string vnish_unlock_token(std::string_view body);

// The POST /api/v1/settings body that selects `preset`.
std::string vnish_preset_settings_body(std::string_view preset);

}  // namespace hashwatt::agent
