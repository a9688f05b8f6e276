#include "tests/support/process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace hashwatt::test {
namespace {

std::vector<char*> make_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The child gets stdin, stdout and stderr only. Asio opens its sockets without FD_CLOEXEC, so
// a server the test runs in-process (a webhook receiver, a collector) would otherwise live on
// in every child: its listening port stays taken, and connections to it queue up in a child
// that never accepts them.
void close_inherited(posix_spawn_file_actions_t& fa) {
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::string& input) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
        throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    close_inherited(fa);
    pid_t pid = -1;
    auto args = make_argv(argv);
    const int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(err_pipe[0]);
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    signal(SIGPIPE, SIG_IGN);
    std::size_t written = 0;
    if (input.empty()) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    }
    RunResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        pollfd fds[3];
        nfds_t n = 0;
        if (out_open) fds[n++] = {out_pipe[0], POLLIN, 0};
        if (err_open) fds[n++] = {err_pipe[0], POLLIN, 0};
        if (in_pipe[1] >= 0) fds[n++] = {in_pipe[1], POLLOUT, 0};
        if (poll(fds, n, static_cast<int>(std::min<long>(left.count(), 1000))) < 0 &&
            errno != EINTR) {
            break;
        }
        for (nfds_t i = 0; i < n; ++i) {
            if (fds[i].revents == 0) continue;
            if (fds[i].fd == in_pipe[1]) {
                const auto w = write(in_pipe[1], input.data() + written, input.size() - written);
                if (w > 0) written += static_cast<std::size_t>(w);
                if (w < 0 || written == input.size()) {
                    close(in_pipe[1]);
                    in_pipe[1] = -1;
                }
                continue;
            }
            const auto got = read(fds[i].fd, buf, sizeof buf);
            std::string& dst = fds[i].fd == out_pipe[0] ? r.out : r.err;
            if (got > 0) {
                dst.append(buf, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                (fds[i].fd == out_pipe[0] ? out_open : err_open) = false;
            }
        }
    }
    if (in_pipe[1] >= 0) close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

Child::Child(const std::vector<std::string>& argv, const std::string& log_prefix)
    : out_path_(log_prefix + ".out"), err_path_(log_prefix + ".err") {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close_inherited(fa);
    auto args = make_argv(argv);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

Child::~Child() {
    if (!reaped_) stop(SIGKILL, std::chrono::seconds(5));
}

bool Child::running() {
    if (reaped_) return false;
    if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
}

int Child::stop(int sig, std::chrono::milliseconds grace) {
    if (running()) {
        kill(pid_, sig);
        if (!wait_until([&] { return !running(); }, grace)) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status_, 0);
            reaped_ = true;
        }
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

std::string Child::stdout_text() const { return slurp(out_path_); }
std::string Child::stderr_text() const { return slurp(err_path_); }

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hashwatt-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content,
                           unsigned mode) const {
    const std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << content;
    }
    chmod(p.c_str(), static_cast<mode_t>(mode));
    return p;
}

std::size_t spooled_samples(const std::string& dir) {
    namespace fs = std::filesystem;
    std::size_t n = 0;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        const auto dash = name.find('-');
        if (!e.is_regular_file() || e.path().extension() != ".json" || dash == std::string::npos) {
            continue;
        }
        n += std::stoul(name.substr(dash + 1));
    }
    return n;
}

}  // namespace hashwatt::test
