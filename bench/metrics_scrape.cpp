// The cost of /metrics at fleet scale. Part 1: a LatestState filled with N synthetic miners
// (4 boards, 4 fans, 2 pools each): memory per miner, and the time to Collect() every family
// and to render the whole text (median of rounds). Part 2, in a forked child so that its RSS
// is the collector's alone: a real Store + StoreWriter + ApiServer on loopback, every miner's
// sample ingested over HTTP into a temporary SQLite file, then GET /metrics over a socket
// (median), and the process's RSS, i.e. the collector's memory at N miners.
//
//   build/release/bench/bench_metrics_scrape --miners 10000 --rounds 7
#include "bench/bench_util.hpp"
#include "collector/api/server.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <prometheus/text_serializer.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::bench;

namespace {

using Steady = std::chrono::steady_clock;

long rss_kb() { return proc_stats(getpid()).rss_kb; }

// The process's peak RSS so far (VmHWM).
long peak_rss_kb() {
    std::ifstream f("/proc/self/status");
    for (std::string line; std::getline(f, line);) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

TimePoint now_ms() { return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now()); }

// Miner i of the fleet: ten sites, ids like "site-03-r12-m0042", an S19j Pro with 4 boards
// of ~34 TH/s, 4 fans, 2 pools; one miner in fifty is down (identity, time and state only).
MinerSample synthetic_miner(int i, TimePoint at) {
    char id[40];
    std::snprintf(id, sizeof id, "site-%02d-r%02d-m%04d", i % 10, (i / 10) % 40, i);
    MinerSample s;
    s.miner_id = id;
    s.site = "site-" + std::to_string(i % 10);
    s.host = "10." + std::to_string(i % 10) + "." + std::to_string((i / 250) % 250) + "." +
             std::to_string(i % 250 + 1);
    s.port = 4028;
    s.make = "Bitmain";
    s.model = "Antminer S19j Pro";
    s.firmware = "stock";
    s.firmware_version = "Thu Jul 14 2022";
    s.driver = "antminer";
    s.mac = "aa:bb:cc:00:00:00";
    s.observed_at = at;
    s.poll_duration_ms = 42;
    if (i % 50 == 49) {
        s.up = false;
        s.state = MinerState::offline;
        s.error = PollError::timeout;
        return s;
    }
    s.up = true;
    s.state = MinerState::mining;
    const double jitter = static_cast<double>(i % 17) / 10.0;
    s.hashrate_ths = 100 + jitter;
    s.hashrate_avg_ths = 101;
    s.expected_hashrate_ths = 104;
    s.power_w = 3050 + 10 * jitter;
    s.power_source = PowerSource::measured;
    s.power_limit_w = 3250;
    for (int b = 0; b < 4; ++b) {
        BoardSample bs;
        bs.index = b;
        bs.hashrate_ths = 25 + jitter / 4;
        bs.expected_hashrate_ths = 26;
        bs.chip_temp_max_c = 70 + b + jitter;
        bs.board_temp_max_c = 60 + b + jitter;
        bs.chips = 126;
        bs.expected_chips = 126;
        bs.hw_errors = 3;
        bs.ok = true;
        s.boards.push_back(bs);
    }
    s.fans_rpm = {5400 + i % 100, 5520, 5460, 5580};
    s.inlet_temp_c = 25;
    s.outlet_temp_c = 45 + jitter;
    s.hw_errors_total = 12 + i % 7;
    s.uptime_s = 86400 + i;
    for (int p = 0; p < 2; ++p) {
        PoolSample ps;
        ps.url = p == 0 ? "stratum+tcp://pool.example:3333" : "stratum+tcp://backup.example:3333";
        ps.user = "farm.worker" + std::to_string(i);
        ps.active = p == 0;
        ps.alive = true;
        ps.accepted = p == 0 ? 120000 + i : 0;
        ps.rejected = p == 0 ? 40 : 0;
        ps.stale = p == 0 ? 3 : 0;
        s.pools.push_back(ps);
    }
    return s;
}

std::size_t series_in(const std::string& text) {
    std::size_t n = 0;
    std::size_t line_start = 0;
    while (line_start < text.size()) {
        const auto end = text.find('\n', line_start);
        if (text[line_start] != '#' && end != line_start) ++n;
        if (end == std::string::npos) break;
        line_start = end + 1;
    }
    return n;
}

void part_state(int miners, int rounds, Results& res) {
    std::printf("-- part 1: LatestState + exposition, %d miners, %d rounds\n", miners, rounds);
    const long rss_before = rss_kb();
    CollectorMetrics metrics;
    const TimePoint at = now_ms();
    // Filled in chunks, so that the samples themselves do not count as the state's memory.
    constexpr int kChunk = 500;
    for (int first = 0; first < miners; first += kChunk) {
        std::vector<MinerSample> chunk;
        for (int i = first; i < std::min(miners, first + kChunk); ++i) {
            chunk.push_back(synthetic_miner(i, at));
        }
        metrics.latest().update(chunk);
    }
    const long rss_after = rss_kb();
    std::printf("rss_before_kb=%ld rss_after_fill_kb=%ld state_bytes_per_miner=%.0f\n", rss_before,
                rss_after,
                static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(miners));

    MinerExposition exposition(metrics.latest());
    std::vector<double> collect_ms, serialize_ms, render_ms;
    std::string text;
    for (int r = 0; r < rounds; ++r) {
        auto t = Steady::now();
        auto families = exposition.Collect();
        collect_ms.push_back(ms_since(t));
        t = Steady::now();
        std::ostringstream out;
        prometheus::TextSerializer().Serialize(out, families);
        serialize_ms.push_back(ms_since(t));
        t = Steady::now();
        text = metrics.render(0);
        render_ms.push_back(ms_since(t));
    }
    const long rss_peak = proc_stats(getpid()).rss_kb;
    std::printf(
        "collect_ms_median=%.1f serialize_ms_median=%.1f (Collect() + TextSerializer: %.1f ms)\n"
        "render_ms_median=%.1f (CollectorMetrics::render, what /metrics does)\n",
        median(collect_ms), median(serialize_ms), median(collect_ms) + median(serialize_ms),
        median(render_ms));
    std::printf("bytes=%zu series=%zu rss_after_scrapes_kb=%ld\n", text.size(), series_in(text),
                rss_peak);
    const std::string of = "renders of the same state";
    res.add("state_per_miner",
            static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(miners),
            "bytes", 1, "single", "RSS growth while filling LatestState");
    res.add("render", median(render_ms), "ms", rounds, "median",
            of + " (CollectorMetrics::render)");
    res.add("collect_and_text_serializer", median(collect_ms) + median(serialize_ms), "ms", rounds,
            "median", of + " (prometheus-cpp, for comparison)");
    res.add("scrape_size", static_cast<double>(text.size()), "bytes", 1, "single", "one render");
    res.add("series", static_cast<double>(series_in(text)), "series", 1, "single", "one render");
}

std::string http_request(std::uint16_t port, http::verb method, const std::string& target,
                         const std::string& body, const std::string& token, unsigned* status) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.prepare_payload();
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(512 * 1024 * 1024);
    http::read(socket, buffer, parser);
    *status = parser.get().result_int();
    return parser.get().body();
}

struct Scraped {
    unsigned status = 0;
    std::size_t bytes = 0;
    std::size_t series = 0;
};

// GET /metrics, reading the body through one small buffer and counting it as it passes, so
// that the client adds next to nothing to the process's memory: the RSS is the collector's.
Scraped scrape(std::uint16_t port) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::read_header(socket, buffer, parser);
    Scraped out;
    out.status = parser.get().result_int();
    std::vector<char> chunk(256 * 1024);
    bool line_start = true;
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        boost::system::error_code ec;
        http::read(socket, buffer, parser, ec);
        if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
        const std::size_t n = chunk.size() - parser.get().body().size;
        const char* p = chunk.data();
        const char* const end = p + n;
        while (p < end) {
            if (line_start && *p != '#') ++out.series;
            const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
            line_start = nl != nullptr;
            p = nl != nullptr ? static_cast<const char*>(nl) + 1 : end;
        }
        out.bytes += n;
    }
    return out;
}

int part_collector(int miners, int rounds, int batch_size, Results& res) {
    std::printf("-- part 2: Store + StoreWriter + ApiServer, %d miners over HTTP, %d scrapes\n",
                miners, rounds);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("hashwatt-bench-metrics-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const long rss_start = rss_kb();
    int rc = 0;
    {
        asio::io_context io;
        Store store((dir / "collector.db").string());
        StoreWriterOptions wo;
        wo.maintenance_interval = std::nullopt;
        StoreWriter writer(store, wo);
        ApiOptions ao;
        ao.tokens = {{"bench-agent", Role::agent, "bench"}};
        ApiServer server(io, store, writer, ao);
        server.start();
        std::thread thread([&io] { io.run(); });
        const long rss_empty = rss_kb();

        const TimePoint at = now_ms();
        const auto t_ingest = Steady::now();
        std::int64_t seq = 0;
        for (int first = 0; first < miners; first += batch_size) {
            std::string body =
                R"({"agent_id":"bench","batch_seq":)" + std::to_string(++seq) + R"(,"samples":[)";
            for (int i = first; i < std::min(miners, first + batch_size); ++i) {
                if (i != first) body += ",";
                body += encode_sample(synthetic_miner(i, at));
            }
            body += "]}";
            unsigned status = 0;
            http_request(server.port(), http::verb::post, "/api/v1/ingest", body, "bench-agent",
                         &status);
            if (status != 200) {
                std::fprintf(stderr, "ingest answered %u\n", status);
                rc = 1;
                break;
            }
        }
        const double ingest_ms = ms_since(t_ingest);
        const long rss_ingested = rss_kb();
        std::printf("ingest_ms=%.0f (%.0f samples/s, batches of %d)\n", ingest_ms,
                    miners / (ingest_ms / 1000.0), batch_size);

        std::vector<double> scrape_ms;
        Scraped last;
        for (int r = 0; r < rounds && rc == 0; ++r) {
            const auto t = Steady::now();
            last = scrape(server.port());
            scrape_ms.push_back(ms_since(t));
            if (last.status != 200) {
                std::fprintf(stderr, "/metrics answered %u\n", last.status);
                rc = 1;
            }
        }
        const long rss_scraped = rss_kb();
        if (rc == 0) {
            std::printf("http_get_metrics_ms_median=%.1f bytes=%zu series=%zu\n", median(scrape_ms),
                        last.bytes, last.series);
            res.add("http_get_metrics", median(scrape_ms), "ms", rounds, "median",
                    "GET /metrics over loopback, until the last byte read");
            res.add("http_scrape_size", static_cast<double>(last.bytes), "bytes", 1, "single",
                    "last scrape");
        }
        res.add("ingest_rate", miners / (ingest_ms / 1000.0), "samples/s", 1, "single",
                "every miner POSTed once, batches of " + std::to_string(batch_size));
        res.add("collector_rss_after_ingest", static_cast<double>(rss_ingested) / 1024.0, "MiB");
        res.add("collector_rss", static_cast<double>(rss_scraped) / 1024.0, "MiB", 1, "single",
                "after the scrapes (between scrapes)");
        res.add("collector_peak_rss", static_cast<double>(peak_rss_kb()) / 1024.0, "MiB", 1, "max",
                "while serving a scrape");
        std::printf(
            "rss_kb: process_start=%ld server_empty=%ld after_ingest=%ld after_scrapes=%ld "
            "peak=%ld\n(collector memory at %d miners: %.1f MiB between scrapes, %.1f MiB peak "
            "while serving one)\n",
            rss_start, rss_empty, rss_ingested, rss_scraped, peak_rss_kb(), miners,
            static_cast<double>(rss_scraped) / 1024.0, static_cast<double>(peak_rss_kb()) / 1024.0);
        asio::post(io, [&] {
            server.stop();
            io.stop();
        });
        thread.join();
        writer.shutdown();
    }
    std::filesystem::remove_all(dir);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("/metrics scrape cost and collector memory at fleet scale");
    int miners = 10000;
    int rounds = 7;
    int batch_size = 500;
    app.add_option("--miners", miners, "synthetic miners")->check(CLI::PositiveNumber);
    app.add_option("--rounds", rounds, "scrapes timed (median)")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch_size, "samples per ingest batch")->check(CLI::PositiveNumber);
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("metrics_scrape", argc, argv);
    out.inputs = {{"miners", miners}, {"rounds", rounds}, {"batch", batch_size}};
    log::set_level(log::Level::warn);
    std::printf("machine: %s\n", machine_description().c_str());
    {
        // Other work on the host shows in every figure; the load says how much there was.
        std::ifstream loadavg("/proc/loadavg");
        std::string load;
        std::getline(loadavg, load);
        std::printf("loadavg at start: %s\n", load.c_str());
    }

    // Each part in its own child, so neither's allocations show in the other's RSS.
    int rc = 0;
    for (int part = 1; part <= 2; ++part) {
        std::fflush(stdout);
        const pid_t pid = fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            int child_rc = 0;
            try {
                // The child's figures go through a file of their own, merged below.
                Results part_out("metrics_scrape", argc, argv);
                if (part == 1) {
                    part_state(miners, rounds, part_out);
                } else {
                    child_rc = part_collector(miners, rounds, batch_size, part_out);
                }
                if (!json_path.empty())
                    write_results_json(json_path + ".part" + std::to_string(part), part_out);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "part %d failed: %s\n", part, e.what());
                child_rc = 1;
            }
            std::fflush(stdout);
            std::_Exit(child_rc);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
        if (!json_path.empty()) {
            const std::string part_path = json_path + ".part" + std::to_string(part);
            std::ifstream in(part_path);
            std::stringstream text;
            text << in.rdbuf();
            boost::system::error_code ec;
            const auto doc = boost::json::parse(text.str(), ec);
            if (!ec && doc.is_object() && doc.as_object().contains("figures")) {
                for (const auto& f : doc.at("figures").as_array()) {
                    const auto& o = f.as_object();
                    out.add(
                        std::string(o.at("name").as_string()), o.at("value").to_number<double>(),
                        std::string(o.at("unit").as_string()),
                        static_cast<int>(o.at("runs").to_number<double>()),
                        std::string(o.at("stat").as_string()), std::string(o.at("of").as_string()));
                }
            }
            std::filesystem::remove(part_path);
        }
    }
    write_results_json(json_path, out);
    return rc;
}
