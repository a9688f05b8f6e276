// Child processes for integration tests: run a command to completion with a deadline, or keep
// a server running for the length of a test. Every child is killed (by its own pid) when its
// owner goes out of scope, so a failing test leaves nothing behind.
#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace hashwatt::test {

struct RunResult {
    int exit_code = -1;  // -1 when killed by a signal or timed out
    bool timed_out = false;
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with the arguments, feeding `input` on stdin; kills it after `timeout`.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::string& input = {});

#ifdef HASHWATT_BINARY
// Runs the hashwatt binary the test was built against (HASHWATT_BINARY) with `args`.
inline RunResult run_hashwatt(std::vector<std::string> args,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    args.insert(args.begin(), HASHWATT_BINARY);
    return run(args, timeout);
}
#endif

// Samples waiting in an agent's spool directory: the spool names each batch file
// <seq>-<samples>.json. 0 when the directory does not exist.
std::size_t spooled_samples(const std::string& dir);

// A long-running child whose stdout and stderr go to files (so it never blocks on a pipe).
class Child {
  public:
    Child(const std::vector<std::string>& argv, const std::string& log_prefix);
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const noexcept { return pid_; }
    bool running();
    // Sends `sig` and waits up to `grace` for exit, then SIGKILL. Returns the exit code (or -1).
    int stop(int sig, std::chrono::milliseconds grace = std::chrono::seconds(10));
    std::string stdout_text() const;
    std::string stderr_text() const;

  private:
    pid_t pid_ = -1;
    int status_ = 0;
    bool reaped_ = false;
    std::string out_path_, err_path_;
};

// Polls `pred` until it returns true or `timeout` passes; returns the last result.
template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const noexcept { return path_; }
    // Writes `content` to path()/name and returns the full path.
    std::string write(const std::string& name, const std::string& content,
                      unsigned mode = 0644) const;

  private:
    std::string path_;
};

}  // namespace hashwatt::test

#include <thread>

template <typename Pred>
bool hashwatt::test::wait_until(Pred pred, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds step) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= end) return pred();
        std::this_thread::sleep_for(step);
    }
}
