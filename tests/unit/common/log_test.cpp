#include "common/log.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;

TEST_CASE("log lines are logfmt with quoting, and levels filter") {
    std::vector<std::string> lines;
    log::set_sink([&](std::string_view l) { lines.emplace_back(l); });
    log::set_level(log::Level::info);
    log::debug("hidden");
    log::info("poll failed",
              {{"miner", "aa:bb"}, {"reason", "timeout"}, {"ms", 1500}, {"ok", false}});
    log::warn("odd", {{"text", "a \"quoted\"\nline"}, {"empty", ""}});
    log::set_sink(nullptr);

    REQUIRE(lines.size() == 2);
    CHECK(lines[0].starts_with("ts="));
    CHECK(lines[0].find(
              " level=info msg=\"poll failed\" miner=aa:bb reason=timeout ms=1500 ok=false\n") !=
          std::string::npos);
    CHECK(lines[1].find("text=\"a \\\"quoted\\\"\\nline\" empty=\"\"") != std::string::npos);
}

TEST_CASE("levels parse") {
    CHECK(log::parse_level("debug") == log::Level::debug);
    CHECK(log::parse_level("warning") == log::Level::warn);
    CHECK_FALSE(log::parse_level("loud"));
}
