#include "common/btminer_crypto.hpp"

#include "common/crypto.hpp"

#include <stdexcept>

namespace hashwatt::btminer {

WriteKeys derive_write_keys(std::string_view password, const TokenMaterial& token) {
    WriteKeys keys;
    keys.key = crypto::md5_crypt_hash(password, token.salt);
    keys.sign = crypto::md5_crypt_hash(keys.key + token.time, token.newsalt);
    keys.aes_key = crypto::sha256(keys.key);
    return keys;
}

std::string encrypt_payload(const std::array<std::uint8_t, 32>& aes_key,
                            std::string_view plaintext_json) {
    std::string padded(plaintext_json);
    padded.resize((padded.size() + 15) / 16 * 16, '\0');
    auto ciphertext = crypto::aes256_ecb_encrypt(aes_key, padded);
    // Cannot happen: the input was just padded to whole blocks.
    if (!ciphertext) throw std::logic_error("btminer: padded payload is not block-aligned");
    return crypto::base64_encode(*ciphertext);
}

std::optional<std::string> decrypt_payload(const std::array<std::uint8_t, 32>& aes_key,
                                           std::string_view base64) {
    auto ciphertext = crypto::base64_decode(base64);
    if (!ciphertext) return std::nullopt;
    auto plaintext = crypto::aes256_ecb_decrypt(aes_key, *ciphertext);
    if (!plaintext) return std::nullopt;
    const auto end = plaintext->find_last_not_of('\0');
    plaintext->resize(end == std::string::npos ? 0 : end + 1);
    return plaintext;
}

// Base64 text needs no JSON escaping, so the envelopes are spliced directly.
std::string make_encrypted_request(const std::array<std::uint8_t, 32>& aes_key,
                                   std::string_view plaintext_json) {
    return R"({"enc":1,"data":")" + encrypt_payload(aes_key, plaintext_json) + R"("})";
}

std::string make_encrypted_reply(const std::array<std::uint8_t, 32>& aes_key,
                                 std::string_view plaintext_json) {
    return R"({"enc":")" + encrypt_payload(aes_key, plaintext_json) + R"("})";
}

}  // namespace hashwatt::btminer
