// Tests for the Whatsminer (btminer API v2) front-end: replies shaped like the captures in
// tests/fixtures/whatsminer/, the encrypted write API end to end with the shared crypto helpers,
// and robustness against garbage.
#include "common/btminer_crypto.hpp"
#include "common/crypto.hpp"
#include "sim/fleet.hpp"
#include "sim/frontend.hpp"
#include "tests/support/json_shape.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string read_fixture(std::string_view relative) {
    const std::string path =
        std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/" + std::string(relative);
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing fixture " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// btminer writes \' inside strings, which is not JSON. The agent's parse_cgminer_json repairs
// it; unit_sim does not link the agent, so the one repair these replies need is done here.
json::value parse_btminer(std::string_view text) {
    std::string repaired;
    repaired.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '\'') continue;
        repaired.push_back(text[i]);
    }
    return json::parse(repaired);
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

#define CHECK_SAME_SHAPE(reference, candidate)                                     \
    do {                                                                           \
        const auto diffs_ = test::shape_differences((reference), (candidate));     \
        INFO("differences:\n"                                                      \
             << join_lines(diffs_) << "candidate: " << test::shape_of(candidate)); \
        CHECK(diffs_.empty());                                                     \
    } while (false)

const TimePoint kBoot{std::chrono::milliseconds(1'700'000'000'000)};

// One simulated Whatsminer and the fleet parameters it points into (kept alive together).
struct Rig {
    FleetConfig cfg;
    std::unique_ptr<SimMiner> m;

    explicit Rig(std::uint32_t index = 0, std::string password = "s3cret!",
                 std::string_view model = "m30s++") {
        cfg.physics.wake_ramp = 2s;
        cfg.physics.sleep_ramp = 1s;
        cfg.physics.boot_time = 3s;
        cfg.physics.hashrate_noise = 0;
        cfg.whatsminer_password = std::move(password);
        m = make_miner(*find_model(model), Family::whatsminer, index, *parse_ipv4("127.1.0.1"), cfg,
                       kBoot);
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    RpcReply ask(std::string_view raw, TimePoint now) {
        RpcRequest req;
        parse_rpc_request(raw, req);
        return frontend_for(Family::whatsminer).rpc(*m, req, now);
    }
    json::value ask_json(std::string_view raw, TimePoint now) {
        const RpcReply r = ask(raw, now);
        return parse_btminer(r.body);
    }
};

const TimePoint kNow = kBoot + 1h;

btminer::TokenMaterial token_from(const json::value& reply) {
    const auto& msg = reply.at("Msg").as_object();
    return {std::string(msg.at("time").as_string()), std::string(msg.at("salt").as_string()),
            std::string(msg.at("newsalt").as_string())};
}

struct WriteResult {
    bool encrypted = false;
    json::value reply;
};

// What a client does for one write: get_token, derive the keys from `password`, add the token
// to `command`, encrypt, send, and decrypt the answer when it comes back encrypted.
WriteResult write_command(Rig& rig, std::string_view password, std::string_view command,
                          TimePoint token_at, TimePoint send_at) {
    const auto token = rig.ask_json(R"({"cmd":"get_token"})", token_at);
    const auto keys = btminer::derive_write_keys(password, token_from(token));
    auto cmd = json::parse(command).as_object();
    cmd["token"] = keys.sign;
    const std::string request = btminer::make_encrypted_request(keys.aes_key, json::serialize(cmd));
    const RpcReply r = rig.ask(request, send_at);
    WriteResult out;
    auto v = json::parse(r.body);
    if (v.is_object() && v.as_object().contains("enc") && v.at("enc").is_string()) {
        out.encrypted = true;
        const auto plain = btminer::decrypt_payload(keys.aes_key, v.at("enc").as_string());
        REQUIRE(plain.has_value());
        out.reply = json::parse(*plain);
    } else {
        out.reply = v;
    }
    return out;
}

// The known-answer vector behind the write_* fixtures (see samples/EXPECTED.md).
btminer::WriteKeys vector_keys() {
    return btminer::derive_write_keys("my-auth-password", {"6915", "BQ5hoXV9", "a5TtWui2"});
}

std::int64_t code_of(const json::value& flat) { return flat.at("Code").as_int64(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shapes

TEST_CASE("whatsminer: summary shape matches the M30S capture") {
    // The capture shows one current error and two factory error codes: miner index 2 carries two
    // factory codes, and a dead board raises one current error.
    Rig rig(2);
    rig.m->faults.set(FaultKind::dead_board, FaultParams{.index = 1}, kBoot);
    const std::string body = rig.ask(R"({"command":"summary"})", kNow).body;
    // The firmware's \' escape is reproduced on purpose.
    CHECK(body.find(R"("Firmware Version":"\'20230803.11.REL\'")") != std::string::npos);
    const auto reply = parse_btminer(body);
    CHECK_SAME_SHAPE(parse_btminer(read_fixture("whatsminer/m30s_summary.json")), reply);
    const auto& s = reply.at("SUMMARY").at(0).as_object();
    CHECK(s.at("Error Code 0").as_int64() == 531);
    CHECK(s.at("Power Limit").as_int64() == 3600);
    CHECK(s.at("Factory GHS").as_int64() == 112000);
    // Float fields stay floats even when integral (MHS, temperatures).
    CHECK(s.at("Chip Temp Max").is_double());
    CHECK(s.at("MHS 1m").is_double());
    CHECK(s.at("MHS 1m").as_double() > 50e6);
    CHECK(reply.at("STATUS").at(0).at("Description").as_string() == "btminer");
}

TEST_CASE("whatsminer: devs and edevs shapes match the M30S edevs capture") {
    Rig rig;
    const auto reference = parse_btminer(read_fixture("whatsminer/m30s_edevs.json"));
    for (const char* request :
         {R"({"command":"edevs"})", R"({"command":"devs"})", R"({"cmd":"edevs"})"}) {
        CAPTURE(request);
        const auto reply = rig.ask_json(request, kNow);
        CHECK_SAME_SHAPE(reference, reply);
        CHECK(reply.at("DEVS").as_array().size() == 3);
    }
}

TEST_CASE("whatsminer: get_version shape matches the API 2.0.5 capture") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"cmd":"get_version"})", kNow);
    CHECK_SAME_SHAPE(json::parse(read_fixture("whatsminer/apiv205_get_version.json")), reply);
    CHECK(reply.at("Msg").at("api_ver").as_string() == "2.0.5");
    CHECK(reply.at("Msg").at("fw_ver").as_string() == "20230803.11.REL");
}

TEST_CASE("whatsminer: status shape matches the API 2.0.5 capture") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"cmd":"status"})", kNow);
    CHECK_SAME_SHAPE(json::parse(read_fixture("whatsminer/apiv205_status.json")), reply);
    CHECK(reply.at("Msg").at("mineroff").as_string() == "false");
    CHECK(reply.at("Msg").at("power_limit_set").as_string() == "3600");
    // The "command" key works for whatsminer reads too on API 2.0.5 firmware.
    CHECK_SAME_SHAPE(reply, rig.ask_json(R"({"command":"status"})", kNow));
}

TEST_CASE("whatsminer: status of a sleeping miner (m31s capture uses the older schema)") {
    // m31s_sleeping_status.json is pre-2.0.5 firmware: Msg {"btmineroff","Firmware Version"}.
    // The simulator speaks the 2.0.5 schema only; the envelope is the same, the sleep flag is
    // named mineroff.
    Rig rig;
    rig.m->physics.sleep(kNow);
    auto reply = rig.ask_json(R"({"cmd":"status"})", kNow + 5s);
    CHECK(reply.at("Msg").at("mineroff").as_string() == "true");
    auto old = parse_btminer(read_fixture("whatsminer/m31s_sleeping_status.json"));
    CHECK(old.at("Msg").at("btmineroff").as_string() == "true");
    old.as_object().erase("Msg");
    reply.as_object().erase("Msg");
    CHECK_SAME_SHAPE(old, reply);
}

TEST_CASE("whatsminer: get_token shape matches the capture") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"cmd":"get_token"})", kNow);
    CHECK_SAME_SHAPE(json::parse(read_fixture("whatsminer/get_token.json")), reply);
    CHECK(code_of(reply) == 134);
    const auto t = token_from(reply);
    char expected_time[8];
    std::snprintf(
        expected_time, sizeof expected_time, "%04lld",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch()).count() %
            10000));
    CHECK(t.time == expected_time);
    CHECK(t.salt.size() == 8);
    CHECK(t.newsalt.size() == 8);
    // The salt belongs to the miner; newsalt changes with every token.
    const auto again = token_from(rig.ask_json(R"({"command":"get_token"})", kNow + 1s));
    CHECK(again.salt == t.salt);
    CHECK(again.newsalt != t.newsalt);
    CHECK(rig.m->control.whatsminer_newsalt == again.newsalt);
}

TEST_CASE("whatsminer: pools, devdetails and the other get_* reads") {
    Rig rig;
    const auto pools = rig.ask_json(R"({"command":"pools"})", kNow);
    REQUIRE(pools.at("POOLS").as_array().size() == 3);
    CHECK(pools.at("POOLS").at(0).at("POOL").as_int64() == 1);  // btminer counts from 1
    CHECK(pools.at("POOLS").at(0).at("Stratum Active").as_bool());

    const auto details = rig.ask_json(R"({"command":"devdetails"})", kNow);
    CHECK(details.at("DEVDETAILS").at(0).at("Model").as_string() == "M30S++V10");
    CHECK(details.at("DEVDETAILS").at(0).at("Driver").as_string() == "bitmicro");

    const auto info = rig.ask_json(R"({"cmd":"get_miner_info"})", kNow);
    CHECK(info.at("Msg").at("mac").as_string() == "02:68:77:00:00:00");
    CHECK(info.at("Msg").at("ip").as_string() == "127.1.0.1");

    const auto psu = rig.ask_json(R"({"cmd":"get_psu"})", kNow);
    CHECK(psu.at("Msg").at("fan_speed").is_string());

    auto errors = rig.ask_json(R"({"cmd":"get_error_code"})", kNow);
    CHECK(errors.at("Msg").at("error_code").as_array().empty());
    rig.m->faults.set(FaultKind::fan_failure, FaultParams{.index = 1}, kNow);
    errors = rig.ask_json(R"({"cmd":"get_error_code"})", kNow + 10s);
    REQUIRE(errors.at("Msg").at("error_code").as_array().size() == 1);
    CHECK(errors.at("Msg").at("error_code").at(0).as_object().contains("111"));
}

TEST_CASE("whatsminer: joins (the old firmware's Code 24 for the cmd key is not simulated)") {
    // m30s_error_cmd_key_multicommand.json is a 2020 firmware refusing the "cmd" key. The
    // simulated API 2.0.5 firmware accepts it, so the same request answers the join.
    Rig rig(2);
    rig.m->faults.set(FaultKind::dead_board, FaultParams{.index = 0}, kBoot);
    const auto reply = rig.ask_json(R"({"cmd":"pools+summary+edevs"})", kNow);
    CHECK(reply.at("id").as_int64() == 1);
    CHECK_SAME_SHAPE(parse_btminer(read_fixture("whatsminer/m30s_summary.json")),
                     reply.at("summary").at(0));
    CHECK_SAME_SHAPE(parse_btminer(read_fixture("whatsminer/m30s_edevs.json")),
                     reply.at("edevs").at(0));
    CHECK(reply.at("pools").at(0).at("POOLS").as_array().size() == 3);

    // get_* and status cannot be joined: each answers cgminer's Invalid command.
    const auto bad = rig.ask_json(R"({"command":"summary+get_version+status"})", kNow);
    CHECK(bad.at("summary").at(0).as_object().contains("SUMMARY"));
    for (const char* part : {"get_version", "status"}) {
        const auto& st = bad.at(part).at(0).at("STATUS").at(0);
        CHECK(st.at("STATUS").as_string() == "E");
        CHECK(st.at("Code").as_int64() == 14);
    }
}

TEST_CASE("whatsminer: unknown commands get the flat invalid-cmd reply") {
    Rig rig;
    for (const char* request :
         {R"({"command":"stats"})", R"({"cmd":"version"})", R"({"cmd":"nope"})"}) {
        CAPTURE(request);
        const auto reply = rig.ask_json(request, kNow);
        CHECK(reply.at("STATUS").as_string() == "E");
        CHECK(code_of(reply) == 14);
        CHECK(reply.at("Msg").as_string() == "invalid cmd");
    }
    // Writes exist only in ciphertext.
    const auto plain_write = rig.ask_json(R"({"cmd":"power_off","respbefore":"true"})", kNow);
    CHECK(code_of(plain_write) == 45);
    CHECK_FALSE(rig.m->physics.commanded_asleep());
}

// ---------------------------------------------------------------------------------------------
// The encrypted write API

TEST_CASE("whatsminer: encrypted power_off and power_on round trip") {
    Rig rig;
    auto r = write_command(rig, "s3cret!", R"({"cmd":"power_off","respbefore":"true"})", kNow,
                           kNow + 1s);
    REQUIRE(r.encrypted);
    CHECK(r.reply.at("STATUS").as_string() == "S");
    CHECK(code_of(r.reply) == 131);
    // The reply has the shape of the captured (decrypted) reboot reply.
    const auto keys = vector_keys();
    const auto captured = json::parse(read_fixture("whatsminer/write_reboot_RESPONSE_enc.json"));
    const auto captured_plain =
        btminer::decrypt_payload(keys.aes_key, captured.at("enc").as_string());
    REQUIRE(captured_plain.has_value());
    CHECK_SAME_SHAPE(json::parse(*captured_plain), r.reply);

    CHECK(rig.ask_json(R"({"cmd":"status"})", kNow + 1s).at("Msg").at("mineroff").as_string() ==
          "true");
    auto snap = rig.m->physics.snapshot(kNow + 5s, rig.m->faults);
    CHECK(snap.state == SimState::sleeping);
    CHECK(snap.hashrate_ths == 0);

    r = write_command(rig, "s3cret!", R"({"cmd":"power_on"})", kNow + 10s, kNow + 10s);
    REQUIRE(r.encrypted);
    CHECK(code_of(r.reply) == 131);
    snap = rig.m->physics.snapshot(kNow + 20s, rig.m->faults);
    CHECK(snap.state == SimState::mining);
    CHECK(snap.hashrate_ths > 100);
}

TEST_CASE("whatsminer: sleep_ignored acknowledges power_off but keeps hashing") {
    Rig rig;
    rig.m->faults.set(FaultKind::sleep_ignored, {}, kNow);
    const auto r =
        write_command(rig, "s3cret!", R"({"cmd":"power_off","respbefore":"false"})", kNow, kNow);
    REQUIRE(r.encrypted);
    CHECK(code_of(r.reply) == 131);
    CHECK(rig.m->physics.snapshot(kNow + 10s, rig.m->faults).state == SimState::mining);
    CHECK(rig.ask_json(R"({"cmd":"status"})", kNow + 10s).at("Msg").at("mineroff").as_string() ==
          "false");
}

TEST_CASE("whatsminer: wrong password, changed password, expired and missing tokens") {
    SUBCASE("wrong password: plaintext check-token error, nothing happens") {
        Rig rig;
        const auto r = write_command(rig, "guess", R"({"cmd":"power_off"})", kNow, kNow);
        CHECK_FALSE(r.encrypted);
        CHECK(r.reply.at("STATUS").as_string() == "E");
        CHECK(code_of(r.reply) == 135);
        CHECK_FALSE(rig.m->physics.commanded_asleep());
    }
    SUBCASE("password_changed fault: the configured password stops working") {
        Rig rig;
        rig.m->faults.set(FaultKind::password_changed, {}, kNow);
        const auto r = write_command(rig, "s3cret!", R"({"cmd":"power_off"})", kNow, kNow);
        CHECK_FALSE(r.encrypted);
        CHECK(code_of(r.reply) == 135);
        CHECK_FALSE(rig.m->physics.commanded_asleep());
        rig.m->faults.clear(FaultKind::password_changed);
        CHECK(write_command(rig, "s3cret!", R"({"cmd":"power_off"})", kNow, kNow).encrypted);
        CHECK(rig.m->physics.commanded_asleep());
    }
    SUBCASE("a token lives 30 minutes") {
        Rig rig;
        const auto late =
            write_command(rig, "s3cret!", R"({"cmd":"power_off"})", kNow, kNow + 31min);
        CHECK_FALSE(late.encrypted);
        CHECK(code_of(late.reply) == 135);
        CHECK_FALSE(rig.m->physics.commanded_asleep());
        const auto in_time =
            write_command(rig, "s3cret!", R"({"cmd":"power_off"})", kNow, kNow + 29min);
        CHECK(in_time.encrypted);
    }
    SUBCASE("no token was ever issued") {
        Rig rig;
        const auto keys = btminer::derive_write_keys("s3cret!", {"1234", "abcdefgh", "ijklmnop"});
        const auto reply = rig.ask_json(
            btminer::make_encrypted_request(keys.aes_key, R"({"cmd":"reboot"})"), kNow);
        CHECK(code_of(reply) == 135);
    }
    SUBCASE("data that is not base64") {
        Rig rig;
        rig.ask(R"({"cmd":"get_token"})", kNow);
        const auto reply = rig.ask_json(R"({"enc":1,"data":"%%% not base64 %%%"})", kNow);
        CHECK(code_of(reply) == 137);
        CHECK(code_of(rig.ask_json(R"({"enc":1,"data":"QUJD"})", kNow)) ==
              137);  // not 16-byte blocks
        CHECK(code_of(rig.ask_json(R"({"enc":1})", kNow)) == 137);
    }
    SUBCASE("a valid token with a wrong sign") {
        Rig rig;
        const auto token = rig.ask_json(R"({"cmd":"get_token"})", kNow);
        const auto keys = btminer::derive_write_keys("s3cret!", token_from(token));
        const auto reply = rig.ask_json(
            btminer::make_encrypted_request(keys.aes_key, R"({"cmd":"reboot","token":"forged"})"),
            kNow);
        CHECK(code_of(reply) == 135);
        CHECK(rig.m->physics.snapshot(kNow + 1s, rig.m->faults).state == SimState::mining);
    }
}

TEST_CASE("whatsminer: adjust_power_limit sets the limit and reboots") {
    Rig rig;
    const auto r = write_command(
        rig, "s3cret!", R"({"cmd":"adjust_power_limit","power_limit":"3000"})", kNow, kNow);
    REQUIRE(r.encrypted);
    CHECK(code_of(r.reply) == 131);
    CHECK(rig.m->control.whatsminer_power_limit_w == 3000);
    CHECK(rig.m->physics.power_target_w() == 3000);
    CHECK(rig.m->physics.snapshot(kNow + 1s, rig.m->faults).state == SimState::booting);
    const auto status = rig.ask_json(R"({"cmd":"status"})", kNow + 10s);
    CHECK(status.at("Msg").at("power_limit_set").as_string() == "3000");
    const auto summary = rig.ask_json(R"({"command":"summary"})", kNow + 10s);
    CHECK(summary.at("SUMMARY").at(0).at("Power Limit").as_int64() == 3000);
    const auto snap = rig.m->physics.snapshot(kNow + 30s, rig.m->faults);
    CHECK(snap.state == SimState::mining);
    CHECK(snap.power_w == doctest::Approx(3000).epsilon(0.01));

    // Above what the model is rated for, or not a number: command error, nothing changes.
    for (const char* bad : {R"({"cmd":"adjust_power_limit","power_limit":"9000"})",
                            R"({"cmd":"adjust_power_limit","power_limit":"lots"})",
                            R"({"cmd":"adjust_power_limit"})"}) {
        CAPTURE(bad);
        const auto e = write_command(rig, "s3cret!", bad, kNow + 60s, kNow + 60s);
        REQUIRE(e.encrypted);
        CHECK(code_of(e.reply) == 132);
        CHECK(rig.m->control.whatsminer_power_limit_w == 3000);
    }
}

TEST_CASE("whatsminer: set_power_pct, power modes, reboot and unknown encrypted commands") {
    Rig rig;
    auto r = write_command(rig, "s3cret!", R"({"cmd":"set_power_pct","percent":"80"})", kNow, kNow);
    CHECK(code_of(r.reply) == 131);
    CHECK(rig.m->control.whatsminer_power_pct == 80);
    CHECK(rig.m->physics.power_target_w() == doctest::Approx(0.8 * 3600));
    CHECK(rig.ask_json(R"({"cmd":"status"})", kNow).at("Msg").at("hash_percent").as_string() ==
          "80");

    r = write_command(rig, "s3cret!", R"({"cmd":"set_power_pct","percent":"101"})", kNow, kNow);
    CHECK(code_of(r.reply) == 132);

    r = write_command(rig, "s3cret!", R"({"cmd":"set_low_power"})", kNow, kNow);
    CHECK(code_of(r.reply) == 131);
    CHECK(rig.ask_json(R"({"cmd":"status"})", kNow).at("Msg").at("power_mode").as_string() ==
          "low");
    CHECK(rig.ask_json(R"({"command":"summary"})", kNow)
              .at("SUMMARY")
              .at(0)
              .at("Power Mode")
              .as_string() == "Low");

    r = write_command(rig, "s3cret!", R"({"cmd":"reboot"})", kNow + 1min, kNow + 1min);
    CHECK(code_of(r.reply) == 131);
    CHECK(rig.m->physics.snapshot(kNow + 1min + 1s, rig.m->faults).state == SimState::booting);

    r = write_command(rig, "s3cret!", R"({"cmd":"self_destruct"})", kNow + 2min, kNow + 2min);
    REQUIRE(r.encrypted);
    CHECK(r.reply.at("STATUS").as_string() == "E");
    CHECK(code_of(r.reply) == 14);
}

TEST_CASE("whatsminer: the captured write requests work against a miner with that password") {
    // Decrypt each captured request with the known-answer keys, then send the same command as a
    // client of the simulated miner would (its own token, same password).
    Rig rig(0, "my-auth-password");
    const auto keys = vector_keys();
    for (const char* file :
         {"write_reboot_REQUEST_enc.json", "write_set_led_1_REQUEST_enc.json",
          "write_set_led_2_REQUEST_enc.json", "write_factory_reset_REQUEST_enc.json",
          "write_net_config_REQUEST_enc.json", "write_update_pwd_REQUEST_enc.json"}) {
        CAPTURE(file);
        const auto request = json::parse(read_fixture(std::string("whatsminer/") + file));
        CHECK(request.at("enc").as_int64() == 1);
        const auto plain = btminer::decrypt_payload(keys.aes_key, request.at("data").as_string());
        REQUIRE(plain.has_value());
        auto cmd = json::parse(*plain).as_object();
        CHECK(cmd.at("token").as_string() == keys.sign);
        cmd.erase("token");
        const auto r = write_command(rig, "my-auth-password", json::serialize(cmd), kNow, kNow);
        REQUIRE(r.encrypted);
        CHECK(code_of(r.reply) == 131);
    }
    // update_pwd changed the password to "new": the old one no longer works.
    CHECK(rig.m->password == "new");
    CHECK(
        code_of(write_command(rig, "my-auth-password", R"({"cmd":"reboot"})", kNow, kNow).reply) ==
        135);
    CHECK(code_of(
              write_command(rig, "new", R"({"cmd":"set_led","param":"auto"})", kNow, kNow).reply) ==
          131);
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("whatsminer: garbage never throws and gets an error reply") {
    Rig rig;
    const char* const inputs[] = {
        "",
        "   ",
        "{",
        "{}",
        "[1,2,3]",
        "summary|",
        R"({"command":12})",
        R"({"command":"summary+"})",
        R"({"command":"+++"})",
        R"({"enc":"x","data":5})",
        R"({"enc":1,"data":""})",
        R"({"enc":1,"data":"AAAAAAAAAAAAAAAAAAAAAA=="})",
        "\x00\xff\xfe garbage",
        R"({"cmd":"get_token","extra":{"deep":[[[[]]]]}})",
    };
    for (const char* input : inputs) {
        CAPTURE(input);
        RpcReply r;
        CHECK_NOTHROW(r = rig.ask(input, kNow));
        CHECK_FALSE(r.body.empty());
    }
    // A decryptable payload that is not JSON, or JSON without a command.
    const auto token = rig.ask_json(R"({"cmd":"get_token"})", kNow);
    const auto keys = btminer::derive_write_keys("s3cret!", token_from(token));
    for (const char* plain : {"not json at all", "[]", R"({"token":5})", R"({"cmd":7})"}) {
        CAPTURE(plain);
        RpcReply r;
        CHECK_NOTHROW(r = rig.ask(btminer::make_encrypted_request(keys.aes_key, plain), kNow));
        CHECK_FALSE(r.body.empty());
    }
    const std::string with_token = std::string(R"({"cmd":7,"token":")") + keys.sign + "\"}";
    const auto r = rig.ask(btminer::make_encrypted_request(keys.aes_key, with_token), kNow);
    CHECK(r.body.find("\"enc\"") != std::string::npos);
}

}  // namespace hashwatt::sim
