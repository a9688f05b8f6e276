#include "collector/alerts/lifecycle.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector::alerts;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'800'000'000'000)};

AlertRule chip_rule() {
    AlertRule r;
    r.name = "MinerChipTempHigh";
    r.kind = RuleKind::chip_temp_high;
    r.for_duration = 2min;
    r.keep_firing_for = 5min;
    r.severity = Severity::critical;
    r.labels = {{"team", "ops"}};
    r.summary = "{miner} chips at {value} C";
    r.description = "board {board}";
    return r;
}

Evaluation hot(std::string value) {
    Evaluation e;
    e.holds = true;
    e.values = {{"miner", "m1"}, {"site", "north"}, {"value", std::move(value)}, {"board", "2"}};
    return e;
}

Evaluation cool() {
    Evaluation e;
    e.values = {{"miner", "m1"}, {"site", "north"}, {"value", "70.0"}};
    return e;
}

}  // namespace

TEST_CASE("lifecycle: pending, firing after `for`, resolved after keep_firing_for") {
    const auto rule = chip_rule();
    auto s = step(Alert{}, hot("93.0"), kT0, rule, "m1");
    CHECK(s.change == Change::pending);
    CHECK(s.alert.state == AlertState::pending);
    CHECK(s.alert.fingerprint == alert_fingerprint("MinerChipTempHigh", "m1"));
    CHECK(s.alert.active_since == kT0);
    CHECK(s.alert.labels == std::map<std::string, std::string>{{"alertname", "MinerChipTempHigh"},
                                                               {"severity", "critical"},
                                                               {"miner", "m1"},
                                                               {"site", "north"},
                                                               {"team", "ops"}});
    CHECK(s.alert.annotations.at("summary") == "m1 chips at 93.0 C");

    s = step(s.alert, hot("94.0"), kT0 + 1min, rule, "m1");
    CHECK(s.change == Change::none);
    CHECK(s.alert.state == AlertState::pending);

    s = step(s.alert, hot("95.5"), kT0 + 2min, rule, "m1");
    CHECK(s.change == Change::firing);
    CHECK(s.alert.fired_at == kT0 + 2min);
    CHECK(s.alert.annotations.at("summary") == "m1 chips at 95.5 C");
    CHECK(s.alert.annotations.at("description") == "board 2");

    // Still hot: firing, with the values that made it fire.
    s = step(s.alert, hot("97.0"), kT0 + 3min, rule, "m1");
    CHECK(s.change == Change::none);
    CHECK(s.alert.annotations.at("summary") == "m1 chips at 95.5 C");
    CHECK(s.alert.last_true == kT0 + 3min);

    // Cool, but not yet for keep_firing_for.
    s = step(s.alert, cool(), kT0 + 4min, rule, "m1");
    CHECK(s.change == Change::none);
    CHECK(s.alert.state == AlertState::firing);
    s = step(s.alert, cool(), kT0 + 8min, rule, "m1");
    CHECK(s.change == Change::resolved);
    CHECK(s.alert.state == AlertState::resolved);
    CHECK(s.alert.resolved_at == kT0 + 8min);

    const auto n = to_notification(s.alert, "http://127.0.0.1:8480");
    CHECK(n.resolved);
    CHECK(n.starts_at == kT0 + 2min);
    CHECK(n.ends_at == kT0 + 8min);
    CHECK(n.generator_url == "http://127.0.0.1:8480/api/v1/alerts?fingerprint=" + n.fingerprint);

    // Hot again: pending again, from scratch.
    s = step(s.alert, hot("93.0"), kT0 + 9min, rule, "m1");
    CHECK(s.change == Change::pending);
    CHECK(s.alert.active_since == kT0 + 9min);
    CHECK_FALSE(s.alert.fired_at);
}

TEST_CASE("lifecycle: pending that clears goes back to inactive, never announced") {
    const auto rule = chip_rule();
    auto s = step(Alert{}, hot("93.0"), kT0, rule, "m1");
    s = step(s.alert, cool(), kT0 + 30s, rule, "m1");
    CHECK(s.change == Change::inactive);
    CHECK(s.alert.state == AlertState::inactive);
    // Nothing to do for an inactive alert that stays so.
    const auto again = step(s.alert, cool(), kT0 + 45s, rule, "m1");
    CHECK(again.change == Change::none);
    CHECK_FALSE(again.updated);
}

TEST_CASE("lifecycle: `for` counted from the data's own start, and zero fires at once") {
    auto rule = chip_rule();
    auto e = hot("99");
    e.since = kT0 - 10min;  // e.g. offline: the last good poll was 10 min ago
    auto s = step(Alert{}, e, kT0, rule, "m1");
    CHECK(s.change == Change::firing);
    CHECK(s.alert.active_since == kT0 - 10min);
    rule.for_duration = 0s;
    s = step(Alert{}, true, kT0, rule, "m1");
    CHECK(s.change == Change::firing);
}

TEST_CASE("lifecycle: a value flapping around its threshold fires once, not a storm") {
    const auto rule = chip_rule();  // for 2 min, keep firing 5 min
    Alert a;
    int firings = 0, resolutions = 0;
    // Every 15 s for an hour: hot for 3 evaluations, cool for 4, and so on.
    TimePoint t = kT0;
    for (int i = 0; i < 240; ++i, t += 15s) {
        const bool is_hot = (i % 7) < 3;
        // Hot spells (45 s) are shorter than `for` at first; over a long run the alert must not
        // go up and down with each swing either way.
        auto s = step(a, is_hot ? hot("90.4") : cool(), t, rule, "m1");
        firings += s.change == Change::firing;
        resolutions += s.change == Change::resolved;
        a = s.alert;
    }
    // Pending never lasts 2 min (each hot spell is 45 s), so it never fires.
    CHECK(firings == 0);
    CHECK(resolutions == 0);

    // Now hot long enough to fire, then flapping (hot one in four): stays firing throughout.
    a = Alert{};
    firings = resolutions = 0;
    t = kT0;
    for (int i = 0; i < 240; ++i, t += 15s) {
        const bool is_hot = i < 10 || i % 4 == 0;
        auto s = step(a, is_hot ? hot("90.4") : cool(), t, rule, "m1");
        firings += s.change == Change::firing;
        resolutions += s.change == Change::resolved;
        a = s.alert;
    }
    CHECK(firings == 1);
    CHECK(resolutions == 0);
    CHECK(a.state == AlertState::firing);
}
