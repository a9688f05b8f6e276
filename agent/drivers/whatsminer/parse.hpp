// Whatsminer (MicroBT btminer, API v2 on TCP 4028): raw replies -> MinerSample. Pure functions,
// no I/O; the driver (driver.cpp) decides what to ask and hands the reply texts here. Field
// sources, units and the choices made are listed in README.md beside this file.
#pragma once

#include "common/btminer_crypto.hpp"
#include "common/miner_sample.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hashwatt::agent::whatsminer {

// A reply that arrived but could not be understood. `command()` names the request whose reply
// was at fault ("summary", "devs", ...); what() reads "<command>: <problem>".
class ParseError : public std::runtime_error {
  public:
    ParseError(std::string command, const std::string& problem);
    const std::string& command() const noexcept { return command_; }

  private:
    std::string command_;
};

// The raw reply texts of one poll. nullopt = not asked this round.
struct WhatsminerReplies {
    // {"command":"summary+devs+pools"} (cgminer multi-command; each part wrapped in an array).
    std::optional<std::string_view> joined;
    // The same three asked one by one, when the firmware refuses joins. `devs` may be the reply
    // to `edevs` (same shape).
    std::optional<std::string_view> summary;
    std::optional<std::string_view> devs;
    std::optional<std::string_view> pools;
    // Identity, asked every few minutes.
    std::optional<std::string_view> devdetails;
    std::optional<std::string_view> get_version;
    std::optional<std::string_view> get_miner_info;
    // Follow-ups (cannot be joined): `status` for the sleep flag, `get_error_code` for the
    // current errors on firmware whose summary no longer lists them.
    std::optional<std::string_view> status;
    std::optional<std::string_view> get_error_code;
};

// What one round of replies said, with what the driver needs to decide the follow-ups.
struct WhatsminerReading {
    MinerSample sample;  // everything the replies carry; `state` as far as known so far
    bool summary_lists_errors = false;  // summary has `Error Code Count` (firmware < API 2.0.4)
    std::optional<bool> mining_off;     // status: Msg.mineroff / Msg.btmineroff
    bool identity_read = false;         // devdetails/get_version/get_miner_info answered this round

    std::optional<double> hashrate_5s_ths;  // summary `MHS 5s`, to see a stop before `MHS 1m` does

    // The summary shows (next to) no hash rate, so only `status` can tell sleep from a fault.
    bool wants_status() const;
    // The summary does not list current errors: the firmware keeps them in get_error_code.
    bool wants_error_codes() const { return !summary_lists_errors; }
};

// Reads the summary/devs/pools replies (joined or separate; a summary is required) and any
// identity or follow-up replies present. Fields a reply does not carry come from `identity`
// (the cached identity of this miner, may be null) when they are identity fields (make, model,
// firmware, serial, MAC). Throws ParseError.
WhatsminerReading read_whatsminer(const WhatsminerReplies& replies,
                                  const MinerSample* identity = nullptr);

// Adds the follow-up replies (status, get_error_code) to a reading and recomputes its state.
// Throws ParseError.
void add_whatsminer_followups(WhatsminerReading& reading, std::optional<std::string_view> status,
                              std::optional<std::string_view> get_error_code);

// read_whatsminer, then the sample alone.
MinerSample parse_whatsminer(const WhatsminerReplies& replies,
                             const MinerSample* identity = nullptr);

// The identity part of a sample (make, model, firmware, firmware_version, serial, mac, and the
// power limit last seen), what the driver caches between identity refreshes.
MinerSample whatsminer_identity(const MinerSample& sample);

// The model name for what DEVDETAILS (or API v3 `msg.miner.type`) reports: the model table's
// name when known ("M30S++V10" -> "M30S++"), else the report without its hardware revision
// ("M60S_VK40" -> "M60S", "M20SV10" -> "M20S").
std::string whatsminer_model_name(std::string_view reported);

// The firmware's state from what a reading holds: sleeping when status says the boards are off,
// mining while hashing, else error (current error codes), booting (btminer up < 10 min) or idle.
MinerState whatsminer_state(const MinerSample& sample, std::optional<bool> mining_off);

// A human message for a MicroBT error code ("Intake fan speed error"), by code family when the
// exact code is not known; "" for a code that is not a number.
std::string whatsminer_error_message(std::string_view code);

// --- the encrypted write API ------------------------------------------------------------------

// Parameters of a write command, in the order they are sent; values are strings on the wire.
using WriteParams = std::vector<std::pair<std::string, std::string>>;

// The plaintext of a write command, {"cmd":"<cmd>","<k>":"<v>",…,"token":"<sign>"}: the field
// order of MicroBT's examples (and of the known-answer vectors in tests/fixtures/whatsminer/).
std::string write_command_json(std::string_view cmd, const WriteParams& params,
                               std::string_view sign);

// The reply to {"command":"get_token"}: the token material, or why there is none.
struct TokenReply {
    std::optional<btminer::TokenMaterial> token;
    std::string
        problem;  // when !token: the miner's refusal ("Code 45 permission denied") or the fault
};
TokenReply read_token_reply(std::string_view reply);

// What a write command's reply says. Encrypted replies ({"enc":"…"}) are decrypted with
// `aes_key`; plaintext ones (errors) are read as they are.
struct WriteReply {
    enum class Kind {
        ok,       // Code 131 / "API command OK"
        refused,  // the miner understood and said no (Code 132, 45 write API disabled, 14, ...)
        auth,     // token rejected (Code 135/136/137) or the reply does not decrypt: wrong password
        unreadable,  // not JSON at all
    };
    Kind kind = Kind::unreadable;
    int code = 0;         // the miner's Code, 0 when none
    std::string message;  // the miner's words, or what was wrong with the reply
};
WriteReply read_write_reply(std::string_view reply, const std::array<std::uint8_t, 32>& aes_key);

// --- API v3 (firmware from late 2024 on; TCP 4433, length-prefixed frames) -------------------

// Whether `reply` is an API v3 answer ({"code":…,"msg":{…},"desc":…,"when":…}, e.g. to
// get.device.info) rather than a v2/cgminer reply. Never throws; false for anything unreadable.
bool looks_like_whatsminer_v3(std::string_view reply);

// Identity and current errors from a v3 get.device.info reply (model `msg.miner.type`,
// firmware `msg.system.fwversion`, serial `msg.miner.miner-sn`, MAC `msg.network.mac`, errors
// `msg.error-code[]`). Throws ParseError when the reply is not one.
MinerSample parse_whatsminer_v3_device_info(std::string_view reply);

}  // namespace hashwatt::agent::whatsminer
