// Issue 7, "Done when": a restart of the collector while alerts fire announces no firing twice
// and loses no resolve. All real processes on loopback: `hashwatt sim`, `hashwatt agent` with
// an uplink, and `hashwatt collector` with a fast MinerChipTempHigh and an [[alerts.webhook]]
// pointing at a WebhookReceiver run by the test. The collector is SIGKILLed while an alert
// fires, while its fault clears, and while its notification waits for a receiver that is down
// (refusing, then answering 503); each time it restarts on the same database and port.
// Addresses: 127.45.0.0/29 (miners), 127.45.1.1..3 (collector, receiver, sim admin).
#include "collector/alerts/alert.hpp"
#include "collector/alerts/outbox.hpp"
#include "collector/storage/store.hpp"
#include "common/time.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sim_process.hpp"
#include "tests/support/webhook_receiver.hpp"

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace alerts = hashwatt::collector::alerts;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "alert-restart-agent-token";
const std::string kReadToken = "alert-restart-read-token";
const std::string kCollectorIp = "127.45.1.1";
const std::string kHookIp = "127.45.1.2";
const std::string kRule = "MinerChipTempHigh";

// A port on `ip` that was free a moment ago, so the collector can come back on the same one.
unsigned free_port(const std::string& ip) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address(ip), 0});
    return a.local_endpoint().port();
}

// One webhook request as the receiver saw it.
struct Notice {
    std::int64_t id = 0;
    std::string status;  // firing, resolved
    std::string fingerprint;
    std::int64_t attempt = 0;
    unsigned answered = 0;
    bool accepted() const { return answered / 100 == 2; }
};

// Every request the receivers got (the one before a restart of theirs, and the current one).
struct Hooks {
    std::unique_ptr<test::WebhookReceiver> rx;
    std::vector<test::ReceivedRequest> earlier;
    std::uint16_t port = 0;

    Hooks() : rx(std::make_unique<test::WebhookReceiver>(0, kHookIp)), port(rx->port()) {}
    void down() {
        for (auto& r : rx->requests()) earlier.push_back(std::move(r));
        rx.reset();  // its port now refuses connections
    }
    void up() { rx = std::make_unique<test::WebhookReceiver>(port, kHookIp); }

    std::vector<Notice> notices() const {
        auto all = earlier;
        if (rx) {
            for (auto& r : rx->requests()) all.push_back(std::move(r));
        }
        std::vector<Notice> out;
        for (const auto& r : all) {
            INFO("webhook body: ", r.body);
            REQUIRE(r.target == "/hook");
            const auto b = json::parse(r.body).as_object();
            out.push_back({b.at("id").as_int64(), std::string(b.at("status").as_string()),
                           std::string(b.at("alert").at("fingerprint").as_string()),
                           b.at("attempt").as_int64(), r.answered});
        }
        return out;
    }
    // The notifications `fp` got for `status`, by id: delivery is at least once and the id is
    // what a receiver deduplicates on, so a second id would be a second announcement.
    std::set<std::int64_t> ids(const std::string& fp, const std::string& status,
                               bool accepted_only = true) const {
        std::set<std::int64_t> out;
        for (const auto& n : notices()) {
            if (n.fingerprint == fp && n.status == status && (n.accepted() || !accepted_only))
                out.insert(n.id);
        }
        return out;
    }
    std::size_t attempts(std::int64_t id, unsigned answered) const {
        std::size_t k = 0;
        for (const auto& n : notices()) k += n.id == id && n.answered == answered ? 1 : 0;
        return k;
    }
    std::string summary() const {
        std::ostringstream s;
        for (const auto& n : notices()) {
            s << n.id << ":" << n.status << ":" << n.fingerprint << ":#" << n.attempt << "->"
              << n.answered << " ";
        }
        return s.str();
    }
};

struct Api {
    std::string ip;
    unsigned port;

    std::optional<json::value> get(const std::string& path) const {
        const auto r = test::http_request(ip, port, "GET", path, {},
                                          {"Authorization: Bearer " + kReadToken}, 5s);
        if (r.status != 200) return std::nullopt;
        return json::parse(r.body);
    }
    // The alert of `fp` as GET /api/v1/alerts lists it, if the collector answers and holds it.
    std::optional<json::object> alert(const std::string& fp) const {
        const auto v = get("/api/v1/alerts?fingerprint=" + fp);
        if (!v || v->at("alerts").as_array().empty()) return std::nullopt;
        return v->at("alerts").at(0).as_object();
    }
    std::string state(const std::string& fp) const {
        const auto a = alert(fp);
        return a ? std::string(a->at("state").as_string()) : "";
    }
    // The states in its history, oldest first: "pending,firing,resolved".
    std::string history(const std::string& fp) const {
        const auto v = get("/api/v1/alerts/" + fp);
        if (!v) return "?";
        std::string out;
        for (const auto& e : v->at("events").as_array()) {
            if (!out.empty()) out += ",";
            out += std::string(e.at("state").as_string());
        }
        return out;
    }
    // Waits until the engine has evaluated the firing alert `fp` `n` times since `since`: each
    // evaluation that finds its condition still true moves its last_true to that moment.
    bool evaluated(const std::string& fp, TimePoint since, std::size_t n) const {
        std::set<TimePoint> seen;
        return test::wait_until(
            [&] {
                const auto a = alert(fp);
                if (!a || !a->contains("last_true")) return false;
                const auto t = parse_time(a->at("last_true").as_string());
                if (t && *t > since) seen.insert(*t);
                return seen.size() >= n;
            },
            30s, 100ms);
    }
};

std::unique_ptr<test::Child> start_collector(const std::string& cfg, const std::string& log,
                                             const Api& api) {
    auto c = std::make_unique<test::Child>(
        std::vector<std::string>{kBinary, "collector", "--config", cfg}, log);
    const bool ready = test::wait_until(
        [&] {
            return test::http_request(api.ip, api.port, "GET", "/readyz").status == 200 ||
                   !c->running();
        },
        20s, 50ms);
    REQUIRE_MESSAGE(ready, c->stderr_text());
    REQUIRE_MESSAGE(c->running(), c->stderr_text());
    return c;
}

// The notifications still queued for the webhook, read from the database of a stopped
// collector.
std::vector<alerts::OutboxItem> queued(const std::string& db) {
    collector::Store store(db);
    CHECK(store.integrity_check() == "ok");
    return alerts::Outbox(store).due("hook", now_ms() + 24h, 100);
}

}  // namespace

TEST_CASE("alerts: a SIGKILLed collector neither repeats a firing nor loses a resolve") {
    test::TempDir dir;
    // Overheating adds 30 C: chips at 95 C over the 90 C rule, 65 C without it; no daily swing,
    // and the sim's own protection out of the way so the miner keeps hashing hot.
    const auto sim_config = dir.write(
        "sim.toml", "[physics]\nambient_c = 20\nambient_swing_c = 0\nprotect_chip_temp_c = 140\n");
    test::SimProcess sim(kBinary,
                         {"--config", sim_config, "--miners", "3", "--mix", "s19pro:3", "--base-ip",
                          "127.45.0.1", "--http-port", "0", "--admin", "127.45.1.3:0"},
                         dir.path() + "/sim");
    Hooks hooks;
    const Api api{kCollectorIp, free_port(kCollectorIp)};
    const std::string db = dir.path() + "/collector.db";
    dir.write("agent.token", kAgentToken + "\n", 0600);
    // Only chip temperature is made fast; the other rules keep their defaults (minutes), so
    // any other notification in this short test is a fault.
    const std::string collector_cfg = dir.write(
        "collector.toml",
        "[storage]\npath = \"collector.db\"\n"
        "[api]\nlisten = \"" +
            kCollectorIp + ":" + std::to_string(api.port) +
            "\"\n"
            "[[token]]\nrole = \"agent\"\nagent_id = \"restart\"\nsecret_file = \"agent.token\"\n"
            "[[token]]\nrole = \"read\"\nsecret = \"" +
            kReadToken +
            "\"\n"
            "[alerts]\ninterval = \"1s\"\n"
            "[[alerts.rule]]\nname = \"" +
            kRule +
            "\"\nfor = \"1s\"\nkeep_firing_for = \"1s\"\n"
            "[[alerts.webhook]]\nname = \"hook\"\nurl = \"http://" +
            kHookIp + ":" + std::to_string(hooks.port) +
            "/hook\"\ntimeout = \"2s\"\nretry_min = \"100ms\"\nretry_max = \"400ms\"\n");
    std::string miners;
    for (int i = 1; i <= 3; ++i) {
        miners += "[[miner]]\nhost = \"127.45.0." + std::to_string(i) + ":" +
                  std::to_string(sim.rpc_port()) +
                  "\"\nhttp_port = " + std::to_string(sim.http_port()) + "\n";
    }
    const std::string spool = dir.path() + "/spool";
    const std::string agent_cfg = dir.write(
        "agent.toml",
        "[agent]\nid = \"restart\"\nsite = \"lab\"\ninterval = \"1s\"\n"
        "poll_timeout = \"900ms\"\nconnect_timeout = \"500ms\"\nmax_backoff = \"1s\"\n"
        "jitter = 0.0\n" +
            miners + "[uplink]\nurl = \"http://" + kCollectorIp + ":" + std::to_string(api.port) +
            "\"\ntoken_file = \"agent.token\"\nspool_dir = \"spool\"\n"
            "batch_max_samples = 3\nbatch_max_age = \"200ms\"\n"
            "retry_min = \"100ms\"\nretry_max = \"500ms\"\nrequest_timeout = \"3s\"\n"
            "shutdown_timeout = \"5s\"\n");

    int run = 1;
    auto collector = start_collector(collector_cfg, dir.path() + "/c1", api);
    const auto kill_collector = [&] {
        collector->stop(SIGKILL, 0ms);
        collector.reset();
    };
    const auto restart_collector = [&] {
        collector = start_collector(collector_cfg, dir.path() + "/c" + std::to_string(++run), api);
        return now_ms();
    };
    test::Child agent({kBinary, "agent", "--config", agent_cfg}, dir.path() + "/agent");

    // The three miners arrive; their ids give the alerts' fingerprints.
    std::map<std::string, std::string> id_of;  // host -> miner_id
    REQUIRE_MESSAGE(test::wait_until(
                        [&] {
                            const auto v = api.get("/api/v1/miners");
                            if (!v) return false;
                            id_of.clear();
                            for (const auto& m : v->at("miners").as_array()) {
                                id_of[std::string(m.at("host").as_string())] =
                                    std::string(m.at("miner_id").as_string());
                            }
                            return id_of.size() == 3;
                        },
                        30s, 200ms),
                    agent.stderr_text());
    const auto fp_a = alerts::alert_fingerprint(kRule, id_of.at("127.45.0.1"));
    const auto fp_b = alerts::alert_fingerprint(kRule, id_of.at("127.45.0.2"));
    const auto fault = [&](int miner, bool on) {
        const std::string path = "/api/v1/miners/127.45.0." + std::to_string(miner) + "/faults";
        REQUIRE((on ? sim.post(path, R"({"kind":"overheating"})") : sim.del(path)) == 200);
    };

    // 1. Killed while A fires: the restarted collector keeps it firing without a second firing.
    fault(1, true);
    REQUIRE_MESSAGE(
        test::wait_until([&] { return hooks.ids(fp_a, "firing").size() == 1; }, 30s, 50ms),
        hooks.summary());
    CHECK(api.state(fp_a) == "firing");
    kill_collector();
    {
        // Delivered before the kill; its row may outlive it if the kill came between the 200
        // and the delete, and is then sent again with the same id (at least once).
        const auto q = queued(db);
        CHECK(q.size() <= 1);
        for (const auto& item : q) CHECK(hooks.ids(fp_a, "firing").count(item.id) == 1);
    }
    TimePoint restarted = restart_collector();
    CHECK_MESSAGE(api.evaluated(fp_a, restarted, 4), api.alert(fp_a).has_value());
    CHECK(api.state(fp_a) == "firing");
    CHECK(api.history(fp_a) == "pending,firing");
    CHECK_MESSAGE(hooks.ids(fp_a, "firing", false).size() == 1, hooks.summary());

    // 2. Killed, and A's fault cleared while the collector is down (the agent spools two rounds
    // of cool samples): the restart resolves it, announced once.
    kill_collector();
    fault(1, false);
    const auto spooled = test::spooled_samples(spool);
    CHECK(
        test::wait_until([&] { return test::spooled_samples(spool) >= spooled + 6; }, 20s, 100ms));
    restart_collector();
    CHECK_MESSAGE(
        test::wait_until([&] { return hooks.ids(fp_a, "resolved").size() == 1; }, 30s, 50ms),
        hooks.summary());
    CHECK(test::wait_until([&] { return test::spooled_samples(spool) == 0; }, 20s, 100ms));
    CHECK(api.state(fp_a) == "resolved");
    CHECK(api.history(fp_a) == "pending,firing,resolved");
    CHECK_MESSAGE(hooks.ids(fp_a, "resolved", false).size() == 1, hooks.summary());
    CHECK_MESSAGE(hooks.ids(fp_a, "firing", false).size() == 1, hooks.summary());

    // 3a. The receiver is down (refusing) when B fires; the collector is killed with the firing
    // only in its outbox, restarts, evaluates a while, and the receiver comes back on its port:
    // the firing arrives, once.
    hooks.down();
    fault(2, true);
    REQUIRE(test::wait_until([&] { return api.state(fp_b) == "firing"; }, 30s, 50ms));
    kill_collector();
    {
        const auto q = queued(db);
        REQUIRE(q.size() == 1);
        CHECK(q[0].notification.fingerprint == fp_b);
        CHECK(!q[0].notification.resolved);
    }
    restarted = restart_collector();
    CHECK(api.evaluated(fp_b, restarted, 3));
    hooks.up();
    CHECK_MESSAGE(
        test::wait_until([&] { return hooks.ids(fp_b, "firing").size() == 1; }, 20s, 50ms),
        hooks.summary());
    CHECK(api.evaluated(fp_b, now_ms(), 2));  // time for a second firing to show, were it sent
    CHECK_MESSAGE(hooks.ids(fp_b, "firing", false).size() == 1, hooks.summary());

    // 3b. The receiver answers 503 when B resolves; killed after a failed delivery, restarted,
    // still failing a while, then answering 200: the resolve arrives, once.
    hooks.rx->set_status(503);
    fault(2, false);
    REQUIRE(test::wait_until([&] { return api.state(fp_b) == "resolved"; }, 30s, 50ms));
    std::set<std::int64_t> resolve_ids;
    REQUIRE(test::wait_until(
        [&] {
            resolve_ids = hooks.ids(fp_b, "resolved", false);
            return !resolve_ids.empty();
        },
        20s, 50ms));
    REQUIRE(resolve_ids.size() == 1);
    const std::int64_t resolve_id = *resolve_ids.begin();
    kill_collector();
    {
        const auto q = queued(db);
        REQUIRE(q.size() == 1);
        CHECK(q[0].id == resolve_id);
        CHECK(q[0].notification.resolved);
    }
    const auto failed_before = hooks.attempts(resolve_id, 503);
    restart_collector();
    // The restarted collector's notifier takes the row up again (and keeps failing).
    CHECK(test::wait_until([&] { return hooks.attempts(resolve_id, 503) >= failed_before + 2; },
                           20s, 50ms));
    hooks.rx->set_status(200);
    CHECK_MESSAGE(
        test::wait_until([&] { return hooks.ids(fp_b, "resolved").size() == 1; }, 20s, 50ms),
        hooks.summary());
    CHECK(api.history(fp_b) == "pending,firing,resolved");

    // Over the whole run: A and B each fired once and resolved once, in order, and nothing else
    // was announced (by id; a redelivery repeats its id).
    CHECK(agent.stop(SIGTERM, 20s) == 0);
    CHECK(collector->stop(SIGTERM) == 0);
    collector.reset();
    CHECK(queued(db).empty());
    const auto all = hooks.notices();
    INFO(hooks.summary());
    std::map<std::int64_t, Notice> accepted;
    std::int64_t last_id = 0;
    for (const auto& n : all) {
        CHECK((n.fingerprint == fp_a || n.fingerprint == fp_b));
        if (!n.accepted()) continue;
        CHECK(n.id >= last_id);  // in the order they happened (a redelivery repeats its id)
        last_id = n.id;
        accepted[n.id] = n;
    }
    std::vector<std::string> order;
    for (const auto& [id, n] : accepted) {
        order.push_back((n.fingerprint == fp_a ? "A:" : "B:") + n.status);
    }
    CHECK(order == std::vector<std::string>{"A:firing", "A:resolved", "B:firing", "B:resolved"});
    const auto b_firing = hooks.ids(fp_b, "firing");
    REQUIRE(b_firing.size() == 1);
    CHECK(accepted.at(*b_firing.begin()).attempt >= 2);  // refused, before and after the restart
    REQUIRE(accepted.count(resolve_id) == 1);
    CHECK(accepted.at(resolve_id).attempt >= 2);  // failed before the kill and after
    MESSAGE("webhook requests: " << all.size() << ", notifications: " << accepted.size());
}
