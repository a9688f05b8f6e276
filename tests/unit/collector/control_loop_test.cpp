// The policy's control loop (collector/control/control_loop.hpp) on a real Store, with an
// injected clock and stored samples instead of an agent: price providers, the inputs built from
// samples, commands and decision rows per change (none for a round that changes nothing),
// dry-run rows written once, reload (refused with file:line:column, the old rules kept; on an
// mtime change), a stale price, and the [policy]/[prices] keys of the collector TOML.
#include "collector/control/control_loop.hpp"

#include "collector/config/collector_config.hpp"
#include "collector/control/decision_store.hpp"
#include "collector/control/override_store.hpp"
#include "collector/metrics/policy_metrics.hpp"
#include "collector/service.hpp"
#include "collector/storage/store.hpp"
#include "common/config.hpp"
#include "common/time.hpp"
#include "tests/support/process.hpp"

#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace hashwatt::collector::control;
using namespace std::chrono_literals;
namespace prices = hashwatt::policies::prices;

namespace {

const TimePoint kT0{std::chrono::milliseconds(1'795'597'200'000)};  // 2026-11-25T09:00:00Z

MinerSample mining(const std::string& id, const std::string& model, double ths, double w,
                   TimePoint at) {
    MinerSample s;
    s.miner_id = id;
    s.site = "west";
    s.host = "10.0.0." + id.substr(1);
    s.port = 4028;
    s.model = model;
    s.observed_at = at;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = ths;
    s.power_w = w;
    return s;
}

// Three miners of three efficiencies: break-even 60.9 (S19), 70.5 (S19 Pro), 119 (S21) at a
// hashprice of 0.05, no pool fee, pue 1.
void ingest(Store& store, std::int64_t seq, TimePoint at,
            MinerState m1_state = MinerState::mining) {
    IngestBatch b;
    b.agent_id = "a1";
    b.batch_seq = seq;
    b.samples = {mining("m1", "Antminer S19", 95, 3250, at),
                 mining("m2", "Antminer S19 Pro", 110, 3250, at),
                 mining("m3", "Antminer S21", 200, 3500, at)};
    b.samples[0].state = m1_state;
    if (m1_state == MinerState::sleeping) {
        b.samples[0].hashrate_ths = 0;
        b.samples[0].power_w = 15;
    }
    store.ingest(b, at);
}

std::string policy_text(bool dry_run = false) {
    return std::string("[policy]\ninterval = \"1s\"\ndry_run = ") + (dry_run ? "true" : "false") +
           "\n[economics]\nhashprice = 0.05\npool_fee = 0\npue = 1.0\n"
           "[[rule]]\nkind = \"break_even\"\n[safety]\nsettle = \"30s\"\n";
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

prices::PriceSourceConfig fixed(double p) {
    prices::PriceSourceConfig c;
    c.kind = prices::SourceKind::fixed;
    c.source = prices::FixedSource{p};
    return c;
}

struct Fixture {
    test::TempDir dir;
    Store store{dir.path() + "/c.db"};
    std::string policy = dir.path() + "/policy.toml";
    TimePoint now = kT0;

    ControlLoop make(double price, bool dry_run = false) {
        write(policy, policy_text(dry_run));
        ControlConfig cfg;
        cfg.enabled = true;
        cfg.policy_file = policy;
        cfg.prices = fixed(price);
        ControlOptions o;
        o.clock = [this] { return now; };
        o.points.power_targets = false;
        return ControlLoop(store, cfg, o);
    }
};

}  // namespace

TEST_CASE("policy loop: a price above the least efficient's break-even sleeps only it, once") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    auto loop = f.make(65);
    CHECK(loop.status().price_source == "fixed 65.00 USD/MWh");
    const auto r = loop.run_once();
    CHECK(r.miners == 3);
    CHECK(r.commanded == 1);
    const auto rows = list_decisions(f.store, {});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].miner_id == "m1");
    CHECK(rows[0].target == "sleep");
    CHECK(rows[0].outcome == DecisionOutcome::commanded);
    CHECK(rows[0].rule == "break_even");
    CHECK(rows[0].reason == "price 65.00 > break-even 60.90");
    CHECK(rows[0].site == "west");
    REQUIRE(rows[0].command_id);
    const auto cmd = f.store.command(*rows[0].command_id);
    REQUIRE(cmd);
    CHECK(cmd->command.type == CommandType::sleep);
    CHECK(cmd->agent_id == "a1");

    const auto d = loop.last_decisions();
    REQUIRE(d.size() == 3);
    CHECK(d[0].target == policies::PointKind::sleep);
    CHECK(d[1].target == policies::PointKind::full);
    CHECK(d[2].target == policies::PointKind::full);

    // The miner still reports mining (settling): nothing is sent or written again.
    f.now += 1s;
    const auto again = loop.run_once();
    CHECK(again.commanded == 0);
    CHECK(again.recorded == 0);
    CHECK(list_decisions(f.store, {}).size() == 1);

    // Metrics of the round.
    const auto snap = loop.snapshot();
    CHECK(snap.site_power_w.at("west") == doctest::Approx(10000));
    const auto fams = build_policy_families(snap);
    REQUIRE(fams.size() == 7);
    CHECK(fams[0].name == "hashwatt_policy_target_state");
    CHECK(fams[0].metric.size() == 9);
    CHECK(fams[5].name == "hashwatt_policy_price_stale");
    CHECK(fams[5].metric.at(0).gauge.value == 0);
    CHECK(fams[6].name == "hashwatt_policy_site_power_cap_watts");
    CHECK(fams[6].metric.empty());  // the policy has no site cap
}

TEST_CASE("policy loop: a wall-clock step found by the steady clock does not cut `for` short") {
    Fixture f;
    write(f.policy, policy_text() + "for = \"10m\"\n");
    std::chrono::steady_clock::time_point steady{};
    ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = f.policy;
    cfg.prices = fixed(65);
    ControlOptions o;
    o.clock = [&f] { return f.now; };
    o.steady_clock = [&steady] { return steady; };
    o.points.power_targets = false;
    ControlLoop loop(f.store, cfg, o);
    std::int64_t seq = 0;
    const auto round_at = [&](TimePoint wall, std::chrono::seconds steady_since_start) {
        f.now = wall;
        steady = std::chrono::steady_clock::time_point{} + steady_since_start;
        ingest(f.store, ++seq, wall - 1s);
        return loop.run_once();
    };
    CHECK(round_at(kT0, 0s).commanded == 0);  // m1 should sleep: wanted from now on
    // One minute later, but the wall clock was set an hour forward meanwhile.
    CHECK(round_at(kT0 + 1h + 1min, 60s).commanded == 0);
    CHECK(round_at(kT0 + 1h + 9min, 540s).commanded == 0);
    CHECK(round_at(kT0 + 1h + 10min, 600s).commanded == 1);  // ten real minutes
}

TEST_CASE("policy loop: the snapshot holds each named site's lowest cap in miner watts") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    write(f.policy,
          "[policy]\ninterval = \"1s\"\n[economics]\nhashprice = 0.05\npool_fee = 0\n"
          "pue = 1.25\n[[rule]]\nkind = \"break_even\"\n"
          "[[rule]]\nkind = \"site_cap\"\nsite = \"west\"\nkw = 10\n"
          "[[rule]]\nkind = \"site_cap\"\nsite = \"west\"\nkw = 8\n"
          "[[rule]]\nkind = \"site_cap\"\nkw = 100\n");
    ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = f.policy;
    cfg.prices = fixed(30);
    ControlOptions o;
    o.clock = [&f] { return f.now; };
    o.points.power_targets = false;
    ControlLoop loop(f.store, cfg, o);
    loop.run_once();
    const auto snap = loop.snapshot();
    REQUIRE(snap.site_power_cap_w.size() == 1);  // the fleet-wide cap names no site
    CHECK(snap.site_power_cap_w.at("west") == doctest::Approx(6400));  // 8 kW / 1.25
    const auto fams = build_policy_families(snap);
    REQUIRE(fams.size() == 7);
    REQUIRE(fams[6].metric.size() == 1);
    CHECK(fams[6].metric[0].label.at(0).value == "west");
    CHECK(fams[6].metric[0].gauge.value == doctest::Approx(6400));
}

TEST_CASE("policy loop: asleep and the price falls: woken with a wake command") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s, MinerState::sleeping);
    auto loop = f.make(20);
    const auto r = loop.run_once();
    CHECK(r.commanded == 1);
    const auto rows = list_decisions(f.store, {});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].target == "full");
    CHECK(rows[0].reason == "price 20.00 <= break-even 60.90");
    REQUIRE(rows[0].command_id);
    CHECK(f.store.command(*rows[0].command_id)->command.type == CommandType::wake);
}

TEST_CASE("policy loop: asleep and wanted at a reduced point: wake, then set_power_target") {
    Fixture f;
    IngestBatch b;
    b.agent_id = "a1";
    b.batch_seq = 1;
    auto s = mining("m1", "Antminer S19", 0, 15, kT0 - 1s);
    s.state = MinerState::sleeping;
    s.power_limit_w = 3250;  // the firmware reports its power target: it takes one
    b.samples = {s};
    f.store.ingest(b, kT0 - 1s);
    write(f.policy, std::string("[policy]\ninterval = \"1s\"\n[economics]\nhashprice = 0.05\n"
                                "[[rule]]\nkind = \"price_threshold\"\nsleep_above = 50\n"
                                "wake_below = 40\ntarget = \"reduced\"\n"));
    ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = f.policy;
    cfg.prices = fixed(65);
    ControlOptions o;
    o.clock = [&f] { return f.now; };
    ControlLoop loop(f.store, cfg, o);
    CHECK(loop.run_once().commanded == 1);
    const auto rows = list_decisions(f.store, {});
    REQUIRE(rows.size() == 1);
    INFO(rows[0].reason);
    CHECK(rows[0].target == "reduced");
    REQUIRE(rows[0].power_target_w);
    CHECK(*rows[0].power_target_w == doctest::Approx(0.7 * 3250));  // the lowest reduced point
    REQUIRE(rows[0].command_id);
    const auto set = f.store.command(*rows[0].command_id);
    REQUIRE(set);
    CHECK(set->command.type == CommandType::set_power_target);
    CHECK(set->command.power_target_w == rows[0].power_target_w);
    // The wake is named in the reason and was queued first.
    const auto open = rows[0].reason.find("(commands ");
    REQUIRE(open != std::string::npos);
    const std::string wake_id = rows[0].reason.substr(open + 10, 16);
    const auto wake = f.store.command(wake_id);
    REQUIRE(wake);
    CHECK(wake->command.type == CommandType::wake);
    CHECK(wake->command.created_at < set->command.created_at);
}

TEST_CASE("policy loop: the kill switch commands nothing and writes one held row per change") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    write(f.policy,
          "[policy]\ninterval = \"1s\"\nenabled = false\n[economics]\nhashprice = "
          "0.05\n[[rule]]\nkind = \"break_even\"\n");
    ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = f.policy;
    cfg.prices = fixed(65);
    ControlOptions o;
    o.clock = [&f] { return f.now; };
    ControlLoop loop(f.store, cfg, o);
    CHECK(loop.status().kill_switch);
    const auto r = loop.run_once();
    CHECK(r.commanded == 0);
    CHECK(r.held == 1);
    auto rows = list_decisions(f.store, {});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == DecisionOutcome::held);
    CHECK(rows[0].rule == "kill_switch");
    CHECK(rows[0].reason.find("would sleep") != std::string::npos);
    f.now += 1s;
    CHECK(loop.run_once().recorded == 0);
}

TEST_CASE("policy loop: dry-run rows are written once per change, no command") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    auto loop = f.make(65, true);
    CHECK(loop.status().dry_run);
    const auto r = loop.run_once();
    CHECK(r.commanded == 0);
    CHECK(r.dry_run == 1);
    auto rows = list_decisions(f.store, {});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == DecisionOutcome::dry_run);
    CHECK_FALSE(rows[0].command_id);
    CHECK(rows[0].reason.starts_with("dry-run: price 65.00 > break-even"));
    f.now += 1s;
    CHECK(loop.run_once().recorded == 0);
    CHECK(list_decisions(f.store, {}).size() == 1);
}

TEST_CASE("policy loop: reload refuses a bad file with its location and keeps the rules") {
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    auto loop = f.make(65);
    write(f.policy, policy_text() + "bogus = 1\n");
    CHECK_FALSE(loop.reload());
    const auto st = loop.status();
    REQUIRE(st.last_error);
    INFO(*st.last_error);
    CHECK(st.last_error->find("policy.toml:12:") != std::string::npos);
    CHECK(st.last_error->find("bogus") != std::string::npos);
    // The old rules still decide.
    CHECK(loop.run_once().commanded == 1);

    // A good file takes, and the error is cleared. The mtime check each round finds it.
    std::this_thread::sleep_for(10ms);  // a later mtime than the bad file's, on coarse clocks
    write(f.policy, policy_text(true));
    std::filesystem::last_write_time(
        f.policy, std::filesystem::last_write_time(f.policy) + std::chrono::seconds(2));
    f.now += 1s;
    loop.run_once();
    CHECK(loop.status().dry_run);
    CHECK_FALSE(loop.status().last_error);
}

TEST_CASE("policy loop: a stale price is reported and on_stale decides") {
    struct Stale : PriceProvider {
        policies::PriceInput current(TimePoint) override {
            policies::PriceInput p;
            p.price_per_mwh = 500;
            p.stale = true;
            p.why = "feed last answered 20m ago";
            return p;
        }
        std::string describe() const override { return "stale feed"; }
    };
    Fixture f;
    ingest(f.store, 1, kT0 - 1s);
    write(f.policy, policy_text());
    ControlConfig cfg;
    cfg.enabled = true;
    cfg.policy_file = f.policy;
    cfg.price_provider = std::make_shared<Stale>();
    ControlOptions o;
    o.clock = [&f] { return f.now; };
    ControlLoop loop(f.store, cfg, o);
    const auto r = loop.run_once();
    CHECK(r.commanded == 0);  // on_stale = hold
    CHECK(loop.status().last_price.stale);
    const auto d = loop.last_decisions();
    REQUIRE(d.size() == 3);
    CHECK(d[0].rule == "stale_price");
    const auto fams = build_policy_families(loop.snapshot());
    CHECK(fams.at(5).metric.at(0).gauge.value == 1);
}

TEST_CASE("price providers: fixed, a csv file's intervals, and an http feed") {
    CHECK(make_price_provider(fixed(35))->current(kT0).price_per_mwh == 35);

    test::TempDir dir;
    write(dir.path() + "/p.csv",
          "timestamp,price\n2026-11-25T09:00:00Z,40\n"
          "2026-11-25T09:15:00Z,50\n");
    prices::PriceSourceConfig csv;
    csv.kind = prices::SourceKind::csv;
    prices::CsvSource src;
    src.path = dir.path() + "/p.csv";
    csv.source = src;
    auto p = make_price_provider(csv);
    CHECK(p->describe() == "csv p.csv");
    CHECK(p->current(kT0 + 16min).price_per_mwh == 50);
    const auto none = p->current(kT0 + 2h);
    CHECK_FALSE(none.price_per_mwh);
    CHECK(none.why.find("no interval at 2026-11-25T11:00:00") != std::string::npos);

    // kind http: the feed (not started here, so it has no price yet).
    prices::PriceSourceConfig http;
    http.kind = prices::SourceKind::http;
    prices::HttpSource feed;
    feed.url = "http://127.46.0.30:9/price";
    feed.json_path = "price";
    http.source = feed;
    auto h = make_price_provider(http);
    CHECK(h->describe().starts_with("http feed http://127.46.0.30:9/price"));
    CHECK_FALSE(h->current(kT0).price_per_mwh);
}

TEST_CASE("collector config: [policy] file and [prices], with errors naming the key") {
    const auto cfg = parse_collector_config(R"([policy]
file = "policy.toml"
[prices]
kind = "fixed"
price_per_mwh = 42
)",
                                            "collector.toml");
    CHECK(cfg.control.enabled);
    CHECK(cfg.control.policy_file.ends_with("policy.toml"));
    REQUIRE(cfg.control.prices);
    CHECK(cfg.control.prices->kind == prices::SourceKind::fixed);

    CHECK_FALSE(parse_collector_config("", "collector.toml").control.enabled);
    CHECK_THROWS_WITH_AS(parse_collector_config("[policy]\nfile = \"p.toml\"\n", "collector.toml"),
                         doctest::Contains("needs a [prices] table"), config::ConfigError);
    CHECK_THROWS_WITH_AS(parse_collector_config("[policy]\n", "collector.toml"),
                         doctest::Contains("policy.file"), config::ConfigError);
    CHECK_THROWS_WITH_AS(
        parse_collector_config("[prices]\nkind = \"fixed\"\nprice_per_mwh = 1\n", "collector.toml"),
        doctest::Contains("without [policy]"), config::ConfigError);
}

TEST_CASE("collector service: overrides saved through the API come back after a restart") {
    test::TempDir dir;
    const std::string policy = dir.path() + "/policy.toml";
    write(policy, policy_text());
    CollectorConfig cfg;
    cfg.database_path = dir.path() + "/c.db";
    cfg.api.address = "127.0.0.1";
    cfg.api.port = 0;
    cfg.alerts.enabled = false;
    cfg.control.enabled = true;
    cfg.control.policy_file = policy;
    cfg.control.prices = fixed(30);
    const TimePoint now = now_ms();
    OverrideRecord r;
    r.value.id = "dr-event-7";
    r.value.target = policies::PointKind::sleep;
    r.value.start = now - std::chrono::minutes(5);
    r.value.end = now + std::chrono::hours(1);
    r.created_by = "admin";
    r.created_at = now - std::chrono::minutes(5);
    {
        Store store(cfg.database_path);
        save_override(store, r);
        auto ended = r;
        ended.value.id = "over";
        ended.value.end = now - std::chrono::minutes(1);
        save_override(store, ended);
    }
    CollectorService svc(cfg);
    REQUIRE(svc.policy_control() != nullptr);
    const auto active = svc.policy_control()->overrides(now_ms());
    bool found = false;
    for (const auto& o : active) {
        CHECK(o.id != "over");  // ended: not restored
        found = found || o.id == "dr-event-7";
    }
    CHECK(found);
}
