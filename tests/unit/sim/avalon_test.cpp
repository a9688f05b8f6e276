// Tests for the Avalon (cgminer 4.11.1, Avalon10 driver) front-end: replies shaped like the
// captures in tests/fixtures/avalon/, the MM ID0 telemetry string, ascset control in both the
// JSON and the text request form, and robustness against garbage.
#include "sim/fleet.hpp"
#include "sim/frontend.hpp"
#include "tests/support/json_shape.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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

// Avalon captures may hold bare nan tokens and trailing bytes (a10xx_multicommand_nan.txt). The
// agent's parse_cgminer_json repairs those; unit_sim does not link the agent, so this does the
// two repairs the fixture needs: nan -> null outside strings, and only the first value counts.
json::value parse_avalon(std::string_view text) {
    std::string repaired;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            repaired.push_back(c);
            if (c == '\\' && i + 1 < text.size()) {
                repaired.push_back(text[++i]);
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') in_string = true;
        if (text.substr(i, 3) == "nan") {
            repaired += "null";
            i += 2;
            continue;
        }
        repaired.push_back(c);
    }
    json::stream_parser p;
    boost::system::error_code ec;
    p.write_some(repaired, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.done());
    return p.release();
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

// The Key[value] tokens of an MM ID0 string, in order.
std::vector<std::pair<std::string, std::string>> mm_items(std::string_view mm) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t pos = 0;
    while (pos < mm.size()) {
        while (pos < mm.size() && mm[pos] == ' ') ++pos;
        const auto open = mm.find('[', pos);
        if (open == std::string_view::npos) break;
        const auto close = mm.find(']', open);
        if (close == std::string_view::npos) break;
        out.emplace_back(std::string(mm.substr(pos, open - pos)),
                         std::string(mm.substr(open + 1, close - open - 1)));
        pos = close + 1;
    }
    return out;
}

std::string mm_value(std::string_view mm, std::string_view key) {
    for (auto& [k, v] : mm_items(mm)) {
        if (k == key) return v;
    }
    FAIL("no " << key << " in MM ID0");
    return {};
}

std::vector<double> numbers(std::string_view list) {
    std::vector<double> out;
    std::size_t pos = 0;
    while (pos < list.size()) {
        while (pos < list.size() && list[pos] == ' ') ++pos;
        if (pos >= list.size()) break;
        const auto end = std::min(list.find(' ', pos), list.size());
        out.push_back(std::stod(std::string(list.substr(pos, end - pos))));
        pos = end;
    }
    return out;
}

const TimePoint kBoot{std::chrono::milliseconds(1'753'000'000'000)};
const TimePoint kNow = kBoot + 2h;

struct Rig {
    FleetConfig cfg;
    std::unique_ptr<SimMiner> m;

    explicit Rig(std::string_view model = "avalon1246") {
        cfg.physics.wake_ramp = 2s;
        cfg.physics.sleep_ramp = 1s;
        cfg.physics.boot_time = 3s;
        m = make_miner(*find_model(model), Family::avalon, 0, *parse_ipv4("127.1.0.9"), cfg, kBoot);
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    RpcReply ask(std::string_view raw, TimePoint now) {
        RpcRequest req;
        parse_rpc_request(raw, req);
        return frontend_for(Family::avalon).rpc(*m, req, now);
    }
    json::value ask_json(std::string_view raw, TimePoint now) {
        return json::parse(ask(raw, now).body);
    }
    std::string mm(TimePoint now) {
        return std::string(
            ask_json(R"({"command":"estats"})", now).at("STATS").at(0).at("MM ID0").as_string());
    }
};

const json::object& status0(const json::value& reply) {
    return reply.at("STATUS").at(0).as_object();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shapes

TEST_CASE("avalon: version shape matches the A1246 capture") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"command":"version"})", kNow);
    CHECK_SAME_SHAPE(json::parse(read_fixture("avalon/a1246_version.json")), reply);
    const auto& v = reply.at("VERSION").at(0);
    CHECK(v.at("PROD").as_string() == "AvalonMiner 1246-81");
    CHECK(v.at("MODEL").as_string() == "1246-81");
    CHECK(v.at("MAC").as_string() == "026877000000");
    CHECK(v.at("VERSION").as_string() == "21030201_4ec6bb0_09b1765");
    CHECK(status0(reply).at("Description").as_string() == "cgminer 4.11.1");
}

TEST_CASE("avalon: estats shape and MM ID0 keys match the A1246 capture") {
    Rig rig;
    const auto reference = json::parse(read_fixture("avalon/a1246_estats.json"));
    const auto reply = rig.ask_json(R"({"command":"estats"})", kNow);
    CHECK_SAME_SHAPE(reference, reply);
    CHECK(reply.at("STATS").as_array().size() == 1);
    // Every Key[...] of the capture, in the capture's order.
    const auto ref_items = mm_items(reference.at("STATS").at(0).at("MM ID0").as_string());
    const auto items = mm_items(reply.at("STATS").at(0).at("MM ID0").as_string());
    std::vector<std::string> ref_keys, keys;
    for (const auto& [k, v] : ref_items) ref_keys.push_back(k);
    for (const auto& [k, v] : items) keys.push_back(k);
    CHECK(keys == ref_keys);
    // Lists have the capture's lengths (3 boards, 120 chips, 4 fans).
    for (const char* key :
         {"MGHS", "MTmax", "MTavg", "PVT_T0", "PVT_V2", "MW1", "ASICCRC2", "PLL0", "NETFAIL"}) {
        CAPTURE(key);
        CHECK(numbers(mm_value(reply.at("STATS").at(0).at("MM ID0").as_string(), key)).size() ==
              numbers(mm_value(reference.at("STATS").at(0).at("MM ID0").as_string(), key)).size());
    }
}

TEST_CASE("avalon: stats shape matches the A1246 capture (device plus pool records)") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"command":"stats"})", kNow);
    CHECK_SAME_SHAPE(json::parse(read_fixture("avalon/a1246_stats.json")), reply);
    CHECK(reply.at("STATS").as_array().size() == 4);
    CHECK(reply.at("STATS").at(1).at("ID").as_string() == "POOL0");
}

TEST_CASE("avalon: MM ID0 values come from the physics") {
    Rig rig;
    const Snapshot s = rig.m->physics.snapshot(kNow, rig.m->faults);
    const std::string mm = rig.mm(kNow);
    CHECK(std::stod(mm_value(mm, "GHSspd")) ==
          doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
    CHECK(std::stod(mm_value(mm, "GHSmm")) ==
          doctest::Approx(s.expected_ths * 1000).epsilon(0.001));
    double mghs = 0;
    for (double v : numbers(mm_value(mm, "MGHS"))) mghs += v;
    CHECK(mghs == doctest::Approx(std::stod(mm_value(mm, "GHSavg"))).epsilon(0.001));
    const auto ps = numbers(mm_value(mm, "PS"));
    REQUIRE(ps.size() == 7);
    CHECK(ps[6] == doctest::Approx(s.power_w).epsilon(0.01));
    CHECK(ps[4] == doctest::Approx(s.power_w * 0.91).epsilon(0.01));
    CHECK(std::stod(mm_value(mm, "MPO")) == doctest::Approx(3420));
    CHECK(mm_value(mm, "WORKMODE") == "1");
    CHECK(mm_value(mm, "SoftOFF") == "0");
    CHECK(mm_value(mm, "SYSTEMSTATU") == "Work: In Work, Hash Board: 3 ");
    CHECK(std::stod(mm_value(mm, "TMax")) == doctest::Approx(s.chip_temp_max_c));
    const auto mtmax = numbers(mm_value(mm, "MTmax"));
    const auto pvt0 = numbers(mm_value(mm, "PVT_T0"));
    CHECK(*std::max_element(pvt0.begin(), pvt0.end()) == mtmax[0]);
    CHECK(mm_value(mm, "PVT_T0").front() == ' ');  // "%3d" like the firmware
    CHECK(std::stod(mm_value(mm, "Fan1")) == doctest::Approx(static_cast<double>(s.fans_rpm[0])));
    CHECK(mm_value(mm, "Ver") == "1246-81-21030201_4ec6bb0_09b1765");
}

TEST_CASE("avalon: multi-command shape matches the A10xx captures") {
    Rig rig;
    const auto reply = rig.ask_json(R"({"command":"pools+summary+stats"})", kNow);
    CHECK_SAME_SHAPE(
        json::parse(read_fixture("avalon/a10xx_multicommand_pools+summary+stats.json")), reply);
    // The RAW variant (bare nan, trailing quote) has the same structure once repaired.
    CHECK_SAME_SHAPE(parse_avalon(read_fixture("avalon/a10xx_multicommand_nan.txt")), reply);
    // A repeated member is answered once; writes cannot be joined; unknown members say so.
    const auto mixed = rig.ask_json(R"({"command":"summary+summary+ascset+bogus"})", kNow);
    CHECK(mixed.at("summary").as_array().size() == 1);
    CHECK(status0(mixed.at("ascset").at(0)).at("Code").as_int64() == 45);
    CHECK(status0(mixed.at("ascset").at(0)).at("Msg").as_string() ==
          "Access denied to 'ascset' command");
    CHECK(status0(mixed.at("bogus").at(0)).at("Code").as_int64() == 14);
}

TEST_CASE("avalon: summary, devs, pools and devdetails follow cgminer 4.11") {
    Rig rig;
    const auto summary = rig.ask_json(R"({"command":"summary"})", kNow);
    const auto reference =
        json::parse(read_fixture("avalon/a10xx_multicommand_pools+summary+stats.json"));
    CHECK_SAME_SHAPE(reference.at("summary").at(0), summary);
    CHECK_SAME_SHAPE(reference.at("pools").at(0), rig.ask_json(R"({"command":"pools"})", kNow));
    const auto devs = rig.ask_json(R"({"command":"devs"})", kNow);
    CHECK(devs.at("DEVS").at(0).at("Name").as_string() == "AVA10");
    CHECK(devs.at("DEVS").at(0).at("MHS 30s").is_double());
    CHECK_SAME_SHAPE(devs, rig.ask_json(R"({"command":"edevs"})", kNow));
    const auto details = rig.ask_json(R"({"command":"devdetails"})", kNow);
    CHECK(details.at("DEVDETAILS").at(0).at("Driver").as_string() == "avalon10");
}

TEST_CASE("avalon: ascset replies match the captures") {
    Rig rig;
    struct Case {
        const char* parameter;
        const char* fixture;
        const char* msg;  // exact, "" when it depends on the physics
    };
    const Case cases[] = {
        {"0,softoff,1:1753434821", "ascset_softoff_reply.json",
         "ASC 0 set info: success softoff:1753434821"},
        {"0,softon,1:1753434757", "ascset_softon_reply.json",
         "ASC 0 set info: success softon:1753434757"},
        {"0,workmode,1", "ascset_workmode_reply.json", "ASC 0 set OK"},
        {"0,help", "ascset_help_reply.json", ""},
        {"0,hashpower", "ascset_hashpower_reply.json", ""},
        {"0,led,1-255", "ascset_led_query_reply.json", "ASC 0 set info: LED[0]"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.parameter);
        const std::string request =
            std::string(R"({"command":"ascset","parameter":")") + c.parameter + "\"}";
        const auto reply = rig.ask_json(request, kNow);
        const auto reference = json::parse(read_fixture(std::string("avalon/") + c.fixture));
        CHECK_SAME_SHAPE(reference, reply);
        CHECK(status0(reply).at("STATUS") == status0(reference).at("STATUS"));
        CHECK(status0(reply).at("Code") == status0(reference).at("Code"));
        if (*c.msg) CHECK(status0(reply).at("Msg").as_string() == c.msg);
    }
    const auto help = rig.ask_json(R"({"command":"ascset","parameter":"0,help"})", kNow);
    CHECK(status0(help).at("Msg") ==
          status0(json::parse(read_fixture("avalon/ascset_help_reply.json"))).at("Msg"));
    const auto ps = rig.ask_json(R"({"command":"ascset","parameter":"0,hashpower"})", kNow);
    const std::string msg(status0(ps).at("Msg").as_string());
    CHECK(msg.rfind("ASC 0 set info: PS[", 0) == 0);
    CHECK(numbers(msg.substr(19, msg.size() - 20)).size() == 7);
}

// ---------------------------------------------------------------------------------------------
// Control

TEST_CASE("avalon: softoff sleeps the miner and softon wakes it") {
    Rig rig;
    auto reply = rig.ask_json(R"({"command":"ascset","parameter":"0,softoff,1:1753007205"})", kNow);
    CHECK(status0(reply).at("STATUS").as_string() == "I");
    CHECK(rig.m->physics.commanded_asleep());
    auto snap = rig.m->physics.snapshot(kNow + 5s, rig.m->faults);
    CHECK(snap.state == SimState::sleeping);
    std::string mm = rig.mm(kNow + 5s);
    CHECK(mm_value(mm, "SoftOFF") != "0");
    CHECK(mm_value(mm, "SYSTEMSTATU").find("In Idle") != std::string::npos);
    CHECK(std::stod(mm_value(mm, "GHSspd")) == 0);

    reply =
        rig.ask_json(R"({"command":"ascset","parameter":"0,softon,1:1753007305"})", kNow + 1min);
    CHECK(status0(reply).at("Code").as_int64() == 118);
    snap = rig.m->physics.snapshot(kNow + 1min + 10s, rig.m->faults);
    CHECK(snap.state == SimState::mining);
    mm = rig.mm(kNow + 1min + 10s);
    CHECK(mm_value(mm, "SoftOFF") == "0");
    CHECK(mm_value(mm, "SYSTEMSTATU").find("In Work") != std::string::npos);
}

TEST_CASE("avalon: sleep_ignored acknowledges softoff but keeps hashing") {
    Rig rig;
    rig.m->faults.set(FaultKind::sleep_ignored, {}, kNow);
    const auto reply = rig.ask_json(R"({"command":"ascset","parameter":"0,softoff,1:1"})", kNow);
    CHECK(status0(reply).at("Msg").as_string() == "ASC 0 set info: success softoff:1");
    CHECK(rig.m->physics.snapshot(kNow + 10s, rig.m->faults).state == SimState::mining);
    CHECK(mm_value(rig.mm(kNow + 10s), "SoftOFF") == "0");
}

TEST_CASE("avalon: workmode sets the power target and is reported") {
    Rig rig;
    const double nominal = rig.m->model->nominal_w;
    auto reply = rig.ask_json(R"({"command":"ascset","parameter":"0,workmode,0"})", kNow);
    CHECK(status0(reply).at("Code").as_int64() == 119);
    CHECK(rig.m->control.avalon_workmode == 0);
    CHECK(rig.m->physics.power_target_w() == doctest::Approx(0.8 * nominal));
    std::string mm = rig.mm(kNow + 10s);
    CHECK(mm_value(mm, "WORKMODE") == "0");
    CHECK(std::stod(mm_value(mm, "MPO")) == doctest::Approx(0.8 * nominal).epsilon(0.001));
    reply = rig.ask_json(R"({"command":"ascset","parameter":"0,workmode,255"})", kNow);
    CHECK(status0(reply).at("Msg").as_string() == "ASC 0 set info: WORKMODE[0]");

    rig.ask(R"({"command":"ascset","parameter":"0,workmode,2"})", kNow);
    CHECK(rig.m->physics.power_target_w() ==
          doctest::Approx(rig.m->model->max_power_w));  // clamped
    rig.ask(R"({"command":"ascset","parameter":"0,workmode,1"})", kNow);
    CHECK(rig.m->physics.power_target_w() == doctest::Approx(nominal));

    reply = rig.ask_json(R"({"command":"ascset","parameter":"0,workmode,7"})", kNow);
    CHECK(status0(reply).at("STATUS").as_string() == "E");
    CHECK(status0(reply).at("Code").as_int64() == 120);
    CHECK(rig.m->control.avalon_workmode == 1);
}

TEST_CASE("avalon: reboot, restart and hashpower switch") {
    Rig rig;
    auto reply = rig.ask_json(R"({"command":"ascset","parameter":"0,reboot,0"})", kNow);
    CHECK(status0(reply).at("Code").as_int64() == 119);
    CHECK(rig.m->physics.snapshot(kNow + 1s, rig.m->faults).state == SimState::booting);
    CHECK(rig.m->physics.snapshot(kNow + 10s, rig.m->faults).state == SimState::mining);

    reply = rig.ask_json(R"({"command":"restart"})", kNow + 1min);
    CHECK(reply.at("STATUS").as_string() == "RESTART");
    CHECK(rig.m->physics.snapshot(kNow + 1min + 1s, rig.m->faults).state == SimState::booting);

    rig.ask(R"({"command":"ascset","parameter":"0,hashpower,0"})", kNow + 2min);
    CHECK(rig.m->physics.snapshot(kNow + 2min + 5s, rig.m->faults).state == SimState::sleeping);
    rig.ask(R"({"command":"ascset","parameter":"0,hashpower,1"})", kNow + 3min);
    CHECK(rig.m->physics.snapshot(kNow + 3min + 5s, rig.m->faults).state == SimState::mining);
}

TEST_CASE("avalon: ascset errors are cgminer's") {
    Rig rig;
    struct Case {
        const char* request;
        char status;
        int code;
        const char* msg;
    };
    const Case cases[] = {
        {R"({"command":"ascset","parameter":"0,selfdestruct,1"})", 'E', 120,
         "ASC 0 set failed: Unknown option: selfdestruct"},
        {R"({"command":"ascset","parameter":"3,softoff,1:5"})", 'E', 107,
         "Invalid ASC id 3 - range is 0 - 0"},
        {R"({"command":"ascset","parameter":"0"})", 'E', 116, "Missing option after ASC number"},
        {R"({"command":"ascset"})", 'E', 15, "Missing device id parameter"},
        {R"({"command":"ascset","parameter":"0,led,9-1"})", 'E', 120, ""},
        {R"({"command":"ascset","parameter":"0,softoff"})", 'E', 120, ""},
        {R"({"command":"nope"})", 'E', 14, "Invalid command"},
        {R"({"cmd":"summary"})", 'E', 24, "Missing JSON 'command'"},
        {R"({"command":"summary")", 'E', 23, "Invalid JSON"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.request);
        const auto reply = rig.ask_json(c.request, kNow);
        CHECK(status0(reply).at("STATUS").as_string() == std::string(1, c.status));
        CHECK(status0(reply).at("Code").as_int64() == c.code);
        if (*c.msg) CHECK(status0(reply).at("Msg").as_string() == c.msg);
        // cgminer leaves Description out of "Invalid command" only.
        CHECK(status0(reply).contains("Description") == (c.code != 14));
    }
    CHECK_FALSE(rig.m->physics.commanded_asleep());
}

// ---------------------------------------------------------------------------------------------
// The text form

TEST_CASE("avalon: text-form requests get text replies") {
    Rig rig;
    const auto when = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch()).count());
    RpcReply r = rig.ask("ascset|0,softoff,1:123", kNow);
    CHECK(r.body ==
          "STATUS=I,When=" + when +
              ",Code=118,Msg=ASC 0 set info: success softoff:123,Description=cgminer 4.11.1|");
    CHECK(rig.m->physics.commanded_asleep());
    r = rig.ask("ascset|0,softon,1:124\n", kNow);
    CHECK(r.body.find("Msg=ASC 0 set info: success softon:124,") != std::string::npos);
    CHECK_FALSE(rig.m->physics.commanded_asleep());

    r = rig.ask("summary", kNow);
    CHECK(r.body.rfind("STATUS=S,When=" + when +
                           ",Code=11,Msg=Summary,Description=cgminer 4.11.1|SUMMARY,Elapsed=",
                       0) == 0);
    CHECK(r.body.find("MHS av=") != std::string::npos);
    CHECK(r.body.back() == '|');

    r = rig.ask("pools", kNow);
    CHECK(r.body.find("|POOL=0,URL=stratum+tcp://pool-a.sim.invalid:3333,") != std::string::npos);
    CHECK(r.body.find("|POOL=2,") != std::string::npos);

    // The help list's '|' separators are escaped in the text form.
    r = rig.ask("ascset|0,help", kNow);
    CHECK(r.body.find("Msg=ASC 0 set info: help\\|voltage\\|") != std::string::npos);

    r = rig.ask("estats", kNow);
    CHECK(r.body.find("|STATS=0,ID=AVA100,Elapsed=") != std::string::npos);
    CHECK(r.body.find("MM ID0=Ver[1246-81-") != std::string::npos);

    r = rig.ask("bogus", kNow);
    CHECK(r.body == "STATUS=E,When=" + when + ",Code=14,Msg=Invalid command|");

    r = rig.ask("version+summary", kNow);
    CHECK(r.body.rfind("CMD=version|STATUS=S,", 0) == 0);
    CHECK(r.body.find("|CMD=summary|STATUS=S,") != std::string::npos);

    r = rig.ask("restart", kNow);
    CHECK(r.body == "RESTART");
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("avalon: garbage never throws and gets an error reply") {
    Rig rig;
    const char* const inputs[] = {
        "",
        "{",
        "{}",
        "[]",
        "|||",
        "ascset|",
        "ascset|,",
        "ascset|0,",
        "ascset|0,,",
        "ascset|-99999999999999999999,softoff",
        "ascset|0,workmode,99999999999999999999",
        "ascset|0,led,-",
        "ascset|0,led,1-",
        R"({"command":"ascset","parameter":["0","softoff","1:5"]})",
        R"({"command":"ascset","parameter":17})",
        R"({"command":{"x":1}})",
        R"({"command":"+"})",
        R"({"command":"stats+estats+version+devs+pools+summary+devdetails+edevs"})",
        "summary+\xff\xfe",
    };
    for (const char* input : inputs) {
        CAPTURE(input);
        RpcReply r;
        CHECK_NOTHROW(r = rig.ask(input, kNow));
        CHECK_FALSE(r.body.empty());
    }
    CHECK(rig.m->physics.snapshot(kNow, rig.m->faults).state == SimState::mining);
}

}  // namespace hashwatt::sim
