#include "bench/bench_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

extern char** environ;

namespace hashwatt::bench {

ProcStats proc_stats(pid_t pid) {
    ProcStats s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
        std::istringstream rest(line.substr(close + 2));
        std::vector<std::string> f;
        std::string tok;
        while (rest >> tok) f.push_back(tok);
        if (f.size() > 13) {
            const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
            s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;
        }
    }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
    }
    return s;
}

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

double load1() {
    double l[1] = {0};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path, int cpu) {
    std::vector<std::string> args = argv;
    if (cpu >= 0 && access("/usr/bin/taskset", X_OK) == 0) {
        args.insert(args.begin(), {"/usr/bin/taskset", "-c", std::to_string(cpu)});
    }
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, cargs[0], &fa, nullptr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
    return pid;
}

std::string wait_for_text(const std::string& path, const std::string& needle, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
        std::ifstream in(path);
        std::stringstream s;
        s << in.rdbuf();
        if (s.str().find(needle) != std::string::npos) return s.str();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
}

void stop(pid_t pid) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(cpu), &set);
    sched_setaffinity(0, sizeof set, &set);
}

std::string machine_description() {
    std::string model = "unknown CPU";
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            model = line.substr(line.find(':') + 2);
            break;
        }
    }
    utsname u{};
    uname(&u);
    return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, Linux " +
           u.release;
}

double host_steal_seconds() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    return f ? static_cast<double>(steal) / static_cast<double>(sysconf(_SC_CLK_TCK)) : 0.0;
}

long tcp_time_wait_sockets() {
    std::ifstream f("/proc/net/sockstat");
    std::string word;
    while (f >> word) {
        if (word == "tw") {
            long n = -1;
            f >> n;
            return n;
        }
    }
    return -1;
}

long tcp_active_opens() {
    // Two "Tcp:" lines, names then values: "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn
    // ActiveOpens ...", so ActiveOpens is the fifth value.
    std::ifstream f("/proc/net/snmp");
    std::string names, values;
    while (std::getline(f, names) && std::getline(f, values)) {
        if (names.rfind("Tcp:", 0) != 0) continue;
        std::istringstream in(values);
        std::string label;
        long v = -1;
        in >> label;
        for (int i = 0; i < 5; ++i) in >> v;
        return in ? v : -1;
    }
    return -1;
}

long wait_for_time_wait_below(long below, double max_seconds) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(max_seconds));
    long n = tcp_time_wait_sockets();
    while (n >= below && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        n = tcp_time_wait_sockets();
    }
    return n;
}

MachineInfo machine_info() {
    MachineInfo m;
    m.cpu_model = "unknown CPU";
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            m.cpu_model = line.substr(line.find(':') + 2);
            break;
        }
    }
    m.cores = std::thread::hardware_concurrency();
    std::ifstream meminfo("/proc/meminfo");
    while (std::getline(meminfo, line)) {
        if (line.rfind("MemTotal:", 0) == 0) {
            m.ram_gib = std::stod(line.substr(9)) / (1024.0 * 1024.0);
            break;
        }
    }
    utsname u{};
    uname(&u);
    m.kernel = u.release;
    getloadavg(m.load, 3);
    return m;
}

boost::json::object to_json(const MachineInfo& m) {
    return {{"cpu_model", m.cpu_model},
            {"cores", m.cores},
            {"ram_gib", m.ram_gib},
            {"kernel", m.kernel},
            {"loadavg", boost::json::array{m.load[0], m.load[1], m.load[2]}}};
}

boost::json::object to_json(const Figure& f) {
    return {{"name", f.name}, {"value", f.value}, {"unit", f.unit},
            {"runs", f.runs}, {"stat", f.stat},   {"of", f.of}};
}

std::string utc_now_iso() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Results::Results(std::string program_name, int argc, char** argv)
    : program(std::move(program_name)), started_at(utc_now_iso()), start(machine_info()) {
    for (int i = 0; i < argc; ++i) command.emplace_back(argv[i]);
}

void Results::add(std::string name, double value, std::string unit, int runs, std::string stat,
                  std::string of) {
    figures.push_back(
        {std::move(name), value, std::move(unit), runs, std::move(stat), std::move(of)});
}

void write_results_json(const std::string& path, const Results& r) {
    if (path.empty()) return;
    boost::json::array cmd;
    std::string line;
    for (const auto& a : r.command) {
        cmd.emplace_back(a);
        line += (line.empty() ? "" : " ") + a;
    }
    boost::json::array figures;
    for (const auto& f : r.figures) figures.emplace_back(to_json(f));
    const MachineInfo end = machine_info();
    boost::json::object machine = to_json(r.start);
    machine.erase("loadavg");
    machine["loadavg_start"] =
        boost::json::array{r.start.load[0], r.start.load[1], r.start.load[2]};
    machine["loadavg_end"] = boost::json::array{end.load[0], end.load[1], end.load[2]};
    const boost::json::object doc{{"program", r.program},      {"command", cmd},
                                  {"command_line", line},      {"started_at", r.started_at},
                                  {"ended_at", utc_now_iso()}, {"machine", machine},
                                  {"inputs", r.inputs},        {"figures", figures}};
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << boost::json::serialize(doc) << "\n";
        if (!out.flush()) throw std::runtime_error(path + ": cannot write the results");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw std::runtime_error(path + ": cannot write the results: " + ec.message());
}

}  // namespace hashwatt::bench
