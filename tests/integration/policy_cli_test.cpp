// `hashwatt policy check`: the shipped example passes with a one-line summary; a mistake exits 2
// with file:line:column on stderr; a missing file or argument is a usage error.
#include "tests/support/process.hpp"

#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;

TEST_CASE("policy check: the shipped example is valid") {
    const std::string file = std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/policy.toml";
    const auto r = run_hashwatt({"policy", "check", file});
    CHECK(r.exit_code == 0);
    CHECK(r.out == file + ": ok: 1 rule (break_even), hashprice 0.0500/TH/day, interval 5m\n");
    CHECK(r.err.empty());
}

TEST_CASE("policy check: a mistake exits 2 naming its place") {
    TempDir dir;
    const auto bad = dir.write("policy.toml",
                               "[economics]\nhashprice = 0.05\n\n[[rule]]\nkind = \"break_even\"\n"
                               "sleep_above = 100\n");
    auto r = run_hashwatt({"policy", "check", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err ==
          bad + ":6:15: rule[0].sleep_above: only price_threshold rules take sleep_above\n");

    const auto typo = dir.write("typo.toml",
                                "[economics]\nhashprice = 0.05\n[safety]\nmin_onn = \"30m\"\n"
                                "[[rule]]\nkind = \"break_even\"\n");
    r = run_hashwatt({"policy", "check", typo});
    CHECK(r.exit_code == 2);
    CHECK(r.err.starts_with(typo + ":4:1: safety.min_onn: unknown key"));

    r = run_hashwatt({"policy", "check", dir.path() + "/missing.toml"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("missing.toml") != std::string::npos);

    r = run_hashwatt({"policy", "check"});
    CHECK(r.exit_code == 2);
    r = run_hashwatt({"policy"});
    CHECK(r.exit_code == 2);
}
