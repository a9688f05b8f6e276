// Small cryptographic building blocks shared by the agent and the simulator: encodings, digests,
// MD5-crypt, AES-256-ECB, constant-time comparison and random tokens. OpenSSL and libcrypt stay
// in crypto.cpp so that including this header costs only standard headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hashwatt::crypto {

using Sha256Digest = std::array<std::uint8_t, 32>;
using Aes256Key = std::array<std::uint8_t, 32>;

// RFC 4648 base64 with the standard alphabet and '=' padding, on one line.
std::string base64_encode(std::string_view bytes);

// Decodes padded standard base64. '\n' and '\r' anywhere are skipped (some peers wrap lines);
// anything else outside the alphabet, a length that is not a multiple of 4 once those are
// removed, padding anywhere but the end, or non-zero bits under the padding gives nullopt.
std::optional<std::string> base64_decode(std::string_view text);

Sha256Digest sha256(std::string_view bytes);

// MD5 of `bytes` as 32 lower-case hex digits, the form HTTP Digest auth hashes and compares.
std::string md5_hex(std::string_view bytes);

// Lower-case hex, two digits per byte.
std::string to_hex(std::span<const std::uint8_t> bytes);
std::string to_hex(std::string_view bytes);

// The 22-character hash field of MD5-crypt, i.e. HASH in "$1$<salt>$HASH", computed by the
// system's libcrypt (thread-safe). `salt` must be one or more characters of [./0-9A-Za-z]
// (MD5-crypt uses at most the first 8). Throws std::runtime_error for any other salt, for a
// password with an embedded NUL, and if crypt fails.
std::string md5_crypt_hash(std::string_view password, std::string_view salt);

// AES-256 in ECB mode without padding: the input must be a whole number of 16-byte blocks
// (empty is allowed), otherwise nullopt. Throws std::runtime_error only if OpenSSL itself fails.
std::optional<std::string> aes256_ecb_encrypt(const Aes256Key& key, std::string_view plaintext);
std::optional<std::string> aes256_ecb_decrypt(const Aes256Key& key, std::string_view ciphertext);

// Compares secrets in time that depends only on the lengths: inputs of different length are
// unequal at once, equal lengths are compared without an early exit on the first difference.
bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` bytes from OpenSSL's CSPRNG as 2*bytes lower-case hex digits, for nonces and session
// tokens. Throws std::runtime_error if the generator fails.
std::string random_token(std::size_t bytes);

}  // namespace hashwatt::crypto
