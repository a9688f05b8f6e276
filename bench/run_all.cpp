// `make bench`: runs every benchmark program of this directory as a child process with its
// --json, each with a timeout, collects their figures into one results file, prints one table
// (with the agent's CPU per poll against pyasic's) and the cost-growth table, and draws the
// cost-growth plot as SVG.
//
//   build/release/bench/bench_run_all --out bench/results.json --svg docs/cost_growth.svg
//   build/release/bench/bench_run_all --quick            # every step at small sizes
//   build/release/bench/bench_run_all --only agent_poll_10k
#include "bench/bench_util.hpp"
#include "bench/cost_growth.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

extern char** environ;

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace hashwatt::bench;

namespace {

// pyasic's CPU per miner poll, measured with its own poll loop against the same simulator on
// this kind of VM for issue 4 (docs/performance.md, "Agent: poll rounds and scans"); not measured
// by this runner.
constexpr double kPyasicCpuPerPollUs = 2500;
constexpr double kPyasicTargetRatio = 20;

struct Step {
    std::string name;               // --only NAME
    std::string benchmark;          // the program, without "bench_"
    std::string input;              // what the table's "input" column says
    std::vector<std::string> args;  // after the program's path; --json is added
    double timeout_s = 600;
    std::vector<std::string> shown;  // figures in the table (all when empty)
};

struct Paths {
    fs::path bin_dir;  // where the bench_* programs are
    std::string hashwatt;
    fs::path source_dir;
};

std::vector<Step> plan(const Paths& p, bool quick) {
    const std::string hw = p.hashwatt;
    const std::string policy = (p.source_dir / "deploy" / "config" / "policy.toml").string();
    const std::vector<std::string> agent_shown = {"round_wall", "cpu_per_poll", "peak_rss",
                                                  "failed_polls"};
    const std::vector<std::string> scan_shown = {"scan_wall", "scan_wall_slowest",
                                                 "scan_identified_min"};
    const std::vector<std::string> metrics_shown = {
        "http_get_metrics", "render", "http_scrape_size", "collector_rss", "collector_peak_rss"};
    const std::vector<std::string> policy_shown = {"round_wall", "round_cpu"};
    std::vector<Step> s;
    // Quick sizes keep every step to seconds, even in a debug build: a smoke test of the plan.
    const auto q = [quick](const char* full, const char* small) {
        return std::string(quick ? small : full);
    };
    const std::string no_tw_wait = "100000000";
    s.push_back(
        {"sim_throughput",
         "sim_throughput",
         q("10,000 miners", "200 miners"),
         quick ? std::vector<std::string>{"--binary", hw, "--miners", "200", "--seconds", "1",
                                          "--rounds", "1", "--concurrency", "32",
                                          "--time-wait-below", no_tw_wait}
               : std::vector<std::string>{"--binary", hw, "--miners", "10000", "--concurrency",
                                          "256", "--seconds", "5", "--rounds", "3"},
         600,
         {"requests_per_sim_cpu_s", "requests_per_wall_s", "memory_per_miner_after_load",
          "failed_requests"}});
    const auto label = [](const std::string& n) {
        return n.size() > 3 ? n.substr(0, n.size() - 3) + "," + n.substr(n.size() - 3) : n;
    };
    const std::pair<const char*, const char*> agent_sizes[] = {
        {"1000", "100"}, {"10000", "200"}, {"20000", "400"}};
    const char* agent_names[] = {"agent_poll_1k", "agent_poll_10k", "agent_poll_20k"};
    for (int i = 0; i < 3; ++i) {
        const std::string n = quick ? agent_sizes[i].second : agent_sizes[i].first;
        std::vector<std::string> a = {
            "--binary", hw, "--miners", n, "--rounds", i == 2 ? "4" : "5", "--scan-miners", "0"};
        if (quick) {
            a[5] = "2";
            a.insert(a.end(), {"--time-wait-below", no_tw_wait});
        }
        s.push_back({agent_names[i], "agent_poll", label(n) + " miners", a, 900, agent_shown});
    }
    s.push_back(
        {"scan_22",
         "agent_poll",
         q("/22 (1,024 addresses), 1,000 miners", "/22, 50 miners"),
         {"--binary", hw, "--miners", "0", "--scan-prefix", "22", "--scan-miners", q("1000", "50"),
          "--scan-runs", q("3", "1"), "--time-wait-below", q("20000", no_tw_wait.c_str())},
         600,
         scan_shown});
    s.push_back(
        {"scan_20",
         "agent_poll",
         q("/20 (4,096 addresses), 4,000 miners", "/20, 100 miners"),
         {"--binary", hw, "--miners", "0", "--scan-prefix", "20", "--scan-miners", q("4000", "100"),
          "--scan-runs", q("3", "1"), "--time-wait-below", q("20000", no_tw_wait.c_str())},
         600,
         scan_shown});
    s.push_back({"collector_ingest",
                 "collector_ingest",
                 q("1,000 miners, batches of 500, HTTP", "200 miners, HTTP"),
                 quick ? std::vector<std::string>{"--miners", "200", "--batch", "100", "--seconds",
                                                  "1", "--rounds", "1", "--mode", "http"}
                       : std::vector<std::string>{"--miners", "1000", "--batch", "500", "--seconds",
                                                  "8", "--rounds", "3", "--mode", "http", "--cpu",
                                                  "0", "--client-cpu", "1"},
                 600,
                 {"http_samples_per_s", "http_samples_per_cpu_s", "http_cpu_per_sample",
                  "http_batch_latency_p99", "http_db_bytes_per_sample"}});
    const std::pair<const char*, const char*> metrics_sizes[] = {
        {"1000", "100"}, {"10000", "200"}, {"50000", "500"}};
    const char* metrics_names[] = {"metrics_1k", "metrics_10k", "metrics_50k"};
    for (int i = 0; i < 3; ++i) {
        const std::string n = quick ? metrics_sizes[i].second : metrics_sizes[i].first;
        s.push_back({metrics_names[i],
                     "metrics_scrape",
                     label(n) + " miners",
                     {"--miners", n, "--rounds", q(i == 2 ? "5" : "7", "2")},
                     600,
                     metrics_shown});
    }
    // A week of a smaller fleet would not reach past the raw horizon (14 days); 200 miners over
    // 15 days at one poll every 120 s keep the file near 2 GB and the build near two minutes.
    s.push_back({"collector_history",
                 "collector_history",
                 q("200 miners, 15 days, a poll every 120 s", "5 miners, 15 days, every 5 min"),
                 {"--miners", q("200", "5"), "--days", "15", "--interval", q("120", "300"),
                  "--queries", q("100", "5")},
                 900,
                 {"day_5m_query", "day_5m_query_p95", "day_raw_query", "range_1h_query",
                  "generation_rate"}});
    s.push_back({"policy_decide_10k",
                 "policy_decide",
                 q("10,000 miners", "1,000 miners"),
                 {"--miners", q("10000", "1000"), "--rounds", q("21", "3")},
                 300,
                 policy_shown});
    s.push_back({"policy_decide_100k",
                 "policy_decide",
                 q("100,000 miners", "5,000 miners"),
                 {"--miners", q("100000", "5000"), "--rounds", q("21", "3")},
                 300,
                 policy_shown});
    s.push_back({"backtest_year",
                 "backtest",
                 q("a year of 5 min prices, 1,000 miners, deploy/config/policy.toml",
                   "a week, 100 miners, deploy/config/policy.toml"),
                 quick ? std::vector<std::string>{"--runs", "1", "--intervals", "2016", "--miners",
                                                  "100", "--policy", policy}
                       : std::vector<std::string>{"--runs", "3", "--policy", policy},
                 600,
                 {"total", "replay", "optimum"}});
    s.push_back({"alert_evaluate_10k",
                 "alert_evaluate",
                 q("10,000 miners", "200 miners"),
                 {"--miners", q("10000", "200"), "--rounds", q("7", "2")},
                 300,
                 {"evaluation", "per_miner"}});
    s.push_back({"parse_replies",
                 "parse_replies",
                 "captured Antminer and Whatsminer replies",
                 {"--iterations", q("2000", "20"), "--runs", q("5", "1"), "--source-dir",
                  p.source_dir.string()},
                 300,
                 {"sum_after", "sum_before", "speedup"}});
    return s;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The last `max_bytes` of `text` on one line (a table cell, a progress line).
std::string tail_of(const std::string& text, std::size_t max_bytes) {
    std::string t = text.size() <= max_bytes ? text : "..." + text.substr(text.size() - max_bytes);
    std::replace(t.begin(), t.end(), '\n', ' ');
    while (!t.empty() && t.back() == ' ') t.pop_back();
    return t;
}

// The running step's process group, so that ending the runner (Ctrl-C, a CI timeout) also ends
// the step and its simulators instead of leaving them behind.
volatile sig_atomic_t g_step_pgid = 0;

extern "C" void end_step_and_exit(int sig) {
    if (g_step_pgid > 0) kill(-g_step_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

struct Outcome {
    std::string status;  // ok, failed, timeout
    int exit_code = -1;
    double wall_s = 0;
    std::string error;
    json::value result;  // the program's --json document, or null
};

// Starts the step in a process group of its own, so that a timeout also ends the simulators
// and helpers it started.
Outcome run_step(const Step& step, const Paths& paths, const fs::path& work,
                 std::vector<std::string>& argv_out) {
    const fs::path json_path = work / (step.name + ".json");
    const fs::path out_path = work / (step.name + ".out");
    const fs::path err_path = work / (step.name + ".err");
    fs::remove(json_path);
    argv_out = {(paths.bin_dir / ("bench_" + step.benchmark)).string()};
    argv_out.insert(argv_out.end(), step.args.begin(), step.args.end());
    argv_out.insert(argv_out.end(), {"--json", json_path.string()});

    Outcome o;
    std::vector<char*> cargs;
    for (auto& a : argv_out) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = posix_spawn(&pid, cargs[0], &fa, &attr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        o.status = "failed";
        o.error = "cannot start " + argv_out[0] + ": " + std::strerror(rc);
        return o;
    }
    g_step_pgid = pid;
    const auto deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(step.timeout_s));
    int status = 0;
    bool done = false, timed_out = false;
    while (!done) {
        const pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            done = true;
        } else if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            kill(-pid, SIGTERM);
            for (int i = 0; i < 100 && !done; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                done = waitpid(pid, &status, WNOHANG) == pid;
            }
            if (!done) {
                kill(-pid, SIGKILL);
                waitpid(pid, &status, 0);
                done = true;
            }
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    // Whatever the step left behind in its group (a simulator after a crash) goes too.
    kill(-pid, SIGKILL);
    g_step_pgid = 0;
    o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (fs::exists(json_path)) {
        boost::system::error_code ec;
        o.result = json::parse(read_text(json_path), ec);
        if (ec) {
            o.result = nullptr;
            o.error = json_path.string() + ": not JSON: " + ec.message();
        }
    }
    if (timed_out) {
        o.status = "timeout";
        o.error = "no result after " + std::to_string(static_cast<int>(step.timeout_s)) + " s";
    } else if (o.exit_code != 0) {
        o.status = "failed";
        if (o.error.empty()) o.error = "exit code " + std::to_string(o.exit_code);
    } else if (o.result.is_null()) {
        o.status = "failed";
        if (o.error.empty()) o.error = "exited 0 but wrote no " + json_path.string();
    } else {
        o.status = "ok";
    }
    if (o.status != "ok") {
        const std::string err = tail_of(read_text(err_path), 600);
        if (!err.empty()) o.error += "; stderr: " + err;
    }
    return o;
}

// A step as an earlier run recorded it (--from).
Outcome load_step(const Step& step, const json::object& previous, const std::string& from,
                  std::vector<std::string>& argv_out) {
    Outcome o;
    for (const auto& v : previous.at("steps").as_array()) {
        const auto& st = v.as_object();
        if (st.at("name").as_string() != step.name) continue;
        for (const auto& a : st.at("command").as_array()) argv_out.emplace_back(a.as_string());
        o.status = st.at("status").as_string();
        o.exit_code = static_cast<int>(st.at("exit_code").to_number<double>());
        o.wall_s = st.at("wall_s").to_number<double>();
        o.error = st.at("error").as_string();
        o.result = st.at("result");
        return o;
    }
    o.status = "failed";
    o.error = "no step " + step.name + " in " + from;
    return o;
}

const json::object* figure_of(const json::value& result, std::string_view name) {
    if (!result.is_object() || !result.as_object().contains("figures")) return nullptr;
    for (const auto& f : result.at("figures").as_array()) {
        if (f.as_object().at("name").as_string() == name) return &f.as_object();
    }
    return nullptr;
}

std::optional<double> value_of(const json::value& result, std::string_view name) {
    const auto* f = figure_of(result, name);
    if (f == nullptr) return std::nullopt;
    return f->at("value").to_number<double>();
}

double input_of(const json::value& result, std::string_view name) {
    if (!result.is_object()) return 0;
    const auto& in = result.at("inputs").as_object();
    const auto it = in.find(name);
    return it == in.end() ? 0 : it->value().to_number<double>();
}

std::string format_value(double v) {
    char buf[64];
    const double a = std::abs(v);
    if (a >= 1000 || v == std::floor(v)) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
    } else if (a >= 10) {
        std::snprintf(buf, sizeof buf, "%.1f", v);
    } else if (a >= 0.1) {
        std::snprintf(buf, sizeof buf, "%.2f", v);
    } else {
        std::snprintf(buf, sizeof buf, "%.4f", v);
    }
    // Thousands separators for big counts: easier to read in a table.
    const std::string digits = buf;
    const auto dot = digits.find('.');
    const std::size_t int_end = dot == std::string::npos ? digits.size() : dot;
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && i < int_end && digits[i - 1] != '-' && (int_end - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

struct Row {
    std::string benchmark, input, figure, value, unit;
};

// `p` relative to the working directory when it lies inside it: the results then name
// repository paths (build/release/bench/...), not the machine's.
fs::path relative_if_inside(const fs::path& p) {
    std::error_code ec;
    const fs::path abs = fs::weakly_canonical(p, ec);
    if (ec) return p;
    const fs::path rel = fs::relative(abs, fs::current_path(), ec);
    if (ec || rel.empty() || *rel.begin() == "..") return abs;
    return rel;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Runs every benchmark, writes bench/results.json, prints one table"};
    std::string out_path = "bench/results.json", svg_path, only, binary, source_dir;
    std::string work_dir;
    bool quick = false, list = false;
    app.add_option("--out", out_path, "Results file (JSON)");
    app.add_option("--svg", svg_path, "Cost-growth plot (SVG) to write; none when empty");
    app.add_option("--only", only, "Run only the step of this name (--list shows them)");
    app.add_flag("--quick", quick, "Every step at small sizes (seconds each): a smoke test");
    app.add_flag("--list", list, "List the plan's steps and their commands, run nothing");
    std::string from_path;
    app.add_option("--from", from_path,
                   "Run nothing: take the steps' results from this earlier results file and "
                   "print, derive and plot again; with --only, run that step again and take the "
                   "others from the file");
    app.add_option("--binary", binary, "hashwatt binary (default: ../cli/hashwatt beside this)");
    app.add_option("--source-dir", source_dir, "Repository root (policy file, fixtures)");
    app.add_option("--work-dir", work_dir,
                   "Where each step's output and JSON go (default: run/ beside this program)");
    CLI11_PARSE(app, argc, argv);

    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, end_step_and_exit);
    Paths paths;
    paths.bin_dir = relative_if_inside(fs::canonical("/proc/self/exe").parent_path());
    paths.hashwatt =
        binary.empty() ? (paths.bin_dir.parent_path() / "cli" / "hashwatt").string() : binary;
    paths.source_dir = relative_if_inside(source_dir.empty() ? fs::path(HASHWATT_SOURCE_DIR)
                                                             : fs::path(source_dir));
    if (paths.source_dir.empty()) paths.source_dir = ".";
    const auto steps_all = plan(paths, quick);
    // --from with --only: that step runs again, the others are taken from the file.
    const bool rerun_one = !from_path.empty() && !only.empty();
    std::vector<Step> steps;
    for (const auto& s : steps_all) {
        if (only.empty() || s.name == only || rerun_one) steps.push_back(s);
    }
    if (list) {
        for (const auto& s : steps_all) {
            std::printf("%-20s bench_%s", s.name.c_str(), s.benchmark.c_str());
            for (const auto& a : s.args) std::printf(" %s", a.c_str());
            std::printf("\n");
        }
        return 0;
    }
    if (steps.empty() ||
        (!only.empty() && std::none_of(steps_all.begin(), steps_all.end(),
                                       [&](const Step& st) { return st.name == only; }))) {
        std::fprintf(stderr, "--only %s: no such step (--list shows the plan)\n", only.c_str());
        return 2;
    }
    if (!fs::exists(paths.hashwatt)) {
        std::fprintf(stderr, "%s: no hashwatt binary (build it, or pass --binary)\n",
                     paths.hashwatt.c_str());
        return 2;
    }
    json::object previous;
    if (!from_path.empty()) {
        boost::system::error_code ec;
        auto doc = json::parse(read_text(from_path), ec);
        if (ec || !doc.is_object() || !doc.as_object().contains("steps")) {
            std::fprintf(stderr, "%s: not a results file of bench_run_all\n", from_path.c_str());
            return 2;
        }
        previous = std::move(doc.as_object());
    }
    const fs::path work =
        work_dir.empty() ? paths.bin_dir / (quick ? "run-quick" : "run") : fs::path(work_dir);
    fs::create_directories(work);
    if (fs::path(out_path).has_parent_path())
        fs::create_directories(fs::path(out_path).parent_path());

    Results run("run_all", argc, argv);
    const auto t_start = std::chrono::steady_clock::now();
    json::array steps_json;
    std::vector<Row> rows;
    std::vector<std::string> failures;
    std::map<std::string, json::value> results;  // step name -> its program's document
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        std::fprintf(stderr, "[%zu/%zu] %s (%s) ...", i + 1, steps.size(), s.name.c_str(),
                     s.input.c_str());
        std::fflush(stderr);
        std::vector<std::string> argv_used;
        Outcome o = from_path.empty() || (rerun_one && s.name == only)
                        ? run_step(s, paths, work, argv_used)
                        : load_step(s, previous, from_path, argv_used);
        std::fprintf(stderr, " %s in %.0f s%s%s\n", o.status.c_str(), o.wall_s,
                     o.error.empty() ? "" : ": ", tail_of(o.error, 300).c_str());
        json::array cmd;
        std::string line;
        for (const auto& a : argv_used) {
            cmd.emplace_back(a);
            line += (line.empty() ? "" : " ") + a;
        }
        steps_json.push_back(json::object{{"name", s.name},
                                          {"benchmark", s.benchmark},
                                          {"input", s.input},
                                          {"command", cmd},
                                          {"command_line", line},
                                          {"timeout_s", s.timeout_s},
                                          {"status", o.status},
                                          {"exit_code", o.exit_code},
                                          {"wall_s", o.wall_s},
                                          {"error", o.error},
                                          {"result", o.result}});
        if (o.status != "ok") {
            failures.push_back(s.name);
            rows.push_back(
                {s.name, s.input, "FAILED (" + o.status + ")", "", tail_of(o.error, 60)});
        }
        if (!o.result.is_null()) {
            for (const auto& fv : o.result.at("figures").as_array()) {
                const auto& f = fv.as_object();
                const std::string name(f.at("name").as_string());
                if (!s.shown.empty() &&
                    std::find(s.shown.begin(), s.shown.end(), name) == s.shown.end())
                    continue;
                rows.push_back({s.name, s.input, name,
                                format_value(f.at("value").to_number<double>()),
                                std::string(f.at("unit").as_string())});
            }
            results[s.name] = o.result;
        }
    }

    // The agent against pyasic, at every fleet size measured.
    json::array pyasic;
    for (const char* name : {"agent_poll_1k", "agent_poll_10k", "agent_poll_20k"}) {
        if (!results.count(name)) continue;
        const auto us = value_of(results[name], "cpu_per_poll");
        if (!us || *us <= 0) continue;
        const double ratio = kPyasicCpuPerPollUs / *us;
        const bool met = ratio >= kPyasicTargetRatio;
        char fig[96];
        std::snprintf(fig, sizeof fig, "pyasic %.1f ms / agent CPU per poll (target >= %.0fx: %s)",
                      kPyasicCpuPerPollUs / 1000, kPyasicTargetRatio, met ? "met" : "NOT met");
        rows.push_back({name, format_value(input_of(results[name], "miners")) + " miners", fig,
                        format_value(ratio), "x"});
        pyasic.push_back(json::object{{"step", name},
                                      {"agent_cpu_per_poll_us", *us},
                                      {"pyasic_cpu_per_poll_us", kPyasicCpuPerPollUs},
                                      {"ratio", ratio},
                                      {"target_ratio", kPyasicTargetRatio},
                                      {"met", met}});
    }

    // The table.
    std::size_t w[4] = {9, 5, 6, 5};
    for (const auto& r : rows) {
        w[0] = std::max(w[0], r.benchmark.size());
        w[1] = std::max(w[1], r.input.size());
        w[2] = std::max(w[2], r.figure.size());
        w[3] = std::max(w[3], r.value.size());
    }
    const auto print_row = [&](const Row& r) {
        std::printf("| %-*s | %-*s | %-*s | %*s | %s |\n", static_cast<int>(w[0]),
                    r.benchmark.c_str(), static_cast<int>(w[1]), r.input.c_str(),
                    static_cast<int>(w[2]), r.figure.c_str(), static_cast<int>(w[3]),
                    r.value.c_str(), r.unit.c_str());
    };
    MachineInfo m = machine_info();
    if (!from_path.empty()) {
        // The figures are that run's: so are the machine and its load.
        const auto& ms = previous.at("machine_start").as_object();
        const auto& me = previous.at("machine_end").as_object();
        m.cpu_model = me.at("cpu_model").as_string();
        m.cores = static_cast<unsigned>(me.at("cores").to_number<double>());
        m.ram_gib = me.at("ram_gib").to_number<double>();
        m.kernel = me.at("kernel").as_string();
        for (std::size_t i = 0; i < 3; ++i) {
            m.load[i] = me.at("loadavg").as_array().at(i).to_number<double>();
            run.start.load[i] = ms.at("loadavg").as_array().at(i).to_number<double>();
        }
        run.start.cpu_model = m.cpu_model;
        run.start.cores = m.cores;
        run.start.ram_gib = m.ram_gib;
        run.start.kernel = m.kernel;
        run.started_at = previous.at("started_at").as_string();
    }
    std::printf(
        "\nmachine: %s, %u cores, %.1f GiB, Linux %s; load average %.2f at the start, %.2f "
        "at the end\n\n",
        m.cpu_model.c_str(), m.cores, m.ram_gib, m.kernel.c_str(), run.start.load[0], m.load[0]);
    print_row({"benchmark", "input", "figure", "value", "unit"});
    std::printf("|%s|%s|%s|%s:|---|\n", std::string(w[0] + 2, '-').c_str(),
                std::string(w[1] + 2, '-').c_str(), std::string(w[2] + 2, '-').c_str(),
                std::string(w[3] + 1, '-').c_str());
    for (const auto& r : rows) print_row(r);
    json::array table;
    for (const auto& r : rows) {
        table.push_back(json::object{{"benchmark", r.benchmark},
                                     {"input", r.input},
                                     {"figure", r.figure},
                                     {"value", r.value},
                                     {"unit", r.unit}});
    }

    // Cost growth, from this run's own figures.
    CostInputs ci;
    const auto add_point = [&](const char* step, const char* fig, std::vector<Point>& to,
                               double scale = 1) {
        if (!results.count(step)) return;
        const auto v = value_of(results[step], fig);
        if (v) to.push_back({input_of(results[step], "miners"), *v * scale});
    };
    for (const char* s : {"agent_poll_1k", "agent_poll_10k", "agent_poll_20k"}) {
        add_point(s, "cpu_per_poll", ci.agent_cpu_per_poll_us);
        add_point(s, "peak_rss", ci.agent_rss_mib);
        add_point(s, "round_wall", ci.agent_round_wall_s);
    }
    for (const char* s : {"metrics_1k", "metrics_10k", "metrics_50k"}) {
        add_point(s, "http_get_metrics", ci.scrape_ms);
        add_point(s, "http_scrape_size", ci.scrape_bytes);
        add_point(s, "collector_rss", ci.collector_rss_mib);
        add_point(s, "collector_peak_rss", ci.collector_peak_rss_mib);
    }
    if (results.count("collector_ingest")) {
        const auto& r = results["collector_ingest"];
        ci.ingest_cpu_per_sample_us = value_of(r, "http_cpu_per_sample").value_or(0);
        ci.ingest_samples_per_s = value_of(r, "http_samples_per_s").value_or(0);
        ci.store_bytes_per_sample = value_of(r, "http_db_bytes_per_sample").value_or(0);
    }
    if (results.count("alert_evaluate_10k"))
        ci.alert_us_per_miner = value_of(results["alert_evaluate_10k"], "per_miner").value_or(0);
    ci.machine_cores = m.cores;
    ci.machine_ram_mib = m.ram_gib * 1024;
    {
        std::error_code ec;
        const auto space = fs::space(fs::absolute(out_path).parent_path(), ec);
        ci.free_disk_bytes = ec ? 0 : static_cast<double>(space.available);
        if (!from_path.empty()) {
            ci.free_disk_bytes = previous.at("cost_growth")
                                     .at("assumptions")
                                     .at("free_disk_bytes")
                                     .to_number<double>();
        }
    }
    const CostGrowth cg = cost_growth(ci, {1000, 10000, 20000, 50000, 100000});
    const std::string md = cost_growth_markdown(cg);
    std::printf(
        "\ncost growth at a 30 s poll interval (m: measured in this run; d: derived):\n\n%s\n",
        md.c_str());
    if (!svg_path.empty()) {
        std::ofstream svg(svg_path, std::ios::trunc);
        svg << cost_growth_svg(cg, m.cpu_model + ", " + std::to_string(m.cores) + " cores");
        if (!svg.flush()) {
            std::fprintf(stderr, "%s: cannot write the plot\n", svg_path.c_str());
            failures.push_back("svg");
        }
    }

    json::object doc{
        {"program", "run_all"},
        {"command", json::value_from(run.command)},
        {"quick", quick},
        {"only", only},
        {"started_at", run.started_at},
        {"ended_at", from_path.empty() ? json::value(utc_now_iso()) : previous.at("ended_at")},
        {"wall_s", from_path.empty() ? json::value(std::chrono::duration<double>(
                                                       std::chrono::steady_clock::now() - t_start)
                                                       .count())
                                     : previous.at("wall_s")},
        {"replotted_from", from_path},
        {"work_dir", work.string()},
        {"machine_start", to_json(run.start)},
        {"machine_end", to_json(m)},
        {"steps", steps_json},
        {"failures", json::value_from(failures)},
        {"table", table},
        {"pyasic", pyasic},
        {"pyasic_source",
         "docs/performance.md, 'Agent: poll rounds and scans': pyasic measured at "
         "about 2.5 ms CPU per miner poll (issue 4's reference, not measured here)"},
        {"cost_growth", to_json(cg)},
        {"cost_growth_markdown", md}};
    {
        const std::string tmp = out_path + ".tmp";
        std::ofstream out(tmp, std::ios::trunc);
        out << json::serialize(doc) << "\n";
        if (!out.flush()) {
            std::fprintf(stderr, "%s: cannot write the results\n", out_path.c_str());
            return 1;
        }
        out.close();
        fs::rename(tmp, out_path);
    }
    std::printf("results: %s%s%s; step outputs in %s\n", out_path.c_str(),
                svg_path.empty() ? "" : ", plot: ", svg_path.c_str(), work.string().c_str());
    if (!failures.empty()) {
        std::string names;
        for (const auto& f : failures) names += " " + f;
        std::printf("FAILED:%s\n", names.c_str());
        return 1;
    }
    return 0;
}
