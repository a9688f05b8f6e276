// deploy/prometheus and deploy/alertmanager against the real tools (Debian's prometheus and
// prometheus-alertmanager packages): promtool check config / check rules / test rules, amtool
// check-config and the routes the shipped tree gives typical alerts. And a name check: every
// metric the rules read is a family of docs/metrics.md, a recording rule, or one of
// Prometheus' own, so a renamed family cannot silently leave a rule selecting nothing. The
// global Prometheus of a sharded fleet (federation.yml, federation/rules, federation/tests) too.
#include "tests/support/process.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kRoot = HASHWATT_SOURCE_DIR;
const std::string kPromtool = "/usr/bin/promtool";
const std::string kAmtool = "/usr/bin/amtool";

bool have(const std::string& tool) {
    if (fs::exists(tool)) return true;
    MESSAGE(tool << " not installed (Debian packages prometheus, prometheus-alertmanager); "
                    "skipped");
    return false;
}

// The files of `dir` whose names end with `suffix`, sorted.
std::vector<std::string> files(const std::string& dir, const std::string& suffix) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(kRoot + "/" + dir)) {
        const std::string name = e.path().filename().string();
        if (name.size() > suffix.size() && name.ends_with(suffix)) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

void check_run(const std::vector<std::string>& argv) {
    const auto r = test::run(argv, 60s);
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    INFO("command: " << cmd);
    INFO("stdout: " << r.out);
    INFO("stderr: " << r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, "cannot open " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct RuleFile {
    std::vector<std::string> records;
    std::vector<std::string> alerts;
    std::vector<std::pair<int, std::string>> exprs;  // line of `expr:`, the expression
};

std::size_t indent_of(const std::string& line) { return line.find_first_not_of(' '); }

std::string trim(std::string s) {
    s.erase(0, s.find_first_not_of(" \t\r\n"));
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
    return s;
}

// Just enough YAML for the rule files as they are written: `record:`, `alert:` and `expr:`
// keys, an expression inline or as a block scalar (`>-`, `|`) on the more indented lines
// after it.
RuleFile parse_rules(const std::string& path) {
    RuleFile out;
    std::istringstream in(read(path));
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string t = trim(lines[i]);
        if (t.starts_with("- ")) t = trim(t.substr(2));
        const auto value_of = [&](const std::string& key) { return trim(t.substr(key.size())); };
        if (t.starts_with("record:")) out.records.push_back(value_of("record:"));
        if (t.starts_with("alert:")) out.alerts.push_back(value_of("alert:"));
        if (!t.starts_with("expr:")) continue;
        std::string v = value_of("expr:");
        if (v.empty() || v[0] == '>' || v[0] == '|') {
            const std::size_t key_indent = indent_of(lines[i]);
            v.clear();
            while (i + 1 < lines.size() &&
                   (trim(lines[i + 1]).empty() || indent_of(lines[i + 1]) > key_indent)) {
                v += trim(lines[++i]) + " ";
            }
        }
        out.exprs.emplace_back(static_cast<int>(i + 1), v);
    }
    return out;
}

bool is_ident_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool is_ident(char c) { return is_ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// The metric names a PromQL expression selects: identifiers outside strings, label
// matchers, ranges and grouping clauses that are not a function call or a keyword.
std::set<std::string> metric_names(const std::string& e) {
    // Aggregations too: `sum by (site) (x)` puts the grouping between the name and `(`.
    static const std::set<std::string> keywords = {
        "by",    "without", "on",      "ignoring", "group_left",   "group_right", "and",
        "or",    "unless",  "bool",    "offset",   "inf",          "nan",         "atan2",
        "sum",   "min",     "max",     "avg",      "group",        "stddev",      "stdvar",
        "count", "topk",    "bottomk", "quantile", "count_values", "limitk"};
    static const std::set<std::string> grouping = {"by",       "without",    "on",
                                                   "ignoring", "group_left", "group_right"};
    std::set<std::string> out;
    std::size_t i = 0;
    // From just after an opening quote `q` to just after its closing one.
    const auto skip_string = [&](char q) {
        while (i < e.size() && e[i] != q) i += e[i] == '\\' ? 2u : 1u;
        ++i;
    };
    // To just after `close`, stepping over quoted strings on the way.
    const auto skip_to = [&](char close) {
        while (i < e.size()) {
            const char ch = e[i++];
            if (ch == close) return;
            if (ch == '"' || ch == '\'' || ch == '`') skip_string(ch);
        }
    };
    while (i < e.size()) {
        const char c = e[i];
        if (c == '"' || c == '\'' || c == '`') {
            ++i;
            skip_string(c);
            continue;
        }
        if (c == '{' || c == '[') {
            ++i;
            skip_to(c == '{' ? '}' : ']');
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            while (i < e.size() && (is_ident(e[i]) || e[i] == '.')) ++i;  // 1e12, 0.05
            continue;
        }
        if (!is_ident_start(c)) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < e.size() && is_ident(e[i])) ++i;
        const std::string word = e.substr(start, i - start);
        std::size_t next = i;
        while (next < e.size() && e[next] == ' ') ++next;
        const bool call = next < e.size() && e[next] == '(';
        if (grouping.count(word) && call) {
            i = next + 1;
            skip_to(')');  // label names
            continue;
        }
        if (call || keywords.count(word)) continue;
        out.insert(word);
    }
    return out;
}

// The family names of docs/metrics.md's table.
std::set<std::string> documented_families() {
    std::set<std::string> out;
    std::istringstream in(read(kRoot + "/docs/metrics.md"));
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("| `hashwatt_")) continue;
        out.insert(line.substr(3, line.find('`', 3) - 3));
    }
    return out;
}

}  // namespace

TEST_CASE("promtool check config accepts deploy/prometheus/prometheus.yml") {
    if (!have(kPromtool)) return;
    check_run({kPromtool, "check", "config", kRoot + "/deploy/prometheus/prometheus.yml"});
}

TEST_CASE("promtool check config accepts deploy/prometheus/federation.yml and finds its rules") {
    if (!have(kPromtool)) return;
    const auto r =
        test::run({kPromtool, "check", "config", kRoot + "/deploy/prometheus/federation.yml"}, 60s);
    INFO("stdout: " << r.out);
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    // A wrong rule_files glob is not an error to promtool; it would load nothing.
    CHECK(r.out.find("1 rule files found") != std::string::npos);
}

TEST_CASE("promtool check rules accepts every rule file") {
    if (!have(kPromtool)) return;
    auto rules = files("deploy/prometheus/rules", ".yml");
    REQUIRE(rules.size() == 3);
    const auto global = files("deploy/prometheus/federation/rules", ".yml");
    REQUIRE(global.size() == 1);
    rules.insert(rules.end(), global.begin(), global.end());
    std::vector<std::string> argv = {kPromtool, "check", "rules"};
    argv.insert(argv.end(), rules.begin(), rules.end());
    check_run(argv);
}

TEST_CASE("promtool test rules: the rule unit tests pass") {
    if (!have(kPromtool)) return;
    auto tests = files("deploy/prometheus/tests", ".test.yml");
    REQUIRE(tests.size() >= 3);
    const auto global = files("deploy/prometheus/federation/tests", ".test.yml");
    REQUIRE(global.size() >= 1);
    tests.insert(tests.end(), global.begin(), global.end());
    std::vector<std::string> argv = {kPromtool, "test", "rules"};
    argv.insert(argv.end(), tests.begin(), tests.end());
    check_run(argv);
}

TEST_CASE("the rule files define exactly the fixed recording rule and alert names") {
    const auto rec = parse_rules(kRoot + "/deploy/prometheus/rules/hashwatt-recording.yml");
    const auto al = parse_rules(kRoot + "/deploy/prometheus/rules/hashwatt-alerts.yml");
    const auto policy =
        parse_rules(kRoot + "/deploy/prometheus/rules/hashwatt-policy-recording.yml");
    CHECK(policy.records ==
          std::vector<std::string>{"site_state:hashwatt_policy_target_state:sum"});
    CHECK(policy.alerts.empty());
    const std::set<std::string> records(rec.records.begin(), rec.records.end());
    CHECK(records.size() == rec.records.size());  // none twice
    CHECK(records == std::set<std::string>{
                         "site:hashwatt_miner_hashrate_hashes_per_second:sum",
                         "site:hashwatt_miner_expected_hashrate_hashes_per_second:sum",
                         "site:hashwatt_miner_power_watts:sum",
                         "site:hashwatt_miner_efficiency_joules_per_terahash:ratio",
                         "site:hashwatt_miner_up:sum",
                         "site:hashwatt_miner_up:count",
                         "site_state:hashwatt_miner_state:sum",
                         "fleet:hashwatt_miner_hashrate_hashes_per_second:sum",
                         "fleet:hashwatt_miner_expected_hashrate_hashes_per_second:sum",
                         "fleet:hashwatt_miner_power_watts:sum",
                         "fleet:hashwatt_miner_efficiency_joules_per_terahash:ratio",
                         "fleet:hashwatt_miner_up:sum",
                         "fleet:hashwatt_miner_up:count",
                     });
    CHECK(rec.alerts.empty());
    CHECK(al.records.empty());
    const std::set<std::string> alerts(al.alerts.begin(), al.alerts.end());
    CHECK(alerts == std::set<std::string>{"HashwattCollectorDown", "HashwattCollectorAbsent",
                                          "HashwattAgentSilent", "HashwattAgentDown",
                                          "HashwattScrapeSlow", "HashwattStoreErrors",
                                          "HashwattIngestRejected", "HashwattSiteDown"});
    // Every alert is covered by the unit tests.
    const std::string tests = read(kRoot + "/deploy/prometheus/tests/alerts.test.yml");
    for (const auto& a : alerts) {
        CHECK_MESSAGE(tests.find("alertname: " + a + "\n") != std::string::npos,
                      "no alert_rule_test for " << a);
    }
}

TEST_CASE("the global rules: a region: and a global: sum of every summable site: rule") {
    const auto g = parse_rules(kRoot + "/deploy/prometheus/federation/rules/hashwatt-global.yml");
    const std::set<std::string> records(g.records.begin(), g.records.end());
    CHECK(records.size() == g.records.size());
    // Every regional site: sum (not the ratio, which is recomputed) has both.
    const auto rec = parse_rules(kRoot + "/deploy/prometheus/rules/hashwatt-recording.yml");
    std::size_t site_sums = 0;
    for (const auto& r : rec.records) {
        if (!r.starts_with("site:") || r.ends_with(":ratio")) continue;
        ++site_sums;
        const std::string metric = r.substr(5);
        CHECK_MESSAGE(records.count("region:" + metric), "no region: rule for " << r);
        CHECK_MESSAGE(records.count("global:" + metric), "no global: rule for " << r);
    }
    CHECK(site_sums == 5);
    for (const char* r : {"region:hashwatt_miner_efficiency_joules_per_terahash:ratio",
                          "global:hashwatt_miner_efficiency_joules_per_terahash:ratio",
                          "region:hashwatt_collector_up:sum", "region:hashwatt_collector_up:count",
                          "global_state:hashwatt_miner_state:sum",
                          "global_state:hashwatt_policy_target_state:sum"}) {
        CHECK_MESSAGE(records.count(r), "missing " << r);
    }
    CHECK(g.alerts == std::vector<std::string>{"HashwattFederationDown"});
    const std::string tests = read(kRoot + "/deploy/prometheus/federation/tests/global.test.yml");
    for (const auto& r : g.records) {
        CHECK_MESSAGE(tests.find("- expr: " + r + "\n") != std::string::npos, "no test of " << r);
    }
    CHECK(tests.find("alertname: HashwattFederationDown\n") != std::string::npos);
}

TEST_CASE("every metric the rules read is documented, recorded, or Prometheus' own") {
    const std::set<std::string> builtin = {"up",
                                           "scrape_duration_seconds",
                                           "scrape_samples_scraped",
                                           "scrape_samples_post_metric_relabeling",
                                           "scrape_series_added",
                                           "ALERTS",
                                           "ALERTS_FOR_STATE"};
    const auto documented = documented_families();
    REQUIRE(documented.size() > 10);
    std::set<std::string> recorded;
    std::vector<std::pair<std::string, RuleFile>> parsed;
    auto rule_files = files("deploy/prometheus/rules", ".yml");
    const auto global = files("deploy/prometheus/federation/rules", ".yml");
    rule_files.insert(rule_files.end(), global.begin(), global.end());
    for (const auto& f : rule_files) {
        parsed.emplace_back(f, parse_rules(f));
        recorded.insert(parsed.back().second.records.begin(), parsed.back().second.records.end());
    }
    std::size_t names = 0;
    for (const auto& [file, rules] : parsed) {
        REQUIRE(!rules.exprs.empty());
        for (const auto& [line, expr] : rules.exprs) {
            INFO(file << ":" << line << ": " << expr);
            const auto used = metric_names(expr);
            CHECK_FALSE(used.empty());
            for (const auto& n : used) {
                ++names;
                std::string family = n;
                for (const char* s : {"_bucket", "_sum", "_count"}) {  // histogram series
                    if (!documented.count(family) && family.ends_with(s)) {
                        family.resize(family.size() - std::string(s).size());
                    }
                }
                CHECK_MESSAGE(
                    (documented.count(family) || recorded.count(n) || builtin.count(n)),
                    "unknown metric " << n << " (not in docs/metrics.md, no recording rule)");
            }
        }
    }
    CHECK(names > 20);
}

TEST_CASE("the name check itself: what it extracts from PromQL") {
    CHECK(metric_names(R"(sum by (site) (hashwatt_miner_up{site!="", job=~"a|b"}) == 0)") ==
          std::set<std::string>{"hashwatt_miner_up"});
    CHECK(metric_names("time() - x_seconds > 180 and on (instance) up offset 5m") ==
          std::set<std::string>{"x_seconds", "up"});
    CHECK(metric_names("a:b:sum / (c_total[5m] / 1e12 > 0.5)") ==
          std::set<std::string>{"a:b:sum", "c_total"});
    CHECK(metric_names(R"(absent(up{job="x y"}) or vector(0))") == std::set<std::string>{"up"});
}

TEST_CASE("amtool check-config accepts deploy/alertmanager/alertmanager.yml") {
    if (!have(kAmtool)) return;
    check_run({kAmtool, "check-config", kRoot + "/deploy/alertmanager/alertmanager.yml"});
}

TEST_CASE("alertmanager routes: critical pages (by site where one is set), the rest default") {
    if (!have(kAmtool)) return;
    const std::string config = "--config.file=" + kRoot + "/deploy/alertmanager/alertmanager.yml";
    const std::map<std::string, std::vector<std::string>> cases = {
        {"hashwatt-page",
         {"alertname=HashwattCollectorDown", "severity=critical", "instance=127.0.0.1:8480"}},
        {"hashwatt-page-barn-1", {"alertname=MinerOffline", "severity=critical", "site=barn-1"}},
        {"hashwatt-page ", {"alertname=MinerOffline", "severity=critical", "site=west"}},
        {"hashwatt-default", {"alertname=MinerHashrateLow", "severity=warning", "site=barn-1"}},
        {"hashwatt-default ", {"alertname=HashwattStoreErrors", "severity=info"}},
    };
    for (const auto& [want, labels] : cases) {
        std::vector<std::string> argv = {kAmtool, "config", "routes", "test", config};
        argv.insert(argv.end(), labels.begin(), labels.end());
        const auto r = test::run(argv, 30s);
        INFO("labels: " << labels[0] << " " << labels[1]);
        INFO("stderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(trim(r.out) == trim(want));
    }
}
