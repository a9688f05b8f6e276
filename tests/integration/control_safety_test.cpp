// The safety of control (issue 11): the real ControlLoop on a real SQLite Store, samples
// ingested as an agent's batches would be, an injected clock. Per round at most a fraction of
// each of two sites is commanded; a miner with stale or failed data gets none; a stale price
// holds; dry-run records without commanding; the kill switch stops new commands at once; and a
// malformed policy file (every byte-prefix and thousands of single-byte mutations of real
// policies, through the reload path SIGHUP and the mtime check take, and through start-up) is
// refused with file:line while the previous policy stays, or is valid. A file rewritten in
// place is not taken half written; a file replaced by rename is taken whole.
#include "collector/control/control_loop.hpp"
#include "collector/control/decision_store.hpp"
#include "collector/metrics/policy_metrics.hpp"
#include "collector/storage/store.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "policies/engine.hpp"
#include "policies/rules.hpp"
#include "tests/support/process.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::control;
using namespace std::chrono_literals;
namespace pol = hashwatt::policies;
namespace fs = std::filesystem;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

// An S19: 95 TH/s at 3250 W, break-even 60.90 at 0.05/TH/day, no pool fee, pue 1.
MinerSample s19(const std::string& id, const std::string& site, TimePoint at) {
    MinerSample s;
    s.miner_id = id;
    s.site = site;
    s.host = "10.0." + std::to_string(site.size()) + "." + std::to_string(id.size());
    s.port = 4028;
    s.model = "Antminer S19";
    s.observed_at = at;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = 95;
    s.power_w = 3250;
    return s;
}

void ingest(Store& store, std::int64_t seq, std::vector<MinerSample> samples, TimePoint at) {
    IngestBatch b;
    b.agent_id = "a1";
    b.batch_seq = seq;
    b.samples = std::move(samples);
    store.ingest(b, at);
}

// `n_west` miners at site west and `n_east` at east, mining, sampled at `at`.
std::vector<MinerSample> fleet(int n_west, int n_east, TimePoint at) {
    std::vector<MinerSample> out;
    for (int i = 0; i < n_west; ++i) out.push_back(s19("w" + std::to_string(i), "west", at));
    for (int i = 0; i < n_east; ++i) out.push_back(s19("e" + std::to_string(i), "east", at));
    return out;
}

std::string policy(const std::string& policy_keys, const std::string& safety_keys) {
    return "[policy]\ninterval = \"1s\"\n" + policy_keys +
           "[economics]\nhashprice = 0.05\npool_fee = 0\npue = 1.0\n"
           "[[rule]]\nkind = \"break_even\"\n[safety]\nsettle = \"30s\"\n" +
           safety_keys;
}

// Replaces the file the way docs/policy.md asks: a new file renamed over the old one.
void write_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".new";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
    }
    fs::rename(tmp, path);
}

// The price the test sets, fresh or stale.
class TestPrice : public PriceProvider {
  public:
    void set(double p, bool stale = false) {
        std::lock_guard l(mu_);
        price_ = p;
        stale_ = stale;
    }
    pol::PriceInput current(TimePoint) override {
        std::lock_guard l(mu_);
        pol::PriceInput in;
        in.price_per_mwh = price_;
        in.stale = stale_;
        if (stale_) in.why = "feed last answered 20m ago";
        return in;
    }
    std::string describe() const override { return "test price"; }

  private:
    std::mutex mu_;
    double price_ = 20;
    bool stale_ = false;
};

// Captures the log for the test's life, and restores stderr after, pass or fail.
struct LogCapture {
    std::mutex mu;
    std::vector<std::string> lines;
    bool keep = true;
    LogCapture() {
        log::set_sink([this](std::string_view l) {
            std::lock_guard g(mu);
            if (keep) lines.emplace_back(l);
        });
    }
    ~LogCapture() { log::set_sink(nullptr); }
    bool has(const std::string& part) {
        std::lock_guard g(mu);
        for (const auto& l : lines) {
            if (l.find(part) != std::string::npos) return true;
        }
        return false;
    }
};

struct Fixture {
    test::TempDir dir;
    Store store{dir.path() + "/c.db"};
    std::string path = dir.path() + "/policy.toml";
    std::shared_ptr<TestPrice> price = std::make_shared<TestPrice>();
    TimePoint now = kT0;

    std::unique_ptr<ControlLoop> make(const std::string& text,
                                      std::chrono::milliseconds quiet = 2s) {
        write_atomic(path, text);
        ControlConfig cfg;
        cfg.enabled = true;
        cfg.policy_file = path;
        cfg.price_provider = price;
        ControlOptions o;
        o.clock = [this] { return now; };
        o.points.power_targets = false;
        o.policy_quiet = quiet;
        return std::make_unique<ControlLoop>(store, cfg, o);
    }
    // The commanded rows of the round at `at`, by site.
    std::map<std::string, int> commanded_at(TimePoint at) {
        DecisionFilter f;
        f.from = at;
        f.to = at + 1ms;
        f.outcome = DecisionOutcome::commanded;
        std::map<std::string, int> out;
        for (const auto& r : list_decisions(store, f)) ++out[r.site.value_or("")];
        return out;
    }
    std::size_t commands() {
        CommandFilter f;
        f.limit = 10'000;
        return store.commands(f).size();
    }
};

// What a RuleSet decides with, as text: two sets with the same fingerprint act the same.
std::string fingerprint(const pol::RuleSet& r) {
    std::ostringstream o;
    o << pol::summarize(r) << "|" << r.interval.count() << r.dry_run << r.kill_switch
      << static_cast<int>(r.on_stale) << r.margin_pct << "|" << r.economics.hashprice_per_th_day
      << "," << r.economics.pool_fee << "," << r.economics.pue << "|"
      << r.safety.for_duration.count() << "," << r.safety.min_on.count() << ","
      << r.safety.min_off.count() << "," << r.safety.max_switches_per_day << ","
      << r.safety.max_ramp_kw_per_min << "," << r.safety.max_commands_per_interval << ","
      << r.safety.settle.count() << "," << r.safety.max_site_fraction_per_interval << ","
      << r.safety.max_sample_age.count();
    for (const auto& x : r.rules) {
        o << "|" << x.name << ":" << static_cast<int>(x.kind) << ":" << x.site.value_or("*") << ":"
          << x.priority << ":" << x.margin_pct << ":" << x.hysteresis_pct << ":"
          << x.sleep_above_per_mwh << ":" << x.wake_below_per_mwh << ":"
          << static_cast<int>(x.target) << ":" << x.cap_kw << ":" << x.utc_offset.count() << ":"
          << x.windows.size();
        for (const auto& w : x.windows) {
            o << "[" << w.start_minute << "-" << w.end_minute << ":" << w.weekdays.size() << ":"
              << w.months.size() << "]";
        }
    }
    for (const auto& x : r.overrides) {
        o << "|" << x.id << ":" << static_cast<int>(x.target) << ":" << x.site.value_or("*") << ":"
          << x.start.time_since_epoch().count() << ":" << x.end.time_since_epoch().count() << ":"
          << x.miners.size();
    }
    return o.str();
}

// A policy with every kind of rule and every safety key: what the mutations work on.
const std::string kRich = R"([policy]
interval = "1s"
dry_run = false
enabled = true
on_stale = "hold"
margin_pct = 0
[economics]
hashprice = 0.05
pool_fee = 0.02
pue = 1.05
[[rule]]
kind = "break_even"
margin_pct = 2
hysteresis_pct = 3
[[rule]]
kind = "price_threshold"
name = "spikes"
sleep_above = 150
wake_below = 100
target = "reduced"
[[rule]]
kind = "time_of_use"
target = "reduced"
utc_offset = "-06:00"
[[rule.window]]
days = ["mon", "tue", "wed", "thu", "fri"]
months = [6, 7, 8, 9]
start = "14:00"
end = "20:00"
[[rule]]
kind = "site_cap"
site = "west"
kw = 500
[[rule]]
kind = "override"
name = "dr-event-7"
site = "east"
target = "sleep"
start = "2025-03-04T18:00:00Z"
end = "2025-03-04T20:00:00Z"
priority = 10
miners = ["e0", "e1"]
[safety]
for = "0s"
min_on = "15m"
min_off = "15m"
max_switches_per_day = 12
max_ramp_kw_per_min = 50
max_commands_per_interval = 20
max_site_fraction_per_interval = 0.25
max_sample_age = "5m"
settle = "10m"
)";

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// What a refusal must look like: "<file>:<line>:<column>: ..." with a line of the file.
bool names_file_and_line(const std::string& error, const std::string& path) {
    if (!error.starts_with(path + ":")) return false;
    const std::string rest = error.substr(path.size() + 1);
    std::size_t n = 0;
    while (n < rest.size() && std::isdigit(static_cast<unsigned char>(rest[n]))) ++n;
    return n > 0 && std::stoul(rest.substr(0, n)) >= 1 && rest.size() > n && rest[n] == ':';
}

// A round of a small fleet on rules that loaded: they must run.
void exercise(const pol::RuleSet& rules) {
    pol::PolicyEngine e(rules);
    std::vector<pol::MinerInput> fleet(2);
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        fleet[i].miner_id = "e" + std::to_string(i);
        fleet[i].site = i == 0 ? "east" : "west";
        fleet[i].points = {{pol::PointKind::full, 3250, 95},
                           {pol::PointKind::reduced, 2275, 72},
                           {pol::PointKind::sleep, 15, 0}};
    }
    pol::PriceInput p;
    p.price_per_mwh = 120;
    const auto d = e.decide(kT0, p, fleet);
    REQUIRE(d.size() == fleet.size());
}

struct FuzzStats {
    int tried = 0;
    int refused = 0;
    int accepted = 0;
    int failures = 0;
    std::vector<std::string> first_failures;
    void fail(const std::string& what) {
        ++failures;
        if (first_failures.size() < 5) first_failures.push_back(what);
    }
};

// One candidate through ControlLoop::reload (the SIGHUP and mtime path): refused with
// file:line and the previous rules kept, or taken and valid (then the base is put back).
void try_reload(ControlLoop& loop, const std::string& path, const std::string& base,
                const std::string& base_fp, const std::string& text, const std::string& label,
                FuzzStats& st) {
    ++st.tried;
    write_atomic(path, text);
    if (!loop.reload()) {
        ++st.refused;
        const auto err = loop.status().last_error.value_or("");
        const std::string msg = err.starts_with("reload: ") ? err.substr(8) : err;
        if (!names_file_and_line(msg, path)) st.fail(label + ": no file:line in '" + err + "'");
        if (fingerprint(loop.rules()) != base_fp) st.fail(label + ": previous rules not kept");
        return;
    }
    ++st.accepted;
    const auto rules = loop.rules();
    const auto problems = pol::validate(rules);
    if (!problems.empty()) st.fail(label + ": accepted but invalid: " + problems.front());
    exercise(rules);
    write_atomic(path, base);
    if (!loop.reload()) st.fail(label + ": the base policy did not load back");
}

}  // namespace

TEST_CASE("site fraction through the loop: two sites, each commanded a quarter a round") {
    Fixture f;
    ingest(f.store, 1, fleet(8, 4, kT0 - 1s), kT0 - 1s);
    auto loop = f.make(policy("", "max_site_fraction_per_interval = 0.25\n"));
    f.price->set(200);  // above every miner's break-even: all want sleep

    // floor(0.25 x 8) = 2 of west, floor(0.25 x 4) = 1 of east a round, until all are asleep
    // (the commanded ones still report mining: settling, not commanded again).
    for (int round = 0; round < 4; ++round) {
        f.now = kT0 + std::chrono::seconds(round);
        const auto r = loop->run_once();
        INFO("round ", round);
        CHECK(r.commanded == 3);
        CHECK(f.commanded_at(f.now) == std::map<std::string, int>{{"east", 1}, {"west", 2}});
    }
    f.now = kT0 + 4s;
    CHECK(loop->run_once().commanded == 0);
    CHECK(f.commands() == 12);

    // The deferred miners were recorded, once each, with the rule and the site.
    DecisionFilter held;
    held.outcome = DecisionOutcome::held;
    const auto rows = list_decisions(f.store, held);
    CHECK(rows.size() == 9);  // all but the first round's three
    for (const auto& row : rows) {
        INFO(row.miner_id, ": ", row.reason);
        CHECK(row.rule == "safety:site_fraction");
        CHECK(row.target == "full");
        CHECK(row.reason.find("max_site_fraction_per_interval 0.25 of site " +
                              row.site.value_or("?")) != std::string::npos);
        CHECK_FALSE(row.command_id);
    }
}

TEST_CASE("stale data through the loop: old or failed samples get no command, fresh ones do") {
    Fixture f;
    // West was last sampled 10 minutes ago (its agent is gone); east is fresh, but e1's newest
    // poll failed.
    auto samples = fleet(3, 0, kT0 - 10min);
    auto east = fleet(0, 3, kT0 - 5s);
    east[1].up = false;
    east[1].state = MinerState::offline;
    east[1].error = PollError::timeout;
    east[1].hashrate_ths.reset();
    east[1].power_w.reset();
    ingest(f.store, 1, samples, kT0 - 10min);
    ingest(f.store, 2, east, kT0 - 5s);
    auto loop = f.make(policy("", "max_sample_age = \"5m\"\n"));
    f.price->set(200);
    const auto r = loop->run_once();
    CHECK(r.commanded == 2);  // e0 and e2
    CHECK(f.commanded_at(kT0) == std::map<std::string, int>{{"east", 2}});
    CHECK(f.commands() == 2);
    DecisionFilter held;
    held.outcome = DecisionOutcome::held;
    const auto rows = list_decisions(f.store, held);
    REQUIRE(rows.size() == 4);
    for (const auto& row : rows) {
        INFO(row.miner_id, ": ", row.reason);
        CHECK(row.rule == "safety:stale_data");
        CHECK(row.reason.ends_with(": not commanded"));
        if (row.miner_id == "e1") {
            CHECK(row.reason.find("its newest poll failed (timeout)") != std::string::npos);
        } else {
            CHECK(row.site == "west");
            CHECK(row.reason.find("its newest sample is 10m old (max_sample_age 5m)") !=
                  std::string::npos);
        }
    }

    // West's agent is back: its fresh samples make its miners commandable at the next round.
    ingest(f.store, 3, fleet(3, 0, kT0 + 500ms), kT0 + 500ms);
    f.now = kT0 + 1s;
    CHECK(loop->run_once().commanded == 3);
    CHECK(f.commanded_at(f.now) == std::map<std::string, int>{{"west", 3}});
}

TEST_CASE("stale price through the loop: hold, no curtail and no resume; logged and exported") {
    Fixture f;
    LogCapture logs;
    auto samples = fleet(2, 0, kT0 - 1s);
    samples[1].state = MinerState::sleeping;  // w1 is asleep
    samples[1].hashrate_ths = 0;
    samples[1].power_w = 15;
    ingest(f.store, 1, samples, kT0 - 1s);
    auto loop = f.make(policy("on_stale = \"hold\"\n", ""));

    // Stale at 500 (would curtail w0) and then stale at 5 (would resume w1): neither happens.
    for (const double p : {500.0, 5.0}) {
        f.price->set(p, true);
        const auto r = loop->run_once();
        INFO("stale price ", p);
        CHECK(r.commanded == 0);
        CHECK(r.recorded == 0);
        CHECK(loop->status().last_price.stale);
        for (const auto& d : loop->last_decisions()) {
            CHECK(d.rule == "stale_price");
            CHECK_FALSE(d.change);
            CHECK(d.reason == "price stale (feed last answered 20m ago): on_stale = hold");
        }
        const auto fams = build_policy_families(loop->snapshot());
        CHECK(fams.at(5).name == "hashwatt_policy_price_stale");
        CHECK(fams.at(5).metric.at(0).gauge.value == 1);
        f.now += 1s;
    }
    CHECK(f.commands() == 0);
    CHECK(logs.has("level=warn msg=\"policy: PRICE STALE, applying on_stale\""));

    // Fresh again: the rules decide (w1 wakes at 5), and the log says the price is back.
    f.price->set(5);
    CHECK(loop->run_once().commanded == 1);
    CHECK(logs.has("msg=\"policy: price back\""));
    CHECK(build_policy_families(loop->snapshot()).at(5).metric.at(0).gauge.value == 0);
}

TEST_CASE("dry-run through the loop: decisions recorded for both sites, no command sent") {
    Fixture f;
    ingest(f.store, 1, fleet(2, 2, kT0 - 1s), kT0 - 1s);
    auto loop = f.make(policy("dry_run = true\n", ""));
    f.price->set(200);
    for (int round = 0; round < 3; ++round) {
        f.now = kT0 + std::chrono::seconds(round);
        const auto r = loop->run_once();
        CHECK(r.commanded == 0);
        CHECK(r.dry_run == 4);
    }
    CHECK(f.commands() == 0);
    DecisionFilter dry;
    dry.outcome = DecisionOutcome::dry_run;
    const auto rows = list_decisions(f.store, dry);
    CHECK(rows.size() == 4);  // once per change, not per round
    for (const auto& row : rows) {
        CHECK(row.reason.starts_with("dry-run: price 200.00 > break-even 60.90"));
        CHECK_FALSE(row.command_id);
    }
    CHECK(list_decisions(f.store, {}).size() == 4);

    // Live: the same changes are sent.
    write_atomic(f.path, policy("", ""));
    REQUIRE(loop->reload());
    f.now += 1s;
    CHECK(loop->run_once().commanded == 4);
    CHECK(f.commands() == 4);
}

TEST_CASE("kill switch through the loop: no new command from the next round on, queued ones stay") {
    Fixture f;
    ingest(f.store, 1, fleet(4, 4, kT0 - 1s), kT0 - 1s);
    // Quiet 0: the mtime check reloads at the round's start, as SIGHUP would at once.
    auto loop = f.make(policy("", "max_site_fraction_per_interval = 0.5\n"), 0ms);
    f.price->set(200);
    CHECK(loop->run_once().commanded == 4);  // half of each site
    CHECK(f.commands() == 4);

    SUBCASE("by SIGHUP (reload)") {
        write_atomic(f.path, policy("enabled = false\n", "max_site_fraction_per_interval = 0.5\n"));
        REQUIRE(loop->reload());
    }
    SUBCASE("by the mtime check of the next round") {
        write_atomic(f.path, policy("enabled = false\n", "max_site_fraction_per_interval = 0.5\n"));
        fs::last_write_time(f.path, fs::last_write_time(f.path) + 2s);  // a new mtime for sure
    }
    // The other half still want sleep; nothing more is sent, in this round or later ones.
    for (int round = 1; round < 4; ++round) {
        f.now = kT0 + std::chrono::seconds(round);
        const auto r = loop->run_once();
        CHECK(loop->status().kill_switch);
        CHECK(r.commanded == 0);
    }
    CHECK(f.commands() == 4);
    DecisionFilter held;
    held.outcome = DecisionOutcome::held;
    held.from = kT0 + 1s;  // the first round held the other half by the site fraction
    const auto rows = list_decisions(f.store, held);
    CHECK(rows.size() == 4);  // once each, not every round
    for (const auto& row : rows) {
        CHECK(row.rule == "kill_switch");
        CHECK(row.reason.starts_with("kill switch ([policy] enabled = false): would sleep"));
    }
    // Commands queued before the switch are not cancelled: they stay queued for the agent
    // until done or past their deadline (docs/policy.md, "Safety rules").
    CommandFilter queued;
    queued.status = CommandStatus::queued;
    CHECK(f.store.commands(queued).size() == 4);
}

TEST_CASE("a malformed policy never takes effect: every prefix, single-byte mutations") {
    Fixture f;
    LogCapture logs;
    logs.keep = false;  // thousands of refusals: not kept
    const std::string shipped =
        read_text(std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/policy.toml");
    REQUIRE(shipped.size() > 1000);
    REQUIRE(pol::validate(pol::read_policy(config::Document::parse(kRich, "rich.toml"))).empty());
    const auto started = std::chrono::steady_clock::now();

    for (const auto* base : {&kRich, &shipped}) {
        auto loop = f.make(*base);
        const std::string base_fp = fingerprint(loop->rules());
        FuzzStats prefixes;
        for (std::size_t n = 0; n < base->size(); ++n) {
            try_reload(*loop, f.path, *base, base_fp, base->substr(0, n),
                       "prefix " + std::to_string(n), prefixes);
        }
        // Replace, delete or insert one byte at a random place; the bytes TOML cares about
        // most, and some it must refuse (NUL, a lone UTF-8 continuation byte).
        const std::string alphabet = "0123456789.-+=\"'[]{},:#\n\t aez_TtfFx\\";
        std::mt19937 rng(20261203);
        FuzzStats mutations;
        const int n_mutations = base == &kRich ? 3000 : 1500;
        for (int k = 0; k < n_mutations; ++k) {
            std::string text = *base;
            const auto pos = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
            const int pick = std::uniform_int_distribution<int>(0, 99)(rng);
            char byte =
                alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
            if (pick < 3) byte = '\0';
            if (pick >= 3 && pick < 6) byte = static_cast<char>(0x80);
            const int op = k % 3;
            if (op == 0) text[pos] = byte;
            if (op == 1) text.erase(pos, 1);
            if (op == 2) text.insert(pos, 1, byte);
            try_reload(*loop, f.path, *base, base_fp, text,
                       "mutation " + std::to_string(k) + " at " + std::to_string(pos), mutations);
        }
        const std::string which = base == &kRich ? "rich policy" : "deploy/config/policy.toml";
        MESSAGE(which << " (" << base->size() << " bytes): " << prefixes.tried << " prefixes ("
                      << prefixes.refused << " refused, " << prefixes.accepted << " valid), "
                      << mutations.tried << " mutations (" << mutations.refused << " refused, "
                      << mutations.accepted << " valid)");
        for (const auto& m : prefixes.first_failures) MESSAGE(m);
        for (const auto& m : mutations.first_failures) MESSAGE(m);
        CHECK(prefixes.failures == 0);
        CHECK(mutations.failures == 0);
        CHECK(prefixes.refused > 0);
        CHECK(mutations.refused > 0);
    }

    // At start-up: the constructor (the collector's first load) refuses a bad file outright,
    // with its file:line, and takes a valid one only.
    int start_refused = 0;
    for (std::size_t n = 0; n < kRich.size(); n += 7) {
        write_atomic(f.path, kRich.substr(0, n));
        ControlConfig cfg;
        cfg.enabled = true;
        cfg.policy_file = f.path;
        cfg.price_provider = f.price;
        try {
            ControlLoop loop(f.store, cfg, {});
            CHECK(pol::validate(loop.rules()).empty());
        } catch (const config::ConfigError& e) {
            ++start_refused;
            INFO("prefix ", n, ": ", e.what());
            CHECK(names_file_and_line(e.what(), f.path));
        }
    }
    CHECK(start_refused > 0);
    MESSAGE("start-up: " << (kRich.size() + 6) / 7 << " prefixes, " << start_refused
                         << " refused; all in "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count()
                         << " ms");
}

TEST_CASE("a policy rewritten in place is not taken half written; one renamed in is taken whole") {
    Fixture f;
    const std::string a = policy("", "max_commands_per_interval = 5\n");
    const std::string b = policy("dry_run = true\n", "max_commands_per_interval = 7\n");
    // A's text cut before [safety]: a valid policy without its limits, what a reader could see
    // of a file an editor is writing in place.
    const std::string half = a.substr(0, a.find("[safety]"));
    REQUIRE(pol::validate(pol::read_policy(config::Document::parse(half, "h.toml"))).empty());

    SUBCASE("in place: the mtime check waits until the file is quiet") {
        auto loop = f.make(b, 30s);
        const auto b_fp = fingerprint(loop->rules());
        {
            std::ofstream out(f.path, std::ios::binary | std::ios::trunc);  // in place
            out << half;
        }
        loop->run_once();
        CHECK(fingerprint(loop->rules()) == b_fp);  // written just now: not read yet
        {
            std::ofstream out(f.path, std::ios::binary | std::ios::trunc);
            out << a;
        }
        // The writer is done and the file has been quiet: the next round reads it whole.
        fs::last_write_time(f.path, fs::file_time_type::clock::now() - 60s);
        f.now += 1s;
        loop->run_once();
        const auto rules = loop->rules();
        CHECK_FALSE(rules.dry_run);
        CHECK(rules.safety.max_commands_per_interval == 5);
    }

    SUBCASE("renamed over while reloads run: only whole policies are taken") {
        LogCapture logs;
        logs.keep = false;  // hundreds of reloads
        auto loop = f.make(a, 0ms);
        const std::string fp_a = fingerprint(loop->rules());
        write_atomic(f.path, b);
        REQUIRE(loop->reload());
        const std::string fp_b = fingerprint(loop->rules());
        std::atomic<bool> done{false};
        std::atomic<bool> last_a{false};
        std::thread writer([&] {
            // Bounded: 300 replacements, or 5 s.
            const auto until = std::chrono::steady_clock::now() + 5s;
            for (int i = 0; i < 300 && std::chrono::steady_clock::now() < until; ++i) {
                write_atomic(f.path, i % 2 ? a : b);
                last_a = i % 2 == 1;
            }
            done = true;
        });
        int reloads = 0, taken = 0, deferred = 0, other = 0;
        std::set<std::string> seen;
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (!done && std::chrono::steady_clock::now() < until) {
            ++reloads;
            if (loop->reload()) {
                ++taken;
                seen.insert(fingerprint(loop->rules()));
            } else {
                const auto err = loop->status().last_error.value_or("");
                if (err.find("changed while being read") != std::string::npos) {
                    ++deferred;
                } else {
                    ++other;
                    MESSAGE("refused: " << err);
                }
            }
        }
        writer.join();
        MESSAGE(reloads << " reloads during 300 renames: " << taken << " taken, " << deferred
                        << " deferred (changed while read), " << other << " refused");
        CHECK(other == 0);
        CHECK(taken > 0);
        for (const auto& s : seen) CHECK((s == fp_a || s == fp_b));
        // And once the writer is done, the file's last version is what loads.
        REQUIRE(loop->reload());
        CHECK(fingerprint(loop->rules()) == (last_a ? fp_a : fp_b));
    }
}
