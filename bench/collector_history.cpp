// Collector history queries on a month of data. Builds (or reuses) a database as a collector
// holds it after --days of ingest from --miners with the default retention: raw samples for
// the last 14 days, 5 min and 1 h rollups for all of it. The days are ingested oldest first,
// one miner-day per batch through Store::ingest, and after each day Store::run_rollups and
// Store::apply_retention run at that day's end, as the collector's writer runs them.
// Then GET /api/v1/miners/{id}/samples through a real ApiServer on loopback, for random miners
// and days: one day at the default step (5 min rollups), one day with step=raw inside the raw
// horizon, and the whole range (1 h rollups).
//
//   build/release/bench/bench_collector_history --db build/release/history.db --interval 120
//   build/release/bench/bench_collector_history --db build/release/history.db --reuse
#include "bench/bench_util.hpp"
#include "bench/collector_fleet.hpp"
#include "collector/api/server.hpp"
#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace hashwatt;
using namespace hashwatt::bench;
using std::chrono::milliseconds;

namespace {

const std::string kReadToken = "bench-read-token-0123456789";
constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t ms_of(TimePoint t) { return t.time_since_epoch().count(); }

struct Layout {
    std::size_t miners = 0;
    int days = 0;
    int interval_s = 0;
    std::int64_t end_ms = 0;  // the end of the last day (a UTC midnight)
    std::int64_t start_ms() const { return end_ms - days * kDayMs; }
};

void generate(collector::Store& store, const Layout& l) {
    Fleet fleet(l.miners, 7);
    const std::int64_t per_day = kDayMs / (l.interval_s * 1000LL);
    const auto t_begin = std::chrono::steady_clock::now();
    std::size_t total = 0;
    for (int d = 0; d < l.days; ++d) {
        const std::int64_t day_ms = l.start_ms() + d * kDayMs;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t m = 0; m < l.miners; ++m) {
            collector::IngestBatch b;
            b.agent_id = "bench-agent-" + std::to_string(m / 500);
            b.site = "site-" + std::to_string(m / 500);
            b.batch_seq = static_cast<std::int64_t>(d) * static_cast<std::int64_t>(l.miners) +
                          static_cast<std::int64_t>(m);
            b.samples.reserve(static_cast<std::size_t>(per_day));
            // Each miner polled at its own offset in the interval, as a poller spreads them.
            const std::int64_t offset =
                static_cast<std::int64_t>(m) * 7919 % (l.interval_s * 1000LL);
            for (std::int64_t k = 0; k < per_day; ++k) {
                b.samples.push_back(fleet.sample(
                    m, TimePoint{milliseconds{day_ms + k * l.interval_s * 1000LL + offset}}));
            }
            const auto r = store.ingest(b, TimePoint{milliseconds{day_ms + kDayMs}});
            if (r.stored != b.samples.size()) throw std::runtime_error("ingest stored too few");
            total += r.stored;
        }
        const auto t1 = std::chrono::steady_clock::now();
        const TimePoint now{milliseconds{day_ms + kDayMs}};
        const auto roll = store.run_rollups(now);
        const auto t2 = std::chrono::steady_clock::now();
        const auto ret = store.apply_retention(now);
        const auto t3 = std::chrono::steady_clock::now();
        using S = std::chrono::duration<double>;
        std::fprintf(
            stderr,
            "day %2d/%d: %zu samples in %.1f s (%.0f/s); rollups %lld+%lld buckets in "
            "%.1f s; retention -%lld samples in %.1f s; %.0f s so far (load %.2f)\n",
            d + 1, l.days, l.miners * static_cast<std::size_t>(per_day), S(t1 - t0).count(),
            static_cast<double>(l.miners) * static_cast<double>(per_day) / S(t1 - t0).count(),
            static_cast<long long>(roll.buckets_5m), static_cast<long long>(roll.buckets_1h),
            S(t2 - t1).count(), static_cast<long long>(ret.samples_deleted), S(t3 - t2).count(),
            S(t3 - t_begin).count(), load1());
    }
    std::fprintf(stderr, "generated %zu samples\n", total);
}

// What an existing file holds: the range from the 1 h rollups, the interval from one
// miner's last day.
Layout layout_of(const std::string& path) {
    collector::sqlite::Database db(path);
    collector::configure_connection(db);
    Layout l;
    l.miners = static_cast<std::size_t>(db.query_int("SELECT count(*) FROM miners"));
    const auto first = db.query_int("SELECT min(bucket_start_ms) FROM rollups_1h");
    const auto last = db.query_int("SELECT max(bucket_start_ms) FROM rollups_1h");
    l.end_ms = (last + 3'600'000) / kDayMs * kDayMs;
    l.days = static_cast<int>((l.end_ms - first / kDayMs * kDayMs) / kDayMs);
    auto s = db.prepare(
        "SELECT count(*) FROM samples WHERE miner_id = (SELECT min(miner_id) FROM miners) "
        "AND observed_at_ms >= ?1 AND observed_at_ms < ?2");
    s.bind(1, l.end_ms - kDayMs).bind(2, l.end_ms);
    s.step();
    const auto n = s.column_int(0);
    if (l.miners == 0 || l.days <= 0 || n <= 0) {
        throw std::runtime_error(path +
                                 ": not a database this benchmark built (no miners, "
                                 "rollups or last-day samples)");
    }
    l.interval_s = static_cast<int>(86400 / n);
    return l;
}

struct Counts {
    std::int64_t samples = 0, rollups_5m = 0, rollups_1h = 0, file_bytes = 0;
};

Counts counts_of(const std::string& path) {
    collector::sqlite::Database db(path);
    collector::configure_connection(db);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    Counts c;
    c.samples = db.query_int("SELECT count(*) FROM samples");
    c.rollups_5m = db.query_int("SELECT count(*) FROM rollups_5m");
    c.rollups_1h = db.query_int("SELECT count(*) FROM rollups_1h");
    c.file_bytes = static_cast<std::int64_t>(fs::file_size(path));
    return c;
}

void print_plan(collector::sqlite::Database& db, const std::string& what, const std::string& sql) {
    auto s = db.prepare("EXPLAIN QUERY PLAN " + sql);
    std::string plan;
    while (s.step()) plan += (plan.empty() ? "" : "; ") + s.column_text(3);
    std::printf("plan, %s: %s\n", what.c_str(), plan.c_str());
}

// One keep-alive connection; every read has a deadline (SO_RCVTIMEO) and a size bound.
class Client {
  public:
    explicit Client(std::uint16_t port) : socket_(io_) {
        socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
        timeval tv{};
        tv.tv_sec = 30;
        ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    struct Answer {
        unsigned status = 0;
        std::string body;
        double ms = 0;
    };

    Answer get(const std::string& target) {
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::authorization, "Bearer " + kReadToken);
        req.keep_alive(true);
        const auto t0 = std::chrono::steady_clock::now();
        http::write(socket_, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(256 * 1024 * 1024);
        http::read(socket_, buffer_, parser);
        Answer a;
        a.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                   .count();
        a.status = parser.get().result_int();
        a.body = std::move(parser.get().body());
        return a;
    }

  private:
    asio::io_context io_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;
};

struct Kind {
    std::string name;
    std::vector<double> ms;
    std::size_t bytes = 0;
    std::size_t items = 0;
};

// Times `queries` requests for random miners; `range` gives [from, to) for a random draw.
template <typename Range>
Kind run_kind(Client& client, const Fleet& fleet, std::mt19937_64& rng, int queries,
              const std::string& name, const std::string& step, std::size_t expect_items,
              Range range) {
    Kind k;
    k.name = name;
    std::uniform_int_distribution<std::size_t> pick(0, fleet.size() - 1);
    for (int i = 0; i < queries; ++i) {
        const auto [from, to] = range(rng);
        std::string target = "/api/v1/miners/" + fleet.miner_id(pick(rng)) +
                             "/samples?from=" + std::to_string(from) + "&to=" + std::to_string(to);
        if (!step.empty()) target += "&step=" + step;
        auto a = client.get(target);
        if (a.status != 200) {
            throw std::runtime_error(target + ": HTTP " + std::to_string(a.status) + " " + a.body);
        }
        const auto v = boost::json::parse(a.body);
        const auto& arr = v.as_object().contains("points") ? v.at("points").as_array()
                                                           : v.at("samples").as_array();
        if (arr.size() != expect_items) {
            throw std::runtime_error(target + ": " + std::to_string(arr.size()) +
                                     " items, expected " + std::to_string(expect_items));
        }
        k.ms.push_back(a.ms);
        k.bytes = a.body.size();
        k.items = arr.size();
    }
    return k;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Collector history queries on a month of data"};
    std::string db_path;
    bool reuse = false, keep = false;
    std::size_t miners = 1000;
    int days = 30, interval_s = 30, queries = 200, cpu = -1;
    std::uint64_t seed = 1;
    app.add_option("--db", db_path, "SQLite file to build (or reuse); default: a temp file");
    app.add_flag("--reuse", reuse, "Use the database at --db as it is (no generation)");
    app.add_flag("--keep", keep, "Keep the default temp database");
    app.add_option("--miners", miners, "Miners in the fleet");
    app.add_option("--days", days, "Days of history (raw retention is the default 14 days)");
    app.add_option("--interval", interval_s, "Seconds between polls of a miner")
        ->check(CLI::Range(1, 3600));
    app.add_option("--queries", queries, "Requests per kind of query");
    app.add_option("--seed", seed, "Seed of the random miners and days");
    app.add_option("--cpu", cpu, "Pin the process (every thread) to this CPU");
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("collector_history", argc, argv);
    if (reuse && db_path.empty()) {
        std::fprintf(stderr, "--reuse needs --db PATH\n");
        return 2;
    }
    if (miners == 0 || days < 15 || queries < 1 || 86400 % interval_s != 0) {
        std::fprintf(stderr,
                     "--miners and --queries must be > 0, --days >= 15 (past the raw horizon), "
                     "--interval must divide a day\n");
        return 2;
    }
    if (cpu >= 0) pin_self(cpu);
    log::set_level(log::Level::warn);
    bool own_file = false;
    if (db_path.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "hashwatt-bench-history-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        db_path = tmpl + "/history.db";
        own_file = true;
    }

    int rc = 0;
    try {
        Layout layout;
        double gen_s = 0;
        if (reuse) {
            if (!fs::exists(db_path)) throw std::runtime_error(db_path + ": no such file");
            layout = layout_of(db_path);
        } else {
            for (const auto& suffix : {"", "-wal", "-shm"}) fs::remove(db_path + suffix);
            layout.miners = miners;
            layout.days = days;
            layout.interval_s = interval_s;
            layout.end_ms = ms_of(now_ms()) / kDayMs * kDayMs;
            collector::Store store(db_path);
            const auto t0 = std::chrono::steady_clock::now();
            generate(store, layout);
            gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        const Counts counts = counts_of(db_path);
        const std::int64_t per_day = 86400 / layout.interval_s;
        const std::int64_t raw_days = 14;

        // The server reads with its Store; the writer has nothing to do (no maintenance, so
        // that retention at the real clock does not move the horizon during the run).
        asio::io_context io;
        collector::Store store(db_path);
        collector::StoreWriterOptions wo;
        wo.maintenance_interval = std::nullopt;
        collector::StoreWriter writer(store, wo);
        collector::ApiOptions ao;
        ao.tokens = {{kReadToken, collector::Role::read, ""}};
        collector::ApiServer server(io, store, writer, ao);
        server.start();
        std::thread io_thread([&] { io.run(); });
        std::vector<Kind> kinds;
        try {
            Client client(server.port());
            Fleet fleet(layout.miners, 7);
            std::mt19937_64 rng(seed);
            const std::int64_t start = layout.start_ms(), end = layout.end_ms;
            std::uniform_int_distribution<int> any_day(0, layout.days - 1);
            std::uniform_int_distribution<int> raw_day(layout.days - static_cast<int>(raw_days),
                                                       layout.days - 1);
            using R = std::pair<std::int64_t, std::int64_t>;
            kinds.push_back(run_kind(client, fleet, rng, queries, "one day, default step (5m)", "",
                                     288, [&](std::mt19937_64& g) {
                                         const auto f = start + any_day(g) * kDayMs;
                                         return R{f, f + kDayMs};
                                     }));
            kinds.push_back(run_kind(client, fleet, rng, queries, "one day, step=raw", "raw",
                                     static_cast<std::size_t>(per_day), [&](std::mt19937_64& g) {
                                         const auto f = start + raw_day(g) * kDayMs;
                                         return R{f, f + kDayMs};
                                     }));
            kinds.push_back(run_kind(client, fleet, rng, queries,
                                     std::to_string(layout.days) + " days, default step (1h)", "",
                                     static_cast<std::size_t>(layout.days) * 24,
                                     [&](std::mt19937_64&) {
                                         return R{start, end};
                                     }));
        } catch (...) {
            writer.shutdown();
            asio::post(io, [&] {
                server.stop();
                io.stop();
            });
            io_thread.join();
            throw;
        }
        writer.shutdown();
        asio::post(io, [&] {
            server.stop();
            io.stop();
        });
        io_thread.join();

        collector::sqlite::Database db(db_path);
        collector::configure_connection(db);
        const std::string id = "'" + Fleet(1, 7).miner_id(0) + "'";
        const std::string day = std::to_string(layout.end_ms - kDayMs);
        const std::string end = std::to_string(layout.end_ms);

        std::printf("machine: %s\n", machine_description().c_str());
        std::printf("load average (1 min) at the end: %.2f\n", load1());
        std::printf(
            "database: %s, %zu miners, %d days ending %s, one poll every %d s, "
            "default retention (raw 14 days)%s\n",
            db_path.c_str(), layout.miners, layout.days,
            format_time(TimePoint{milliseconds{layout.end_ms}}).c_str(), layout.interval_s,
            reuse ? ", reused" : "");
        if (!reuse) {
            std::printf(
                "generation: %.0f s for %lld samples ingested (%.0f samples/s, rollups "
                "and retention included)\n",
                gen_s,
                static_cast<long long>(per_day) * layout.days *
                    static_cast<long long>(layout.miners),
                static_cast<double>(per_day) * layout.days * static_cast<double>(layout.miners) /
                    gen_s);
        }
        std::printf(
            "rows: samples %lld (expected %lld), rollups_5m %lld (expected %lld), "
            "rollups_1h %lld (expected %lld)\n",
            static_cast<long long>(counts.samples),
            static_cast<long long>(raw_days * per_day * static_cast<std::int64_t>(layout.miners)),
            static_cast<long long>(counts.rollups_5m),
            static_cast<long long>(layout.days * 288LL * static_cast<std::int64_t>(layout.miners)),
            static_cast<long long>(counts.rollups_1h),
            static_cast<long long>(layout.days * 24LL * static_cast<std::int64_t>(layout.miners)));
        std::printf("database file: %.2f GB (%lld bytes), page size %lld\n",
                    static_cast<double>(counts.file_bytes) / 1e9,
                    static_cast<long long>(counts.file_bytes),
                    static_cast<long long>(db.query_int("PRAGMA page_size")));
        print_plan(db, "5m rollups of a day",
                   "SELECT * FROM rollups_5m WHERE miner_id = " + id + " AND bucket_start_ms >= " +
                       day + " AND bucket_start_ms < " + end + " ORDER BY bucket_start_ms");
        // The form Store::samples uses (collector/storage/store_impl.hpp): slot by slot.
        print_plan(db, "raw samples of a day",
                   "WITH RECURSIVE slot(k) AS (SELECT " + day +
                       " / 300000 UNION ALL SELECT k + 1 FROM slot WHERE k < (" + end +
                       " - 1) / 300000) SELECT s.sample_json FROM slot JOIN samples s INDEXED BY "
                       "samples_slot_miner_time ON s.observed_at_ms / 300000 = slot.k AND "
                       "s.miner_id = " +
                       id + " WHERE s.observed_at_ms >= " + day + " AND s.observed_at_ms < " + end +
                       " ORDER BY s.observed_at_ms");
        std::printf(
            "%d queries of each kind over one keep-alive connection, random miners and "
            "days (seed %llu)\n",
            queries, static_cast<unsigned long long>(seed));
        std::printf("%-34s %8s %9s %9s %9s %9s %10s\n", "query", "items", "median", "p95", "max",
                    "first", "bytes");
        for (const auto& k : kinds) {
            std::printf("%-34s %8zu %6.2f ms %6.2f ms %6.2f ms %6.2f ms %10zu\n", k.name.c_str(),
                        k.items, median(k.ms), percentile(k.ms, 0.95),
                        *std::max_element(k.ms.begin(), k.ms.end()), k.ms.front(), k.bytes);
        }
        std::printf(
            "{\"bench\":\"collector_history\",\"day_5m_median_ms\":%.2f,"
            "\"day_5m_p95_ms\":%.2f,\"day_raw_median_ms\":%.2f,\"range_1h_median_ms\":"
            "%.2f,\"db_bytes\":%lld}\n",
            median(kinds[0].ms), percentile(kinds[0].ms, 0.95), median(kinds[1].ms),
            median(kinds[2].ms), static_cast<long long>(counts.file_bytes));
        out.inputs = {
            {"miners", layout.miners}, {"days", layout.days}, {"interval_s", layout.interval_s},
            {"queries", queries},      {"seed", seed},        {"reused", reuse}};
        const char* slugs[] = {"day_5m", "day_raw", "range_1h"};
        for (std::size_t i = 0; i < kinds.size() && i < 3; ++i) {
            const auto& k = kinds[i];
            const int n = static_cast<int>(k.ms.size());
            const std::string of = "queries: " + k.name + ", " + std::to_string(k.items) + " items";
            out.add(std::string(slugs[i]) + "_query", median(k.ms), "ms", n, "median", of);
            out.add(std::string(slugs[i]) + "_query_p95", percentile(k.ms, 0.95), "ms", n, "p95",
                    of);
            out.add(std::string(slugs[i]) + "_response", static_cast<double>(k.bytes), "bytes", 1,
                    "single", of);
        }
        if (!reuse && gen_s > 0)
            out.add("generation_rate",
                    static_cast<double>(per_day) * layout.days *
                        static_cast<double>(layout.miners) / gen_s,
                    "samples/s", 1, "single",
                    "building the database (rollups, retention included)");
        out.add("db_file", static_cast<double>(counts.file_bytes), "bytes", 1, "single",
                "the file");
        write_results_json(json_path, out);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        rc = 1;
    }
    if (own_file && !keep) {
        std::error_code ec;
        fs::remove_all(fs::path(db_path).parent_path(), ec);
    }
    return rc;
}
