// The crash-safety loop: the real collector binary on a real SQLite file is SIGKILLed again and
// again at a random (seeded) moment while two clients post batches the way agents do (a batch
// sequence number each, resent until acknowledged, sometimes resent after it was) and the
// writer runs rollups and retention every second over samples old enough for both to act.
// After each kill the file must pass PRAGMA integrity_check, every acknowledged batch must be
// stored exactly once (an unacknowledged one all or not at all), and every rollup bucket the
// collector calls done must agree with the raw samples it was computed from.
//
// HASHWATT_CRASH_KILLS sets the number of kills (default 10, the smoke form; the soak_crash
// registration runs 50). HASHWATT_CRASH_SEED replays a run: the seed is printed either way.
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::test;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "crash-agent-token-0123456";
const std::string kAgentId = "crash";
constexpr int kMiners = 20;
// Sample times: 900 slots 10 s apart over the last 150 minutes, so that rollups of both levels
// complete and the first 30 minutes fall past the 2 h raw horizon (retention deletes them).
constexpr std::int64_t kSlots = 900;
constexpr std::int64_t kSlotMs = 10'000;
// A batch's samples sit at slot * 10 s + (seq mod 10000) ms: unique for 10,000 batches.
constexpr std::int64_t kMaxBatches = 10'000;
constexpr std::int64_t kRawHorizonMs = 2 * 3600 * 1000;

int env_int(const char* name, int dflt) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : dflt;
}

unsigned free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

struct Batch {
    std::int64_t seq = 0;
    std::int64_t at_ms = 0;  // every sample of the batch is observed at this time
    std::string body;
};

double power_of(std::int64_t seq, int miner) {
    return 3000.0 + static_cast<double>((seq * 31 + miner * 7) % 500);
}

Batch make_batch(std::int64_t seq, std::int64_t base_ms, std::mt19937_64& rng) {
    // Mostly in time order, wrapping around after 900 batches (from then on every sample is
    // late: its buckets were rolled up already); one in eight anywhere in the range.
    const std::int64_t slot =
        seq % 8 == 7 ? static_cast<std::int64_t>(rng() % kSlots) : seq % kSlots;
    Batch b;
    b.seq = seq;
    b.at_ms = base_ms + slot * kSlotMs + seq % kMaxBatches;
    b.body = R"({"agent_id":")" + kAgentId + R"(","site":"crash-lab","batch_seq":)" +
             std::to_string(seq) + R"(,"samples":[)";
    for (int m = 0; m < kMiners; ++m) {
        MinerSample s;
        s.miner_id = "m" + std::to_string(m);
        s.host = "127.0.0.1";
        s.port = static_cast<std::uint16_t>(4028 + m);
        s.model = "S19 Pro";
        s.observed_at = TimePoint{std::chrono::milliseconds{b.at_ms}};
        s.up = (seq + m) % 11 != 0;
        s.state = s.up ? MinerState::mining : MinerState::offline;
        if (s.up) {
            s.hashrate_ths = 100.0 + static_cast<double>((seq + m) % 10);
            s.power_w = power_of(seq, m);
        }
        if (m) b.body += ",";
        b.body += encode_sample(s);
    }
    b.body += "]}";
    return b;
}

// What the clients know: acknowledged batches (2xx), and whether the answer called it a
// duplicate.
struct Ledger {
    std::mutex mutex;
    std::map<std::int64_t, std::int64_t> sent_at_ms;  // every batch ever sent: seq -> time
    std::set<std::int64_t> acked;
    std::deque<Batch> retry;          // not acknowledged yet: resent first, like an agent's spool
    std::vector<Batch> resend_acked;  // acknowledged, resent as if the answer had been lost
    std::int64_t next_seq = 1;
    std::int64_t acks = 0, duplicate_answers = 0, resent_acked = 0;
    std::int64_t bad_duplicate_answers =
        0;  // a first ack that said duplicate, or a resend that did not
};

void client_loop(Ledger& ledger, unsigned port, std::int64_t base_ms, std::uint64_t seed,
                 const std::atomic<bool>& stop) {
    std::mt19937_64 rng(seed);
    const std::vector<std::string> auth{"Authorization: Bearer " + kAgentToken};
    for (int i = 0; i < 1'000'000 && !stop.load(); ++i) {
        Batch b;
        bool resend = false;
        {
            std::lock_guard lock(ledger.mutex);
            if (!ledger.resend_acked.empty() && rng() % 4 == 0) {
                b = std::move(ledger.resend_acked.back());
                ledger.resend_acked.pop_back();
                resend = true;
            } else if (!ledger.retry.empty()) {
                b = std::move(ledger.retry.front());
                ledger.retry.pop_front();
            } else if (ledger.next_seq <= kMaxBatches) {
                b = make_batch(ledger.next_seq++, base_ms, rng);
                ledger.sent_at_ms[b.seq] = b.at_ms;
            }
        }
        if (b.body.empty()) {
            // All 10,000 sent and acknowledged: nothing to do but stay ready for a resend.
            std::this_thread::sleep_for(50ms);
            continue;
        }
        const auto r = http_request("127.0.0.1", port, "POST", "/api/v1/ingest", b.body, auth, 3s);
        std::chrono::milliseconds pause{0};
        {
            std::lock_guard lock(ledger.mutex);
            if (r.status >= 200 && r.status < 300) {
                const bool dup = r.body.find("\"duplicate\":true") != std::string::npos;
                const bool seen = ledger.acked.count(b.seq) != 0;
                // A batch acknowledged before is a duplicate now; one never acknowledged may
                // be either (its commit may have landed just before a kill).
                if (seen && !dup) ++ledger.bad_duplicate_answers;
                ledger.acked.insert(b.seq);
                ++ledger.acks;
                if (dup) ++ledger.duplicate_answers;
                if (resend) ++ledger.resent_acked;
                if (!resend && rng() % 16 == 0) ledger.resend_acked.push_back(std::move(b));
                // A few batches a second per client, as agents post: enough to keep the writer
                // busy at every kill, and 50 kills stay within the 10,000 distinct batches.
                pause = std::chrono::milliseconds(rng() % 20);
            } else {
                ledger.retry.push_back(std::move(b));
                // The collector is down or busy: back off a little, as the agent does.
                pause = r.status == 0 ? 20ms : 50ms;
            }
        }
        std::this_thread::sleep_for(pause);
    }
}

struct Findings {
    std::int64_t lost = 0;        // acknowledged, fully in the raw horizon, not all stored
    std::int64_t duplicates = 0;  // more rows than the batch had
    std::int64_t partial = 0;     // some but not all samples of a batch
    std::int64_t unmarked = 0;    // samples stored without the batch recorded, or the reverse
    std::int64_t rollup_mismatch = 0;
    std::int64_t rollup_missing = 0;
    std::int64_t buckets_checked = 0;
    std::string first_problem;

    void note(std::int64_t& counter, const std::string& what) {
        ++counter;
        if (first_problem.empty()) first_problem = what;
    }
};

// The checks on the file of a stopped collector. `now_ms` is after every retention run that
// can have touched the file, so samples at or after now - raw horizon are all there.
Findings check_file(const std::string& db_path, const std::set<std::int64_t>& acked,
                    const std::map<std::int64_t, std::int64_t>& sent_at_ms, std::int64_t now_ms,
                    std::string& integrity) {
    Findings f;
    collector::Store store(db_path);
    integrity = store.integrity_check();
    std::map<std::int64_t, std::int64_t> rows_at;  // observed_at_ms -> rows
    std::set<std::int64_t> recorded;               // batch_seq in ingest_batches
    struct Agg {
        std::int64_t n = 0, up = 0, powered = 0;
        double power_sum = 0;
    };
    std::map<std::pair<std::string, std::int64_t>, Agg> raw_5m, raw_1h;
    std::map<std::pair<std::string, std::int64_t>, Agg> rolled_5m, rolled_1h;
    std::set<std::pair<std::string, std::int64_t>> dirty_5m, dirty_1h;
    std::int64_t done_5m = 0, done_1h = 0;
    store.with_read([&](collector::sqlite::Database& db) {
        auto q = db.prepare("SELECT observed_at_ms, count(*) FROM samples GROUP BY observed_at_ms");
        while (q.step()) rows_at[q.column_int(0)] = q.column_int(1);
        auto b = db.prepare("SELECT batch_seq FROM ingest_batches WHERE agent_id = ?1");
        b.bind(1, kAgentId);
        while (b.step()) recorded.insert(b.column_int(0));
        auto s = db.prepare("SELECT miner_id, observed_at_ms, up, power_w FROM samples");
        while (s.step()) {
            const std::string miner = s.column_text(0);
            const std::int64_t at = s.column_int(1);
            for (auto [map, step] : {std::pair{&raw_5m, std::int64_t{300'000}},
                                     std::pair{&raw_1h, std::int64_t{3'600'000}}}) {
                Agg& a = (*map)[{miner, at / step * step}];
                ++a.n;
                a.up += s.column_int(2);
                if (const auto p = s.column_opt_double(3)) {
                    ++a.powered;
                    a.power_sum += *p;
                }
            }
        }
        for (auto [table, map] :
             {std::pair{"rollups_5m", &rolled_5m}, std::pair{"rollups_1h", &rolled_1h}}) {
            auto r = db.prepare(std::string("SELECT miner_id, bucket_start_ms, sample_count, "
                                            "up_fraction, power_avg_w FROM ") +
                                table);
            while (r.step()) {
                Agg& a = (*map)[{r.column_text(0), r.column_int(1)}];
                a.n = r.column_int(2);
                a.up = std::llround(r.column_double(3) * static_cast<double>(a.n));
                a.power_sum = r.column_opt_double(4).value_or(-1);
            }
        }
        auto d = db.prepare("SELECT level, miner_id, bucket_start_ms FROM rollup_dirty");
        while (d.step()) {
            (d.column_text(0) == "5m" ? dirty_5m : dirty_1h)
                .insert({d.column_text(1), d.column_int(2)});
        }
        auto p = db.prepare("SELECT level, done_until_ms FROM rollup_progress");
        while (p.step()) (p.column_text(0) == "5m" ? done_5m : done_1h) = p.column_int(1);
    });

    // Batches: all of each or nothing, and exactly once when acknowledged.
    const std::int64_t kept_from = now_ms - kRawHorizonMs;
    for (const auto& [seq, at] : sent_at_ms) {
        const auto it = rows_at.find(at);
        const std::int64_t rows = it == rows_at.end() ? 0 : it->second;
        const std::string what =
            "batch " + std::to_string(seq) + ": " + std::to_string(rows) + " rows";
        if (rows > kMiners) f.note(f.duplicates, what);
        if (rows != 0 && rows != kMiners) f.note(f.partial, what);
        const bool in_horizon = at >= kept_from;
        if (acked.count(seq) && in_horizon && rows != kMiners)
            f.note(f.lost, what + ", acknowledged");
        if (acked.count(seq) && !recorded.count(seq))
            f.note(f.lost, what + ", acknowledged, not recorded");
        if (in_horizon && (rows == kMiners) != (recorded.count(seq) != 0)) {
            f.note(f.unmarked, what + (recorded.count(seq) ? ", recorded" : ", not recorded"));
        }
    }

    // Rollups: a complete bucket the collector has rolled up (before done_until, not waiting
    // in rollup_dirty) equals its raw samples, when retention has not thinned them since.
    const auto compare = [&](const auto& raw, const auto& rolled, const auto& dirty,
                             std::int64_t step, std::int64_t done_until, const char* level) {
        for (const auto& [key, a] : raw) {
            const auto& [miner, start] = key;
            if (start < kept_from || start + step > done_until || dirty.count(key)) continue;
            ++f.buckets_checked;
            const std::string what = std::string(level) + " bucket " + miner + "@" +
                                     format_time(TimePoint{std::chrono::milliseconds{start}});
            const auto it = rolled.find(key);
            if (it == rolled.end()) {
                f.note(f.rollup_missing, what + " missing");
                continue;
            }
            const Agg& r = it->second;
            const double avg = a.powered ? a.power_sum / static_cast<double>(a.powered) : -1;
            if (r.n != a.n || r.up != a.up || std::abs(r.power_sum - avg) > 1e-6) {
                f.note(f.rollup_mismatch, what + ": rollup count " + std::to_string(r.n) + " raw " +
                                              std::to_string(a.n));
            }
        }
    };
    compare(raw_5m, rolled_5m, dirty_5m, 300'000, done_5m, "5m");
    compare(raw_1h, rolled_1h, dirty_1h, 3'600'000, done_1h, "1h");
    return f;
}

std::unique_ptr<Child> start_collector(const std::string& cfg, const std::string& log) {
    return std::make_unique<Child>(std::vector<std::string>{kBinary, "collector", "--config", cfg},
                                   log);
}

}  // namespace

TEST_CASE("collector SIGKILLed during ingest and rollups loses and duplicates nothing") {
    const int kills = std::max(1, env_int("HASHWATT_CRASH_KILLS", 10));
    const auto seed = static_cast<std::uint64_t>(
        env_int("HASHWATT_CRASH_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
    MESSAGE("crash loop seed " << seed << " (HASHWATT_CRASH_SEED=" << seed << " replays it), "
                               << kills << " kills");
    std::mt19937_64 rng(seed);

    TempDir dir;
    const unsigned port = free_port();
    const std::string cfg =
        dir.write("collector.toml",
                  "[storage]\npath = \"collector.db\"\nmaintenance_interval = \"1s\"\n"
                  "[retention]\nraw = \"2h\"\n"
                  "[api]\nlisten = \"127.0.0.1:" +
                      std::to_string(port) +
                      "\"\n"
                      "[[token]]\nrole = \"agent\"\nagent_id = \"" +
                      kAgentId + "\"\nsecret = \"" + kAgentToken + "\"\n");
    const std::string db_path = dir.path() + "/collector.db";
    const std::int64_t base_ms = now_ms().time_since_epoch().count() - kSlots * kSlotMs;

    Ledger ledger;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    struct Joiner {  // the clients stop and are joined whatever way the test case ends
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~Joiner() {
            stop = true;
            for (auto& t : threads) t.join();
        }
    } joiner{stop, clients};
    for (std::uint64_t c = 0; c < 2; ++c) {
        clients.emplace_back(client_loop, std::ref(ledger), port, base_ms, seed + 1 + c,
                             std::cref(stop));
    }

    const auto ready = [&] {
        return http_request("127.0.0.1", port, "GET", "/readyz", {}, {}, 1s).status == 200;
    };
    int survived = 0;
    Findings total;
    for (int kill = 1; kill <= kills; ++kill) {
        CAPTURE(kill);
        auto collector = start_collector(cfg, dir.path() + "/c" + std::to_string(kill));
        REQUIRE_MESSAGE(wait_until(ready, 30s), collector->stderr_text());
        std::int64_t acks_before = 0;
        {
            std::lock_guard lock(ledger.mutex);
            acks_before = ledger.acks;
        }
        // Let some batches in (the clients resend the backlog first), then kill at a random
        // moment up to 1.5 s later: maintenance runs every second, so kills land in ingest,
        // in rollups, in retention and between them.
        wait_until(
            [&] {
                std::lock_guard lock(ledger.mutex);
                return ledger.acks > acks_before + 5;
            },
            10s);
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
        collector->stop(SIGKILL, 0ms);
        collector.reset();

        std::set<std::int64_t> acked;
        std::map<std::int64_t, std::int64_t> sent;
        {
            std::lock_guard lock(ledger.mutex);
            acked = ledger.acked;
            sent = ledger.sent_at_ms;
        }
        std::string integrity;
        const Findings f =
            check_file(db_path, acked, sent, now_ms().time_since_epoch().count(), integrity);
        CHECK(integrity == "ok");
        CHECK_MESSAGE(f.first_problem.empty(), f.first_problem);
        total.lost += f.lost;
        total.duplicates += f.duplicates;
        total.partial += f.partial;
        total.unmarked += f.unmarked;
        total.rollup_mismatch += f.rollup_mismatch;
        total.rollup_missing += f.rollup_missing;
        total.buckets_checked += f.buckets_checked;
        if (integrity == "ok" && f.first_problem.empty()) ++survived;
    }

    // Last: a collector that runs until the clients' backlog is delivered, then stops cleanly.
    auto collector = start_collector(cfg, dir.path() + "/final");
    REQUIRE_MESSAGE(wait_until(ready, 30s), collector->stderr_text());
    CHECK(wait_until(
        [&] {
            std::lock_guard lock(ledger.mutex);
            return ledger.retry.empty();
        },
        30s, 50ms));
    stop = true;
    for (auto& t : clients) t.join();
    clients.clear();
    CHECK(collector->stop(SIGTERM, 30s) == 0);
    collector.reset();
    std::string integrity;
    const Findings f = check_file(db_path, ledger.acked, ledger.sent_at_ms,
                                  now_ms().time_since_epoch().count(), integrity);
    CHECK(integrity == "ok");
    CHECK_MESSAGE(f.first_problem.empty(), f.first_problem);
    CHECK(ledger.bad_duplicate_answers == 0);
    CHECK(ledger.acks > kills * 5);

    MESSAGE("kills survived "
            << survived << "/" << kills << ", batches sent " << ledger.sent_at_ms.size()
            << ", acked " << ledger.acked.size() << " (" << ledger.acks << " acks, "
            << ledger.duplicate_answers << " answered duplicate, " << ledger.resent_acked
            << " resent after an ack), duplicates " << total.duplicates + f.duplicates << ", lost "
            << total.lost + f.lost << ", partial " << total.partial + f.partial
            << ", rollup buckets checked " << total.buckets_checked + f.buckets_checked
            << " (mismatched " << total.rollup_mismatch + f.rollup_mismatch << ", missing "
            << total.rollup_missing + f.rollup_missing << "), integrity_check " << integrity);
    CHECK(survived == kills);
}
