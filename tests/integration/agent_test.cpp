// `hashwatt agent` and `hashwatt miner` against `hashwatt sim`, through the real binary: a mixed
// fleet polled once agrees with the simulator's true state, faults give the documented reasons
// without stalling the healthy miners, commands take effect and are verified, and configs are
// checked. Addresses: 127.35.x.x.
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = HASHWATT_BINARY;

SimProcess start_fleet(const TempDir& dir, const std::string& base_ip, const std::string& mix,
                       int miners) {
    return SimProcess(
        kBinary,
        {"--miners", std::to_string(miners), "--mix", mix, "--base-ip", base_ip, "--http-port", "0",
         "--wake-ramp", "2s", "--sleep-ramp", "1s", "--boot-time", "3s"},
        dir.path() + "/sim");
}

json::object truth(const SimProcess& sim, const std::string& ip) {
    return json::parse(sim.get("/api/v1/miners/" + ip)).as_object();
}

double num(const json::value& v) { return v.to_number<double>(); }

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// One JSON sample per stdout line, keyed by host.
std::map<std::string, json::object> samples_by_host(const std::string& out) {
    std::map<std::string, json::object> by_host;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        auto o = json::parse(line).as_object();
        by_host[str(o, "host")] = std::move(o);
    }
    return by_host;
}

RunResult agent_once(const std::string& config, std::chrono::milliseconds timeout = 60s) {
    return run({kBinary, "agent", "--config", config, "--once", "--output", "json"}, timeout);
}

}  // namespace

TEST_CASE("agent --once: a mixed fleet, configured and discovered, agrees with the true state") {
    TempDir dir;
    auto sim = start_fleet(dir, "127.35.0.1", "s19pro:3,s21:3,m30s++:3,m50:2,s9:1", 24);
    const std::string http = std::to_string(sim.http_port());
    // Two explicit miners (one with its own id), the rest found by the scan; the explicit ones
    // are not polled twice.
    const std::string cfg = dir.write("agent.toml",
                                      "[agent]\nsite = \"lab\"\npoll_timeout = \"5s\"\n"
                                      "[[miner]]\nhost = \"127.35.0.1\"\nid = \"rack1-01\"\n"
                                      "http_port = " +
                                          http +
                                          "\n"
                                          "[[miner]]\nhost = \"127.35.0.2:4028\"\nhttp_port = " +
                                          http +
                                          "\n"
                                          "[[scan]]\nranges = [\"127.35.0.0/27\"]\nhttp_port = " +
                                          http + "\n");
    const RunResult r = agent_once(cfg);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto samples = samples_by_host(r.out);
    CHECK(samples.size() == 24);
    CHECK(r.err.find("polled=24 up=24 failed=0 ") != std::string::npos);
    CHECK(r.err.find("rss_kb=") != std::string::npos);
    for (const auto& [host, s] : samples) {
        CAPTURE(host);
        const auto t = truth(sim, host);
        CHECK(s.at("up").as_bool());
        CHECK(str(s, "state") == str(t, "state"));
        CHECK(str(s, "site") == "lab");
        CHECK(str(s, "model").ends_with(str(t, "model")));  // "Antminer S19 Pro" vs "S19 Pro"
        if (host == "127.35.0.1") {
            CHECK(str(s, "miner_id") == "rack1-01");
        } else {
            CHECK(str(s, "miner_id") == str(t, "mac"));
        }
        // Hash rates move with 5 s noise buckets and power with it: within a few per cent.
        const double ths = num(s.at("hashrate_ths"));
        CHECK(std::fabs(ths - num(t.at("hashrate_ths"))) <= 0.06 * num(t.at("hashrate_ths")));
        REQUIRE(s.contains("power_w"));
        CHECK(std::fabs(num(s.at("power_w")) - num(t.at("power_w"))) <=
              0.08 * num(t.at("power_w")));
        CHECK(s.at("boards").as_array().size() == t.at("boards").as_array().size());
        CHECK(s.at("fans_rpm").as_array().size() == t.at("fans_rpm").as_array().size());
    }
}

TEST_CASE("agent --once and scan: all six firmware families in one fleet are identified and read") {
    TempDir dir;
    // Four of the six run on Antminer hardware, so only the firmware tells them apart.
    auto sim = start_fleet(
        dir, "127.35.8.1",
        "s19pro:2,m30s++:2,s19xp@braiins:2,s19kpro@luxos:2,s19jpro@vnish:2,avalon1246:2", 12);
    const std::string http = std::to_string(sim.http_port());
    struct Family {
        std::string driver, make, firmware;
    };
    const std::map<std::string, Family> by_family{
        {"antminer", {"antminer", "Bitmain", "stock"}},
        {"whatsminer", {"whatsminer", "MicroBT", "stock"}},
        {"braiins", {"braiins", "Bitmain", "braiins"}},
        {"luxos", {"luxos", "Bitmain", "luxos"}},
        {"vnish", {"vnish", "Bitmain", "vnish"}},
        {"avalon", {"avalon", "Canaan", "stock"}},
    };

    // scan: every miner found and named by make and firmware.
    const RunResult sc =
        run({kBinary, "scan", "127.35.8.0/28", "--json", "--http-port", http}, 60s);
    INFO(sc.err);
    REQUIRE(sc.exit_code == 0);
    std::map<std::string, json::object> found;
    const json::value scanned = json::parse(sc.out);
    for (const auto& f : scanned.as_array()) found[str(f.as_object(), "host")] = f.as_object();
    CHECK(found.size() == 12);

    // agent --once over the same range: every driver picked by detection, every sample read.
    const std::string cfg = dir.write("agent.toml",
                                      "[agent]\npoll_timeout = \"5s\"\n"
                                      "[[scan]]\nranges = [\"127.35.8.0/28\"]\n"
                                      "http_port = " +
                                          http + "\n");
    const RunResult r = agent_once(cfg);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto samples = samples_by_host(r.out);
    CHECK(samples.size() == 12);
    std::map<std::string, int> seen;
    for (const auto& [host, s] : samples) {
        CAPTURE(host);
        const auto t = truth(sim, host);
        const std::string family = str(t, "family");
        CAPTURE(family);
        REQUIRE(by_family.count(family) == 1);
        const Family& want = by_family.at(family);
        ++seen[family];
        REQUIRE(found.count(host) == 1);
        CHECK(found.at(host).at("identified").as_bool());
        CHECK(str(found.at(host), "make") == want.make);
        CHECK(str(found.at(host), "firmware") == want.firmware);
        CHECK(s.at("up").as_bool());
        CHECK(str(s, "driver") == want.driver);
        CHECK(str(s, "make") == want.make);
        CHECK(str(s, "firmware") == want.firmware);
        CHECK(str(s, "state") == str(t, "state"));
        CHECK(str(s, "model").ends_with(str(t, "model")));
        CHECK(str(s, "miner_id") == str(t, "mac"));
        // Vnish reports its miner-level rate, which the firmware writes at 0.7 x the chains'
        // (agent/drivers/vnish/README.md); the simulator's truth is the chains' rate.
        const double true_ths = num(t.at("hashrate_ths")) * (family == "vnish" ? 0.7 : 1.0);
        CHECK(std::fabs(num(s.at("hashrate_ths")) - true_ths) <= 0.06 * true_ths);
        // Power: measured, approximated or estimated depending on the firmware (Avalon's PS[4] is
        // the DC side, below the wall): within a fifth of the truth for every family.
        REQUIRE(s.contains("power_w"));
        CHECK(std::fabs(num(s.at("power_w")) - num(t.at("power_w"))) <= 0.2 * num(t.at("power_w")));
        CHECK(s.at("boards").as_array().size() == t.at("boards").as_array().size());
    }
    CHECK(seen.size() == 6);
}

TEST_CASE(
    "agent --once: every fault gives its reason within the deadline; healthy miners are complete") {
    TempDir dir;
    auto sim = start_fleet(dir, "127.35.1.1", "s19pro:1,m30s++:1", 40);
    const std::map<std::string, std::string> faults = {
        {"127.35.1.1", "offline"},   {"127.35.1.2", "hung"},      {"127.35.1.3", "garbage"},
        {"127.35.1.4", "truncated"}, {"127.35.1.5", "oversized"}, {"127.35.1.6", "reset"},
        {"127.35.1.21", "offline"},  {"127.35.1.22", "hung"},     {"127.35.1.23", "garbage"},
        {"127.35.1.24", "reset"},
    };
    const std::map<std::string, std::string> reason = {
        {"offline", "refused"}, {"hung", "timeout"},        {"garbage", "parse"},
        {"truncated", "parse"}, {"oversized", "too_large"}, {"reset", "reset"},
    };
    // First a clean round, so the agent's state (identity) is as in steady running; the
    // faults then hit known miners. Scanning is covered elsewhere: list the miners.
    std::string cfg_text = "[agent]\npoll_timeout = \"2s\"\nconnect_timeout = \"1s\"\n";
    for (int i = 1; i <= 40; ++i) {
        cfg_text += "[[miner]]\nhost = \"127.35.1." + std::to_string(i) +
                    "\"\nhttp_port = " + std::to_string(sim.http_port()) + "\n";
    }
    const std::string cfg = dir.write("agent.toml", cfg_text);
    for (const auto& [ip, kind] : faults) {
        REQUIRE(sim.post("/api/v1/miners/" + ip + "/faults", "{\"kind\":\"" + kind + "\"}") == 200);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const RunResult r = agent_once(cfg);
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.err);
    CHECK(r.exit_code == 1);  // some miners failed
    const auto samples = samples_by_host(r.out);
    REQUIRE(samples.size() == 40);
    for (const auto& [host, s] : samples) {
        CAPTURE(host);
        const auto f = faults.find(host);
        if (f == faults.end()) {
            CHECK(s.at("up").as_bool());
            CHECK(s.contains("hashrate_ths"));
            CHECK(s.contains("power_w"));
            CHECK_FALSE(s.at("boards").as_array().empty());
            continue;
        }
        CAPTURE(f->second);
        CHECK_FALSE(s.at("up").as_bool());
        CHECK(str(s, "state") == "offline");
        CHECK(str(s, "error") == reason.at(f->second));
        // Bounded by the 2 s per-miner deadline (plus scheduling slack on a loaded machine).
        CHECK(num(s.at("poll_duration_ms")) < 3500);
    }
    CHECK(r.err.find("polled=40 up=30 failed=10 ") != std::string::npos);
    // Hung miners hold their connection: the round still ends near one deadline, because they
    // are polled alongside the others, not before them.
    CHECK(wall_s < 15);
}

TEST_CASE("miner: sleep, wake, power-target and reboot are verified; unsupported ones refused") {
    TempDir dir;
    auto sim = start_fleet(dir, "127.35.2.1", "s19pro:1,m30s++:1,s9:1", 3);
    const std::string http = std::to_string(sim.http_port());
    auto miner = [&](const std::string& ip, std::vector<std::string> action) {
        std::vector<std::string> argv = {kBinary,  "miner",  ip,    "--http-port",  http,
                                         "--json", "--wait", "30s", "--poll-every", "300ms"};
        argv.insert(argv.begin() + 3, action.begin(), action.end());
        return run(argv, 60s);
    };
    auto report = [](const RunResult& r) {
        INFO(r.out, r.err);
        return json::parse(r.out).as_object();
    };

    SUBCASE("antminer S19 Pro") {
        const std::string ip = "127.35.2.1";
        RunResult r = miner(ip, {"sleep"});
        CHECK(r.exit_code == 0);
        auto o = report(r);
        CHECK(str(o, "status") == "succeeded");
        CHECK(str(o.at("after").as_object(), "state") == "sleeping");
        CHECK(str(truth(sim, ip), "state") == "sleeping");

        r = miner(ip, {"wake"});
        CHECK(r.exit_code == 0);
        CHECK(str(report(r), "status") == "succeeded");
        CHECK(str(truth(sim, ip), "state") == "mining");

        r = miner(ip, {"power-target", "2800"});
        CHECK(r.exit_code == 0);
        o = report(r);
        CHECK(str(o, "status") == "succeeded");
        CHECK(num(o.at("after").at("power_w")) <= 2800 * 1.05);
        CHECK(num(truth(sim, ip).at("power_target_w")) <= 2800);

        r = miner(ip, {"reboot"});
        CHECK(r.exit_code == 0);
        o = report(r);
        CHECK(str(o, "status") == "succeeded");
        CHECK(o.at("after").at("uptime_s").to_number<double>() <
              o.at("before").at("uptime_s").to_number<double>());
    }
    SUBCASE("whatsminer M30S++: power target without a reboot") {
        const std::string ip = "127.35.2.2";
        RunResult r = miner(ip, {"power-target", "3000"});
        CHECK(r.exit_code == 0);
        auto o = report(r);
        CHECK(str(o, "status") == "succeeded");
        CHECK(num(truth(sim, ip).at("power_target_w")) <= 3000);
        r = miner(ip, {"sleep"});
        CHECK(r.exit_code == 0);
        CHECK(str(truth(sim, ip), "state") == "sleeping");
    }
    SUBCASE("refused before anything is sent") {
        const std::string ip = "127.35.2.3";  // S9: reboot only
        const auto before = truth(sim, ip);
        RunResult r = miner(ip, {"sleep"});
        CHECK(r.exit_code == 1);
        auto o = report(r);
        CHECK(str(o, "status") == "unsupported");
        CHECK(str(o, "message").find("S9") != std::string::npos);
        CHECK(str(truth(sim, ip), "state") == "mining");
        // Out of a model's range, on a model that has power targets.
        r = miner("127.35.2.1", {"power-target", "500"});
        CHECK(r.exit_code == 1);
        CHECK(str(report(r), "status") == "unsupported");
    }
    SUBCASE("usage errors") {
        CHECK(run({kBinary, "miner", "127.35.2.1", "power-target"}, 20s).exit_code == 2);
        CHECK(run({kBinary, "miner", "127.35.2.1", "sleep", "300"}, 20s).exit_code == 2);
        CHECK(run({kBinary, "miner", "127.35.2.1", "dance"}, 20s).exit_code == 2);
        CHECK(run({kBinary, "miner", "127.35.2.1:99999", "sleep"}, 20s).exit_code == 2);
    }
}

TEST_CASE("agent --check-config: the shipped example passes, mistakes are named with their place") {
    const std::string example = std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/agent.toml";
    RunResult r = run({kBinary, "agent", "--config", example, "--check-config"}, 20s);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(": ok (") != std::string::npos);

    TempDir dir;
    const std::string bad = dir.write("agent.toml",
                                      "[agent]\nintervall = \"30s\"\n"
                                      "[[miner]]\nhost = \"10.0.0.7\"\n");
    r = run({kBinary, "agent", "--config", bad, "--check-config"}, 20s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agent.toml:2:1: agent.intervall: unknown key (did you mean 'interval'?)") !=
          std::string::npos);

    const std::string nothing = dir.write("empty.toml", "[agent]\nsite = \"x\"\n");
    r = run({kBinary, "agent", "--config", nothing, "--check-config"}, 20s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nothing to poll") != std::string::npos);
}

TEST_CASE("scan: a /22 holding 1,000 miners is found completely, run after run") {
    TempDir dir;
    // Every family, so that identification of each is complete under load too.
    auto sim = start_fleet(dir, "127.35.4.1",
                           "s19pro:3,s21:2,m30s++:2,s19xp@braiins:1,s19kpro@luxos:1,"
                           "s19jpro@vnish:1,avalon1246:1",
                           1000);
    for (int attempt = 1; attempt <= 2; ++attempt) {
        CAPTURE(attempt);
        const RunResult r = run({kBinary, "scan", "127.35.4.0/22", "--json", "--http-port",
                                 std::to_string(sim.http_port())},
                                60s);
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        const auto found = json::parse(r.out).as_array();
        std::size_t identified = 0;
        for (const auto& f : found) identified += f.at("identified").as_bool() ? 1U : 0U;
        CHECK(found.size() == 1000);
        CHECK(identified == 1000);
        // The time is a benchmark figure (bench/agent_poll.cpp); here it only has to be sane on
        // a loaded machine.
        CHECK(r.err.find("scanned=1022 found=1000 identified=1000") != std::string::npos);
    }
}

TEST_CASE("agent (running): every miner on its interval, a dead one backed off, SIGTERM stops it") {
    TempDir dir;
    auto sim = start_fleet(dir, "127.35.3.1", "s19pro:1,m30s++:1", 3);
    REQUIRE(sim.post("/api/v1/miners/127.35.3.3/faults", R"({"kind":"offline"})") == 200);
    std::string cfg_text =
        "[agent]\ninterval = \"1s\"\njitter = 0.0\npoll_timeout = \"800ms\"\n"
        "connect_timeout = \"500ms\"\nmax_backoff = \"8s\"\n";
    for (int i = 1; i <= 3; ++i) {
        cfg_text += "[[miner]]\nhost = \"127.35.3." + std::to_string(i) +
                    "\"\nhttp_port = " + std::to_string(sim.http_port()) + "\n";
    }
    const std::string cfg = dir.write("agent.toml", cfg_text);
    Child agent({kBinary, "agent", "--config", cfg, "--output", "json"}, dir.path() + "/agent");
    auto count = [&](const std::string& host, bool up) {
        std::size_t n = 0;
        std::istringstream lines(agent.stdout_text());
        std::string line;
        while (std::getline(lines, line)) {
            if (line.empty() || line.back() != '}') continue;  // a line still being written
            const auto o = json::parse(line).as_object();
            if (str(o, "host") == host && o.at("up").as_bool() == up) ++n;
        }
        return n;
    };
    // Healthy miners every second: six polls each within a generous deadline.
    REQUIRE(
        wait_until([&] { return count("127.35.3.1", true) >= 6 && count("127.35.3.2", true) >= 6; },
                   30s, 100ms));
    // The dead one keeps being polled (refused each time), but backed off: 1, 2, 4 s apart.
    const std::size_t dead = count("127.35.3.3", false);
    CHECK(dead >= 2);
    CHECK(dead < count("127.35.3.1", true));
    CHECK(count("127.35.3.3", true) == 0);
    CHECK(agent.stop(SIGTERM, 10s) == 0);
    CHECK(agent.stderr_text().find("stopping") != std::string::npos);
}
