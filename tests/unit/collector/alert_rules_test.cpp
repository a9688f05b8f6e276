#include "collector/alerts/rules.hpp"
#include "collector/config/collector_config.hpp"
#include "common/config.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;

namespace {

std::string error_of(const std::string& text) {
    try {
        (void)parse_collector_config(text, "collector.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

const AlertRule* find(const std::vector<AlertRule>& rules, std::string_view name) {
    for (const auto& r : rules) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("alert rules: one default per kind, enabled, evaluated every 15 s") {
    const auto c = parse_collector_config("", "collector.toml");
    CHECK(c.alerts.enabled);
    CHECK(c.alerts.interval == 15s);
    REQUIRE(c.alerts.rules.size() == 11);
    for (const auto* kind :
         {"offline", "hashrate_low", "chip_temp_high", "board_temp_high", "fan_failure",
          "board_dead", "reject_rate_high", "power_over_limit", "command_failed", "agent_silent"}) {
        const auto k = parse_rule_kind(kind);
        REQUIRE(k);
        CHECK(to_string(*k) == kind);
        int n = 0;
        for (const auto& r : c.alerts.rules) n += r.kind == *k && r.enabled;
        CHECK_MESSAGE(n == 1, kind);
    }
    const auto* chip = find(c.alerts.rules, "MinerChipTempHigh");
    REQUIRE(chip);
    CHECK(chip->threshold == 90);
    CHECK(chip->severity == Severity::critical);
    CHECK(find(c.alerts.rules, "MinerOffline")->for_duration == 5min);
}

TEST_CASE("alert rules: a rule with a default's name tunes it; a new name adds a rule") {
    const auto c = parse_collector_config(R"(
[alerts]
interval = "30s"

[[alerts.rule]]
name = "MinerChipTempHigh"
threshold = 85
for = "1m"
labels = { team = "hot-aisle" }

[[alerts.rule]]
name = "MinerBoardTempHigh"
make_threshold = { MicroBT = 95, Canaan = 85 }

[[alerts.rule]]
name = "MinerRejectRateHigh"
enabled = false

[[alerts.rule]]
name = "NorthChipsWarm"
kind = "chip_temp_high"
threshold = 80
severity = "info"
site = "north"
selector = { rack = "r7" }
summary = "{miner} warm: {value} C"
)",
                                          "collector.toml");
    CHECK(c.alerts.interval == 30s);
    REQUIRE(c.alerts.rules.size() == 12);
    const auto* chip = find(c.alerts.rules, "MinerChipTempHigh");
    CHECK(chip->threshold == 85);
    CHECK(chip->for_duration == 1min);
    CHECK(chip->keep_firing_for == 5min);  // untouched fields keep the default
    CHECK(chip->severity == Severity::critical);
    CHECK(chip->labels.at("team") == "hot-aisle");
    CHECK_FALSE(find(c.alerts.rules, "MinerRejectRateHigh")->enabled);
    const auto* board = find(c.alerts.rules, "MinerBoardTempHigh");
    CHECK(board->make_thresholds == std::map<std::string, double>{{"MicroBT", 95}, {"Canaan", 85}});
    CHECK(threshold_for(*board, "Canaan") == 85);
    CHECK(threshold_for(*board, "Bitmain") == 80);
    CHECK(threshold_for(*board, std::nullopt) == 80);
    const auto* warm = find(c.alerts.rules, "NorthChipsWarm");
    REQUIRE(warm);
    CHECK(warm->kind == RuleKind::chip_temp_high);
    CHECK(warm->threshold == 80);
    CHECK(warm->severity == Severity::info);
    CHECK(warm->site == "north");
    CHECK(warm->selector.at("rack") == "r7");
    CHECK(warm->summary == "{miner} warm: {value} C");
    CHECK(warm->for_duration == 2min);  // from the default of its kind
}

TEST_CASE("alert rules: errors name the key") {
    CHECK(error_of("[alerts]\ninterval = \"0s\"\n").find("alerts.interval") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"X\"\n").find("alerts.rule[0].kind: missing") !=
          std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\n[[alerts.rule]]\nname = "
                   "\"MinerOffline\"\n")
              .find("alerts.rule[1].name: rule MinerOffline is given twice") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"X\"\nkind = \"hot\"\n").find("alerts.rule[0].kind") !=
          std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerHashrateLow\"\nthreshold = 80\n")
              .find("alerts.rule[0].threshold") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\nkind = \"fan_failure\"\n")
              .find("alerts.rule[0].kind: rule MinerOffline exists with kind offline") !=
          std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerFanFailure\"\nmake_threshold = { X = 3 }\n")
              .find("alerts.rule[0].make_threshold.X") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\nexpected_boards = 3\n")
              .find("alerts.rule[0].expected_boards") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\nlabels = { severity = \"x\" }\n")
              .find("alerts.rule[0].labels: 'severity' is set by the engine") != std::string::npos);
    CHECK(error_of("[[alerts.rule]]\nname = \"MinerOffline\"\nfour = \"1m\"\n")
              .find("alerts.rule[0].four: unknown key") != std::string::npos);
}

TEST_CASE("alert rules: templates fill known names and keep unknown ones") {
    CHECK(fill_template("{miner} at {value} C, {nope}", {{"miner", "m1"}, {"value", "91.5"}}) ==
          "m1 at 91.5 C, {nope}");
    CHECK(fill_template("no braces", {}) == "no braces");
    CHECK(fill_template("open { only", {}) == "open { only");
}

TEST_CASE("alert rules: the notifiers' tables live in [alerts] beside the rules") {
    const auto c = parse_collector_config(R"(
[alerts]
interval = "20s"

[[alerts.rule]]
name = "MinerOffline"
for = "10m"

[[alerts.webhook]]
name = "ops-chat"
url = "http://127.0.0.1:9/hooks"

[[alerts.alertmanager]]
url = "http://127.0.0.1:9093"
)",
                                          "collector.toml");
    CHECK(c.alerts.interval == 20s);
    CHECK(find(c.alerts.rules, "MinerOffline")->for_duration == 10min);
    REQUIRE(c.notifiers.webhooks.size() == 1);
    CHECK(c.notifiers.webhooks[0].name == "ops-chat");
    REQUIRE(c.notifiers.alertmanagers.size() == 1);
    CHECK(c.notifiers.alertmanagers[0].endpoint.port == 9093);
    CHECK(error_of("[[alerts.webhook]]\nname = \"x\"\nurl = \"http://127.0.0.1/\"\nurll = 1\n")
              .find("alerts.webhook[0].urll: unknown key") != std::string::npos);
}
