// Collector ingest throughput: synthetic agent batches (bench/collector_fleet.hpp) into a SQLite
// file on disk, in two modes.
//   store: Store::ingest called directly (validation + one transaction per batch).
//   http:  POST /api/v1/ingest to a real ApiServer on loopback with a StoreWriter behind it, from
//          keep-alive connections with several batches in flight: JSON decode, validation and the
//          SQLite commit, answered only once the batch is durable; the writer's maintenance
//          (rollups and retention) runs in between, as in the collector.
// Each mode gets its own fresh file; rounds of --seconds each, medians printed.
//
//   taskset -c 0 build/release/bench/bench_collector_ingest --miners 1000 --batch 500
//       --seconds 10 --rounds 5
#include "bench/bench_util.hpp"
#include "bench/collector_fleet.hpp"
#include "collector/api/server.hpp"
#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <time.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
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
using Seconds = std::chrono::duration<double>;

namespace {

const std::string kAgentId = "bench-agent";
const std::string kAgentToken = "bench-agent-token-0123456789";

double process_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Batch j holds miners [part * B, part * B + B) at tick j / parts: an agent's round of the
// whole fleet, split into batches, one round every `interval`. Sequence numbers and
// (miner, time) pairs never repeat, so every sample is a new row.
class Source {
  public:
    Source(std::size_t miners, std::size_t batch, std::chrono::seconds interval)
        : fleet_(miners, 42)
        , batch_(batch)
        , parts_((miners + batch - 1) / batch)
        , interval_(interval)
        , base_(std::chrono::time_point_cast<std::chrono::milliseconds>(now_ms() -
                                                                        std::chrono::days{1})) {}

    collector::IngestBatch next() {
        const std::int64_t j = next_++;
        const auto tick = static_cast<std::size_t>(j) / parts_;
        clock_ms_.store(
            (base_ + interval_ * static_cast<std::int64_t>(tick)).time_since_epoch().count(),
            std::memory_order_relaxed);
        const auto part = static_cast<std::size_t>(j) % parts_;
        collector::IngestBatch b;
        b.agent_id = kAgentId;
        b.site = "site-0";
        b.batch_seq = j;
        const TimePoint at = base_ + interval_ * static_cast<std::int64_t>(tick);
        const std::size_t end = std::min(fleet_.size(), (part + 1) * batch_);
        b.samples.reserve(end - part * batch_);
        for (std::size_t m = part * batch_; m < end; ++m) {
            // Polls of one round are spread over it, as the agent's are.
            const auto offset = std::chrono::milliseconds(static_cast<std::int64_t>(m % 1000) * 7);
            b.samples.push_back(fleet_.sample(m, at + offset));
        }
        return b;
    }

    // The batches' own clock, for the writer's maintenance (any thread): two ticks behind the
    // newest batch made, as the collector's wall clock is a little ahead of the samples in
    // flight. (Up to 4 batches of 500 are in flight, two ticks of 1,000 miners; a sample
    // arriving after its bucket was rolled up is late and recomputed, which is rare in a real
    // farm and would be the rule here without the lag.)
    TimePoint clock() const {
        return TimePoint{std::chrono::milliseconds{clock_ms_.load()}} - 2 * interval_;
    }

    // After the last sample made so far.
    TimePoint end() const {
        return base_ + interval_ * (next_ / static_cast<std::int64_t>(parts_) + 1);
    }

  private:
    Fleet fleet_;
    std::size_t batch_;
    std::size_t parts_;
    std::chrono::seconds interval_;
    TimePoint base_;
    std::int64_t next_ = 0;
    std::atomic<std::int64_t> clock_ms_{base_.time_since_epoch().count()};
};

std::string encode_batch(const collector::IngestBatch& b) {
    std::string out;
    out.reserve(b.samples.size() * 1600 + 128);
    JsonWriter w(out);
    w.begin_object();
    w.field("agent_id", b.agent_id);
    w.field("site", b.site);
    w.field("batch_seq", b.batch_seq);
    w.key("samples");
    w.begin_array();
    for (const auto& s : b.samples) write_json(w, s);
    w.end_array();
    w.end_object();
    return out;
}

struct RoundFigures {
    double samples_per_s = 0;        // stored samples / wall time of the round
    double samples_per_cpu_s = 0;    // stored samples / collector CPU time (store or server side)
    double client_cpu_share = 0;     // http: the load generator's part of the process CPU
    std::vector<double> latency_ms;  // http: per batch, first byte sent to answer read
    std::size_t stored = 0;
};

// Mode store: Store::ingest in this thread. Making the batches is not timed.
RoundFigures store_round(collector::Store& store, Source& source, double seconds) {
    RoundFigures r;
    double in_ingest = 0, in_ingest_cpu = 0;
    const auto t_end =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(seconds));
    while (std::chrono::steady_clock::now() < t_end) {
        auto batch = source.next();
        const double c0 = thread_cpu_s();
        const auto t0 = std::chrono::steady_clock::now();
        // Received at the batches' own clock, which runs ahead of the wall clock: by the wall
        // clock, a long round would reach samples more than 5 min in the future, refused.
        const auto res = store.ingest(batch, source.clock());
        in_ingest += Seconds(std::chrono::steady_clock::now() - t0).count();
        in_ingest_cpu += thread_cpu_s() - c0;
        if (res.stored != batch.samples.size()) {
            throw std::runtime_error("store mode: batch " + std::to_string(batch.batch_seq) +
                                     " stored " + std::to_string(res.stored) + " of " +
                                     std::to_string(batch.samples.size()));
        }
        r.stored += res.stored;
    }
    r.samples_per_s = static_cast<double>(r.stored) / in_ingest;
    r.samples_per_cpu_s = static_cast<double>(r.stored) / in_ingest_cpu;
    return r;
}

// The load generator: `connections` keep-alive connections on its own io_context and thread,
// each posting one batch after another until the round's end.
struct Client {
    std::uint16_t port;
    Source& source;
    std::chrono::steady_clock::time_point t_end;
    RoundFigures& figures;
    std::string error;

    asio::awaitable<void> connection(asio::io_context& io) {
        try {
            beast::tcp_stream stream(io);
            stream.expires_after(std::chrono::seconds(10));
            co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                          asio::use_awaitable);
            beast::flat_buffer buffer;
            while (std::chrono::steady_clock::now() < t_end && error.empty()) {
                auto batch = source.next();
                const std::size_t n = batch.samples.size();
                http::request<http::string_body> req{http::verb::post, "/api/v1/ingest", 11};
                req.set(http::field::host, "127.0.0.1");
                req.set(http::field::content_type, "application/json");
                req.set(http::field::authorization, "Bearer " + kAgentToken);
                req.keep_alive(true);
                req.body() = encode_batch(batch);
                req.prepare_payload();
                const auto t0 = std::chrono::steady_clock::now();
                stream.expires_after(std::chrono::seconds(30));
                co_await http::async_write(stream, req, asio::use_awaitable);
                http::response_parser<http::string_body> parser;
                parser.body_limit(64 * 1024);
                co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
                figures.latency_ms.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count());
                const auto& res = parser.get();
                if (res.result_int() != 200) {
                    error = "HTTP " + std::to_string(res.result_int()) + ": " + res.body();
                    break;
                }
                const auto v = boost::json::parse(res.body());
                const auto stored = v.at("stored").to_number<std::uint64_t>();
                if (stored != n) {
                    error = "batch " + std::to_string(batch.batch_seq) + " stored " +
                            std::to_string(stored) + " of " + std::to_string(n);
                    break;
                }
                figures.stored += n;
            }
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        } catch (const std::exception& e) {
            if (error.empty()) error = std::string("client: ") + e.what();
        }
    }
};

RoundFigures http_round(std::uint16_t port, Source& source, double seconds, int connections,
                        int client_cpu) {
    RoundFigures r;
    double client_cpu_s = 0;
    const double p0 = process_cpu_s();
    const auto t0 = std::chrono::steady_clock::now();
    Client client{
        port,
        source,
        t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(seconds)),
        r,
        {}};
    std::thread t([&] {
        if (client_cpu >= 0) pin_self(client_cpu);
        const double c0 = thread_cpu_s();
        asio::io_context io;
        for (int i = 0; i < connections; ++i) {
            asio::co_spawn(io, client.connection(io), asio::detached);
        }
        io.run();
        client_cpu_s = thread_cpu_s() - c0;
    });
    t.join();
    const double wall = Seconds(std::chrono::steady_clock::now() - t0).count();
    const double cpu = process_cpu_s() - p0;
    if (!client.error.empty()) throw std::runtime_error(client.error);
    r.samples_per_s = static_cast<double>(r.stored) / wall;
    r.samples_per_cpu_s = static_cast<double>(r.stored) / std::max(1e-9, cpu - client_cpu_s);
    r.client_cpu_share = client_cpu_s / std::max(1e-9, cpu);
    return r;
}

struct FileFigures {
    std::int64_t rows = 0;
    std::int64_t rollup_rows = 0;  // 5m and 1h buckets: shows the maintenance ran
    double bytes_per_sample = 0;
};

// Checkpoints the WAL into the file so that its size is what the rows take.
FileFigures file_figures(const std::string& path) {
    collector::sqlite::Database db(path);
    collector::configure_connection(db);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    FileFigures f;
    f.rows = db.query_int("SELECT count(*) FROM samples");
    f.rollup_rows = db.query_int(
        "SELECT (SELECT count(*) FROM rollups_5m) + "
        "(SELECT count(*) FROM rollups_1h)");
    const auto used = (db.query_int("PRAGMA page_count") - db.query_int("PRAGMA freelist_count")) *
                      db.query_int("PRAGMA page_size");
    f.bytes_per_sample = f.rows > 0 ? static_cast<double>(used) / static_cast<double>(f.rows) : 0;
    return f;
}

std::string journal_settings(const std::string& path) {
    // The Store's connections are set up by configure_connection; a connection set up the same
    // way reports what they run with.
    collector::sqlite::Database db(path);
    collector::configure_connection(db);
    const auto sync = db.query_int("PRAGMA synchronous");
    const char* names[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
    auto mode = db.prepare("PRAGMA journal_mode");
    mode.step();
    return "journal_mode=" + mode.column_text(0) +
           ", synchronous=" + (sync >= 0 && sync <= 3 ? names[sync] : std::to_string(sync).c_str());
}

struct Summary {
    std::vector<double> rate, rate_cpu, client_share, latency_ms;
    std::size_t stored = 0;
    FileFigures file;
    double rollup_us_per_sample = 0;  // store: Store::run_rollups over what was ingested
};

void print_summary(const char* mode, const Summary& s) {
    std::printf("%-52s %14.0f\n", (std::string(mode) + ": samples/s, median of rounds").c_str(),
                median(s.rate));
    std::string rounds;
    for (double x : s.rate)
        rounds += (rounds.empty() ? "" : ", ") + std::to_string(static_cast<long>(x));
    std::printf("%-52s %14s\n", (std::string(mode) + ":   rounds").c_str(), rounds.c_str());
    std::printf("%-52s %14.0f\n",
                (std::string(mode) + ": samples per collector CPU-second").c_str(),
                median(s.rate_cpu));
    if (!s.latency_ms.empty()) {
        std::printf("%-52s %14.1f\n", (std::string(mode) + ": batch latency p50 (ms)").c_str(),
                    percentile(s.latency_ms, 0.50));
        std::printf("%-52s %14.1f\n", (std::string(mode) + ": batch latency p99 (ms)").c_str(),
                    percentile(s.latency_ms, 0.99));
        std::printf("%-52s %13.0f%%\n",
                    (std::string(mode) + ": load generator's share of CPU").c_str(),
                    100 * median(s.client_share));
    }
    if (s.rollup_us_per_sample > 0) {
        std::printf("%-52s %14.1f\n",
                    (std::string(mode) + ": rollups (5m + 1h), CPU per sample (us)").c_str(),
                    s.rollup_us_per_sample);
    }
    std::printf("%-52s %14lld\n", (std::string(mode) + ": rows in samples").c_str(),
                static_cast<long long>(s.file.rows));
    std::printf("%-52s %14lld\n", (std::string(mode) + ": rows in rollups (5m + 1h)").c_str(),
                static_cast<long long>(s.file.rollup_rows));
    std::printf("%-52s %14.0f\n", (std::string(mode) + ": DB bytes per sample").c_str(),
                s.file.bytes_per_sample);
}

void add_summary(Results& out, const std::string& mode, const Summary& s, int rounds) {
    const std::string of = mode + " rounds";
    const int n = static_cast<int>(s.rate.size());
    out.add(mode + "_samples_per_s", median(s.rate), "samples/s", n, "median", of);
    out.add(mode + "_samples_per_cpu_s", median(s.rate_cpu), "samples/CPU-s", n, "median",
            of + " (CPU of the collector's threads)");
    if (median(s.rate_cpu) > 0)
        out.add(mode + "_cpu_per_sample", 1e6 / median(s.rate_cpu), "us", n, "median", of);
    if (!s.latency_ms.empty()) {
        out.add(mode + "_batch_latency_p50", percentile(s.latency_ms, 0.50), "ms",
                static_cast<int>(s.latency_ms.size()), "p50", "batches");
        out.add(mode + "_batch_latency_p99", percentile(s.latency_ms, 0.99), "ms",
                static_cast<int>(s.latency_ms.size()), "p99", "batches");
    }
    if (s.rollup_us_per_sample > 0)
        out.add(mode + "_rollup_cpu_per_sample", s.rollup_us_per_sample, "us", 1, "single",
                "one rollup pass over what was ingested");
    out.add(mode + "_db_bytes_per_sample", s.file.bytes_per_sample, "bytes", rounds, "single",
            "the file after all rounds (samples and indexes, WAL checkpointed)");
    out.add(mode + "_rows", static_cast<double>(s.file.rows), "rows", 1, "single", "samples table");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Collector ingest throughput: Store::ingest and POST /api/v1/ingest"};
    std::size_t miners = 1000, batch = 500;
    double seconds = 10, maintenance_s = 2;
    int rounds = 5, connections = 4, cpu = -1, client_cpu = -1;
    std::string mode = "both", dir;
    bool keep = false;
    app.add_option("--miners", miners, "Miners in the fleet (one sample each per 30 s tick)");
    app.add_option("--batch", batch, "Samples per batch (the agent default is 500)");
    app.add_option("--seconds", seconds, "Length of a round");
    app.add_option("--rounds", rounds, "Rounds per mode (medians are printed)");
    app.add_option("--mode", mode, "store, http or both")
        ->check(CLI::IsMember({"store", "http", "both"}));
    app.add_option("--connections", connections,
                   "http: keep-alive connections, one batch in flight each");
    app.add_option("--cpu", cpu, "Pin the process (every thread) to this CPU");
    app.add_option(
        "--client-cpu", client_cpu,
        "http: pin the load generator's thread to this CPU instead (default: with the rest)");
    app.add_option("--maintenance-every", maintenance_s,
                   "http: seconds between the writer's rollup and retention runs, 0 for none "
                   "(the batches' clock runs ~1500 times faster than the wall clock, so every "
                   "run has buckets to roll up)");
    std::size_t group_max_samples = collector::StoreWriterOptions{}.group_max_samples;
    app.add_option("--group-max-samples", group_max_samples,
                   "http: samples the writer commits in one transaction when batches are "
                   "queued (StoreWriterOptions::group_max_samples; 1 for one batch a "
                   "transaction)");
    app.add_option("--dir", dir, "Directory for the SQLite files (default: a new temp directory)");
    app.add_flag("--keep", keep, "Keep the SQLite files");
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    if (miners == 0 || batch == 0 || rounds < 1 || seconds <= 0 || connections < 1 ||
        maintenance_s < 0) {
        std::fprintf(stderr,
                     "--miners, --batch, --rounds, --seconds, --connections must be > 0, "
                     "--maintenance-every >= 0\n");
        return 2;
    }
    if (cpu >= 0) pin_self(cpu);  // before any thread starts, so that all inherit it
    log::set_level(log::Level::warn);

    bool own_dir = false;
    if (dir.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "hashwatt-bench-ingest-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir = tmpl;
        own_dir = true;
    }
    fs::create_directories(dir);
    const std::string store_path = dir + "/store.db", http_path = dir + "/http.db";
    fs::remove(store_path), fs::remove(store_path + "-wal"), fs::remove(store_path + "-shm");
    fs::remove(http_path), fs::remove(http_path + "-wal"), fs::remove(http_path + "-shm");

    int rc = 0;
    Summary store_sum, http_sum;
    std::string settings;
    try {
        if (mode != "http") {
            collector::Store store(store_path);
            settings = journal_settings(store_path);
            Source source(miners, batch, std::chrono::seconds(30));
            for (int i = 0; i < rounds; ++i) {
                auto r = store_round(store, source, seconds);
                store_sum.rate.push_back(r.samples_per_s);
                store_sum.rate_cpu.push_back(r.samples_per_cpu_s);
                store_sum.stored += r.stored;
                std::fprintf(
                    stderr,
                    "store round %d: %zu samples, %.0f samples/s in ingest, %.0f per CPU-s "
                    "(load %.2f)\n",
                    i + 1, r.stored, r.samples_per_s, r.samples_per_cpu_s, load1());
            }
            store_sum.file = file_figures(store_path);  // samples and their indexes only
            // What the writer's maintenance would add per sample: both rollup levels over
            // everything ingested, in one run once all buckets are complete.
            // CPU time, as the wall clock of a shared machine says more about the neighbours.
            const auto t0 = std::chrono::steady_clock::now();
            const double c0 = thread_cpu_s();
            const auto rr = store.run_rollups(source.end() + std::chrono::hours(1));
            const double cpu_s = thread_cpu_s() - c0;
            const double dt = Seconds(std::chrono::steady_clock::now() - t0).count();
            store_sum.rollup_us_per_sample = cpu_s * 1e6 / static_cast<double>(store_sum.stored);
            store_sum.file.rollup_rows = rr.buckets_5m + rr.buckets_1h;
            std::fprintf(stderr, "rollups: %lld + %lld buckets in %.2f s, %.2f s CPU (load %.2f)\n",
                         static_cast<long long>(rr.buckets_5m),
                         static_cast<long long>(rr.buckets_1h), dt, cpu_s, load1());
        }
        if (mode != "store") {
            asio::io_context io;
            collector::Store store(http_path);
            settings = journal_settings(http_path);
            collector::StoreWriterOptions wo;
            wo.group_max_samples = group_max_samples;
            // Made before the writer, whose maintenance reads its clock.
            Source source(miners, batch, std::chrono::seconds(30));
            wo.clock = [&source] { return source.clock(); };
            if (maintenance_s > 0) {
                wo.maintenance_interval =
                    std::chrono::milliseconds(static_cast<std::int64_t>(maintenance_s * 1000));
            } else {
                wo.maintenance_interval = std::nullopt;
            }
            collector::StoreWriter writer(store, wo);
            collector::ApiOptions ao;
            ao.address = "127.0.0.1";
            ao.port = 0;
            ao.tokens = {{kAgentToken, collector::Role::agent, kAgentId}};
            collector::ApiServer server(io, store, writer, ao);
            server.start();
            std::thread io_thread([&] { io.run(); });
            const auto stop_all = [&] {
                writer.shutdown();
                asio::post(io, [&] {
                    server.stop();
                    io.stop();
                });
                io_thread.join();
            };
            try {
                for (int i = 0; i < rounds; ++i) {
                    auto r = http_round(server.port(), source, seconds, connections, client_cpu);
                    http_sum.rate.push_back(r.samples_per_s);
                    http_sum.rate_cpu.push_back(r.samples_per_cpu_s);
                    http_sum.client_share.push_back(r.client_cpu_share);
                    http_sum.latency_ms.insert(http_sum.latency_ms.end(), r.latency_ms.begin(),
                                               r.latency_ms.end());
                    http_sum.stored += r.stored;
                    std::fprintf(stderr,
                                 "http round %d: %zu samples, %.0f samples/s wall, %.0f per "
                                 "collector CPU-s, batch p50 %.1f ms p99 %.1f ms (load %.2f)\n",
                                 i + 1, r.stored, r.samples_per_s, r.samples_per_cpu_s,
                                 percentile(r.latency_ms, 0.5), percentile(r.latency_ms, 0.99),
                                 load1());
                }
            } catch (...) {
                stop_all();
                throw;
            }
            stop_all();
        }
        if (mode != "store") http_sum.file = file_figures(http_path);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        rc = 1;
    }

    if (rc == 0) {
        cpu_set_t set;
        sched_getaffinity(0, sizeof set, &set);
        std::printf("machine: %s\n", machine_description().c_str());
        std::printf("load average (1 min) at the end: %.2f; CPUs allowed: %d\n", load1(),
                    CPU_COUNT(&set));
        std::printf("sqlite: %s, file on disk in %s\n", settings.c_str(), dir.c_str());
        char every[32];
        std::snprintf(every, sizeof every, "%g s", maintenance_s);
        const std::string maintenance =
            maintenance_s > 0 ? "rollups and retention every " + std::string(every) : "no rollups";
        std::printf(
            "fleet: %zu miners, batches of %zu, %d rounds of %.0f s per mode; http: %d "
            "connections%s, %s, up to %zu samples a transaction\n",
            miners, batch, rounds, seconds, connections,
            client_cpu >= 0 ? (", load generator on CPU " + std::to_string(client_cpu)).c_str()
                            : ", load generator in the same CPU set",
            maintenance.c_str(), group_max_samples);
        std::printf("%-52s %14s\n", "figure", "value");
        if (mode != "http") print_summary("store", store_sum);
        if (mode != "store") print_summary("http", http_sum);
        Results out("collector_ingest", argc, argv);
        out.inputs = {{"miners", miners},
                      {"batch", batch},
                      {"seconds_per_round", seconds},
                      {"rounds", rounds},
                      {"mode", mode},
                      {"connections", connections},
                      {"maintenance_every_s", maintenance_s},
                      {"sqlite", settings}};
        if (mode != "http") add_summary(out, "store", store_sum, rounds);
        if (mode != "store") add_summary(out, "http", http_sum, rounds);
        write_results_json(json_path, out);
        std::printf(
            "{\"bench\":\"collector_ingest\",\"store_samples_per_s\":%.0f,"
            "\"http_samples_per_s\":%.0f,\"http_p50_ms\":%.1f,\"http_p99_ms\":%.1f,"
            "\"bytes_per_sample\":%.0f}\n",
            median(store_sum.rate), median(http_sum.rate), percentile(http_sum.latency_ms, 0.5),
            percentile(http_sum.latency_ms, 0.99),
            mode != "http" ? store_sum.file.bytes_per_sample : http_sum.file.bytes_per_sample);
    }
    if (!keep) {
        std::error_code ec;
        if (own_dir) {
            fs::remove_all(dir, ec);
        } else {
            for (const auto& p : {store_path, http_path}) {
                fs::remove(p, ec), fs::remove(p + "-wal", ec), fs::remove(p + "-shm", ec);
            }
        }
    }
    return rc;
}
