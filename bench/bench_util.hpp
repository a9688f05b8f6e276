// Small helpers shared by the benchmark programs: process stats from /proc, medians, children.
#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

#include <boost/json/object.hpp>

namespace hashwatt::bench {

struct ProcStats {
    double cpu_s = 0;  // user + system
    long rss_kb = 0;
};

// Reads /proc/<pid>/stat and /proc/<pid>/status.
ProcStats proc_stats(pid_t pid);

double median(std::vector<double> v);
// Milliseconds of the steady clock since `t`.
double ms_since(std::chrono::steady_clock::time_point t);
// The q-quantile (0..1) of `v` by nearest rank; 0 for an empty vector.
double percentile(std::vector<double> v, double q);
// The 1-minute load average, -1 if unreadable: quoted with figures taken on a shared machine.
double load1();

// Starts `argv` with stdout to `out_path`, stderr to `err_path`, pinned to `cpu` (-1 = not
// pinned). Returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, int cpu);

// Waits up to `seconds` for `path` to contain `needle`; returns the file's content (empty on
// timeout).
std::string wait_for_text(const std::string& path, const std::string& needle, double seconds);

// SIGTERM, then SIGKILL after a grace period; reaps the child.
void stop(pid_t pid);

// Pins the calling process to one CPU (no-op if it fails).
void pin_self(int cpu);

std::string machine_description();

// CPU time the hypervisor gave to other guests ("steal", all CPUs, seconds since boot), from
// /proc/stat; rounds with steal are noisy and worth rerunning.
double host_steal_seconds();

// TCP sockets in TIME_WAIT on this host (/proc/net/sockstat), -1 if unreadable.
long tcp_time_wait_sockets();

// TCP connections this host has opened since boot (ActiveOpens of /proc/net/snmp), -1 if
// unreadable. Its difference over a poll round is the agent's connections per poll.
long tcp_active_opens();

// Every request on a cgminer-style port is a connection the server closes, so a benchmark
// leaves tens of thousands of TIME_WAIT sockets behind; the next round's connection lookups
// then run slower than they would in a poller's steady state (a few hundred connections a
// second). Waits up to `max_seconds` until fewer than `below` remain; returns how many remain.
long wait_for_time_wait_below(long below, double max_seconds);

// --- Machine-readable results (`--json PATH`), collected by bench_run_all into bench/results.json.

// One measured figure: `value` in `unit`, the `stat` ("median", "p99", "max", "single", ...) of
// `runs` runs; `of` says what a run is ("steady poll rounds", "scrapes").
struct Figure {
    std::string name;
    double value = 0;
    std::string unit;
    int runs = 1;
    std::string stat = "median";
    std::string of;
};

struct MachineInfo {
    std::string cpu_model;  // first "model name" of /proc/cpuinfo
    unsigned cores = 0;
    double ram_gib = 0;             // MemTotal of /proc/meminfo
    std::string kernel;             // uname -r
    double load[3] = {-1, -1, -1};  // 1, 5 and 15 min load averages when read
};

// Reads the machine's description and its load averages now.
MachineInfo machine_info();
boost::json::object to_json(const MachineInfo& m);
boost::json::object to_json(const Figure& f);
// UTC wall-clock time, ISO 8601 to the second.
std::string utc_now_iso();

// What one program measured: made at the start of main (takes the machine's load then), filled in,
// then written with write_results_json.
struct Results {
    Results(std::string program, int argc, char** argv);
    std::string program;
    std::vector<std::string> command;
    std::string started_at;
    MachineInfo start;
    boost::json::object inputs;
    std::vector<Figure> figures;
    void add(std::string name, double value, std::string unit, int runs = 1,
             std::string stat = "median", std::string of = {});
};

// Writes `r` as one JSON object to `path` (through a temporary file and a rename, so a reader
// never sees half a file), with the load averages at the end. An empty `path` writes nothing.
// Throws std::runtime_error naming the path if it cannot be written.
void write_results_json(const std::string& path, const Results& r);

}  // namespace hashwatt::bench
