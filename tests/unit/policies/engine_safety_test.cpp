// The engine's safety limits of issue 11: at most a fraction of each site commanded per round
// (safety:site_fraction), no command for a miner whose data is stale or whose newest poll
// failed (safety:stale_data), and the policy keys and validation behind them.
#include "common/config.hpp"
#include "common/time.hpp"
#include "policies/engine.hpp"
#include "policies/rules.hpp"

#include <algorithm>
#include <map>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = *parse_time("2025-03-03T12:00:00Z");

// 3250 W for 95 TH/s: break-even 60.90 at 0.05/TH/day, no pool fee, pue 1.
std::vector<OperatingPoint> s19() {
    return {{PointKind::full, 3250, 95}, {PointKind::sleep, 15, 0}};
}

RuleSet break_even_only() {
    RuleSet s;
    s.economics = {0.05, 0, 1.0};
    Rule r;
    r.kind = RuleKind::break_even;
    r.name = "break_even#1";
    s.rules = {r};
    return s;
}

MinerInput miner(std::string id, std::optional<std::string> site, std::size_t at = 0) {
    MinerInput m;
    m.miner_id = std::move(id);
    m.site = std::move(site);
    m.points = s19();
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
            if (d[i].change) {
                miners[i].actual_index = d[i].target_index;
                miners[i].actual = d[i].target;
            }
        }
        return d;
    }
    int asleep(const std::string& site) const {
        int n = 0;
        for (const auto& m : miners)
            n += m.site.value_or("") == site && m.actual == PointKind::sleep;
        return n;
    }
};

std::map<std::string, int> changes_by_site(const std::vector<Decision>& d, const Fleet& f) {
    std::map<std::string, int> out;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (d[i].change) ++out[f.miners[i].site.value_or("")];
    }
    return out;
}

std::string error_of(const std::string& text) {
    try {
        read_policy(config::Document::parse(text, "policy.toml"));
        return "";
    } catch (const config::ConfigError& e) {
        return e.what();
    }
}

const std::string kHead = "[economics]\nhashprice = 0.05\n[[rule]]\nkind = \"break_even\"\n";

}  // namespace

TEST_CASE("site fraction: each site gets at most its share of commands per round, the rest wait") {
    auto r = break_even_only();
    r.safety.max_site_fraction_per_interval = 0.25;
    PolicyEngine e(r);
    Fleet f;
    for (int i = 0; i < 8; ++i) f.miners.push_back(miner("a" + std::to_string(i), "west"));
    for (int i = 0; i < 3; ++i) f.miners.push_back(miner("b" + std::to_string(i), "east"));
    for (int i = 0; i < 2; ++i) f.miners.push_back(miner("n" + std::to_string(i), std::nullopt));

    // A spike: every miner wants sleep. west: floor(0.25 x 8) = 2 a round; east: floor(0.75)
    // is 0, but at least 1; the two miners without a site are one site of their own: 1.
    auto d = f.round(e, kT0, price(200));
    auto per_site = changes_by_site(d, f);
    CHECK(per_site["west"] == 2);
    CHECK(per_site["east"] == 1);
    CHECK(per_site[""] == 1);
    int held = 0;
    for (const auto& x : d) {
        if (!x.held) continue;
        ++held;
        CHECK(x.rule == "safety:site_fraction");
        CHECK_FALSE(x.change);
        CHECK(x.target == PointKind::full);  // where it stays this round
        CHECK(x.reason.find("max_site_fraction_per_interval 0.25 of site ") != std::string::npos);
        CHECK(x.reason.starts_with("wants sleep (price 200.00 > break-even 60.90)"));
    }
    CHECK(held == 13 - 4);

    // Deferred, not dropped: the next rounds carry on at the same pace until all sleep.
    int rounds = 1;
    while ((f.asleep("west") < 8 || f.asleep("east") < 3 || f.asleep("") < 2) && rounds < 10) {
        d = f.round(e, kT0 + std::chrono::minutes(rounds), price(200));
        per_site = changes_by_site(d, f);
        CHECK(per_site["west"] <= 2);
        CHECK(per_site["east"] <= 1);
        CHECK(per_site[""] <= 1);
        ++rounds;
    }
    CHECK(rounds == 4);  // west's 8 at 2 a round
    CHECK(f.asleep("west") == 8);
    CHECK(f.asleep("east") == 3);
}

TEST_CASE("site fraction: counts every miner of the site, applies to obligations, 1 = none") {
    SUBCASE("the miners that need no command still count toward the site's size") {
        auto r = break_even_only();
        r.safety.max_site_fraction_per_interval = 0.5;
        PolicyEngine e(r);
        Fleet f;
        // Four asleep already, four running: a spike wants only the running ones asleep, and
        // half of the site's eight may go in one round: all four.
        for (int i = 0; i < 4; ++i) f.miners.push_back(miner("s" + std::to_string(i), "west", 1));
        for (int i = 0; i < 4; ++i) f.miners.push_back(miner("r" + std::to_string(i), "west"));
        const auto d = f.round(e, kT0, price(200));
        CHECK(changes_by_site(d, f)["west"] == 4);
    }
    SUBCASE("an override is limited too (most urgent first)") {
        auto r = break_even_only();
        r.safety.max_site_fraction_per_interval = 0.5;
        Override o;
        o.id = "dr-1";
        o.target = PointKind::sleep;
        o.start = kT0 - 1h;
        o.end = kT0 + 1h;
        o.site = "west";
        r.overrides = {o};
        PolicyEngine e(r);
        Fleet f;
        for (int i = 0; i < 4; ++i) f.miners.push_back(miner("m" + std::to_string(i), "west"));
        auto d = f.round(e, kT0, price(20));
        CHECK(changes_by_site(d, f)["west"] == 2);
        d = f.round(e, kT0 + 1min, price(20));
        CHECK(f.asleep("west") == 4);
    }
    SUBCASE("the default, 1, limits nothing") {
        PolicyEngine e(break_even_only());
        Fleet f;
        for (int i = 0; i < 6; ++i) f.miners.push_back(miner("m" + std::to_string(i), "west"));
        const auto d = f.round(e, kT0, price(200));
        CHECK(changes_by_site(d, f)["west"] == 6);
    }
    SUBCASE("with max_commands_per_interval: both hold, the tighter decides") {
        auto r = break_even_only();
        r.safety.max_site_fraction_per_interval = 0.5;
        r.safety.max_commands_per_interval = 3;
        PolicyEngine e(r);
        Fleet f;
        for (int i = 0; i < 4; ++i) f.miners.push_back(miner("a" + std::to_string(i), "west"));
        for (int i = 0; i < 4; ++i) f.miners.push_back(miner("b" + std::to_string(i), "east"));
        const auto d = f.round(e, kT0, price(200));
        const auto per = changes_by_site(d, f);
        CHECK(per.at("west") + per.at("east") == 3);
        CHECK(per.at("west") <= 2);
        CHECK(per.at("east") <= 2);
    }
}

TEST_CASE("stale data: an old sample or a failed poll gets no command, not even an obligation") {
    auto r = break_even_only();
    r.safety.max_sample_age = 5min;
    Override o;
    o.id = "dr-1";
    o.target = PointKind::sleep;
    o.start = kT0 - 1h;
    o.end = kT0 + 1h;
    o.site = "dr";
    r.overrides = {o};
    PolicyEngine e(r);
    Fleet f;
    f.miners.push_back(miner("fresh", "west"));
    f.miners.push_back(miner("old", "west"));
    f.miners.push_back(miner("failed", "west"));
    f.miners.push_back(miner("dr-old", "dr"));
    f.miners.push_back(miner("edge", "west"));
    f.miners[0].sampled_at = kT0 - 20s;
    f.miners[1].sampled_at = kT0 - 6min;
    f.miners[2].sampled_at = kT0 - 20s;
    f.miners[2].sample_failed = true;
    f.miners[2].sample_why = "timeout";
    f.miners[3].sampled_at = kT0 - 1h;
    f.miners[4].sampled_at = kT0 - 5min;  // exactly the bound: still fresh

    const auto d = f.round(e, kT0, price(200));
    CHECK(d[0].change);
    CHECK(d[4].change);
    for (std::size_t i : {1u, 2u, 3u}) {
        INFO(d[i].miner_id, ": ", d[i].reason);
        CHECK_FALSE(d[i].change);
        CHECK(d[i].held);
        CHECK(d[i].rule == "safety:stale_data");
        CHECK(d[i].target == PointKind::full);
        CHECK(d[i].reason.ends_with(": not commanded"));
    }
    CHECK(d[1].reason ==
          "wants sleep (price 200.00 > break-even 60.90) but its newest sample is 6m old "
          "(max_sample_age 5m): not commanded");
    CHECK(d[2].reason.find("its newest poll failed (timeout)") != std::string::npos);
    CHECK(d[3].reason.starts_with("wants sleep (override dr-1 until "));

    // Fresh again: the next round commands it.
    f.miners[1].sampled_at = kT0 + 50s;
    const auto d2 = f.round(e, kT0 + 1min, price(200));
    CHECK(d2[1].change);
    CHECK(d2[1].target == PointKind::sleep);
}

TEST_CASE("stale data: a site with no fresh data gets no command; the rules' wish is shown") {
    auto r = break_even_only();
    PolicyEngine e(r);  // the default bound: 5 minutes
    CHECK(r.safety.max_sample_age == 5min);
    Fleet f;
    for (int i = 0; i < 3; ++i) {
        f.miners.push_back(miner("w" + std::to_string(i), "west"));
        f.miners.back().sampled_at = kT0 - 30min;
    }
    f.miners.push_back(miner("e0", "east"));
    f.miners.back().sampled_at = kT0 - 10s;
    auto d = f.round(e, kT0, price(200));
    CHECK(changes_by_site(d, f) == std::map<std::string, int>{{"east", 1}});
    for (std::size_t i = 0; i < 3; ++i) CHECK(d[i].rule == "safety:stale_data");
    // At a low price the rules want what the miners run at: no change wanted, yet the rule
    // says the data is stale, and the reason what the rules would have wanted.
    d = f.round(e, kT0 + 1min, price(20));
    CHECK(d[0].rule == "safety:stale_data");
    CHECK_FALSE(d[0].held);  // no change was stopped: no hold row
    CHECK(d[0].reason.starts_with("at full (price 20.00 <= break-even 60.90); its newest sample"));
}

TEST_CASE("stale data: a site cap counts a stale miner at its last known point") {
    auto r = break_even_only();
    Rule cap;
    cap.kind = RuleKind::site_cap;
    cap.name = "cap";
    cap.site = "west";
    cap.cap_kw = 7;  // two of these 3.25 kW miners
    r.rules.insert(r.rules.begin(), cap);
    PolicyEngine e(r);
    Fleet f;
    for (int i = 0; i < 3; ++i) {
        f.miners.push_back(miner("m" + std::to_string(i), "west"));
        f.miners.back().sampled_at = kT0 - 10s;
    }
    f.miners[0].sampled_at = kT0 - 1h;  // stale, at full: 3.25 of the 7 kW are taken
    const auto d = f.round(e, kT0, price(20));
    CHECK_FALSE(d[0].change);
    CHECK(d[0].rule == "safety:stale_data");
    // One of the other two must sleep for the cap to hold.
    CHECK((d[1].target == PointKind::sleep) + (d[2].target == PointKind::sleep) == 1);
}

TEST_CASE("policy keys: max_site_fraction_per_interval and max_sample_age, with their errors") {
    const auto ok = read_policy(config::Document::parse(
        kHead + "[safety]\nmax_site_fraction_per_interval = 0.2\nmax_sample_age = \"90s\"\n",
        "policy.toml"));
    CHECK(ok.safety.max_site_fraction_per_interval == doctest::Approx(0.2));
    CHECK(ok.safety.max_sample_age == 90s);
    const auto def = read_policy(config::Document::parse(kHead, "policy.toml"));
    CHECK(def.safety.max_site_fraction_per_interval == 1.0);
    CHECK(def.safety.max_sample_age == 5min);
    CHECK(validate(def).empty());

    CHECK(error_of(kHead + "[safety]\nmax_site_fraction_per_interval = 0\n")
              .starts_with(
                  "policy.toml:6:34: safety.max_site_fraction_per_interval: must be above 0"));
    CHECK(error_of(kHead + "[safety]\nmax_site_fraction_per_interval = 1.5\n")
              .starts_with("policy.toml:6:34: safety.max_site_fraction_per_interval: "));
    CHECK(error_of(kHead + "[safety]\nmax_site_fraction_per_interval = \"half\"\n")
              .starts_with("policy.toml:6:34: safety.max_site_fraction_per_interval: "));
    CHECK(error_of(kHead + "[safety]\nmax_sample_age = \"0s\"\n")
              .starts_with("policy.toml:6:18: safety.max_sample_age: "));
    CHECK(error_of(kHead + "[safety]\nmax_sample_age = 300\n")
              .starts_with("policy.toml:6:18: safety.max_sample_age: "));
}

TEST_CASE("validate: every invariant, on values no reader made") {
    auto r = break_even_only();
    CHECK(validate(r).empty());
    const auto problem = [](RuleSet s) {
        const auto v = validate(s);
        return v.empty() ? std::string() : v.front();
    };
    auto bad = r;
    bad.safety.max_site_fraction_per_interval = 0;
    CHECK(problem(bad) == "safety.max_site_fraction_per_interval out of (0, 1]");
    bad = r;
    bad.economics.pue = std::numeric_limits<double>::quiet_NaN();
    CHECK(problem(bad) == "economics.pue out of 1..3");
    bad = r;
    bad.interval = 0s;
    CHECK(problem(bad) == "policy.interval out of 1s..1h");
    bad = r;
    bad.rules.clear();
    CHECK(problem(bad) == "no rule");
    bad = r;
    bad.rules.push_back(r.rules.front());
    CHECK(problem(bad) == "a rule name twice");
    bad = r;
    Rule cap;
    cap.kind = RuleKind::site_cap;
    cap.name = "cap";
    cap.cap_kw = 0;
    bad.rules.push_back(cap);
    CHECK(problem(bad) == "rule cap: kw out of range");
    bad = r;
    bad.safety.max_sample_age = 0s;
    CHECK(problem(bad) == "safety.max_sample_age out of 1s..1d");
}
