// Tests for the stock Antminer front-end: replies shaped like the real captures in
// tests/fixtures/antminer/, control through the Digest-protected CGI, and robustness.
#include "common/crypto.hpp"
#include "sim/fleet.hpp"
#include "sim/frontend.hpp"
#include "tests/support/json_shape.hpp"

#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
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
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// bmminer's `}{` between STATS elements, repaired the way the agent's reader does it (the
// captures and our replies have no `}{` inside strings).
std::string repair_glued_objects(std::string text) {
    for (std::size_t p = text.find("}{"); p != std::string::npos; p = text.find("}{", p + 3)) {
        text.insert(p + 1, ",");
    }
    return text;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// Same keys, same nesting and (strict) the same number kinds as the capture.
void check_shape(const json::value& reference, const std::string& reply, bool strict = true) {
    boost::system::error_code ec;
    const json::value candidate = json::parse(reply, ec);
    INFO("reply: " << reply);
    REQUIRE_FALSE(ec);
    test::ShapeOptions options;
    options.number_kinds_strict = strict;
    const auto diffs = test::shape_differences(reference, candidate, options);
    INFO("differences:\n" << joined(diffs));
    CHECK(diffs.empty());
}

// One simulated miner with short ramps, 14 h after boot.
struct Rig {
    FleetConfig cfg;
    TimePoint now;
    std::unique_ptr<SimMiner> m;

    explicit Rig(std::string_view model, Family family = Family::antminer) {
        cfg.physics.wake_ramp = 2s;
        cfg.physics.sleep_ramp = 1s;
        cfg.physics.boot_time = 5s;
        const TimePoint boot{std::chrono::milliseconds(1'755'600'000'000)};
        now = boot + 14h;
        const ModelSpec* spec = find_model(model);
        REQUIRE(spec != nullptr);
        m = make_miner(*spec, family, 0, *parse_ipv4("127.1.0.1"), cfg, boot);
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    const Frontend& fe() const { return frontend_for(m->family); }

    RpcReply rpc_reply(std::string_view raw) {
        const std::string copy(raw);
        RpcRequest req;
        parse_rpc_request(copy, req);
        return fe().rpc(*m, req, now);
    }
    std::string rpc(std::string_view raw) { return rpc_reply(raw).body; }

    HttpResponse http(std::string method, std::string path, std::string body = {},
                      std::string authorization = {}) {
        HttpRequest req;
        req.method = method;
        req.path = path;
        req.body = body;
        req.authorization = authorization;
        req.content_type = "application/json";
        return fe().http(*m, req, now);
    }

    Snapshot snap() const { return m->physics.snapshot(now, m->faults); }
};

// The Authorization header a browser sends for `uri` (RFC 2617, qop=auth).
std::string digest_header(std::string_view method, std::string_view uri, std::string_view password,
                          std::string_view user = "root",
                          std::string_view nonce = "6b1fd7e0a3b24c98") {
    const std::string realm = "antMiner Configuration";
    const std::string cnonce = "0a4f113b";
    const std::string nc = "00000001";
    const std::string ha1 =
        crypto::md5_hex(std::string(user) + ":" + realm + ":" + std::string(password));
    const std::string ha2 = crypto::md5_hex(std::string(method) + ":" + std::string(uri));
    const std::string response =
        crypto::md5_hex(ha1 + ":" + std::string(nonce) + ":" + nc + ":" + cnonce + ":auth:" + ha2);
    return "Digest username=\"" + std::string(user) + "\", realm=\"" + realm + "\", nonce=\"" +
           std::string(nonce) + "\", uri=\"" + std::string(uri) + "\", algorithm=MD5, response=\"" +
           response + "\", qop=auth, nc=" + nc + ", cnonce=\"" + cnonce + "\"";
}

HttpResponse cgi(Rig& r, std::string method, std::string path, std::string body = {}) {
    return r.http(method, path, std::move(body), digest_header(method, path, "root"));
}

json::value parse(const std::string& text) { return json::parse(text); }

std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : ""; }

std::string header(const HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) return v;
    }
    return {};
}

double number(const json::value& v) {
    if (v.is_double()) return v.get_double();
    if (v.is_int64()) return static_cast<double>(v.get_int64());
    if (v.is_uint64()) return static_cast<double>(v.get_uint64());
    if (v.is_string()) return std::stod(std::string(v.get_string()));
    FAIL("not a number");
    return 0;
}

void put_to_sleep(Rig& r) {
    const auto reply = cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi",
                           read_fixture("antminer/s19_web_set_miner_conf_sleep_REQUEST.json"));
    REQUIRE(reply.status == 200);
    r.now += 5s;  // past the sleep ramp
}

TEST_CASE("antminer: RPC replies match the S19 Pro captures") {
    Rig r("s19pro");
    for (const std::string cmd : {"version", "summary", "stats", "devs", "pools"}) {
        CAPTURE(cmd);
        const auto capture = parse(read_fixture("antminer/s19pro_bmminer_" + cmd + ".json"));
        const RpcReply reply = r.rpc_reply(R"({"command":")" + cmd + R"("})");
        CHECK(reply.nul);
        CHECK_FALSE(reply.no_reply);
        check_shape(capture, reply.body);
    }
}

TEST_CASE("antminer: S19 figures come from the physics snapshot") {
    Rig r("s19pro");
    const Snapshot s = r.snap();
    const auto summary = parse(r.rpc(R"({"command":"summary"})"));
    const auto& sum = summary.at("SUMMARY").at(0);
    CHECK(summary.at("STATUS").at(0).at("Description") == "cgminer 1.0.0");
    CHECK(number(sum.at("GHS 5s")) == doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
    CHECK(number(sum.at("Elapsed")) == doctest::Approx(static_cast<double>(s.elapsed_s)));
    CHECK(number(sum.at("Accepted")) == doctest::Approx(static_cast<double>(s.accepted)));

    const auto stats = parse(r.rpc(R"({"command":"stats"})"));
    const auto& dev = stats.at("STATS").at(1);
    CHECK(stats.at("STATS").at(0).at("Type") == "Antminer S19 Pro");
    double chains = 0;
    for (int n = 1; n <= 3; ++n) {
        const auto& rate = dev.at("chain_rate" + std::to_string(n));
        REQUIRE(rate.is_string());  // a string on S19 bmminer
        chains += number(rate);
        CHECK(number(dev.at("temp2_" + std::to_string(n))) ==
              doctest::Approx(s.boards[static_cast<std::size_t>(n - 1)].chip_temp_max_c));
    }
    CHECK(chains == doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
    CHECK(dev.at("chain_rate4") == "");
    CHECK(dev.at("temp_pcb4") == "0-0-0-0");
    CHECK(number(dev.at("total_rateideal")) == doctest::Approx(110000.0));
    for (int f = 1; f <= 4; ++f) {
        CHECK(number(dev.at("fan" + std::to_string(f))) ==
              doctest::Approx(static_cast<double>(s.fans_rpm[static_cast<std::size_t>(f - 1)])));
    }
    // Float fields keep their decimals even when integral.
    CHECK(r.rpc(R"({"command":"stats"})").find("\"total_rateideal\":110000.00") !=
          std::string::npos);

    const auto devs = parse(r.rpc(R"({"command":"devs"})"));
    CHECK(devs.at("DEVS").at(0).as_object().contains("Tenperature"));
    const auto pools = parse(r.rpc(R"({"command":"pools"})"));
    CHECK(pools.at("POOLS").at(0).as_object().contains("Pool Stale%%"));
    CHECK(str(pools.at("POOLS").at(0).at("URL")) == r.m->pools[0].url);
}

TEST_CASE("antminer: stats with new_api gives per-chain arrays") {
    Rig r("s21");
    const Snapshot s = r.snap();
    const auto reply = parse(r.rpc(R"({"command":"stats","new_api":true})"));
    CHECK(reply.at("STATUS").at(0).at("Code") == 70);
    const auto& stats = reply.at("STATS").at(0);
    const auto& chain = stats.at("chain").as_array();
    REQUIRE(chain.size() == 3);
    double real = 0;
    for (const auto& c : chain) {
        real += number(c.at("rate_real"));
        CHECK(c.at("temp_chip").as_array().size() == 4);
        CHECK(c.at("temp_pcb").as_array().size() == 4);
        CHECK(c.at("temp_pic").as_array().size() == 4);
        CHECK(c.at("asic_num") == 108);
    }
    CHECK(chain[0].at("index") == 0);
    CHECK(real == doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
    CHECK(stats.at("fan").as_array().size() == 4);
    CHECK(stats.at("rate_unit") == "GH/s");
}

TEST_CASE("antminer: a sleeping S19 matches the sleeping captures") {
    Rig r("s19");
    // The captured S19 had lost its first chain: only chains 2 and 3 report.
    FaultParams dead;
    dead.index = 0;
    r.m->faults.set(FaultKind::dead_board, dead, r.now);
    put_to_sleep(r);
    REQUIRE(r.snap().state == SimState::sleeping);

    SUBCASE("stats") {
        const std::string reply = r.rpc(R"({"command":"stats"})");
        check_shape(parse(read_fixture("antminer/s19_sleeping_stats.json")), reply);
        const auto dev = parse(reply).at("STATS").at(1);
        CHECK(number(dev.at("GHS 5s")) == 0.0);
        CHECK(dev.at("chain_rate2") == "0.00");
        CHECK(dev.at("chain_acs2").as_string().starts_with(" xx xx"));
        CHECK(dev.at("miner_count") == 2);
    }
    SUBCASE("pools") {
        check_shape(parse(read_fixture("antminer/s19_sleeping_pools.json")),
                    r.rpc(R"({"command":"pools"})"));
    }
    SUBCASE("version") {
        check_shape(parse(read_fixture("antminer/s19_sleeping_version.json")),
                    r.rpc(R"({"command":"version"})"));
    }
    SUBCASE("get_miner_conf.cgi") {
        const auto reply = cgi(r, "GET", "/cgi-bin/get_miner_conf.cgi");
        REQUIRE(reply.status == 200);
        CHECK(reply.body.starts_with("\n\n{\n\"pools\" : [\n"));
        CHECK(reply.body.find("\"bitmain-work-mode\" : \"1\"") != std::string::npos);
        check_shape(parse(read_fixture("antminer/s19_sleeping_web_get_miner_conf.json")),
                    reply.body);
    }
}

TEST_CASE("antminer: get_system_info.cgi matches the S21 capture") {
    Rig r("s21");
    const auto reply = cgi(r, "GET", "/cgi-bin/get_system_info.cgi");
    REQUIRE(reply.status == 200);
    check_shape(parse(read_fixture("antminer/s21_web_get_system_info.json")), reply.body);
    const auto info = parse(reply.body);
    CHECK(info.at("minertype") == "Antminer S21");
    CHECK(str(info.at("serinum")) == r.m->serial);
    CHECK(str(info.at("hostname")) == r.m->hostname);
    CHECK(str(info.at("system_filesystem_version")) == r.m->firmware_version);
    // A real MAC this time (the capture's is anonymised): six hex pairs.
    const std::string mac(info.at("macaddr").as_string());
    REQUIRE(mac.size() == 17);
    for (std::size_t i = 0; i < mac.size(); ++i) {
        if (i % 3 == 2) {
            CHECK(mac[i] == ':');
        } else {
            CHECK(std::isxdigit(static_cast<unsigned char>(mac[i])) != 0);
        }
    }
}

TEST_CASE("antminer: legacy S9 replies follow the S9 captures, }{ included") {
    Rig r("s9");
    SUBCASE("stats") {
        const std::string reply = r.rpc(R"({"command":"stats"})");
        // The real bmminer fault: no comma between STATS[0] and STATS[1].
        CHECK(reply.find("\"Type\":\"Antminer S9\"}{\"STATS\":0") != std::string::npos);
        boost::system::error_code ec;
        (void)json::parse(reply, ec);
        CHECK(ec);  // not JSON as sent
        const std::string capture = read_fixture("antminer/s9_hiveon_stats.txt");
        REQUIRE(capture.find("}{") != std::string::npos);
        check_shape(parse(repair_glued_objects(capture)), repair_glued_objects(reply));

        const auto stats = parse(repair_glued_objects(reply));
        const auto& dev = stats.at("STATS").at(1);
        const Snapshot s = r.snap();
        CHECK(stats.at("STATUS").at(0).at("Description") == "bmminer 1.0.0");
        REQUIRE(dev.at("GHS 5s").is_string());
        CHECK(number(dev.at("GHS 5s")) == doctest::Approx(s.hashrate_ths * 1000).epsilon(0.001));
        CHECK(number(dev.at("fan1")) == 0);
        CHECK(number(dev.at("fan5")) == doctest::Approx(static_cast<double>(s.fans_rpm[0])));
        CHECK(number(dev.at("fan6")) == doctest::Approx(static_cast<double>(s.fans_rpm[1])));
        CHECK(number(dev.at("chain_acn6")) == 63);
        CHECK(number(dev.at("chain_acn1")) == 0);
        CHECK(dev.at("chain_rate7").as_string() != "");
        CHECK(dev.at("chain_rate5") == "");
    }
    SUBCASE("version") {
        const std::string reply = r.rpc(R"({"command":"version"})");
        check_shape(parse(read_fixture("antminer/s9_hiveon_version.json")), reply);
        CHECK(parse(reply).at("VERSION").at(0).at("Type") == "Antminer S9");
    }
    SUBCASE("pools") {
        check_shape(parse(read_fixture("antminer/s9_hiveon_pools.json")),
                    r.rpc(R"({"command":"pools"})"));
    }
    SUBCASE("summary has the string 5 s rate") {
        const auto summary = parse(r.rpc(R"({"command":"summary"})"));
        CHECK(summary.at("SUMMARY").at(0).at("GHS 5s").is_string());
    }
}

TEST_CASE("antminer: GET / answers 401 with a Digest challenge") {
    Rig r("s19pro");
    const auto reply = r.http("GET", "/");
    CHECK(reply.status == 401);
    const std::string challenge = header(reply, "WWW-Authenticate");
    CHECK(challenge.starts_with("Digest realm=\"antMiner Configuration\", nonce=\""));
    CHECK(challenge.find("qop=\"auth\"") != std::string::npos);
    CHECK(r.fe().has_http());

    SUBCASE("the nonce of the challenge works") {
        const auto start = challenge.find("nonce=\"") + 7;
        const std::string nonce = challenge.substr(start, challenge.find('"', start) - start);
        CHECK_FALSE(nonce.empty());
        const auto ok = r.http("GET", "/", {}, digest_header("GET", "/", "root", "root", nonce));
        CHECK(ok.status == 200);
    }
    SUBCASE("wrong password, wrong user, wrong URI") {
        CHECK(r.http("GET", "/cgi-bin/get_system_info.cgi", {},
                     digest_header("GET", "/cgi-bin/get_system_info.cgi", "admin"))
                  .status == 401);
        CHECK(r.http("GET", "/cgi-bin/get_system_info.cgi", {},
                     digest_header("GET", "/cgi-bin/get_system_info.cgi", "root", "admin"))
                  .status == 401);
        CHECK(r.http("GET", "/cgi-bin/get_system_info.cgi", {},
                     digest_header("GET", "/cgi-bin/get_miner_conf.cgi", "root"))
                  .status == 401);
        CHECK(r.http("GET", "/cgi-bin/get_system_info.cgi", {}, "Basic cm9vdDpyb290").status ==
              401);
    }
    SUBCASE("RFC 2069 digest without qop") {
        const std::string ha1 = crypto::md5_hex("root:antMiner Configuration:root");
        const std::string ha2 = crypto::md5_hex("GET:/cgi-bin/get_system_info.cgi");
        const std::string resp = crypto::md5_hex(ha1 + ":n0nce:" + ha2);
        const std::string h =
            "Digest username=\"root\", realm=\"antMiner Configuration\", nonce=\"n0nce\", "
            "uri=\"/cgi-bin/get_system_info.cgi\", response=\"" +
            resp + "\"";
        CHECK(r.http("GET", "/cgi-bin/get_system_info.cgi", {}, h).status == 200);
    }
    SUBCASE("password_changed makes the known password fail") {
        r.m->faults.set(FaultKind::password_changed, {}, r.now);
        CHECK(cgi(r, "GET", "/cgi-bin/get_system_info.cgi").status == 401);
    }
    SUBCASE("unknown CGI") {
        CHECK(cgi(r, "GET", "/cgi-bin/nope.cgi").status == 404);
        CHECK(r.http("GET", "/cgi-bin/nope.cgi").status == 401);
    }
}

TEST_CASE("antminer: set_miner_conf.cgi sleeps, wakes and lowers power") {
    Rig r("s19pro");
    const double nominal = r.m->model->nominal_w;
    REQUIRE(r.snap().hashing);

    const auto reply = cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi",
                           read_fixture("antminer/s19_web_set_miner_conf_sleep_REQUEST.json"));
    CHECK(reply.status == 200);
    CHECK(reply.body == R"({"stats":"success","code":"M000","msg":"OK!"})");
    r.now += 5s;
    Snapshot s = r.snap();
    CHECK(s.state == SimState::sleeping);
    CHECK_FALSE(s.hashing);
    CHECK(s.power_w < 100);
    CHECK(r.m->control.antminer_work_mode == 1);
    // The pools of the request were saved.
    REQUIRE(r.m->pools.size() == 3);
    CHECK(r.m->pools[0].url == "aaa:700");
    CHECK(r.m->pools[2].user == "ccc.226x94");
    CHECK(number(parse(r.rpc(R"({"command":"summary"})")).at("SUMMARY").at(0).at("GHS 5s")) == 0.0);

    SUBCASE("miner-mode 0 wakes at nominal power") {
        CHECK(cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi", R"({"miner-mode":0})").body ==
              R"({"stats":"success","code":"M000","msg":"OK!"})");
        r.now += 10s;
        s = r.snap();
        CHECK(s.hashing);
        CHECK(s.power_target_w == doctest::Approx(nominal));
        CHECK(s.power_w > 0.9 * nominal);
        CHECK(r.m->control.antminer_work_mode == 0);
        CHECK(cgi(r, "GET", "/cgi-bin/get_miner_conf.cgi")
                  .body.find("\"bitmain-work-mode\" : \"0\"") != std::string::npos);
    }
    SUBCASE("miner-mode \"3\" (a string) is low power: 75 % of nominal") {
        CHECK(cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi", R"({"miner-mode":"3"})").status == 200);
        r.now += 10s;
        s = r.snap();
        CHECK(s.hashing);
        CHECK(s.power_target_w == doctest::Approx(0.75 * nominal));
        CHECK(s.power_w < 0.8 * nominal);
        CHECK(r.m->control.antminer_work_mode == 3);
    }
}

TEST_CASE("antminer: malformed set_miner_conf bodies get M001 and change nothing") {
    Rig r("s19pro");
    for (const std::string body :
         {"", "not json", "[1,2]", R"({"miner-mode":7})", R"({"miner-mode":"sleep"})",
          R"({"miner-mode":-1})", R"({"miner-mode":1,"pools":"x"})",
          R"({"miner-mode":1,"pools":[{"url":1}]})"}) {
        CAPTURE(body);
        const auto reply = cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi", body);
        CHECK(reply.status == 200);
        CHECK(parse(reply.body).at("code") == "M001");
    }
    r.now += 5s;
    CHECK(r.snap().hashing);
    CHECK(r.m->control.antminer_work_mode == 0);
}

TEST_CASE("antminer: sleep_ignored acknowledges sleep but keeps hashing") {
    Rig r("s19pro");
    r.m->faults.set(FaultKind::sleep_ignored, {}, r.now);
    const auto reply = cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi", R"({"miner-mode":1})");
    CHECK(parse(reply.body).at("code") == "M000");
    r.now += 5s;
    CHECK(r.snap().hashing);
    CHECK(r.snap().power_w > 3000);
}

TEST_CASE("antminer: reboot.cgi reboots the miner") {
    Rig r("s19pro");
    CHECK(cgi(r, "GET", "/cgi-bin/reboot.cgi").status == 200);
    r.now += 1s;
    const Snapshot s = r.snap();
    CHECK(s.state == SimState::booting);
    CHECK(s.uptime_s <= 1);
    // The daemon is not up while booting: nothing answers on 4028.
    CHECK(r.rpc_reply(R"({"command":"summary"})").no_reply);
    r.now += 10s;
    CHECK_FALSE(r.rpc_reply(R"({"command":"summary"})").no_reply);
    r.now += 10s;
    CHECK(r.snap().hashing);
}

TEST_CASE("antminer: web mirrors of summary, stats and pools") {
    Rig r("s19pro");
    const auto summary = parse(cgi(r, "GET", "/cgi-bin/summary.cgi").body);
    CHECK(summary.at("STATUS").is_object());
    CHECK(summary.at("INFO").at("type") == "Antminer S19 Pro");
    CHECK(summary.at("SUMMARY").at(0).at("status").as_array().size() == 4);
    const auto stats = parse(cgi(r, "GET", "/cgi-bin/stats.cgi").body);
    CHECK(stats.at("STATS").at(0).at("chain").as_array().size() == 3);
    const auto pools = parse(cgi(r, "GET", "/cgi-bin/pools.cgi").body);
    CHECK(pools.at("POOLS").as_array().size() == 3);
    CHECK(parse(cgi(r, "GET", "/cgi-bin/miner_type.cgi").body).at("miner_type") ==
          "Antminer S19 Pro");
}

TEST_CASE("antminer: RPC errors are cgminer's") {
    Rig r("s19pro");
    const auto status = [&](std::string_view raw) {
        return parse(r.rpc(raw)).at("STATUS").at(0).as_object();
    };
    CHECK(status(R"({"command":"bogus"})").at("Code") == 14);
    CHECK(status(R"({"command":"bogus"})").at("Msg") == "Invalid command");
    CHECK(status(R"({"command":"bogus"})").at("STATUS") == "E");
    CHECK(status(R"({"command":"estats"})").at("Code") == 14);
    CHECK(status(R"({"parameter":"x"})").at("Code") == 24);
    CHECK(status(R"({"command":)").at("Code") == 23);
    CHECK(status(R"({"command":"devdetails"})").at("Code") == 69);

    SUBCASE("multi-command joins") {
        const auto joined_reply = parse(r.rpc(R"({"command":"summary+pools+bogus"})"));
        CHECK(joined_reply.at("summary").at(0).at("STATUS").at(0).at("Code") == 11);
        CHECK(joined_reply.at("pools").at(0).at("POOLS").as_array().size() == 3);
        CHECK(joined_reply.at("bogus").at(0).at("STATUS").at(0).at("Code") == 14);
        CHECK(joined_reply.at("id") == 1);
    }
    SUBCASE("text form") {
        const std::string text = r.rpc("summary");
        CHECK(text.starts_with("STATUS=S,When="));
        CHECK(text.find("|SUMMARY,Elapsed=") != std::string::npos);
        CHECK(text.ends_with("|"));
        CHECK(r.rpc("pools").find("|POOL=0,URL=") != std::string::npos);
        CHECK(r.rpc("nope").starts_with("STATUS=E,"));
    }
}

TEST_CASE("antminer: garbage never throws") {
    Rig r("s19pro");
    Rig legacy("s9");
    const std::vector<std::string> raws = {"",
                                           "{",
                                           "}",
                                           "null",
                                           "[]",
                                           "{\"command\":5}",
                                           "{\"command\":\"\"}",
                                           "|||",
                                           "+",
                                           "{\"command\":\"+++\"}",
                                           "{\"command\":\"stats+stats+stats\"}",
                                           "{\"command\":\"stats\",\"new_api\":\"yes\"}",
                                           std::string(10000, 'x'),
                                           std::string("summary\0pools", 13),
                                           "\xff\xfe{\"command\":\"version\"}"};
    for (const auto& raw : raws) {
        CAPTURE(raw);
        CHECK_NOTHROW(r.rpc(raw));
        CHECK_NOTHROW(legacy.rpc(raw));
    }
    const std::vector<std::string> auths = {
        "",
        "Digest",
        "Digest ",
        "Digest username=",
        "Digest username=\"root",
        "Digest ,,,,",
        "Digest username=\"root\", realm=\"antMiner Configuration\", nonce=\"\", uri=\"/\"",
        "Digest a=b=c",
        std::string(5000, ',')};
    for (const auto& a : auths) {
        CAPTURE(a);
        HttpResponse reply;
        CHECK_NOTHROW(reply = r.http("GET", "/cgi-bin/get_system_info.cgi", {}, a));
        CHECK(reply.status == 401);
    }
    const std::vector<std::string> bodies = {"", "{", std::string(3000, '['), "{\"pools\":[[[]]]}"};
    for (const auto& body : bodies) {
        CHECK_NOTHROW(cgi(r, "POST", "/cgi-bin/set_miner_conf.cgi", body));
    }
    CHECK_NOTHROW(cgi(r, "DELETE", "/cgi-bin/set_miner_conf.cgi"));
}

}  // namespace
}  // namespace hashwatt::sim
