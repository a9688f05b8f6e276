// The Whatsminer parse functions on every real capture in tests/fixtures/whatsminer/, checked
// against the shared protocol samples' EXPECTED.md, plus the write-API reply handling on the
// known-answer vectors and the few synthetic replies (marked as such) for shapes no capture has.
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/whatsminer/parse.hpp"
#include "common/btminer_crypto.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace hashwatt::agent::whatsminer;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(HASHWATT_SOURCE_DIR) / "tests" / "fixtures";

std::string fixture(std::string_view relative) {
    std::ifstream in(kFixtures / relative, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open fixture " << relative);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Hash rates and temperatures to 3 decimals, as EXPECTED.md states them.
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

#define CHECK_3(opt, value)                              \
    do {                                                 \
        REQUIRE((opt).has_value());                      \
        CHECK(round3(*(opt)) == doctest::Approx(value)); \
    } while (false)

// Summary + edevs of the 2020 M30S (fw 20200512.13.REL, cgminer 4.9.2 based).
void check_m30s(const MinerSample& s) {
    CHECK(s.make == "MicroBT");
    CHECK(s.firmware == "stock");
    CHECK(s.firmware_version == "20200512.13.REL");  // quotes stripped
    CHECK(s.mac == "c6:02:14:00:1f:b3");
    CHECK_FALSE(s.model.has_value());  // no devdetails in this capture
    // Current hash rate = `MHS 1m` (the 5 s figure is 85.03843: not used, see README).
    CHECK_3(s.hashrate_ths, 85.163);
    CHECK_3(s.hashrate_avg_ths, 85.106);
    CHECK_3(s.expected_hashrate_ths, 86.472);
    CHECK(s.power_w == 3230);
    CHECK(s.power_source == PowerSource::measured);
    CHECK(s.power_limit_w == 3600);
    CHECK(s.fans_rpm == std::vector<std::int64_t>{2370, 2430});  // PSU fan 7576 left out
    CHECK(s.inlet_temp_c == 11);
    CHECK_FALSE(s.outlet_temp_c.has_value());
    CHECK(s.hw_errors_total == 800);
    CHECK(s.uptime_s == 29600);     // Elapsed, not the OS Uptime 43805
    REQUIRE(s.errors.size() == 1);  // factory codes 202 and 2310 are history, not reported
    CHECK(s.errors[0].code == "205");
    CHECK(s.errors[0].message == "power supply current error");
    CHECK(s.state == MinerState::mining);

    REQUIRE(s.boards.size() == 3);
    const double rates[] = {29.649, 27.740, 27.623};
    const double board_c[] = {80, 72, 72.5};
    const double chip_c[] = {99.79, 89.14, 90.64};
    const std::int64_t hw[] = {396, 195, 209};
    double sum = 0;
    double chip_max = 0, board_max = 0;
    for (int i = 0; i < 3; ++i) {
        const BoardSample& b = s.boards[static_cast<std::size_t>(i)];
        CAPTURE(i);
        CHECK(b.index == i);
        CHECK_3(b.hashrate_ths, rates[i]);
        CHECK(b.board_temp_max_c == board_c[i]);
        CHECK(b.chip_temp_max_c == chip_c[i]);
        CHECK(b.chips == 156);
        CHECK_FALSE(b.expected_chips.has_value());  // M30S is not in the model table
        CHECK(b.hw_errors == hw[i]);
        CHECK(b.ok == true);
        CHECK_FALSE(b.expected_hashrate_ths.has_value());
        sum += *b.hashrate_ths;
        chip_max = std::max(chip_max, *b.chip_temp_max_c);
        board_max = std::max(board_max, *b.board_temp_max_c);
    }
    CHECK(round3(sum) == doctest::Approx(85.012));
    CHECK(chip_max == 99.79);
    CHECK(board_max == 80);
    CHECK(s.pools.empty());  // no pools capture
}

// A minimal summary, synthetic: the fields a sleeping or idle miner still reports.
std::string synthetic_summary(std::string_view extra_fields) {
    return R"({"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary","Description":"btminer"}],)"
           R"("SUMMARY":[{"Elapsed":5000,"MHS av":0.00,"MHS 5s":0.00,"MHS 1m":0.00,"Factory GHS":112000)" +
           std::string(extra_fields) + "}],\"id\":1}";
}

btminer::WriteKeys vector_keys(std::string_view password = "my-auth-password") {
    return btminer::derive_write_keys(password, {"6915", "BQ5hoXV9", "a5TtWui2"});
}

}  // namespace

TEST_CASE("whatsminer: m30s summary + edevs captures parse to the EXPECTED values") {
    const std::string summary = fixture("whatsminer/m30s_summary.json");
    const std::string edevs = fixture("whatsminer/m30s_edevs.json");
    WhatsminerReplies r;
    r.summary = summary;
    r.devs = edevs;
    const WhatsminerReading reading = read_whatsminer(r);
    check_m30s(reading.sample);
    CHECK(reading.summary_lists_errors);
    CHECK_FALSE(reading.wants_error_codes());
    CHECK_FALSE(reading.wants_status());  // hashing: no need to ask status
    CHECK(reading.hashrate_5s_ths.has_value());
    CHECK(round3(*reading.hashrate_5s_ths) == doctest::Approx(85.038));
}

TEST_CASE("whatsminer: a sub-zero Env Temp is a reading, 0 and -273 are not") {
    const std::string summary = fixture("whatsminer/m30s_summary.json");
    const auto with_env = [&](std::string_view value) {
        std::string text = summary;
        const std::string key = "\"Env Temp\":11.00";
        REQUIRE(text.find(key) != std::string::npos);
        text.replace(text.find(key), key.size(), "\"Env Temp\":" + std::string(value));
        WhatsminerReplies r;
        r.summary = text;
        return parse_whatsminer(r).inlet_temp_c;
    };
    CHECK(with_env("-12.50") == -12.5);  // a cold intake in winter
    CHECK_FALSE(with_env("0.00").has_value());
    CHECK_FALSE(with_env("-273").has_value());
}

TEST_CASE("whatsminer: the same captures in the multi-command form parse alike") {
    // How cgminer joins them (and how the simulator's replay serves them).
    const std::string joined = "{\"summary\":[" + fixture("whatsminer/m30s_summary.json") +
                               "],\"devs\":[" + fixture("whatsminer/m30s_edevs.json") +
                               "],\"id\":1}";
    WhatsminerReplies r;
    r.joined = joined;
    check_m30s(parse_whatsminer(r));
}

TEST_CASE("whatsminer: Code 24 \"Missing JSON 'command'\" is a parse error naming the command") {
    const std::string reply = fixture("whatsminer/m30s_error_cmd_key_multicommand.json");
    WhatsminerReplies r;
    r.summary = reply;
    try {
        (void)parse_whatsminer(r);
        FAIL("expected a ParseError");
    } catch (const ParseError& e) {
        CHECK(e.command() == "summary");
        const std::string what = e.what();
        CHECK(what.find("Code 24") != std::string::npos);
        CHECK(what.find("Missing JSON 'command'") != std::string::npos);
    }
    WhatsminerReplies j;
    j.joined = reply;
    CHECK_THROWS_AS((void)parse_whatsminer(j), ParseError);
}

TEST_CASE("whatsminer: m31s status btmineroff=true means sleeping") {
    const std::string summary = synthetic_summary("");
    const std::string status = fixture("whatsminer/m31s_sleeping_status.json");
    WhatsminerReplies r;
    r.summary = summary;
    WhatsminerReading reading = read_whatsminer(r);
    CHECK(reading.wants_status());  // no hash rate: only status can tell sleep from a stall
    CHECK(reading.sample.state == MinerState::idle);
    add_whatsminer_followups(reading, status, std::nullopt);
    CHECK(reading.mining_off == true);
    CHECK(reading.sample.state == MinerState::sleeping);
    // The quoted version, from status when nothing else carried one.
    CHECK(reading.sample.firmware_version == "20210109.22.REL");

    // The flag wins even while the hash rate is still winding down.
    const std::string m30s = fixture("whatsminer/m30s_summary.json");
    WhatsminerReplies both;
    both.summary = m30s;
    both.status = status;
    const MinerSample s = parse_whatsminer(both);
    CHECK(s.state == MinerState::sleeping);
    CHECK(s.firmware_version == "20200512.13.REL");  // the summary's own comes first
}

TEST_CASE("whatsminer: API 2.0.5 status (mineroff=false) and get_version") {
    const std::string summary = synthetic_summary("");
    const std::string status = fixture("whatsminer/apiv205_status.json");
    const std::string version = fixture("whatsminer/apiv205_get_version.json");
    WhatsminerReplies r;
    r.summary = summary;
    r.status = status;
    MinerSample s = parse_whatsminer(r);
    CHECK(s.state == MinerState::idle);              // not asleep, no hash rate, btminer up 5000 s
    CHECK(s.power_limit_w == 3600);                  // power_limit_set, as the summary has none
    CHECK(s.firmware_version == "20240624.18.REL");  // FirmwareVersion (no space)

    r.get_version = version;
    s = parse_whatsminer(r);
    CHECK(s.firmware_version == "20230803.11.REL");  // get_version fw_ver before status
}

TEST_CASE("whatsminer: get_token reply and the encrypted write vectors") {
    const TokenReply t = read_token_reply(fixture("whatsminer/get_token.json"));
    REQUIRE(t.token.has_value());
    CHECK(t.token->time == "6915");
    CHECK(t.token->salt == "BQ5hoXV9");
    CHECK(t.token->newsalt == "a5TtWui2");

    const auto keys = vector_keys();
    CHECK(keys.sign == ".8Wiv910uBxIJcqnY6BFC.");
    // The plaintexts the driver builds encrypt to the captured requests byte for byte.
    CHECK(btminer::make_encrypted_request(keys.aes_key,
                                          write_command_json("reboot", {}, keys.sign)) ==
          fixture("whatsminer/write_reboot_REQUEST_enc.json"));
    CHECK(btminer::make_encrypted_request(
              keys.aes_key,
              write_command_json(
                  "set_led",
                  {{"color", "red"}, {"period", "2000"}, {"duration", "1000"}, {"start", "0"}},
                  keys.sign)) == fixture("whatsminer/write_set_led_1_REQUEST_enc.json"));
    CHECK(btminer::make_encrypted_request(
              keys.aes_key, write_command_json("set_led", {{"param", "auto"}}, keys.sign)) ==
          fixture("whatsminer/write_set_led_2_REQUEST_enc.json"));
    CHECK(btminer::make_encrypted_request(keys.aes_key,
                                          write_command_json("factory_reset", {}, keys.sign)) ==
          fixture("whatsminer/write_factory_reset_REQUEST_enc.json"));
    CHECK(btminer::make_encrypted_request(
              keys.aes_key,
              write_command_json("update_pwd", {{"old", "my-auth-password"}, {"new", "new"}},
                                 keys.sign)) ==
          fixture("whatsminer/write_update_pwd_REQUEST_enc.json"));
    CHECK(
        btminer::make_encrypted_request(keys.aes_key, write_command_json("net_config",
                                                                         {{"ip", "192.168.1.189"},
                                                                          {"mask", "255.255.255.0"},
                                                                          {"gate", "192.168.1.1"},
                                                                          {"dns", "192.168.1.1"},
                                                                          {"host", ""}},
                                                                         keys.sign)) ==
        fixture("whatsminer/write_net_config_REQUEST_enc.json"));

    // The encrypted reply: Code 131 = success.
    const std::string reply = fixture("whatsminer/write_reboot_RESPONSE_enc.json");
    WriteReply w = read_write_reply(reply, keys.aes_key);
    CHECK(w.kind == WriteReply::Kind::ok);
    CHECK(w.code == 131);
    // Under the key of another password it does not decrypt: an auth failure, said clearly.
    w = read_write_reply(reply, vector_keys("wrong-password").aes_key);
    CHECK(w.kind == WriteReply::Kind::auth);
    CHECK(w.message.find("password") != std::string::npos);
}

TEST_CASE("whatsminer: plaintext write replies: token errors are auth, others refusals") {
    const auto key = vector_keys().aes_key;
    // Synthetic, in the flat envelope the miner uses for these errors.
    auto flat = [](int code, std::string_view msg) {
        return R"({"STATUS":"E","When":1,"Code":)" + std::to_string(code) + R"(,"Msg":")" +
               std::string(msg) + R"(","Description":"whatsminer v1.3"})";
    };
    for (int code : {135, 136, 137}) {
        CAPTURE(code);
        const WriteReply w = read_write_reply(flat(code, "check token error"), key);
        CHECK(w.kind == WriteReply::Kind::auth);
        CHECK(w.code == code);
    }
    WriteReply w = read_write_reply(flat(45, "permission denied"), key);
    CHECK(w.kind == WriteReply::Kind::refused);
    CHECK(w.code == 45);
    w = read_write_reply(flat(132, "command error"), key);
    CHECK(w.kind == WriteReply::Kind::refused);
    w = read_write_reply(
        R"({"STATUS":"S","When":1,"Code":131,"Msg":"API command OK","Description":""})", key);
    CHECK(w.kind == WriteReply::Kind::ok);
    CHECK(read_write_reply("\x01\x02 not json", key).kind == WriteReply::Kind::unreadable);

    const TokenReply t = read_token_reply(flat(45, "permission denied"));
    CHECK_FALSE(t.token.has_value());
    CHECK(t.problem.find("write API is disabled") != std::string::npos);
    // The text-API variant: "<epoch> <salt> <newsalt>", the token takes the epoch's last 4 digits.
    const TokenReply text = read_token_reply(
        R"({"STATUS":"S","When":1,"Code":134,"Msg":"1608416915 BQ5hoXV9 a5TtWui2","Description":""})");
    REQUIRE(text.token.has_value());
    CHECK(text.token->time == "6915");
    CHECK(text.token->salt == "BQ5hoXV9");
    CHECK(text.token->newsalt == "a5TtWui2");
}

TEST_CASE("whatsminer: API v3 get.device.info is recognised and read, never mistaken for v2") {
    for (const char* name : {"whatsminer/m60s_apiv3_get_device_info.json",
                             "whatsminer/m60s_apiv3_get_device_info_errors.json"}) {
        CAPTURE(name);
        const std::string reply = fixture(name);
        CHECK(looks_like_whatsminer_v3(reply));
        const MinerSample s = parse_whatsminer_v3_device_info(reply);
        CHECK(s.make == "MicroBT");
        CHECK(s.model == "M60S");  // M60S_VK40 without the hardware revision
        CHECK(s.firmware_version == "20251209.16.Rel2");
        CHECK(s.serial == "BTM3CS40HD24083100000000000000000");
        CHECK(s.mac == "ce:02:01:00:8c:36");
        // A v3 reply is not a v2 summary.
        WhatsminerReplies r;
        r.summary = reply;
        CHECK_THROWS_AS((void)parse_whatsminer(r), ParseError);
    }
    const MinerSample e = parse_whatsminer_v3_device_info(
        fixture("whatsminer/m60s_apiv3_get_device_info_errors.json"));
    REQUIRE(e.errors.size() == 5);
    const char* codes[] = {"264", "265", "266", "267", "270"};
    for (std::size_t i = 0; i < 5; ++i) CHECK(e.errors[i].code == codes[i]);
    CHECK(e.errors[3].message.find("watch dog") != std::string::npos);  // the firmware's reason
    CHECK(parse_whatsminer_v3_device_info(fixture("whatsminer/m60s_apiv3_get_device_info.json"))
              .errors.empty());

    for (const char* name :
         {"whatsminer/m30s_summary.json", "whatsminer/m30s_edevs.json", "whatsminer/get_token.json",
          "whatsminer/apiv205_status.json", "whatsminer/apiv205_get_version.json",
          "whatsminer/m31s_sleeping_status.json", "whatsminer/m30s_error_cmd_key_multicommand.json",
          "whatsminer/write_reboot_RESPONSE_enc.json", "antminer/s19pro_bmminer_version.json",
          "avalon/a1246_version.json"}) {
        CAPTURE(name);
        CHECK_FALSE(looks_like_whatsminer_v3(fixture(name)));
    }
    CHECK_FALSE(looks_like_whatsminer_v3(""));
    CHECK_FALSE(looks_like_whatsminer_v3("\x13\x37garbage{"));
    CHECK_THROWS_AS((void)parse_whatsminer_v3_device_info("{}"), ParseError);
}

TEST_CASE("whatsminer: the driver claims btminer replies and v3 device info, nothing else") {
    const MinerDriver& d = whatsminer_driver();
    ProbeResult p;
    // btminer refusing `version` with its flat envelope still names itself.
    p.version_reply =
        R"({"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd","Description":"whatsminer v1.3"})";
    CHECK(d.claims(p));
    p.version_reply =
        R"({"STATUS":[{"STATUS":"S","Code":22,"Msg":"BTMiner versions"}],"VERSION":[{"BTMiner":"1.0"}]})";
    CHECK(d.claims(p));
    p.version_reply = fixture("whatsminer/m60s_apiv3_get_device_info.json");
    CHECK(d.claims(p));
    for (const char* name :
         {"antminer/s19pro_bmminer_version.json", "antminer/s9_hiveon_version.json",
          "braiins/s9_bosplus_bosminer_version.json", "luxos/s19kpro_luxos_version.json",
          "avalon/a1246_version.json"}) {
        CAPTURE(name);
        p.version_reply = fixture(name);
        CHECK_FALSE(d.claims(p));
    }
    p.version_reply.clear();
    p.http_root_status = 307;
    p.http_root_body = R"(<a href="https://10.0.0.5/cgi-bin/luci">moved</a>)";
    CHECK(d.claims(p));
    p.http_root_status = 401;
    p.http_root_body.clear();
    p.http_www_authenticate = R"(Digest realm="antMiner Configuration")";
    CHECK_FALSE(d.claims(p));
}

TEST_CASE("whatsminer: model names drop the hardware revision") {
    CHECK(whatsminer_model_name("M30S++V10") == "M30S++");
    CHECK(whatsminer_model_name("M50VH50") == "M50");
    CHECK(whatsminer_model_name("M60VK10") == "M60");
    CHECK(whatsminer_model_name("M60S_VK40") == "M60S");
    CHECK(whatsminer_model_name("M20SV10") == "M20S");
    CHECK(whatsminer_model_name("M30S") == "M30S");
}

TEST_CASE("whatsminer: devdetails names the model; -1 W power is estimated from the table") {
    // Synthetic: a summary with Power -1 (PSU not reporting) and a devdetails reply.
    const std::string summary =
        R"({"STATUS":[{"STATUS":"S","When":1,"Code":11,"Msg":"Summary","Description":"btminer"}],)"
        R"("SUMMARY":[{"Elapsed":900,"MHS 5s":111000000.0,"MHS 1m":112000000.0,"MHS av":110000000.0,)"
        R"("Power":-1,"Power_RT":-1,"Power Limit":3600,"Firmware Version":"\'20230803.11.REL\'",)"
        R"("MAC":"C6:02:14:00:1F:B4","Factory GHS":112000}],"id":1})";
    const std::string devdetails =
        R"({"STATUS":[{"STATUS":"S","When":1,"Code":69,"Msg":"Device Details","Description":"btminer"}],)"
        R"("DEVDETAILS":[{"DEVDETAILS":0,"Name":"SM","ID":0,"Driver":"bitmicro","Model":"M30S++V10"}],"id":1})";
    const std::string devs =
        R"j({"STATUS":[{"STATUS":"S","When":1,"Code":9,"Msg":"2 ASC(s)","Description":"btminer"}],"DEVS":[)j"
        R"({"ASC":0,"Slot":0,"Status":"Alive","Temperature":-273,"Chip Temp Max":0,"MHS 1m":56000000,"Effective Chips":117},)"
        R"({"ASC":2,"Slot":2,"Status":"Dead","Temperature":250.0,"Chip Temp Max":61.5,"MHS 1m":0,"Effective Chips":0,"Factory GHS":37333}]})";
    WhatsminerReplies r;
    r.summary = summary;
    r.devdetails = devdetails;
    r.devs = devs;
    const WhatsminerReading reading = read_whatsminer(r);
    const MinerSample& s = reading.sample;
    CHECK(reading.identity_read);
    CHECK(s.model == "M30S++");
    CHECK(s.firmware_version ==
          "20230803.11.REL");  // the invalid \' escape repaired, quotes stripped
    CHECK(s.power_source == PowerSource::estimated);
    REQUIRE(s.power_w.has_value());
    CHECK(*s.power_w == doctest::Approx(3472).epsilon(0.01));  // nominal rate -> nominal power
    CHECK_FALSE(reading.summary_lists_errors);
    CHECK(reading.wants_error_codes());  // no `Error Code Count`: API >= 2.0.4 keeps them elsewhere
    REQUIRE(s.boards.size() == 2);
    CHECK(s.boards[0].index == 0);
    CHECK_FALSE(s.boards[0].board_temp_max_c.has_value());  // -273: no sensor
    CHECK_FALSE(s.boards[0].chip_temp_max_c.has_value());   // 0: absent
    CHECK(s.boards[0].expected_chips == 117);
    CHECK(s.boards[0].ok == true);
    CHECK(s.boards[1].index == 2);                          // the slot, not the position
    CHECK_FALSE(s.boards[1].board_temp_max_c.has_value());  // >= 200: invalid
    CHECK(s.boards[1].chip_temp_max_c == 61.5);
    CHECK(s.boards[1].ok == false);
    CHECK_3(s.boards[1].expected_hashrate_ths, 37.333);  // per-board Factory GHS (API 2.0.5)

    // The identity cache carries the model to later rounds without devdetails...
    const MinerSample id = whatsminer_identity(s);
    CHECK(id.power_limit_w == 3600);
    WhatsminerReplies later;
    later.summary = summary;
    CHECK(parse_whatsminer(later, &id).model == "M30S++");
    // ...unless the MAC shows another miner at the address.
    MinerSample other = id;
    other.mac = "aa:bb:cc:dd:ee:ff";
    other.model = "M60";
    CHECK_FALSE(parse_whatsminer(later, &other).model.has_value());
}

TEST_CASE("whatsminer: get_error_code lists, including the API 2.0.4 dict-in-brackets form") {
    const std::string summary = synthetic_summary("");
    // Synthetic, in the documented shape (API >= 2.0.1): a list of {"<code>":"<time>"}.
    const std::string list =
        R"({"STATUS":"S","When":1,"Code":131,"Msg":{"error_code":[{"110":"2024-06-15 10:30:00"},)"
        R"({"531":"2024-06-15 10:31:00"}]},"Description":""})";
    WhatsminerReplies r;
    r.summary = summary;
    r.get_error_code = list;
    MinerSample s = parse_whatsminer(r);
    REQUIRE(s.errors.size() == 2);
    CHECK(s.errors[0].code == "110");
    CHECK(s.errors[0].message == "intake fan speed error");
    CHECK(s.errors[1].code == "531");
    CHECK(s.errors[1].message == "slot 1 not found");
    CHECK(s.state == MinerState::error);  // not hashing, not asleep, errors raised

    // API 2.0.4 writes the list with list brackets around dict members (pyasic swaps them).
    const std::string broken =
        R"({"STATUS":"S","When":1,"Code":131,"Msg":{"error_code":["352":"2021-01-01 00:00:00","2010":"x"]},"Description":""})";
    r.get_error_code = broken;
    s = parse_whatsminer(r);
    REQUIRE(s.errors.size() == 2);
    CHECK(s.errors[0].code == "352");
    CHECK(s.errors[0].message == "slot 2 temperature protecting");
    CHECK(s.errors[1].message == "all pools disabled");
    // Older firmware answers get_error_code with invalid cmd: no errors, no failure.
    r.get_error_code =
        R"({"STATUS":"E","When":1,"Code":14,"Msg":"invalid cmd","Description":"whatsminer v1.3"})";
    CHECK(parse_whatsminer(r).errors.empty());
    r.get_error_code = "garbage";
    CHECK_THROWS_AS((void)parse_whatsminer(r), ParseError);
}

TEST_CASE("whatsminer: state rules") {
    MinerSample s;
    CHECK(whatsminer_state(s, true) == MinerState::sleeping);
    s.hashrate_ths = 80.0;
    CHECK(whatsminer_state(s, std::nullopt) == MinerState::mining);
    CHECK(whatsminer_state(s, true) == MinerState::sleeping);
    s.hashrate_ths = 0.0;
    s.uptime_s = 30;
    CHECK(whatsminer_state(s, false) == MinerState::booting);
    s.uptime_s = 5000;
    CHECK(whatsminer_state(s, false) == MinerState::idle);
    s.errors.push_back({"350", "slot 0 temperature protecting"});
    CHECK(whatsminer_state(s, false) == MinerState::error);
    CHECK(whatsminer_error_message("x1") == "");
    CHECK(whatsminer_error_message("205") == "power supply current error");
    CHECK(whatsminer_error_message("299") == "power supply error");
    CHECK(whatsminer_error_message("2023") == "pool 3 connection failed");
    CHECK(whatsminer_error_message("99999999") == "miner error");
}

TEST_CASE("whatsminer: capabilities: power target range from the model, capped by the limit") {
    const MinerDriver& d = whatsminer_driver();
    MinerSample s;
    s.model = "M30S++";
    s.power_limit_w = 3600;
    Capabilities c = d.capabilities(s);
    CHECK(c.sleep);
    CHECK(c.wake);
    CHECK(c.reboot);
    CHECK_FALSE(c.power_target_reboots);  // set_power_pct: no reboot
    CHECK(c.power_target_min_w == 2200);
    CHECK(c.power_target_max_w == 3600);
    s.power_limit_w = 3000;
    c = d.capabilities(s);
    CHECK(c.power_target_max_w == 3000);
    s.model = "M30S";  // not in the model table
    c = d.capabilities(s);
    CHECK_FALSE(c.power_target_min_w.has_value());
    CHECK(c.sleep);
    s.error = PollError::unsupported;  // API v3 firmware
    c = d.capabilities(s);
    CHECK_FALSE(c.sleep);
    CHECK_FALSE(c.reboot);
    CHECK(c.notes.find("API v3") != std::string::npos);
}
