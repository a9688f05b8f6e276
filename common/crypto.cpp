#include "common/crypto.hpp"

#include <algorithm>
#include <crypt.h>
#include <memory>
#include <stdexcept>

#include <climits>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace hashwatt::crypto {

namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kCryptSaltAlphabet =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// OpenSSL lengths are int; larger inputs go through in chunks this size (a multiple of the AES
// block, so chunks never split a block).
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// Value of a base64 character, or -1 for anything outside the alphabet ('=' included).
constexpr std::array<std::int8_t, 256> make_base64_table() {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i) {
        table[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}
constexpr auto kBase64Table = make_base64_table();

const unsigned char* as_uchars(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, std::string_view bytes) {
    std::array<std::uint8_t, N> out{};
    unsigned int out_len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &out_len, md, nullptr) != 1 ||
        out_len != N) {
        throw std::runtime_error("crypto: message digest failed");
    }
    return out;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::optional<std::string> aes256_ecb(const Aes256Key& key, std::string_view in, bool encrypt) {
    if (in.size() % 16 != 0) return std::nullopt;
    if (in.empty()) return std::string();
    CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    if (!ctx ||
        EVP_CipherInit_ex(ctx.get(), EVP_aes_256_ecb(), nullptr, key.data(), nullptr,
                          encrypt ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1) {
        throw std::runtime_error("crypto: AES-256-ECB setup failed");
    }
    // Without padding, ECB writes exactly one output block per input block; the spare block
    // is the headroom EVP_CipherUpdate's contract asks for.
    std::string out(in.size() + 16, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(out.data());
    std::size_t written = 0;
    for (std::size_t offset = 0; offset < in.size(); offset += kMaxChunk) {
        const std::size_t chunk = std::min(kMaxChunk, in.size() - offset);
        int len = 0;
        if (EVP_CipherUpdate(ctx.get(), dst + written, &len, as_uchars(in) + offset,
                             static_cast<int>(chunk)) != 1) {
            throw std::runtime_error("crypto: AES-256-ECB failed");
        }
        written += static_cast<std::size_t>(len);
    }
    int final_len = 0;
    if (EVP_CipherFinal_ex(ctx.get(), dst + written, &final_len) != 1) {
        throw std::runtime_error("crypto: AES-256-ECB finalisation failed");
    }
    written += static_cast<std::size_t>(final_len);
    out.resize(written);
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16 |
                                std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8 |
                                std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out += kBase64Alphabet[n >> 18 & 0x3f];
        out += kBase64Alphabet[n >> 12 & 0x3f];
        out += kBase64Alphabet[n >> 6 & 0x3f];
        out += kBase64Alphabet[n & 0x3f];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
        if (rest == 2) n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
        out += kBase64Alphabet[n >> 18 & 0x3f];
        out += kBase64Alphabet[n >> 12 & 0x3f];
        out += rest == 2 ? kBase64Alphabet[n >> 6 & 0x3f] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        if (c != '\n' && c != '\r') clean += c;
    }
    if (clean.size() % 4 != 0) return std::nullopt;

    std::size_t padding = 0;
    if (!clean.empty() && clean.back() == '=') padding = clean[clean.size() - 2] == '=' ? 2 : 1;
    const std::size_t data_chars = clean.size() - padding;

    std::string out;
    out.reserve(clean.size() / 4 * 3);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (std::size_t i = 0; i < data_chars; ++i) {
        const std::int8_t v = kBase64Table[static_cast<unsigned char>(clean[i])];
        if (v < 0) return std::nullopt;  // also catches '=' before the final padding
        bits = bits << 6 | static_cast<std::uint32_t>(v);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out += static_cast<char>(bits >> bit_count & 0xff);
        }
    }
    // What is left are the bits under the padding; an encoder always writes them as zero, so
    // anything else means the text was not produced by one (or was altered).
    if ((bits & ((std::uint32_t{1} << bit_count) - 1)) != 0) return std::nullopt;
    return out;
}

Sha256Digest sha256(std::string_view bytes) { return digest<32>(EVP_sha256(), bytes); }

std::string md5_hex(std::string_view bytes) { return to_hex(digest<16>(EVP_md5(), bytes)); }

std::string to_hex(std::span<const std::uint8_t> bytes) {
    constexpr std::string_view kDigits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    return to_hex(std::span<const std::uint8_t>(as_uchars(bytes), bytes.size()));
}

std::string md5_crypt_hash(std::string_view password, std::string_view salt) {
    if (salt.empty() || salt.find_first_not_of(kCryptSaltAlphabet) != std::string_view::npos) {
        throw std::runtime_error("md5_crypt_hash: salt must be one or more of [./0-9A-Za-z]");
    }
    if (password.find('\0') != std::string_view::npos) {
        throw std::runtime_error("md5_crypt_hash: password contains a NUL byte");
    }
    const std::string phrase(password);
    const std::string setting = "$1$" + std::string(salt);
    // struct crypt_data is tens of kilobytes: keep it off the stack. make_unique zeroes it,
    // which crypt_rn requires of a fresh buffer.
    auto data = std::make_unique<crypt_data>();
    const char* result = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
    if (result == nullptr) throw std::runtime_error("md5_crypt_hash: crypt_rn failed");

    const std::string_view full(result);
    const auto last_dollar = full.rfind('$');
    if (!full.starts_with("$1$") || last_dollar == std::string_view::npos ||
        full.size() - last_dollar - 1 != 22) {
        throw std::runtime_error("md5_crypt_hash: unexpected crypt output");
    }
    return std::string(full.substr(last_dollar + 1));
}

std::optional<std::string> aes256_ecb_encrypt(const Aes256Key& key, std::string_view plaintext) {
    return aes256_ecb(key, plaintext, true);
}

std::optional<std::string> aes256_ecb_decrypt(const Aes256Key& key, std::string_view ciphertext) {
    return aes256_ecb(key, ciphertext, false);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // The length is not secret (it shows on the wire); only the contents are compared in
    // constant time.
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_token(std::size_t bytes) {
    std::string raw(bytes, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(raw.data());
    for (std::size_t offset = 0; offset < bytes; offset += kMaxChunk) {
        const std::size_t chunk = std::min(kMaxChunk, bytes - offset);
        if (RAND_bytes(dst + offset, static_cast<int>(chunk)) != 1) {
            throw std::runtime_error("random_token: RAND_bytes failed");
        }
    }
    return to_hex(raw);
}

}  // namespace hashwatt::crypto
