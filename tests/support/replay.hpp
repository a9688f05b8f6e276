// `hashwatt sim --replay` and `hashwatt poll --json` as child processes, for the suites that
// serve real captures (the e2e suites, and the driver suites' replay cases). Header-only because it
// names the binary through HASHWATT_BINARY, which only the test executables define.
#pragma once

#include "tests/support/process.hpp"
#include "tests/support/sample_json.hpp"
#include "tests/support/sim_process.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::test {

// `hashwatt sim --replay DIR --listen IP:0 --http-port 0` (docs/simulator.md "Replay mode"):
// free ports, read back from its banner; its log goes under `root`.
inline SimProcess start_replay(const TempDir& root, const std::filesystem::path& dir,
                               const std::string& ip) {
    return SimProcess(HASHWATT_BINARY,
                      {"--replay", dir.string(), "--listen", ip + ":0", "--http-port", "0"},
                      root.path() + "/sim-" + dir.filename().string());
}

// Generous: two cores shared with other builds. A poll of a loopback replay takes milliseconds.
inline constexpr std::chrono::seconds kPollDeadline{30};

struct Polled {
    RunResult run;
    boost::json::object sample;
};

// `hashwatt poll IP:RPC --json --http-port HTTP ARGS...` against the replay: stdout must be one
// JSON object (the CLI prints the sample whatever the exit status).
inline Polled poll_replay_json(const SimProcess& sim, const std::string& ip,
                               const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv{
        HASHWATT_BINARY, "poll",        ip + ":" + std::to_string(sim.rpc_port()),
        "--json",        "--http-port", std::to_string(sim.http_port())};
    argv.insert(argv.end(), args.begin(), args.end());
    Polled p;
    p.run = run(argv, kPollDeadline);
    REQUIRE_MESSAGE(!p.run.timed_out, "hashwatt poll " << ip << " timed out");
    INFO("stdout: " << p.run.out);
    INFO("stderr: " << p.run.err);
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(p.run.out, ec);
    REQUIRE_MESSAGE(!ec, "stdout is not JSON: " << ec.message());
    REQUIRE(v.is_object());
    p.sample = std::move(v.as_object());
    return p;
}

// An auto-detected poll of a capture set detection has nothing to recognise by (no `version`
// reply, no web root): it must either read the same values (`check_values`, as for the poll with
// --driver) or fail the way the CLI documents, exit 1 with error "unsupported".
template <typename CheckValues>
void check_read_or_unsupported(const Polled& detected, CheckValues check_values) {
    if (flag(detected.sample, "up")) {
        check_values(detected);
    } else {
        INFO("sample: " << boost::json::serialize(detected.sample));
        CHECK(detected.run.exit_code == 1);
        CHECK(str(detected.sample, "error") == "unsupported");
    }
}

}  // namespace hashwatt::test
