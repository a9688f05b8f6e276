// Reading a policy TOML: every rule kind and safety key, defaults, precedence order, and
// errors that name file:line:column and the key.
#include "policies/rules.hpp"

#include "common/config.hpp"
#include "common/time.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace std::chrono_literals;

namespace {

RuleSet parse(const std::string& text) {
    return read_policy(config::Document::parse(text, "policy.toml"));
}

// The error's what(), or "" when the text is valid.
std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

const char* kEcon = "[economics]\nhashprice = 0.05\n";

}  // namespace

TEST_CASE("a full policy: every kind, precedence order and safety") {
    const auto r = parse(R"(
[policy]
interval = "5m"
dry_run = true
on_stale = "sleep"
margin_pct = 3

[economics]
hashprice = 0.052
pool_fee = 0.02
pue = 1.1

[[rule]]
kind = "break_even"

[[rule]]
kind = "price_threshold"
name = "spikes"
sleep_above = 150
wake_below = 90
target = "reduced"

[[rule]]
kind = "site_cap"
site = "tx-1"
kw = 500

[[rule]]
kind = "time_of_use"
utc_offset = "-06:00"
priority = 5
[[rule.window]]
days = ["mon", "fri"]
months = [6, 7]
start = "14:00"
end = "20:00"

[[rule]]
kind = "override"
name = "dr-7"
target = "sleep"
start = "2025-03-04T18:00:00Z"
end = "2025-03-04T20:00:00Z"
miners = ["m1", "m2"]
priority = 10

[safety]
for = "15m"
min_on = "30m"
min_off = "20m"
max_switches_per_day = 12
max_ramp_kw_per_min = 250
max_commands_per_interval = 40
settle = "5m"
)");
    CHECK(r.interval == 5min);
    CHECK(r.dry_run);
    CHECK_FALSE(r.kill_switch);
    CHECK(r.on_stale == StaleAction::sleep);
    CHECK(r.economics.hashprice_per_th_day == 0.052);
    CHECK(r.economics.pool_fee == 0.02);
    CHECK(r.economics.pue == 1.1);
    REQUIRE(r.rules.size() == 4);
    // Highest precedence first.
    CHECK(r.rules[0].kind == RuleKind::site_cap);
    CHECK(r.rules[0].site == "tx-1");
    CHECK(r.rules[0].cap_kw == 500);
    CHECK(r.rules[1].kind == RuleKind::time_of_use);
    CHECK(r.rules[1].priority == 5);
    CHECK(r.rules[1].utc_offset == -6h);
    REQUIRE(r.rules[1].windows.size() == 1);
    CHECK(r.rules[1].windows[0].weekdays == std::vector<int>{0, 4});
    CHECK(r.rules[1].windows[0].months == std::vector<int>{6, 7});
    CHECK(r.rules[1].windows[0].start_minute == 14 * 60);
    CHECK(r.rules[1].windows[0].end_minute == 20 * 60);
    CHECK(r.rules[2].kind == RuleKind::price_threshold);
    CHECK(r.rules[2].name == "spikes");
    CHECK(r.rules[2].sleep_above_per_mwh == 150);
    CHECK(r.rules[2].wake_below_per_mwh == 90);
    CHECK(r.rules[2].target == PointKind::reduced);
    CHECK(r.rules[3].kind == RuleKind::break_even);
    CHECK(r.rules[3].name == "break_even#1");
    CHECK(r.rules[3].margin_pct == 3);  // the [policy] default
    REQUIRE(r.overrides.size() == 1);
    CHECK(r.overrides[0].id == "dr-7");
    CHECK(r.overrides[0].target == PointKind::sleep);
    CHECK(r.overrides[0].start == *parse_time("2025-03-04T18:00:00Z"));
    CHECK(r.overrides[0].miners == std::vector<std::string>{"m1", "m2"});
    CHECK(r.overrides[0].priority == 10);
    CHECK(r.safety.for_duration == 15min);
    CHECK(r.safety.min_on == 30min);
    CHECK(r.safety.min_off == 20min);
    CHECK(r.safety.max_switches_per_day == 12);
    CHECK(r.safety.max_ramp_kw_per_min == 250);
    CHECK(r.safety.max_commands_per_interval == 40);
    CHECK(r.safety.settle == 5min);
    CHECK(summarize(r) ==
          "5 rules (site_cap, time_of_use, price_threshold, break_even, override), hashprice "
          "0.0520/TH/day, interval 5m, dry-run");
}

TEST_CASE("hashprice derived from the network; the kill switch") {
    const auto r = parse(R"(
[policy]
enabled = false
[economics.network]
btc_price = 90000
difficulty = 1.1e14
fees_btc_per_block = 0.02
[[rule]]
kind = "break_even"
margin_pct = -5
hysteresis_pct = 2.5
)");
    CHECK(r.kill_switch);
    REQUIRE(r.network.has_value());
    CHECK(r.network->subsidy_btc == 3.125);
    CHECK(r.economics.hashprice_per_th_day == doctest::Approx(0.0517636).epsilon(1e-5));
    CHECK(r.rules[0].margin_pct == -5);
    CHECK(r.rules[0].hysteresis_pct == 2.5);
    CHECK(summarize(r).find("disabled (kill switch)") != std::string::npos);
}

TEST_CASE("the shipped example policy is valid") {
    const auto r =
        load_policy_file(std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/policy.toml");
    CHECK_FALSE(r.rules.empty());
    CHECK_FALSE(r.dry_run);
    CHECK(r.safety.max_switches_per_day == 12);
}

TEST_CASE("time-of-use windows: local time, days, months, past midnight") {
    TouWindow w;
    w.weekdays = {0};  // Monday
    w.start_minute = 14 * 60;
    w.end_minute = 20 * 60;
    const auto off = -6h;
    // 2025-03-03 is a Monday: 15:00 local = 21:00Z.
    CHECK(window_contains(w, off, *parse_time("2025-03-03T21:00:00Z")));
    CHECK(window_contains(w, off, *parse_time("2025-03-03T20:00:00Z")));  // 14:00 local
    CHECK_FALSE(window_contains(w, off, *parse_time("2025-03-03T19:59:00Z")));
    CHECK_FALSE(window_contains(w, off, *parse_time("2025-03-04T02:00:00Z")));  // 20:00 local
    CHECK_FALSE(window_contains(w, off, *parse_time("2025-03-04T21:00:00Z")));  // Tuesday
    // 22:00 to 06:00 on Mondays: early Tuesday belongs to Monday's window.
    TouWindow night;
    night.weekdays = {0};
    night.start_minute = 22 * 60;
    night.end_minute = 6 * 60;
    CHECK(window_contains(night, 0h, *parse_time("2025-03-03T23:00:00Z")));
    CHECK(window_contains(night, 0h, *parse_time("2025-03-04T05:59:00Z")));
    CHECK_FALSE(window_contains(night, 0h, *parse_time("2025-03-03T05:00:00Z")));
    TouWindow summer;
    summer.months = {6, 7, 8};
    summer.start_minute = 0;
    summer.end_minute = 1440;
    CHECK(window_contains(summer, 0h, *parse_time("2025-07-01T12:00:00Z")));
    CHECK_FALSE(window_contains(summer, 0h, *parse_time("2025-03-01T12:00:00Z")));
}

TEST_CASE("errors name file, line, column and key") {
    const std::string rule = "[[rule]]\nkind = \"break_even\"\n";
    CHECK(error_of(std::string(kEcon) + rule) == "");
    CHECK(error_of(rule) ==
          "policy.toml:1:1: economics: missing: [economics] needs hashprice or "
          "[economics.network]");
    CHECK(error_of(kEcon) ==
          "policy.toml:1:1: rule: no [[rule]]: a policy needs at least one rule");
    CHECK(error_of(std::string(kEcon) + rule + "margn_pct = 2\n")
              .starts_with("policy.toml:5:1: rule[0].margn_pct: unknown key"));
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"break_evn\"\n")
              .starts_with("policy.toml:4:8: rule[0].kind: "));
    CHECK(error_of(std::string(kEcon) + rule + "kw = 5\n") ==
          "policy.toml:5:6: rule[0].kw: only site_cap rules take kw");
    CHECK(error_of(std::string(kEcon) +
                   "[[rule]]\nkind = \"price_threshold\"\nsleep_above = 100\nwake_below = 120\n") ==
          "policy.toml:6:14: rule[0].wake_below: wake_below must not exceed sleep_above "
          "(100.000000)");
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"price_threshold\"\n") ==
          "policy.toml:4:8: rule[0].kind: a price_threshold rule needs sleep_above (per MWh)");
    CHECK(error_of(std::string(kEcon) +
                   "[[rule]]\nkind = \"time_of_use\"\n[[rule.window]]\nstart = \"25:00\"\nend = "
                   "\"26:00\"\n") ==
          "policy.toml:6:9: rule[0].window[0].start: '25:00' is not a time of day HH:MM (00:00 "
          "to 24:00)");
    CHECK(error_of(std::string(kEcon) +
                   "[[rule]]\nkind = \"time_of_use\"\n[[rule.window]]\ndays = [\"monday\"]\n"
                   "start = \"01:00\"\nend = \"02:00\"\n")
              .starts_with("policy.toml:6:8: rule[0].window[0].days: 'monday' is not a day"));
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"time_of_use\"\n") ==
          "policy.toml:4:8: rule[0].kind: a time_of_use rule needs at least one [[rule.window]]");
    CHECK(error_of(std::string(kEcon) +
                   "[[rule]]\nkind = \"override\"\nname = \"x\"\ntarget = \"sleep\"\n"
                   "start = \"2025-03-04T18:00:00Z\"\nend = \"2025-03-04T17:00:00Z\"\n") ==
          "policy.toml:8:7: rule[0].end: end must be after start");
    CHECK(error_of(std::string(kEcon) +
                   "[[rule]]\nkind = \"override\"\nname = \"x\"\ntarget = \"sleep\"\n"
                   "start = \"tomorrow\"\nend = \"2025-03-04T17:00:00Z\"\n") ==
          "policy.toml:7:9: rule[0].start: 'tomorrow' is not an RFC 3339 time like "
          "\"2025-03-04T18:00:00Z\"");
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"override\"\ntarget = \"sleep\"\n") ==
          "policy.toml:4:8: rule[0].kind: an override needs a name (its id)");
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"site_cap\"\nkw = 0\n") ==
          "policy.toml:5:6: rule[0].kw: a cap must be above 0 kW");
    CHECK(error_of(std::string(kEcon) + "[[rule]]\nkind = \"break_even\"\nname = \"a\"\n" +
                   "[[rule]]\nkind = \"break_even\"\nname = \"a\"\n") ==
          "policy.toml:8:8: rule[1].name: rule a is given twice");
    CHECK(error_of("[economics]\nhashprice = 0.05\n[economics.network]\nbtc_price = 1\n" + rule)
              .starts_with("policy.toml:3:1: economics.network: give hashprice or"));
    CHECK(error_of("[economics]\npool_fee = 0.9\nhashprice = 0.05\n" + rule)
              .starts_with("policy.toml:2:12: economics.pool_fee: "));
    CHECK(error_of(std::string(kEcon) + rule + "[safety]\nfor = \"soon\"\n")
              .starts_with("policy.toml:6:7: safety.for: "));
    CHECK(error_of(std::string("[policy]\non_stale = \"panic\"\n") + kEcon + rule)
              .starts_with("policy.toml:2:12: policy.on_stale: "));
}

TEST_CASE("policy rules: a time_of_use timezone, and its errors") {
    const std::string head = "[economics]\nhashprice = 0.05\n[[rule]]\nkind = \"time_of_use\"\n";
    const std::string window = "[[rule.window]]\nstart = \"14:00\"\nend = \"20:00\"\n";
    const auto ok = read_policy(
        config::Document::parse(head + "timezone = \"America/Chicago\"\n" + window, "p.toml"));
    REQUIRE(ok.rules.size() == 1);
    REQUIRE(ok.rules[0].zone);
    CHECK(ok.rules[0].zone->name() == "America/Chicago");
    const auto error_of = [](const std::string& text) {
        try {
            read_policy(config::Document::parse(text, "p.toml"));
        } catch (const config::ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of(head + "timezone = \"Mars/Base\"\n" + window)
              .starts_with("p.toml:5:12: rule[0].timezone: unknown time zone 'Mars/Base'"));
    CHECK(error_of(head + "timezone = \"UTC\"\nutc_offset = \"-06:00\"\n" + window)
              .starts_with("p.toml:5:12: rule[0].timezone: give timezone or utc_offset, not both"));
}
