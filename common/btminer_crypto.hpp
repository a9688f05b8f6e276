// The encryption of Whatsminer's (MicroBT btminer API v2) write commands, shared by the agent's
// driver and the simulated miner so both ends follow one implementation:
//   1. {"cmd":"get_token"} answers Msg {"time":"6915","salt":"BQ5hoXV9","newsalt":"a5TtWui2"},
//      `time` being the last 4 digits of the miner's epoch seconds;
//   2. key  = MD5-crypt hash field of (password, salt);
//   3. sign = MD5-crypt hash field of (key + time, newsalt), sent as the command's "token";
//   4. AES key = SHA-256 of the key's ASCII text;
//   5. the command JSON with "token":"<sign>" added is NUL-padded to whole 16-byte blocks,
//      AES-256-ECB encrypted and base64-encoded into {"enc":1,"data":"<base64>"};
//   6. the miner answers {"enc":"<base64>"} under the same key (errors may come back in plain
//      JSON instead).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::btminer {

// The Msg object of a get_token reply.
struct TokenMaterial {
    std::string time;
    std::string salt;
    std::string newsalt;
};

struct WriteKeys {
    std::string key;                       // MD5-crypt hash field, 22 characters
    std::string sign;                      // the "token" value every write command carries
    std::array<std::uint8_t, 32> aes_key;  // SHA-256 of `key`
};

// Derives the keys for one token. Throws std::runtime_error when a salt is not an MD5-crypt salt
// (one or more of [./0-9A-Za-z]) or the password holds a NUL byte.
WriteKeys derive_write_keys(std::string_view password, const TokenMaterial& token);

// NUL-pads `plaintext_json` to a multiple of 16 bytes (nothing is added when it already is),
// encrypts it with AES-256-ECB and returns the base64 text. JSON never contains NUL, so the
// padding is unambiguous to strip.
std::string encrypt_payload(const std::array<std::uint8_t, 32>& aes_key,
                            std::string_view plaintext_json);

// The inverse of encrypt_payload: the plaintext with trailing NUL padding removed, or nullopt
// when `base64` is not valid base64 or does not decode to whole 16-byte blocks. It does not
// check that the result is JSON: a wrong key yields garbage, which the JSON parser rejects.
std::optional<std::string> decrypt_payload(const std::array<std::uint8_t, 32>& aes_key,
                                           std::string_view base64);

// The complete request line a client sends: {"enc":1,"data":"<encrypt_payload(...)>"}.
std::string make_encrypted_request(const std::array<std::uint8_t, 32>& aes_key,
                                   std::string_view plaintext_json);

// The complete reply a miner sends: {"enc":"<encrypt_payload(...)>"}.
std::string make_encrypted_reply(const std::array<std::uint8_t, 32>& aes_key,
                                 std::string_view plaintext_json);

}  // namespace hashwatt::btminer
