// The binary's contract: help and version succeed, bad usage exits 2 with a message on stderr.
#include "tests/support/process.hpp"

#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;

TEST_CASE("--help lists the commands and exits 0") {
    const auto r = run_hashwatt({"--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("version") != std::string::npos);
    CHECK(r.out.find("Exit codes") != std::string::npos);
}

TEST_CASE("version prints the version") {
    for (const char* form : {"version", "--version"}) {
        const auto r = run_hashwatt({form});
        CHECK(r.exit_code == 0);
        CHECK(r.out.starts_with("hashwatt 0."));
    }
}

TEST_CASE("no command, an unknown command or an unknown flag exit 2 with usage on stderr") {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{},
                                               {"frobnicate"},
                                               {"--frobnicate"},
                                               {"version", "--frobnicate"},
                                               {"--log-level", "loud", "version"}}) {
        const auto r = run_hashwatt(args);
        CAPTURE(args.size());
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(r.err.find("hashwatt: ") == 0);
        CHECK(r.err.find("--help") != std::string::npos);
    }
}

TEST_CASE("global flags work before and after the command") {
    CHECK(run_hashwatt({"--log-level", "debug", "version"}).exit_code == 0);
    CHECK(run_hashwatt({"version", "--log-level", "warn"}).exit_code == 0);
}
