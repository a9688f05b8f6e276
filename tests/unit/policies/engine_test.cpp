// The decision engine on an injected clock: each rule kind, precedence, the safety limits
// (for, min on/off, switches per day, stagger), site-cap merit order, overrides and their
// expiry, stale prices, dry-run and the kill switch.
#include "policies/engine.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = *parse_time("2025-03-03T12:00:00Z");  // a Monday

// An S19 Pro at 0.05/TH/day, no pool fee, pue 1: full breaks even at 70.51/MWh, the reduced
// point (2600 W, 93.05 TH/s) at 74.56/MWh.
std::vector<OperatingPoint> s19pro() {
    return {{PointKind::full, 3250, 110},
            {PointKind::reduced, 2600, 110 * 0.8459},
            {PointKind::sleep, 15, 0}};
}
// Less efficient: 3250 W for 95 TH/s (break-even 60.90), no power targets.
std::vector<OperatingPoint> s19() {
    return {{PointKind::full, 3250, 95}, {PointKind::sleep, 15, 0}};
}
// More efficient: 3500 W for 200 TH/s (break-even 119.05).
std::vector<OperatingPoint> s21() {
    return {{PointKind::full, 3500, 200},
            {PointKind::reduced, 2800, 200 * 0.8459},
            {PointKind::sleep, 15, 0}};
}

Rule rule(RuleKind k) {
    Rule r;
    r.kind = k;
    r.name = std::string(to_string(k)) + "#1";
    return r;
}

RuleSet rules_of(std::vector<Rule> rules) {
    RuleSet s;
    s.economics = {0.05, 0, 1.0};
    s.rules = std::move(rules);
    std::stable_sort(s.rules.begin(), s.rules.end(),
                     [](const Rule& a, const Rule& b) { return a.kind > b.kind; });
    return s;
}

RuleSet break_even_only() { return rules_of({rule(RuleKind::break_even)}); }

MinerInput miner(std::string id, std::vector<OperatingPoint> pts, std::size_t at = 0,
                 std::optional<std::string> site = std::nullopt) {
    MinerInput m;
    m.miner_id = std::move(id);
    m.site = std::move(site);
    m.points = std::move(pts);
    m.actual_index = at;
    m.actual = m.points[at].kind;
    return m;
}

PriceInput price(double p) { return {p, false, ""}; }

// A fleet that does what it is told at once.
struct Fleet {
    std::vector<MinerInput> miners;
    std::vector<Decision> round(PolicyEngine& e, TimePoint t, const PriceInput& p) {
        auto d = e.decide(t, p, miners);
        REQUIRE(d.size() == miners.size());
        for (std::size_t i = 0; i < d.size(); ++i) {
            CHECK(d[i].miner_id == miners[i].miner_id);
            if (d[i].change) {
                miners[i].actual_index = d[i].target_index;
                miners[i].actual = d[i].target;
            }
        }
        return d;
    }
    int count(PointKind k) const {
        int n = 0;
        for (const auto& m : miners) n += m.actual == k;
        return n;
    }
};

}  // namespace

TEST_CASE("break_even: the point that earns most at the price, with margin") {
    PolicyEngine e(break_even_only());
    Fleet f{{miner("a", s19pro())}};
    auto d = f.round(e, kT0, price(50));
    CHECK(d[0].target == PointKind::full);
    CHECK_FALSE(d[0].change);
    CHECK(d[0].rule == "break_even");
    CHECK(d[0].reason == "price 50.00 <= break-even 70.51");
    CHECK(d[0].break_even_per_mwh == doctest::Approx(70.51).epsilon(1e-3));
    CHECK(d[0].price_per_mwh == 50);

    // Between the two break-evens the reduced point still earns; full loses.
    d = f.round(e, kT0 + 1min, price(72));
    CHECK(d[0].target == PointKind::reduced);
    CHECK(d[0].target_index == 1);
    CHECK(d[0].change);
    CHECK(d[0].reason.starts_with("price 72.00: reduced 2600 W earns most"));

    d = f.round(e, kT0 + 2min, price(212));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].change);
    CHECK(d[0].reason == "price 212.00 > break-even 70.51");
    CHECK(d[0].break_even_per_mwh == doctest::Approx(70.51).epsilon(1e-3));

    // Full beats reduced below the marginal break-even of its extra 650 W (54.3/MWh): at 58
    // reduced earns more; with a 10 % margin, 58 counts as 52.7 and full stays.
    d = f.round(e, kT0 + 3min, price(58));
    CHECK(d[0].target == PointKind::reduced);
    auto r = break_even_only();
    r.rules[0].margin_pct = 10;
    PolicyEngine m(r);
    Fleet g{{miner("a", s19pro())}};
    d = g.round(m, kT0, price(58));
    CHECK(d[0].target == PointKind::full);
    CHECK(d[0].reason == "price 58.00 <= break-even 70.51 + 10%");
    d = g.round(m, kT0, price(90));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].reason == "price 90.00 > break-even 70.51 + 10%");
}

TEST_CASE("price_threshold: separate enter and exit levels") {
    auto t = rule(RuleKind::price_threshold);
    t.sleep_above_per_mwh = 100;
    t.wake_below_per_mwh = 60;
    PolicyEngine e(rules_of({t}));
    Fleet f{{miner("a", s19pro())}};
    // The threshold rule is not engaged at 90: no rule applies, so full.
    auto d = f.round(e, kT0, price(90));
    CHECK(d[0].target == PointKind::full);
    CHECK(d[0].rule == "default");
    d = f.round(e, kT0 + 1min, price(120));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].rule == "price_threshold");
    CHECK(d[0].reason == "price 120.00 > sleep_above 100.00: sleep");
    // Between the levels it stays engaged (hysteresis).
    d = f.round(e, kT0 + 2min, price(80));
    CHECK(d[0].target == PointKind::sleep);
    CHECK_FALSE(d[0].change);
    CHECK(d[0].reason == "price 80.00 not below wake_below 60.00: sleep");
    d = f.round(e, kT0 + 3min, price(59));
    CHECK(d[0].target == PointKind::full);
    CHECK(d[0].change);

    // Above break-even but below the threshold, break_even (lower precedence) decides.
    auto both = rules_of({t, rule(RuleKind::break_even)});
    PolicyEngine b(both);
    Fleet g{{miner("a", s19pro())}};
    d = g.round(b, kT0, price(90));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].rule == "break_even");
    d = g.round(b, kT0 + 1min, price(101));
    CHECK(d[0].rule == "price_threshold");
}

TEST_CASE("time_of_use: windows in local time with a target") {
    auto tou = rule(RuleKind::time_of_use);
    tou.target = PointKind::reduced;
    tou.utc_offset = -6h;
    tou.windows.push_back({{0, 1, 2, 3, 4}, {}, 14 * 60, 20 * 60});
    PolicyEngine e(rules_of({tou, rule(RuleKind::break_even)}));
    Fleet f{{miner("a", s19pro()), miner("b", s19())}};
    // Monday 12:00Z is 06:00 local: outside, break_even says full at 30.
    auto d = f.round(e, kT0, price(30));
    CHECK(d[0].rule == "break_even");
    CHECK(d[0].target == PointKind::full);
    // Monday 21:00Z is 15:00 local: reduced; a miner without power targets sleeps.
    d = f.round(e, *parse_time("2025-03-03T21:00:00Z"), price(30));
    CHECK(d[0].rule == "time_of_use");
    CHECK(d[0].target == PointKind::reduced);
    CHECK(d[1].target == PointKind::sleep);
    CHECK(d[0].reason == "time-of-use window: reduced");
    // Saturday: outside.
    d = f.round(e, *parse_time("2025-03-08T21:00:00Z"), price(30));
    CHECK(d[0].target == PointKind::full);
    CHECK(d[1].target == PointKind::full);
}

TEST_CASE("time_of_use: a timezone keeps the window at local time across daylight saving") {
    auto tou = rule(RuleKind::time_of_use);
    tou.zone = prices::TimeZone::load("America/Chicago");
    tou.windows.push_back({{}, {}, 14 * 60, 20 * 60});  // 14:00 to 20:00 local, every day
    PolicyEngine e(rules_of({tou, rule(RuleKind::break_even)}));
    Fleet f{{miner("a", s19pro())}};
    // Saturday 8 March 2025, CST (UTC-6): 14:00 local is 20:00Z.
    CHECK(f.round(e, *parse_time("2025-03-08T19:59:00Z"), price(30))[0].rule == "break_even");
    CHECK(f.round(e, *parse_time("2025-03-08T20:00:00Z"), price(30))[0].rule == "time_of_use");
    // Monday 10 March, CDT (UTC-5) since Sunday: 14:00 local is 19:00Z; a fixed -06:00 would
    // have started the window an hour late.
    CHECK(f.round(e, *parse_time("2025-03-10T18:59:00Z"), price(30))[0].rule == "break_even");
    CHECK(f.round(e, *parse_time("2025-03-10T19:00:00Z"), price(30))[0].rule == "time_of_use");
    CHECK(f.round(e, *parse_time("2025-03-11T00:59:00Z"), price(30))[0].rule == "time_of_use");
    CHECK(f.round(e, *parse_time("2025-03-11T01:00:00Z"), price(30))[0].rule == "break_even");
}

TEST_CASE("for: a change must be wanted that long; a wish that flips back resets it") {
    auto r = break_even_only();
    r.safety.for_duration = 15min;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19())}};
    auto d = f.round(e, kT0, price(30));
    CHECK_FALSE(d[0].change);
    d = f.round(e, kT0 + 5min, price(200));
    CHECK_FALSE(d[0].change);
    CHECK(d[0].held);
    CHECK(d[0].rule == "safety:for");
    CHECK(d[0].target == PointKind::full);
    CHECK(d[0].reason == "wants sleep (price 200.00 > break-even 60.90) but wanted for 0s of 15m");
    d = f.round(e, kT0 + 15min, price(200));
    CHECK(d[0].held);
    CHECK(d[0].reason.ends_with("wanted for 10m of 15m"));
    // The price dips for one round: the wish to sleep starts over.
    d = f.round(e, kT0 + 16min, price(30));
    CHECK_FALSE(d[0].held);
    CHECK(d[0].rule == "break_even");
    d = f.round(e, kT0 + 17min, price(200));
    CHECK(d[0].held);
    d = f.round(e, kT0 + 31min, price(200));
    CHECK(d[0].held);
    d = f.round(e, kT0 + 32min, price(200));
    CHECK(d[0].change);
    CHECK_FALSE(d[0].held);
    CHECK(d[0].target == PointKind::sleep);
    CHECK(f.count(PointKind::sleep) == 1);
}

TEST_CASE("min_on and min_off count from the miner's last switch") {
    auto r = break_even_only();
    r.safety.min_on = 30min;
    r.safety.min_off = 20min;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19())}};
    // Never switched by us: nothing holds the first sleep.
    auto d = f.round(e, kT0, price(200));
    REQUIRE(d[0].change);
    d = f.round(e, kT0 + 5min, price(30));
    CHECK(d[0].held);
    CHECK(d[0].rule == "safety:min_off");
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].reason.ends_with("min_off 20m holds until 2025-03-03T12:20:00.000Z"));
    d = f.round(e, kT0 + 19min, price(30));
    CHECK(d[0].held);
    d = f.round(e, kT0 + 20min, price(30));
    CHECK(d[0].change);
    CHECK(d[0].target == PointKind::full);
    d = f.round(e, kT0 + 30min, price(200));
    CHECK(d[0].rule == "safety:min_on");
    CHECK(d[0].held);
    d = f.round(e, kT0 + 50min, price(200));
    CHECK(d[0].change);
    CHECK(d[0].target == PointKind::sleep);
}

TEST_CASE("a wall-clock step shifts for and min_off with it: they keep their real length") {
    auto r = break_even_only();
    r.safety.for_duration = 10min;
    r.safety.min_off = 20min;
    SUBCASE("forward: no early switch") {
        PolicyEngine e(r);
        Fleet f{{miner("a", s19())}};
        f.round(e, kT0, price(30));
        auto d = f.round(e, kT0 + 1min, price(200));  // the wish to sleep starts
        CHECK(d[0].rule == "safety:for");
        // 2 min later by the steady clock, the wall clock set forward an hour meanwhile.
        e.shift_clock(1h);
        d = f.round(e, kT0 + 1h + 3min, price(200));
        CHECK(d[0].held);
        CHECK(d[0].reason.ends_with("wanted for 2m of 10m"));
        d = f.round(e, kT0 + 1h + 11min, price(200));
        REQUIRE(d[0].change);  // 10 min after the wish began
        CHECK(d[0].target == PointKind::sleep);
        // min_off counts from that switch across a second step.
        e.shift_clock(2h);
        d = f.round(e, kT0 + 3h + 12min, price(30));
        CHECK(d[0].rule == "safety:for");
        d = f.round(e, kT0 + 3h + 25min, price(30));  // `for` done, 14 min since the switch
        CHECK(d[0].rule == "safety:min_off");
        CHECK(d[0].held);
        d = f.round(e, kT0 + 3h + 31min, price(30));
        CHECK(d[0].change);
    }
    SUBCASE("back: no switch held for longer") {
        PolicyEngine e(r);
        Fleet f{{miner("a", s19())}};
        f.round(e, kT0, price(30));
        f.round(e, kT0 + 1min, price(200));
        e.shift_clock(-1h);
        auto d = f.round(e, kT0 - 1h + 11min, price(200));
        REQUIRE(d[0].change);  // not an hour and 10 min later
        // Switched at kT0 - 49 min; the clock goes back another 30 min.
        e.shift_clock(-30min);
        d = f.round(e, kT0 - 80min + 5min, price(30));  // 5 min after the switch
        CHECK(d[0].rule == "safety:for");
        d = f.round(e, kT0 - 80min + 16min, price(30));  // `for` done, min_off not
        CHECK(d[0].rule == "safety:min_off");
        d = f.round(e, kT0 - 80min + 21min, price(30));
        CHECK(d[0].change);
    }
}

TEST_CASE("max_switches_per_day: counted per UTC day") {
    auto r = break_even_only();
    r.safety.max_switches_per_day = 2;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19())}};
    const auto late = *parse_time("2025-03-03T23:00:00Z");
    CHECK(f.round(e, late, price(200))[0].change);
    CHECK(f.round(e, late + 1min, price(30))[0].change);
    auto d = f.round(e, late + 2min, price(200));
    CHECK_FALSE(d[0].change);
    CHECK(d[0].held);
    CHECK(d[0].rule == "safety:switches");
    CHECK(d[0].reason.ends_with("2 switches today (max 2)"));
    // A new UTC day starts a new count.
    d = f.round(e, late + 1h, price(200));
    CHECK(d[0].change);
}

TEST_CASE("stagger: wake-ups limited by kW per minute, commands per round") {
    auto r = break_even_only();
    r.safety.max_ramp_kw_per_min = 7;  // two S19s (3.235 kW more each) a minute
    r.interval = 1min;
    PolicyEngine e(r);
    Fleet f;
    for (int i = 0; i < 5; ++i) f.miners.push_back(miner("m" + std::to_string(i), s19(), 1));
    // Sleep-downs are not ramp-limited.
    auto d = f.round(e, kT0, price(200));
    CHECK(f.count(PointKind::sleep) == 5);
    d = f.round(e, kT0 + 1min, price(30));
    CHECK(f.count(PointKind::full) == 2);
    int held = 0;
    for (const auto& x : d) {
        if (x.held) {
            ++held;
            CHECK(x.rule == "safety:ramp");
            CHECK(x.target == PointKind::sleep);
        }
    }
    CHECK(held == 3);
    // 30 s later only half a minute's budget has come back: one more.
    f.round(e, kT0 + 1min + 30s, price(30));
    CHECK(f.count(PointKind::full) == 3);
    f.round(e, kT0 + 2min + 30s, price(30));
    CHECK(f.count(PointKind::full) == 5);

    // Commands per round limit both directions; downs go first.
    auto c = break_even_only();
    c.safety.max_commands_per_interval = 2;
    PolicyEngine ce(c);
    Fleet g;
    for (int i = 0; i < 5; ++i) g.miners.push_back(miner("m" + std::to_string(i), s19()));
    d = g.round(ce, kT0, price(200));
    CHECK(g.count(PointKind::sleep) == 2);
    CHECK(d[4].held);
    CHECK(d[4].rule == "safety:commands");
    g.round(ce, kT0 + 1min, price(200));
    g.round(ce, kT0 + 2min, price(200));
    CHECK(g.count(PointKind::sleep) == 5);
}

TEST_CASE("site_cap: merit order, reduced before sleep, per-site scope") {
    auto cap = rule(RuleKind::site_cap);
    cap.site = "tx-1";
    // Room for the S21 at full (3.5 kW), the S19 Pro reduced (2.6 kW) and the S19 asleep
    // (0.015 kW), with the sleepers' standby counted: 3.5 + 2.6 + 0.015 = 6.115 kW.
    cap.cap_kw = 6.2;
    PolicyEngine e(rules_of({cap, rule(RuleKind::break_even)}));
    Fleet f{{miner("s19", s19(), 0, "tx-1"), miner("pro", s19pro(), 0, "tx-1"),
             miner("s21", s21(), 0, "tx-1"), miner("other", s19(), 0, "ok-2")}};
    auto d = f.round(e, kT0, price(30));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].rule == "site_cap");
    CHECK(d[0].reason.starts_with("site cap 6 kW: sleep in merit order (34.21 J/TH)"));
    CHECK(d[1].target == PointKind::reduced);
    CHECK(d[1].rule == "site_cap");
    CHECK(d[2].target == PointKind::full);
    CHECK(d[2].rule == "break_even");
    CHECK(d[3].target == PointKind::full);  // another site
    CHECK(d[0].change);
    CHECK(d[1].change);

    // The cap is a limit: cuts skip `for` and min_on, and are not undone while it binds.
    auto held = rules_of({cap, rule(RuleKind::break_even)});
    held.safety.for_duration = 30min;
    held.safety.min_on = 1h;
    PolicyEngine h(held);
    Fleet g{{miner("s19", s19(), 0, "tx-1"), miner("s21", s21(), 0, "tx-1")}};
    d = g.round(h, kT0, price(30));
    CHECK(d[0].change);
    CHECK(d[0].target == PointKind::sleep);
    d = g.round(h, kT0 + 1min, price(30));
    CHECK_FALSE(d[0].change);
    CHECK(d[0].target == PointKind::sleep);

    // A high price sleeps the S19 anyway; the cap then has room for everything else.
    d = f.round(e, kT0 + 1min, price(80));
    CHECK(d[0].rule == "break_even");
    CHECK(d[1].target == PointKind::sleep);  // above its break-evens
    CHECK(d[2].target == PointKind::full);
}

TEST_CASE("site_cap: miners the engine cannot move count at their point") {
    auto cap = rule(RuleKind::site_cap);
    cap.cap_kw = 7;
    PolicyEngine e(rules_of({cap, rule(RuleKind::break_even)}));
    Fleet f{{miner("a", s19()), miner("b", s19()), miner("c", s19())}};
    f.miners[0].reachable = false;
    auto d = f.round(e, kT0, price(30));
    CHECK(d[0].rule == "unreachable");
    CHECK_FALSE(d[0].change);
    CHECK(d[0].target == PointKind::full);
    // 7 kW - 3.25 kW unreachable - 0.015 standby leaves room for one more.
    CHECK(f.count(PointKind::full) == 2);
    CHECK(d[1].target == PointKind::full);
    CHECK(d[2].target == PointKind::sleep);
}

TEST_CASE("overrides: precedence, scope, priority, removal and expiry") {
    auto r = rules_of({rule(RuleKind::break_even)});
    Override dr;
    dr.id = "dr-event-7";
    dr.site = "tx-1";
    dr.target = PointKind::sleep;
    dr.start = kT0 + 1h;
    dr.end = kT0 + 2h;
    r.overrides.push_back(dr);
    r.safety.for_duration = 15min;
    r.safety.min_on = 1h;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19(), 0, "tx-1"), miner("b", s19(), 0, "ok-2")}};
    CHECK(f.round(e, kT0, price(30))[0].rule == "break_even");
    // From its start it beats every rule, and skips for and min_on: it is an obligation.
    auto d = f.round(e, kT0 + 1h, price(30));
    CHECK(d[0].rule == "override:dr-event-7");
    CHECK(d[0].change);
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].reason == "override dr-event-7 until 2025-03-03T14:00:00.000Z: sleep");
    CHECK(d[1].rule == "break_even");
    CHECK_FALSE(d[1].change);

    // A manual override of higher priority for one miner.
    Override manual;
    manual.id = "ops-wake";
    manual.target = PointKind::full;
    manual.start = kT0;
    manual.end = kT0 + 3h;
    manual.priority = 5;
    manual.miners = {"a"};
    e.add_override(manual);
    CHECK(e.active_overrides(kT0 + 90min).size() == 2);
    d = f.round(e, kT0 + 90min, price(30));
    CHECK(d[0].rule == "override:ops-wake");
    CHECK(d[0].change);
    CHECK(d[0].target == PointKind::full);
    CHECK(e.remove_override("ops-wake"));
    CHECK_FALSE(e.remove_override("ops-wake"));
    d = f.round(e, kT0 + 91min, price(30));
    CHECK(d[0].rule == "override:dr-event-7");
    CHECK(d[0].target == PointKind::sleep);

    // After its end the event no longer applies; break_even's wish waits for `for`.
    d = f.round(e, kT0 + 2h, price(30));
    CHECK(d[0].rule == "safety:for");
    d = f.round(e, kT0 + 2h + 15min, price(30));
    CHECK(d[0].rule == "break_even");
    CHECK(d[0].change);

    // Added overrides are dropped once expired.
    manual.end = kT0 + 2h + 20min;
    e.add_override(manual);
    CHECK(e.active_overrides(kT0 + 2h + 19min).size() == 1);
    f.round(e, kT0 + 2h + 30min, price(30));
    CHECK_FALSE(e.remove_override("ops-wake"));
}

TEST_CASE("stale or missing price: on_stale hold, mine or sleep, said in the reason") {
    for (auto action : {StaleAction::hold, StaleAction::mine, StaleAction::sleep}) {
        CAPTURE(to_string(action));
        auto r = break_even_only();
        r.on_stale = action;
        PolicyEngine e(r);
        Fleet f{{miner("up", s19(), 0), miner("down", s19(), 1)}};
        const auto d = f.round(e, kT0, {212.0, true, "feed last answered 12m ago"});
        CHECK(d[0].rule == "stale_price");
        CHECK(d[0].reason == "price stale (feed last answered 12m ago): on_stale = " +
                                 std::string(to_string(action)));
        CHECK(std::isnan(d[0].price_per_mwh));
        switch (action) {
            case StaleAction::hold:
                CHECK(d[0].target == PointKind::full);
                CHECK(d[1].target == PointKind::sleep);
                CHECK_FALSE(d[0].change);
                CHECK_FALSE(d[1].change);
                break;
            case StaleAction::mine:
                CHECK(d[1].target == PointKind::full);
                CHECK(d[1].change);
                break;
            case StaleAction::sleep:
                CHECK(d[0].target == PointKind::sleep);
                CHECK(d[0].change);
                break;
        }
    }
    auto r = break_even_only();
    r.on_stale = StaleAction::sleep;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19())}};
    const auto d = f.round(e, kT0, {std::nullopt, false, ""});
    CHECK(d[0].reason == "no price: on_stale = sleep");
}

TEST_CASE("dry-run: decisions without commands; the engine does not count them as switches") {
    auto r = break_even_only();
    r.dry_run = true;
    r.safety.min_off = 1h;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19())}};
    for (int i = 0; i < 3; ++i) {
        const auto d = f.round(e, kT0 + i * 1min, price(200));
        CHECK_FALSE(d[0].change);
        CHECK(d[0].target == PointKind::sleep);
        CHECK(d[0].reason == "dry-run: price 200.00 > break-even 60.90");
    }
    CHECK(f.count(PointKind::full) == 1);
    // Going live: no switch was recorded, so nothing holds the first real command.
    r.dry_run = false;
    e.set_rules(r);
    CHECK(f.round(e, kT0 + 5min, price(200))[0].change);
}

TEST_CASE("kill switch: no changes") {
    auto r = break_even_only();
    r.kill_switch = true;
    PolicyEngine e(r);
    Fleet f{{miner("a", s19()), miner("b", s19(), 1)}};
    const auto d = f.round(e, kT0, price(200));
    CHECK_FALSE(d[0].change);
    CHECK(d[0].rule == "kill_switch");
    CHECK(d[0].target == PointKind::full);
    CHECK(d[0].reason.starts_with("kill switch ([policy] enabled = false): would sleep"));
    CHECK(d[1].rule == "break_even");  // nothing to change
    CHECK_FALSE(d[1].change);
}

TEST_CASE("a command still settling is not sent again; a miner that ignores it is") {
    auto r = break_even_only();
    r.safety.settle = 10min;
    PolicyEngine e(r);
    std::vector<MinerInput> fleet{miner("a", s19())};
    auto d = e.decide(kT0, price(200), fleet);
    REQUIRE(d[0].change);
    // The miner still reports full (sleeping takes a while).
    d = e.decide(kT0 + 1min, price(200), fleet);
    CHECK_FALSE(d[0].change);
    CHECK(d[0].target == PointKind::sleep);
    d = e.decide(kT0 + 10min, price(200), fleet);
    CHECK(d[0].change);
}

TEST_CASE("bad miner input and determinism") {
    PolicyEngine e(break_even_only());
    std::vector<MinerInput> fleet{miner("a", s19()), miner("b", s19())};
    fleet[1].actual_index = 7;
    auto d = e.decide(kT0, price(200), fleet);
    CHECK(d[0].change);
    CHECK(d[1].rule == "invalid");
    CHECK_FALSE(d[1].change);

    auto cap = rule(RuleKind::site_cap);
    cap.cap_kw = 20;
    const auto rs = rules_of({cap, rule(RuleKind::break_even)});
    std::vector<MinerInput> many;
    for (int i = 0; i < 12; ++i) {
        many.push_back(miner("m" + std::to_string(i), i % 3 == 0   ? s21()
                                                      : i % 3 == 1 ? s19pro()
                                                                   : s19()));
    }
    PolicyEngine a(rs);
    PolicyEngine b(rs);
    const auto da = a.decide(kT0, price(40), many);
    const auto db = b.decide(kT0, price(40), many);
    double kw = 0;
    for (std::size_t i = 0; i < da.size(); ++i) {
        CHECK(da[i].target_index == db[i].target_index);
        CHECK(da[i].reason == db[i].reason);
        kw += many[i].points[da[i].target_index].power_w / 1000;
    }
    CHECK(kw <= 20);
    CHECK(kw > 20 - 3.5);
}

TEST_CASE("site_cap at fleet scale: merit order holds across thousands of miners") {
    // 4,500 miners make 7,500 hull steps: the linear-time sort path.
    auto cap = rule(RuleKind::site_cap);
    std::vector<MinerInput> fleet;
    for (int i = 0; i < 4500; ++i) {
        fleet.push_back(miner("m" + std::to_string(i), i % 3 == 0   ? s19()
                                                       : i % 3 == 1 ? s19pro()
                                                                    : s21()));
    }
    // Room for every S21 at full, and about half the S19 Pros.
    cap.cap_kw = 1500 * 3.5 + 750 * 3.25;
    PolicyEngine e(rules_of({cap, rule(RuleKind::break_even)}));
    const auto d = e.decide(kT0, price(30), fleet);
    double kw = 0;
    int s21_full = 0;
    int s19_running = 0;
    int pro_running = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        kw += fleet[i].points[d[i].target_index].power_w / 1000;
        const bool running = d[i].target != PointKind::sleep;
        if (i % 3 == 2) s21_full += d[i].target == PointKind::full;
        if (i % 3 == 0) s19_running += running;
        if (i % 3 == 1) pro_running += running;
    }
    CHECK(kw <= cap.cap_kw);
    CHECK(kw > cap.cap_kw - 3.5);
    CHECK(s21_full == 1500);
    CHECK(s19_running == 0);
    CHECK(pro_running > 750);  // reduced points fit more of them
}

TEST_CASE("break_even hysteresis: small gains do not move a miner") {
    auto r = break_even_only();
    r.rules[0].hysteresis_pct = 3;  // of the S19 Pro's 0.229/h at full: 0.0069/h
    PolicyEngine e(r);
    Fleet f{{miner("a", s19pro())}};
    // At 56 reduced earns 0.0010/h more than full (marginal break-even 54.3): not enough.
    auto d = f.round(e, kT0, price(56));
    CHECK(d[0].target == PointKind::full);
    CHECK_FALSE(d[0].change);
    CHECK(d[0].reason.ends_with("; stays: another point gains under 3% of full revenue"));
    // At 66 it gains 0.0076/h: it moves.
    d = f.round(e, kT0 + 1min, price(66));
    CHECK(d[0].target == PointKind::reduced);
    CHECK(d[0].change);
    // Back at 56 full gains too little over reduced to move back.
    d = f.round(e, kT0 + 2min, price(56));
    CHECK(d[0].target == PointKind::reduced);
    CHECK_FALSE(d[0].change);
    // Far above break-even sleep gains plenty.
    d = f.round(e, kT0 + 3min, price(150));
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[0].change);
}

TEST_CASE("precedence: kind first, then priority; rules apply only to their site") {
    auto low = rule(RuleKind::price_threshold);
    low.name = "low";
    low.sleep_above_per_mwh = 50;
    low.target = PointKind::reduced;
    auto high = rule(RuleKind::price_threshold);
    high.name = "high";
    high.sleep_above_per_mwh = 50;
    high.priority = 5;
    high.site = "tx-1";
    auto tou = rule(RuleKind::time_of_use);
    tou.site = "ok-2";
    tou.target = PointKind::reduced;
    tou.windows.push_back({{}, {}, 0, 1440});
    // Given in the "wrong" order: the engine sorts.
    RuleSet rs;
    rs.economics = {0.05, 0, 1.0};
    rs.rules = {rule(RuleKind::break_even), low, high, tou};
    PolicyEngine e(rs);
    Fleet f{{miner("tx", s19pro(), 0, "tx-1"), miner("ok", s19pro(), 0, "ok-2"),
             miner("nm", s19pro(), 0, "nm-3")}};
    const auto d = f.round(e, kT0, price(60));
    CHECK(d[0].rule == "price_threshold:high");
    CHECK(d[0].target == PointKind::sleep);
    CHECK(d[1].rule == "time_of_use");  // beats both thresholds
    CHECK(d[1].target == PointKind::reduced);
    CHECK(d[2].rule == "price_threshold:low");
    CHECK(d[2].target == PointKind::reduced);
}

TEST_CASE("stagger: a wake larger than the ramp bucket goes through when it is full, in debt") {
    auto r = break_even_only();
    r.safety.max_ramp_kw_per_min = 2;  // an S19 adds 3.235 kW
    r.interval = 1min;
    PolicyEngine e(r);
    Fleet f;
    for (int i = 0; i < 3; ++i) f.miners.push_back(miner("m" + std::to_string(i), s19(), 1));
    f.round(e, kT0, price(30));
    CHECK(f.count(PointKind::full) == 1);
    // The bucket is 1.235 kW in debt, refilled to 0.765 kW: nothing.
    f.round(e, kT0 + 1min, price(30));
    CHECK(f.count(PointKind::full) == 1);
    // Full again (capped at one round's 2 kW): the next one.
    f.round(e, kT0 + 2min, price(30));
    CHECK(f.count(PointKind::full) == 2);
}

TEST_CASE("set_explain(false): the same decisions without reasons") {
    auto cap = rule(RuleKind::site_cap);
    cap.cap_kw = 12;
    auto rs = rules_of({cap, rule(RuleKind::break_even)});
    rs.safety.min_on = 10min;
    std::vector<MinerInput> fleet;
    for (int i = 0; i < 9; ++i) {
        fleet.push_back(miner("m" + std::to_string(i),
                              i % 3 == 0   ? s21()
                              : i % 3 == 1 ? s19pro()
                                           : s19(),
                              static_cast<std::size_t>(i % 2)));
    }
    PolicyEngine a(rs);
    PolicyEngine b(rs);
    b.set_explain(false);
    for (int round = 0; round < 4; ++round) {
        const auto t = kT0 + round * 3min;
        const auto pr = price(round % 2 ? 40.0 : 90.0);
        const auto da = a.decide(t, pr, fleet);
        const auto db = b.decide(t, pr, fleet);
        for (std::size_t i = 0; i < da.size(); ++i) {
            CAPTURE(i);
            CHECK(da[i].target_index == db[i].target_index);
            CHECK(da[i].change == db[i].change);
            CHECK(da[i].held == db[i].held);
            CHECK(da[i].rule == db[i].rule);
            CHECK_FALSE(da[i].reason.empty());
            CHECK(db[i].reason.empty());
            if (da[i].change) fleet[i].actual_index = da[i].target_index;
        }
    }
}
