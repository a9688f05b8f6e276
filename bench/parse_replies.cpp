// Reply parsing: CPU time per parse_cgminer_json call on the captured Antminer and Whatsminer
// RPC replies, against the code it replaced (every reply repaired into a new string, then parsed
// into values that allocate each object, array and long string on the heap), both measured in
// the same run, plus the cost of assigning the result to an existing default-storage value
// (which copies it).
//
//   build/release/bench/bench_parse_replies --iterations 2000 --runs 5
#include "agent/transport/cgminer_json.hpp"
#include "bench/bench_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <time.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

namespace fs = std::filesystem;
namespace json = boost::json;
using hashwatt::agent::CgminerJsonError;
using namespace hashwatt::bench;

namespace {

// The implementation before the copy-free path and the arena (commit cdb5976), kept verbatim as
// the baseline.
namespace before {

// ASCII only: firmware text is bytes, and <cctype> depends on the locale and on char's sign.
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_word_char(char c) noexcept { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool equals_ignore_case(std::string_view a, std::string_view lower) noexcept {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

// printf's spellings of non-finite doubles, which cgminer writes with "%f".
bool is_non_finite_word(std::string_view w) noexcept {
    return equals_ignore_case(w, "nan") || equals_ignore_case(w, "inf") ||
           equals_ignore_case(w, "infinity");
}

void append_control_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\t':
            out += "\\t";
            return;
        default: {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0x0f]);
        }
    }
}

std::string repair_cgminer_json(std::string_view raw) {
    if (const auto nul = raw.find('\0'); nul != std::string_view::npos) raw = raw.substr(0, nul);

    std::string out;
    out.reserve(raw.size() + raw.size() / 32 + 8);

    bool in_string = false;
    // The last character written outside a string that is not whitespace (a closing quote
    // counts), and its position in `out`: the repairs depend only on this one token of context.
    char last = '\0';
    std::size_t last_pos = 0;
    const auto emit = [&](char c) {
        last_pos = out.size();
        out.push_back(c);
        last = c;
    };

    const std::size_t n = raw.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = raw[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
                emit(c);
                ++i;
            } else if (c == '\\') {
                if (i + 1 < n && raw[i + 1] == '\'') {
                    out.push_back('\'');
                } else {
                    out.push_back('\\');
                    if (i + 1 < n) out.push_back(raw[i + 1]);
                }
                i += 2;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                append_control_escape(out, static_cast<unsigned char>(c));
                ++i;
            } else {
                out.push_back(c);
                ++i;
            }
            continue;
        }

        if (is_space(c)) {
            out.push_back(c);
            ++i;
            continue;
        }
        switch (c) {
            case '"':
                if (last == '"') out.push_back(',');  // btminer: "value""next_key"
                in_string = true;
                out.push_back(c);
                ++i;
                continue;
            case '{':
                if (last == '}') out.push_back(',');  // bmminer stats: {...}{"STATS":0,...}
                emit(c);
                ++i;
                continue;
            case ',':
                if (last != '[') emit(c);  // a leading comma in an array is dropped
                ++i;
                continue;
            case '}':
            case ']':
                if (last == ',') out.erase(last_pos, 1);  // only whitespace follows it
                emit(c);
                ++i;
                continue;
            default:
                break;
        }

        const bool signed_word = (c == '-' || c == '+') && i + 1 < n && is_alpha(raw[i + 1]);
        if (is_alpha(c) || signed_word) {
            std::size_t end = i + (signed_word ? 1 : 0);
            while (end < n && is_word_char(raw[end])) ++end;
            const std::string_view word = raw.substr(i, end - i);
            const std::string_view bare = signed_word ? word.substr(1) : word;
            if (is_non_finite_word(bare)) {
                out += "nul";
                emit('l');
            } else {  // true, false, null, or garbage the parser will report
                out.append(word.substr(0, word.size() - 1));
                emit(word.back());
            }
            i = end;
            continue;
        }
        if (is_digit(c) || c == '-' || c == '+' || c == '.') {
            // A number, copied whole so that the `e` of an exponent is not taken for a word.
            std::size_t end = i + 1;
            while (end < n && (is_word_char(raw[end]) || raw[end] == '.' || raw[end] == '+' ||
                               raw[end] == '-'))
                ++end;
            out.append(raw.substr(i, end - i - 1));
            emit(raw[end - 1]);
            i = end;
            continue;
        }
        emit(c);
        ++i;
    }
    return out;
}

json::value parse_cgminer_json(std::string_view raw) {
    const std::string text = repair_cgminer_json(raw);

    json::parse_options options;
    options.allow_invalid_utf8 = true;
    json::stream_parser parser(json::storage_ptr(), options);
    json::error_code ec;
    const std::size_t used = parser.write_some(text.data(), text.size(), ec);
    if (ec) {
        throw CgminerJsonError(
            "cgminer reply: " + ec.message() + " at byte " + std::to_string(used), used);
    }
    if (!parser.done()) {
        // A bare number at the very end needs finish() to be known complete; anything else
        // unfinished here is a truncated reply.
        parser.finish(ec);
        if (ec) {
            const bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
            throw CgminerJsonError(blank ? std::string("cgminer reply: no JSON value")
                                         : "cgminer reply: " + ec.message() + " at byte " +
                                               std::to_string(text.size()),
                                   text.size());
        }
    }
    return parser.release();
}

}  // namespace before

struct Capture {
    std::string name;  // family/file
    std::string text;
    bool needs_repair = false;
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Requests (what the agent sends) and web-UI bodies (HTTP, read once per identity or control
// action rather than on each poll) are not RPC replies.
bool is_rpc_reply(const std::string& file) {
    return file.find("_REQUEST") == std::string::npos && file.find("_web_") == std::string::npos;
}

volatile std::size_t g_sink = 0;

// Keeps the compiler from dropping a parse whose result is never read.
void consume(const json::value& v) {
    g_sink =
        g_sink + static_cast<std::size_t>(v.kind()) + (v.is_object() ? v.get_object().size() : 0);
}

// CPU time of this thread: other builds share the machine's two cores, and time spent waiting
// for a core is not the parser's.
double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <class Fn>
double ns_per_call(Fn&& fn, int iterations) {
    const double t0 = thread_cpu_ns();
    for (int i = 0; i < iterations; ++i) fn();
    return (thread_cpu_ns() - t0) / iterations;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Cost of parse_cgminer_json per captured reply, before and after"};
    int iterations = 2000, runs = 5, cpu = -1;
    std::string source_dir = HASHWATT_SOURCE_DIR;
    app.add_option("--iterations", iterations, "Calls per run and variant")
        ->check(CLI::PositiveNumber);
    app.add_option("--runs", runs, "Runs (the median is reported)")->check(CLI::PositiveNumber);
    app.add_option("--cpu", cpu, "Pin to this CPU (-1: not pinned)");
    app.add_option("--source-dir", source_dir, "Repository root holding tests/fixtures");
    std::string json_path;
    app.add_option("--json", json_path, "Also write the figures as JSON to this file");
    CLI11_PARSE(app, argc, argv);
    Results out("parse_replies", argc, argv);
    if (cpu >= 0) pin_self(cpu);

    std::vector<Capture> captures;
    std::vector<std::string> skipped;
    for (const char* family : {"antminer", "whatsminer"}) {
        std::vector<fs::path> files;
        for (const auto& entry :
             fs::directory_iterator(fs::path(source_dir) / "tests" / "fixtures" / family)) {
            const auto ext = entry.path().extension();
            if (entry.is_regular_file() && (ext == ".json" || ext == ".txt")) {
                files.push_back(entry.path());
            }
        }
        std::sort(files.begin(), files.end());
        for (const auto& path : files) {
            const std::string name = std::string(family) + "/" + path.filename().string();
            if (!is_rpc_reply(path.filename().string())) {
                skipped.push_back(name);
                continue;
            }
            Capture c{name, read_file(path), false};
            c.needs_repair = before::repair_cgminer_json(c.text) != c.text;
            captures.push_back(std::move(c));
        }
    }
    if (captures.empty()) {
        std::fprintf(stderr, "no captures under %s/tests/fixtures\n", source_dir.c_str());
        return 1;
    }
    // Figures for a parser that reads something else would be worthless.
    for (const auto& c : captures) {
        if (before::parse_cgminer_json(c.text) != hashwatt::agent::parse_cgminer_json(c.text)) {
            std::fprintf(stderr, "%s: the two parsers disagree\n", c.name.c_str());
            return 1;
        }
    }

    struct Row {
        std::vector<double> before, after, assigned;
    };
    std::vector<Row> rows(captures.size());
    const double steal0 = host_steal_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (int run = 0; run < runs; ++run) {
        for (std::size_t k = 0; k < captures.size(); ++k) {
            const std::string_view text = captures[k].text;
            const auto old_path = [&] { consume(before::parse_cgminer_json(text)); };
            const auto new_path = [&] { consume(hashwatt::agent::parse_cgminer_json(text)); };
            // How antminer's find_sections and several one-off readers hold the result.
            const auto assigned_path = [&] {
                json::value v;
                v = hashwatt::agent::parse_cgminer_json(text);
                consume(v);
            };
            if (run == 0) {  // warm-up: caches, the allocator's free lists
                ns_per_call(old_path, iterations / 10 + 1);
                ns_per_call(new_path, iterations / 10 + 1);
                ns_per_call(assigned_path, iterations / 10 + 1);
            }
            // Alternating the order spreads any drift in the machine's speed over all variants.
            if (run % 2 == 0) {
                rows[k].before.push_back(ns_per_call(old_path, iterations));
                rows[k].after.push_back(ns_per_call(new_path, iterations));
                rows[k].assigned.push_back(ns_per_call(assigned_path, iterations));
            } else {
                rows[k].assigned.push_back(ns_per_call(assigned_path, iterations));
                rows[k].after.push_back(ns_per_call(new_path, iterations));
                rows[k].before.push_back(ns_per_call(old_path, iterations));
            }
        }
    }
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double steal_s = host_steal_seconds() - steal0;

    std::printf("machine: %s\n", machine_description().c_str());
    std::printf(
        "parse_replies: thread CPU time, %d runs of %d calls per capture and variant, median of "
        "the runs; %s; %.1f s, host steal %.2f s\n",
        runs, iterations,
        cpu >= 0 ? ("pinned to CPU " + std::to_string(cpu)).c_str() : "not pinned", wall_s,
        steal_s);
    std::printf("skipped (requests and web-UI bodies, not RPC replies):");
    for (const auto& s : skipped) std::printf(" %s", s.c_str());
    std::printf("\n");
    std::printf("before:   repair into a new string, parse with the default (heap) storage\n");
    std::printf(
        "after:    parse_cgminer_json now (in-place parse when nothing to repair, arena)\n");
    std::printf("assigned: after, then moved into an existing default-storage json::value\n");
    std::printf("%-50s %6s %6s %10s %10s %7s %10s\n", "capture", "bytes", "repair", "before ns",
                "after ns", "speedup", "assigned");
    double sum_before = 0, sum_after = 0, sum_assigned = 0;
    for (std::size_t k = 0; k < captures.size(); ++k) {
        const double b = median(rows[k].before), a = median(rows[k].after),
                     s = median(rows[k].assigned);
        sum_before += b;
        sum_after += a;
        sum_assigned += s;
        std::printf("%-50s %6zu %6s %10.0f %10.0f %6.2fx %10.0f\n", captures[k].name.c_str(),
                    captures[k].text.size(), captures[k].needs_repair ? "yes" : "no", b, a, b / a,
                    s);
    }
    std::printf("%-50s %6s %6s %10.0f %10.0f %6.2fx %10.0f\n", "all of the above, one call each",
                "", "", sum_before, sum_after, sum_before / sum_after, sum_assigned);
    std::printf("{\"bench\":\"parse_replies\",\"captures\":%zu,\"sum_before_ns\":%.0f,",
                captures.size(), sum_before);
    std::printf("\"sum_after_ns\":%.0f,\"sum_assigned_ns\":%.0f}\n", sum_after, sum_assigned);
    out.inputs = {
        {"iterations", iterations}, {"runs", runs}, {"captures", captures.size()}, {"cpu", cpu}};
    const std::string of = "runs; the sum over all captures, one call each (medians per capture)";
    out.add("sum_after", sum_after, "ns", runs, "median", of);
    out.add("sum_before", sum_before, "ns", runs, "median", of + ", the previous parser");
    out.add("sum_assigned", sum_assigned, "ns", runs, "median", of);
    out.add("speedup", sum_before / sum_after, "x", runs, "median", "before / after");
    write_results_json(json_path, out);
    return 0;
}
