#include "common/crypto.hpp"

#include "common/btminer_crypto.hpp"

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
namespace json = boost::json;

namespace {

// The real vector: the get_token reply in the fixtures and the password the capturing tests used.
constexpr std::string_view kPassword = "my-auth-password";
constexpr std::string_view kKey = "WssMFDgz6KlzbAfbu9Jph/";
constexpr std::string_view kSign = ".8Wiv910uBxIJcqnY6BFC.";
constexpr std::string_view kAesKeyHex =
    "71851181fb0b937f0e163eeda6eaad529884c4d031a00c9571c1b2ab532bf4fb";

std::string read_fixture(const std::string& name) {
    const std::string path =
        std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/whatsminer/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

btminer::TokenMaterial fixture_token() {
    const auto reply = json::parse(read_fixture("get_token.json")).as_object();
    const auto& msg = reply.at("Msg").as_object();
    return {json::value_to<std::string>(msg.at("time")),
            json::value_to<std::string>(msg.at("salt")),
            json::value_to<std::string>(msg.at("newsalt"))};
}

// The base64 ciphertext of a captured request ("data") or reply ("enc").
std::string fixture_ciphertext(const std::string& name) {
    const auto envelope = json::parse(read_fixture(name)).as_object();
    if (const auto* data = envelope.if_contains("data")) return json::value_to<std::string>(*data);
    return json::value_to<std::string>(envelope.at("enc"));
}

std::string decrypt_fixture(const std::string& name) {
    const auto keys = btminer::derive_write_keys(kPassword, fixture_token());
    const auto plaintext = btminer::decrypt_payload(keys.aes_key, fixture_ciphertext(name));
    REQUIRE(plaintext.has_value());
    return *plaintext;
}

json::object decrypt_fixture_object(const std::string& name) {
    const std::string plaintext = decrypt_fixture(name);
    boost::system::error_code ec;
    const json::value v = json::parse(plaintext, ec);
    REQUIRE_MESSAGE(!ec, name << " decrypts to invalid JSON: " << plaintext);
    REQUIRE(v.is_object());
    return v.as_object();
}

std::string str(const json::object& o, std::string_view key) {
    return json::value_to<std::string>(o.at(key));
}

std::string bytes_of(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out += static_cast<char>(v);
    return out;
}

crypto::Aes256Key sequential_key() {
    crypto::Aes256Key key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
    return key;
}

}  // namespace

TEST_CASE("base64 encodes the RFC 4648 vectors") {
    CHECK(crypto::base64_encode("") == "");
    CHECK(crypto::base64_encode("f") == "Zg==");
    CHECK(crypto::base64_encode("fo") == "Zm8=");
    CHECK(crypto::base64_encode("foo") == "Zm9v");
    CHECK(crypto::base64_encode("foob") == "Zm9vYg==");
    CHECK(crypto::base64_encode("fooba") == "Zm9vYmE=");
    CHECK(crypto::base64_encode("foobar") == "Zm9vYmFy");
    CHECK(crypto::base64_encode(bytes_of({0xfb, 0xff, 0xbf})) == "+/+/");
}

TEST_CASE("base64 round-trips every byte value at every length remainder") {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3},
                            std::size_t{255}, std::size_t{256}}) {
        const std::string bytes = all.substr(0, len);
        const std::string text = crypto::base64_encode(bytes);
        CHECK(text.size() % 4 == 0);
        CHECK(text.find('\n') == std::string::npos);
        CHECK(crypto::base64_decode(text) == bytes);
    }
}

TEST_CASE("base64 decoding skips line breaks") {
    CHECK(crypto::base64_decode("Zm9v\nYmFy") == "foobar");
    CHECK(crypto::base64_decode("Zm9v\r\nYmE=\r\n") == "fooba");
    CHECK(crypto::base64_decode("Z\ng\r=\n=") == "f");
    CHECK(crypto::base64_decode("\n") == "");
}

TEST_CASE("base64 decoding rejects invalid input") {
    CHECK_FALSE(crypto::base64_decode("Zg").has_value());    // unpadded
    CHECK_FALSE(crypto::base64_decode("Zg=").has_value());   // short padding
    CHECK_FALSE(crypto::base64_decode("Z===").has_value());  // too much padding
    CHECK_FALSE(crypto::base64_decode("====").has_value());
    CHECK_FALSE(crypto::base64_decode("=Zg=").has_value());       // padding first
    CHECK_FALSE(crypto::base64_decode("Zg==Zg==").has_value());   // padding mid-text
    CHECK_FALSE(crypto::base64_decode("Zm9v!mFy").has_value());   // outside the alphabet
    CHECK_FALSE(crypto::base64_decode("Zm9v YmFy").has_value());  // spaces are not tolerated
    CHECK_FALSE(crypto::base64_decode("Zm9-").has_value());       // URL-safe alphabet
    CHECK_FALSE(crypto::base64_decode(std::string("Zm9v\0\0\0\0", 8)).has_value());
    CHECK_FALSE(crypto::base64_decode("Zh==").has_value());  // non-zero bits under padding
    CHECK_FALSE(crypto::base64_decode("Zm9=").has_value());
}

TEST_CASE("sha256, md5_hex and to_hex give the standard answers") {
    CHECK(crypto::to_hex(crypto::sha256("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(crypto::to_hex(crypto::sha256("")) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(crypto::md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(crypto::md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(crypto::to_hex(std::string_view("")) == "");
    CHECK(crypto::to_hex(bytes_of({0x00, 0x7f, 0x80, 0xff, 0xab})) == "007f80ffab");
}

TEST_CASE("md5_hex reproduces the RFC 2617 HTTP Digest example") {
    const std::string ha1 = crypto::md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
    const std::string ha2 = crypto::md5_hex("GET:/dir/index.html");
    const std::string response =
        crypto::md5_hex(ha1 + ":dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:" + ha2);
    CHECK(response == "6629fae49393a05397450978507c4ef1");
}

TEST_CASE("md5_crypt_hash returns the hash field of $1$salt$hash") {
    CHECK(crypto::md5_crypt_hash(kPassword, "BQ5hoXV9") == kKey);
    CHECK(crypto::md5_crypt_hash(kPassword, "BQ5h") == "HO4jkAhGF/Yy4x7/YjJG7.");
    // MD5-crypt reads at most 8 salt characters.
    CHECK(crypto::md5_crypt_hash(kPassword, "BQ5hoXV9extra") == kKey);
}

TEST_CASE("md5_crypt_hash throws on salts and passwords crypt cannot take") {
    CHECK_THROWS_AS(crypto::md5_crypt_hash(kPassword, ""), std::runtime_error);
    CHECK_THROWS_AS(crypto::md5_crypt_hash(kPassword, "ab$cd"), std::runtime_error);
    CHECK_THROWS_AS(crypto::md5_crypt_hash(kPassword, "has space"), std::runtime_error);
    CHECK_THROWS_AS(crypto::md5_crypt_hash(std::string("pass\0word", 9), "BQ5hoXV9"),
                    std::runtime_error);
}

TEST_CASE("md5_crypt_hash is safe to call from several threads") {
    constexpr int kThreads = 4;
    std::vector<std::string> results(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&results, t] {
            std::string last;
            for (int i = 0; i < 20; ++i) last = crypto::md5_crypt_hash(kPassword, "BQ5hoXV9");
            results[static_cast<std::size_t>(t)] = last;
        });
    }
    for (auto& th : threads) th.join();
    for (const auto& r : results) CHECK(r == kKey);
}

TEST_CASE("AES-256-ECB matches FIPS-197 and round-trips") {
    const auto key = sequential_key();
    const std::string block = bytes_of({0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
                                        0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff});
    const auto ciphertext = crypto::aes256_ecb_encrypt(key, block);
    REQUIRE(ciphertext.has_value());
    CHECK(crypto::to_hex(*ciphertext) == "8ea2b7ca516745bfeafc49904b496089");
    CHECK(crypto::aes256_ecb_decrypt(key, *ciphertext) == block);

    // ECB: equal blocks encrypt equally, and no padding block is appended.
    const auto two = crypto::aes256_ecb_encrypt(key, block + block);
    REQUIRE(two.has_value());
    CHECK(*two == *ciphertext + *ciphertext);

    CHECK(crypto::aes256_ecb_encrypt(key, "") == "");
    CHECK(crypto::aes256_ecb_decrypt(key, "") == "");
}

TEST_CASE("AES-256-ECB rejects input that is not whole 16-byte blocks") {
    const auto key = sequential_key();
    for (std::size_t len : {std::size_t{1}, std::size_t{15}, std::size_t{17}, std::size_t{31}}) {
        const std::string input(len, 'x');
        CHECK_FALSE(crypto::aes256_ecb_encrypt(key, input).has_value());
        CHECK_FALSE(crypto::aes256_ecb_decrypt(key, input).has_value());
    }
}

TEST_CASE("constant_time_equal") {
    CHECK(crypto::constant_time_equal("", ""));
    CHECK(crypto::constant_time_equal("secret", "secret"));
    CHECK_FALSE(crypto::constant_time_equal("secret", "secreT"));
    CHECK_FALSE(crypto::constant_time_equal("secret", "Secret"));
    CHECK_FALSE(crypto::constant_time_equal("secret", "secret2"));
    CHECK_FALSE(crypto::constant_time_equal("secret", ""));
    CHECK_FALSE(crypto::constant_time_equal("", "secret"));
    CHECK(crypto::constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
    CHECK_FALSE(crypto::constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("random_token gives fresh lower-case hex") {
    CHECK(crypto::random_token(0) == "");
    const std::string token = crypto::random_token(16);
    CHECK(token.size() == 32);
    CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
    std::set<std::string> seen;
    for (int i = 0; i < 8; ++i) seen.insert(crypto::random_token(16));
    CHECK(seen.size() == 8);
}

TEST_CASE("btminer: the get_token fixture holds the expected material") {
    const auto token = fixture_token();
    CHECK(token.time == "6915");
    CHECK(token.salt == "BQ5hoXV9");
    CHECK(token.newsalt == "a5TtWui2");
}

TEST_CASE("btminer: derive_write_keys matches the real vector") {
    const auto keys = btminer::derive_write_keys(kPassword, {"6915", "BQ5hoXV9", "a5TtWui2"});
    CHECK(keys.key == kKey);
    CHECK(keys.sign == kSign);
    CHECK(crypto::to_hex(keys.aes_key) == kAesKeyHex);
    CHECK(crypto::to_hex(crypto::sha256(keys.key)) == kAesKeyHex);
}

TEST_CASE("btminer: captured requests decrypt to the exact plaintexts") {
    CHECK(decrypt_fixture("write_reboot_REQUEST_enc.json") ==
          R"({"cmd":"reboot","token":".8Wiv910uBxIJcqnY6BFC."})");
    CHECK(decrypt_fixture("write_set_led_1_REQUEST_enc.json") ==
          R"({"cmd":"set_led","color":"red","period":"2000","duration":"1000","start":"0",)"
          R"("token":".8Wiv910uBxIJcqnY6BFC."})");
    CHECK(decrypt_fixture("write_set_led_2_REQUEST_enc.json") ==
          R"({"cmd":"set_led","param":"auto","token":".8Wiv910uBxIJcqnY6BFC."})");
}

TEST_CASE("btminer: the other captured requests decrypt to JSON commands") {
    SUBCASE("factory_reset") {
        const auto o = decrypt_fixture_object("write_factory_reset_REQUEST_enc.json");
        CHECK(str(o, "cmd") == "factory_reset");
        CHECK(str(o, "token") == kSign);
        CHECK(o.size() == 2);
    }
    SUBCASE("net_config") {
        const auto o = decrypt_fixture_object("write_net_config_REQUEST_enc.json");
        CHECK(str(o, "cmd") == "net_config");
        CHECK(str(o, "ip") == "192.168.1.189");
        CHECK(str(o, "mask") == "255.255.255.0");
        CHECK(str(o, "gate") == "192.168.1.1");
        CHECK(str(o, "dns") == "192.168.1.1");
        CHECK(str(o, "host") == "");
        CHECK(str(o, "token") == kSign);
    }
    SUBCASE("update_pwd") {
        const auto o = decrypt_fixture_object("write_update_pwd_REQUEST_enc.json");
        CHECK(str(o, "cmd") == "update_pwd");
        CHECK(str(o, "old") == kPassword);
        CHECK(str(o, "new") == "new");
        CHECK(str(o, "token") == kSign);
    }
}

TEST_CASE("btminer: the captured reboot reply decrypts to a success status") {
    const auto o = decrypt_fixture_object("write_reboot_RESPONSE_enc.json");
    CHECK(str(o, "STATUS") == "S");
    CHECK(o.at("Code").as_int64() == 131);
    CHECK(o.at("When").as_int64() == 1608417125);
    CHECK(str(o, "Description") == "whatsminer v1.1");
}

TEST_CASE("btminer: re-encrypting reproduces the captures byte for byte") {
    const auto keys = btminer::derive_write_keys(kPassword, fixture_token());
    const std::string reboot = R"({"cmd":"reboot","token":".8Wiv910uBxIJcqnY6BFC."})";
    CHECK(btminer::encrypt_payload(keys.aes_key, reboot) ==
          fixture_ciphertext("write_reboot_REQUEST_enc.json"));
    // The fixture files are exactly the envelope, with no trailing newline.
    CHECK(btminer::make_encrypted_request(keys.aes_key, reboot) ==
          read_fixture("write_reboot_REQUEST_enc.json"));
    CHECK(btminer::make_encrypted_reply(keys.aes_key,
                                        decrypt_fixture("write_reboot_RESPONSE_enc.json")) ==
          read_fixture("write_reboot_RESPONSE_enc.json"));

    for (const char* name :
         {"write_factory_reset_REQUEST_enc.json", "write_net_config_REQUEST_enc.json",
          "write_set_led_1_REQUEST_enc.json", "write_set_led_2_REQUEST_enc.json",
          "write_update_pwd_REQUEST_enc.json"}) {
        CAPTURE(name);
        CHECK(btminer::make_encrypted_request(keys.aes_key, decrypt_fixture(name)) ==
              read_fixture(name));
    }
}

TEST_CASE("btminer: payload padding and rejects") {
    const auto keys = btminer::derive_write_keys(kPassword, fixture_token());
    const auto ciphertext_size = [&](std::string_view plaintext) {
        const auto raw = crypto::base64_decode(btminer::encrypt_payload(keys.aes_key, plaintext));
        REQUIRE(raw.has_value());
        return raw->size();
    };
    CHECK(ciphertext_size("") == 0);
    CHECK(ciphertext_size("{}") == 16);
    CHECK(ciphertext_size(std::string(16, 'x')) == 16);  // aligned: no extra block
    CHECK(ciphertext_size(std::string(17, 'x')) == 32);

    for (const std::string plaintext : {R"({"cmd":"reboot"})", R"({"cmd":"reboot"} )"}) {
        CAPTURE(plaintext.size());  // 16 and 17 bytes: either side of a block boundary
        CHECK(btminer::decrypt_payload(
                  keys.aes_key, btminer::encrypt_payload(keys.aes_key, plaintext)) == plaintext);
    }
    CHECK(btminer::decrypt_payload(keys.aes_key, btminer::encrypt_payload(keys.aes_key, "")) == "");

    CHECK_FALSE(btminer::decrypt_payload(keys.aes_key, "not base64!").has_value());
    CHECK_FALSE(btminer::decrypt_payload(keys.aes_key, crypto::base64_encode(std::string(15, 'x')))
                    .has_value());

    // A wrong key decrypts to something else; the caller's JSON parse is what rejects it.
    const auto other = btminer::derive_write_keys("wrong-password", fixture_token());
    const auto garbage = btminer::decrypt_payload(
        other.aes_key, fixture_ciphertext("write_reboot_REQUEST_enc.json"));
    REQUIRE(garbage.has_value());
    CHECK(*garbage != R"({"cmd":"reboot","token":".8Wiv910uBxIJcqnY6BFC."})");
}

TEST_CASE("btminer: envelopes have the shape the miner and client expect") {
    const auto keys = btminer::derive_write_keys(kPassword, fixture_token());
    const std::string plaintext = R"({"cmd":"set_led","param":"auto","token":"t"})";

    const auto request = json::parse(btminer::make_encrypted_request(keys.aes_key, plaintext));
    CHECK(request.as_object().size() == 2);
    CHECK(request.at("enc").as_int64() == 1);
    CHECK(btminer::decrypt_payload(keys.aes_key, json::value_to<std::string>(request.at("data"))) ==
          plaintext);

    const auto reply = json::parse(btminer::make_encrypted_reply(keys.aes_key, plaintext));
    CHECK(reply.as_object().size() == 1);
    CHECK(btminer::decrypt_payload(keys.aes_key, json::value_to<std::string>(reply.at("enc"))) ==
          plaintext);
}
