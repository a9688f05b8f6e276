#include "common/json_codec.hpp"

#include "common/json_writer.hpp"
#include "common/time.hpp"

#include <stdexcept>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
namespace json = boost::json;

namespace {

// A sample with every field set, so a round trip exercises all of them.
MinerSample full_sample() {
    MinerSample s;
    s.miner_id = "aa:bb:cc:dd:ee:ff";
    s.site = "barn-1";
    s.host = "10.0.0.7";
    s.port = 4028;
    s.make = "Bitmain";
    s.model = "Antminer S19 Pro";
    s.firmware = "stock";
    s.firmware_version = "Thu May 25 16:49:39 CST 2023";
    s.driver = "antminer";
    s.serial = "JYZZB3UBCJABC1234";
    s.mac = "aa:bb:cc:dd:ee:ff";
    s.observed_at = *parse_time("2026-11-25T09:07:50.123Z");
    s.poll_duration_ms = 12.5;
    s.up = true;
    s.state = MinerState::mining;
    s.error = PollError::parse;
    s.error_message = "stats: unexpected token";
    s.hashrate_ths = 104.123;
    s.hashrate_avg_ths = 103.9;
    s.expected_hashrate_ths = 110.0;
    s.power_w = 3250.0;
    s.power_source = PowerSource::estimated;
    s.power_limit_w = 3300.0;
    s.boards = {{1, 34.7, 36.6, 78.0, 62.0, 114, 114, 3, true},
                {2, 0.0, 36.6, -5.5, std::nullopt, 0, 114, std::nullopt, false}};
    s.fans_rpm = {5880, 5760, 0, 6000};
    s.inlet_temp_c = 25.0;
    s.outlet_temp_c = 48.5;
    s.hw_errors_total = 1234567890123LL;
    s.uptime_s = 86400;
    s.pools = {{"stratum+tcp://pool.example:3333", "worker.1", true, true, 100, 2, 1},
               {"stratum+tcp://backup.example:3333", std::nullopt, false, false, 0, 0, 0}};
    s.errors = {{"R:1", "PSU fault"}, {std::nullopt, "fan 3 lost"}};
    return s;
}

json::object minimal_object() {
    return json::parse(R"({"miner_id":"m1","host":"127.0.0.1","port":4028,
        "observed_at":"2026-11-25T09:07:50.000Z","up":false,"state":"offline"})")
        .as_object();
}

std::string decode_error(const json::value& v) {
    try {
        sample_from_json(v);
    } catch (const DecodeError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("a sample with every field round-trips through JSON text") {
    const MinerSample s = full_sample();
    const std::string text = encode_sample(s);
    const MinerSample back = decode_sample(text);
    CHECK(back == s);
    // Re-encoding gives the same text: the codec is deterministic.
    CHECK(encode_sample(back) == text);
}

TEST_CASE("numbers are written in their shortest exact form") {
    MinerSample s = full_sample();
    const std::string text = encode_sample(s);
    CHECK(text.find("\"power_w\":3250,") != std::string::npos);
    CHECK(text.find("\"hashrate_ths\":104.123,") != std::string::npos);
    CHECK(text.find("\"fans_rpm\":[5880,5760,0,6000]") != std::string::npos);
    CHECK(text.find("\"observed_at\":\"2026-11-25T09:07:50.123Z\"") != std::string::npos);
}

TEST_CASE("strings are escaped") {
    MinerSample s = full_sample();
    s.model = "Antminer S9\nV1.3.58 \"x\" \\ \x01";
    CHECK(decode_sample(encode_sample(s)).model == s.model);
    CHECK(encode_sample(s).find(R"("model":"Antminer S9\nV1.3.58 \"x\" \\ \u0001")") !=
          std::string::npos);
}

TEST_CASE("absent optionals are omitted, not written as zero or null") {
    MinerSample s;
    s.miner_id = "m1";
    s.host = "127.0.0.1";
    s.port = 4028;
    s.observed_at = *parse_time("2026-11-25T09:07:50Z");
    const auto o = json::parse(encode_sample(s)).as_object();
    CHECK_FALSE(o.contains("hashrate_ths"));
    CHECK_FALSE(o.contains("power_w"));
    CHECK_FALSE(o.contains("boards"));
    CHECK_FALSE(o.contains("error"));
    CHECK(o.at("state").as_string() == "offline");
    CHECK(decode_sample(json::serialize(o)) == s);
}

TEST_CASE("required fields missing are named") {
    for (const char* field : {"miner_id", "host", "port", "observed_at", "up", "state"}) {
        auto o = minimal_object();
        o.erase(field);
        CAPTURE(field);
        CHECK(decode_error(o) == std::string(field) + ": required field missing");
    }
}

TEST_CASE("wrong types are rejected with the field path") {
    auto o = minimal_object();
    o["hashrate_ths"] = "104";
    CHECK(decode_error(o) == "hashrate_ths: expected a number, got a string");

    o = minimal_object();
    o["up"] = 1;
    CHECK(decode_error(o) == "up: expected a boolean, got a number");

    o = minimal_object();
    o["port"] = 70000;
    CHECK(decode_error(o) == "port: out of range 0..65535: 70000");

    o = minimal_object();
    o["boards"] = json::parse(R"([{"index":0},{"index":1,"chips":"63"}])");
    CHECK(decode_error(o) == "boards[1].chips: expected an integer, got a string");

    o = minimal_object();
    o["boards"] = json::parse(R"([{"chips":63}])");
    CHECK(decode_error(o) == "boards[0].index: required field missing");

    o = minimal_object();
    o["fans_rpm"] = json::parse(R"([6000, 5.5])");
    CHECK(decode_error(o) == "fans_rpm[1]: expected an integer, got a number");

    o = minimal_object();
    o["state"] = "hashing";
    CHECK(decode_error(o).starts_with("state: unknown value 'hashing'"));

    o = minimal_object();
    o["observed_at"] = "yesterday";
    CHECK(decode_error(o).starts_with("observed_at: expected an RFC 3339 time"));

    o = minimal_object();
    o["pools"] = json::parse(R"({"url":"x"})");
    CHECK(decode_error(o) == "pools: expected an array, got an object");

    CHECK(decode_error(json::parse("[1,2]")) == "expected an object, got an array");
}

TEST_CASE("unknown fields are ignored and null means absent") {
    auto o = minimal_object();
    o["added_in_a_later_version"] = json::parse(R"({"x":[1,2,3]})");
    o["power_w"] = nullptr;
    const auto s = sample_from_json(o);
    CHECK(s.miner_id == "m1");
    CHECK_FALSE(s.power_w.has_value());
}

TEST_CASE("integers are accepted where numbers are expected") {
    auto o = minimal_object();
    o["power_w"] = 3250;
    CHECK(sample_from_json(o).power_w == 3250.0);
}

TEST_CASE("text that is not JSON is a DecodeError") {
    CHECK_THROWS_AS(decode_sample("{\"miner_id\":"), DecodeError);
    CHECK_THROWS_AS(decode_sample(""), DecodeError);
}

TEST_CASE("the error path carries a prefix inside batches") {
    auto o = minimal_object();
    o.erase("host");
    try {
        sample_from_json(o, "samples[7]");
        FAIL("expected DecodeError");
    } catch (const DecodeError& e) {
        CHECK(e.path() == "samples[7].host");
        CHECK(std::string(e.what()) == "samples[7].host: required field missing");
    }
}

TEST_CASE("commands and results round-trip and validate") {
    Command c;
    c.id = "c-42";
    c.miner_id = "m1";
    c.type = CommandType::set_power_target;
    c.power_target_w = 2800;
    c.created_at = *parse_time("2026-11-25T09:00:00Z");
    c.deadline = *parse_time("2026-11-25T09:05:00Z");
    CHECK(command_from_json(json::parse(encode_command(c))) == c);

    auto o = json::parse(encode_command(c)).as_object();
    o.erase("power_target_w");
    CHECK_THROWS_WITH(command_from_json(o), "power_target_w: required for set_power_target");
    o["type"] = "explode";
    CHECK_THROWS_WITH_AS(
        command_from_json(o),
        "type: unknown value 'explode' (one of sleep, wake, set_power_target, reboot)",
        DecodeError);

    CommandResult r{"c-42", "m1", CommandStatus::succeeded, "took effect after 4s",
                    *parse_time("2026-11-25T09:00:04Z")};
    CHECK(command_result_from_json(json::parse(encode_command_result(r))) == r);
}

TEST_CASE("JsonWriter separates members at every depth and refuses runaway nesting") {
    std::string out;
    hashwatt::JsonWriter w(out);
    w.begin_object();
    w.field("a", 1);
    w.key("b");
    w.begin_array();
    w.value(1.5);
    w.begin_object();
    w.end_object();
    w.begin_array();
    w.value("x");
    w.null();
    w.end_array();
    w.end_array();
    w.field("c", true);
    w.end_object();
    CHECK(out == R"({"a":1,"b":[1.5,{},["x",null]],"c":true})");

    std::string deep;
    hashwatt::JsonWriter d(deep);
    for (int i = 0; i < hashwatt::JsonWriter::kMaxDepth; ++i) d.begin_array();
    CHECK_THROWS_AS(d.begin_array(), std::length_error);
    for (int i = 0; i < hashwatt::JsonWriter::kMaxDepth; ++i) d.end_array();
    CHECK(deep == std::string(64, '[') + std::string(64, ']'));
}
