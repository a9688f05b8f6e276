// The shipped Grafana dashboards and their provisioning (deploy/grafana): fixed uids, the
// datasource/site/miner variables, a datasource and a unit on every panel, only metric names that
// exist; and the query extractor (tests/support/dashboards) the end-to-end tests run them with.
#include "tests/support/dashboards.hpp"
#include "tests/support/process.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string kSource = HASHWATT_SOURCE_DIR;
const std::string kDashboards = kSource + "/deploy/grafana/dashboards";

// File name -> the uid deploy_common fixes for it (links and bookmarks use these).
const std::map<std::string, std::string> kUids{{"fleet-overview.json", "hashwatt-fleet"},
                                               {"rig-detail.json", "hashwatt-rig"},
                                               {"power-profit.json", "hashwatt-power"}};

const std::map<std::string, std::string> kVariables{
    {"datasource", "hashwatt-prometheus"}, {"site", ".*"}, {"miner", "m1"}};

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "cannot open " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

json::object read_dashboard(const std::string& file) {
    const auto path = kDashboards + "/" + file;
    boost::system::error_code ec;
    auto v = json::parse(read_text(path), ec);
    REQUIRE_MESSAGE(!ec, path << ": " << ec.message());
    REQUIRE_MESSAGE(v.is_object(), path);
    return v.as_object();
}

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string{};
}

// Calls `f` for every panel, rows' nested panels included.
void for_each_panel(const json::object& dash, const std::function<void(const json::object&)>& f) {
    std::function<void(const json::value*)> walk = [&](const json::value* panels) {
        if (!panels || !panels->is_array()) return;
        for (const auto& p : panels->as_array()) {
            REQUIRE(p.is_object());
            f(p.as_object());
            walk(p.as_object().if_contains("panels"));
        }
    };
    walk(dash.if_contains("panels"));
}

const json::object* variable(const json::object& dash, std::string_view name) {
    const auto& list = dash.at("templating").at("list").as_array();
    for (const auto& v : list) {
        if (str(v.as_object(), "name") == name) return &v.as_object();
    }
    return nullptr;
}

std::string variable_query(const json::object& var) {
    const auto* q = var.if_contains("query");
    if (!q) return {};
    if (q->is_string()) return std::string(q->as_string());
    return q->is_object() ? str(q->as_object(), "query") : std::string{};
}

// The metric names a PromQL expression selects: identifiers that are not functions, keywords,
// label names (inside {...} and by/on/... lists), durations or numbers.
std::set<std::string> metric_names(const std::string& e) {
    static const std::set<std::string> keywords{
        "sum",        "min",          "max",     "avg",  "group",    "stddev", "stdvar",
        "count",      "count_values", "bottomk", "topk", "quantile", "and",    "or",
        "unless",     "bool",         "offset",  "by",   "without",  "on",     "ignoring",
        "group_left", "group_right",  "inf",     "nan",  "atan2"};
    static const std::set<std::string> label_lists{"by",       "without",    "on",
                                                   "ignoring", "group_left", "group_right"};
    auto ident_start = [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
    };
    auto ident_char = [&](char c) {
        return ident_start(c) || std::isdigit(static_cast<unsigned char>(c));
    };
    auto skip_space = [&](std::size_t i) {
        while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
        return i;
    };
    // Index just past the bracket matching the one at `i`, quotes respected.
    auto skip_group = [&](std::size_t i, char open, char close) {
        int depth = 0;
        char quote = 0;
        for (; i < e.size(); ++i) {
            const char c = e[i];
            if (quote) {
                if (c == '\\')
                    ++i;
                else if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'' || c == '`') {
                quote = c;
            } else if (c == open) {
                ++depth;
            } else if (c == close && --depth == 0) {
                return i + 1;
            }
        }
        return i;
    };
    std::set<std::string> out;
    for (std::size_t i = 0; i < e.size();) {
        const char c = e[i];
        if (c == '"' || c == '\'' || c == '`') {
            std::size_t j = i + 1;
            while (j < e.size() && e[j] != c) j += e[j] == '\\' ? 2U : 1U;
            i = j + 1;
        } else if (c == '{') {
            i = skip_group(i, '{', '}');
        } else if (c == '[') {
            i = skip_group(i, '[', ']');
        } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            while (i < e.size() &&
                   (std::isalnum(static_cast<unsigned char>(e[i])) || e[i] == '.')) {
                const bool exp_sign = (e[i] == 'e' || e[i] == 'E') && i + 1 < e.size() &&
                                      (e[i + 1] == '+' || e[i + 1] == '-');
                i += exp_sign ? 2U : 1U;
            }
        } else if (ident_start(c)) {
            std::size_t j = i;
            while (j < e.size() && ident_char(e[j])) ++j;
            const std::string name = e.substr(i, j - i);
            const std::size_t next = skip_space(j);
            const bool call = next < e.size() && e[next] == '(';
            if (label_lists.count(name) && call) {
                j = skip_group(next, '(', ')');
            } else if (!call && !keywords.count(name)) {
                out.insert(name);
            }
            i = j;
        } else {
            ++i;
        }
    }
    return out;
}

// docs/metrics.md's family table; a histogram's series (_bucket, _sum, _count) are added.
std::set<std::string> documented_metrics() {
    std::set<std::string> names;
    std::istringstream in(read_text(kSource + "/docs/metrics.md"));
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("| `hashwatt_")) continue;
        const auto end = line.find('`', 3);
        const std::string name = line.substr(3, end - 3);
        names.insert(name);
        if (line.find("| histogram |") != std::string::npos) {
            for (const char* s : {"_bucket", "_sum", "_count"}) names.insert(name + s);
        }
    }
    return names;
}

// The recording rules' names: from the shipped rules file once it exists, else the names
// deploy_common fixes for it.
std::set<std::string> recording_rules() {
    const std::string path = kSource + "/deploy/prometheus/rules/hashwatt-recording.yml";
    std::set<std::string> names;
    if (fs::exists(path)) {
        std::istringstream in(read_text(path));
        for (std::string line; std::getline(in, line);) {
            const auto at = line.find("record:");
            if (at == std::string::npos || line.find('#') < at) continue;
            std::string name = line.substr(at + 7);
            name.erase(0, name.find_first_not_of(" \t\"'"));
            name.erase(name.find_last_not_of(" \t\"'\r") + 1);
            names.insert(name);
        }
        return names;
    }
    for (const char* m :
         {"hashwatt_miner_hashrate_hashes_per_second:sum",
          "hashwatt_miner_expected_hashrate_hashes_per_second:sum",
          "hashwatt_miner_power_watts:sum", "hashwatt_miner_efficiency_joules_per_terahash:ratio",
          "hashwatt_miner_up:sum", "hashwatt_miner_up:count"}) {
        names.insert(std::string("site:") + m);
        names.insert(std::string("fleet:") + m);
    }
    names.insert("site_state:hashwatt_miner_state:sum");
    return names;
}

// The families issue 9 adds (metrics and agent helpers); docs/metrics.md gains them on merge.
const std::set<std::string> kNewMetrics{"hashwatt_collector_store_errors_total",
                                        "hashwatt_collector_agent_last_ingest_timestamp_seconds",
                                        "hashwatt_policy_site_power_cap_watts",
                                        "hashwatt_agent_poll_round_duration_seconds",
                                        "hashwatt_agent_miners",
                                        "hashwatt_agent_spool_batches",
                                        "hashwatt_agent_spool_bytes",
                                        "hashwatt_agent_uplink_batches_total",
                                        "hashwatt_agent_build_info"};

// Grafana's unit ids the dashboards may use; custom "suffix:..." units are allowed too.
const std::set<std::string> kUnits{
    "Hs",    "KHs",   "MHs",         "GHs",         "THs",           "PHs",
    "watt",  "kwatt", "celsius",     "rotrpm",      "percentunit",   "percent",
    "short", "none",  "currencyUSD", "currencyEUR", "dateTimeAsIso", "s",
    "ms",    "reqps", "bytes",       "decbytes"};

}  // namespace

TEST_CASE("deploy dashboards: the three files, each with its fixed uid, Grafana 10 JSON") {
    std::set<std::string> files;
    for (const auto& f : fs::directory_iterator(kDashboards)) {
        if (f.path().extension() == ".json") files.insert(f.path().filename().string());
    }
    std::set<std::string> expected;
    for (const auto& [file, uid] : kUids) expected.insert(file);
    CHECK(files == expected);

    std::set<std::string> uids;
    for (const auto& [file, uid] : kUids) {
        INFO(file);
        const auto dash = read_dashboard(file);
        CHECK(str(dash, "uid") == uid);
        CHECK(uids.insert(str(dash, "uid")).second);
        // null: Grafana assigns its own database id; a fixed one would clash on import.
        REQUIRE(dash.if_contains("id"));
        CHECK(dash.at("id").is_null());
        const auto schema = dash.at("schemaVersion").to_number<int>();
        CHECK((schema == 38 || schema == 39));
        CHECK_FALSE(str(dash, "title").empty());
    }
}

TEST_CASE("deploy dashboards: datasource, site and miner variables") {
    for (const auto& [file, uid] : kUids) {
        INFO(file);
        const auto dash = read_dashboard(file);
        const auto* ds = variable(dash, "datasource");
        REQUIRE(ds);
        CHECK(str(*ds, "type") == "datasource");
        CHECK(str(*ds, "query") == "prometheus");
        // The default is the provisioned datasource's uid.
        CHECK(str(ds->at("current").as_object(), "value") == "hashwatt-prometheus");

        const auto* site = variable(dash, "site");
        REQUIRE(site);
        CHECK(str(*site, "type") == "query");
        CHECK(variable_query(*site) == "label_values(hashwatt_miner_info, site)");
        CHECK(site->at("multi").as_bool());
        CHECK(site->at("includeAll").as_bool());
        CHECK(str(*site, "allValue") == ".*");

        const auto* miner = variable(dash, "miner");
        REQUIRE(miner);
        CHECK(str(*miner, "type") == "query");
        CHECK(variable_query(*miner) ==
              R"(label_values(hashwatt_miner_info{site=~"$site"}, miner))");
        const bool one_rig = uid == "hashwatt-rig";
        CHECK(miner->at("multi").as_bool() == !one_rig);
        CHECK(miner->at("includeAll").as_bool() == !one_rig);
        if (!one_rig) CHECK(str(*miner, "allValue") == ".*");

        for (const auto* v : {site, miner}) {
            CHECK(json::serialize(v->at("datasource")) ==
                  R"({"type":"prometheus","uid":"${datasource}"})");
        }
    }
}

TEST_CASE("deploy dashboards: every panel has the datasource variable, a unit and queries") {
    const json::value kDs = json::parse(R"({"type":"prometheus","uid":"${datasource}"})");
    for (const auto& [file, uid] : kUids) {
        const auto dash = read_dashboard(file);
        std::set<std::int64_t> ids;
        int panels = 0;
        for_each_panel(dash, [&](const json::object& p) {
            const std::string title = str(p, "title");
            INFO(file << ": panel '" << title << "'");
            CHECK_FALSE(title.empty());
            REQUIRE(p.if_contains("id"));
            CHECK_MESSAGE(ids.insert(p.at("id").to_number<std::int64_t>()).second, "id used twice");
            REQUIRE(p.if_contains("gridPos"));
            const auto& grid = p.at("gridPos").as_object();
            // Grafana's grid is 24 columns wide; a panel past it is drawn on a row of its own.
            CHECK(grid.at("x").to_number<int>() + grid.at("w").to_number<int>() <= 24);
            CHECK(grid.at("h").to_number<int>() > 0);
            if (str(p, "type") == "row") {
                CHECK_FALSE(p.if_contains("targets"));
                return;
            }
            ++panels;
            REQUIRE(p.if_contains("datasource"));
            CHECK(p.at("datasource") == kDs);
            const auto* unit = p.at("fieldConfig").at("defaults").as_object().if_contains("unit");
            REQUIRE_MESSAGE(unit, "no fieldConfig.defaults.unit");
            const std::string u(unit->as_string());
            CHECK_MESSAGE((kUnits.count(u) == 1 || u.starts_with("suffix:")), "unit " << u);
            CHECK_FALSE(str(p, "description").empty());
            const auto& targets = p.at("targets").as_array();
            CHECK_FALSE(targets.empty());
            std::set<std::string> refs;
            for (const auto& tv : targets) {
                const auto& t = tv.as_object();
                INFO("target " << str(t, "refId"));
                CHECK(t.at("datasource") == kDs);
                CHECK(refs.insert(str(t, "refId")).second);
                const std::string expr = str(t, "expr");
                CHECK_FALSE(expr.empty());
                // Padding hides a missing family as a 0 that looks like data.
                CHECK(expr.find("vector(0)") == std::string::npos);
                // A range is Grafana's, so it stays at least four scrapes whatever the zoom.
                for (auto at = expr.find('['); at != std::string::npos;
                     at = expr.find('[', at + 1)) {
                    CHECK_MESSAGE(expr.compare(at, 18, "[$__rate_interval]") == 0, expr);
                }
            }
        });
        INFO(file);
        CHECK(panels >= 8);
    }
}

TEST_CASE("deploy dashboards: every metric a query names exists") {
    auto allowed = documented_metrics();
    REQUIRE(allowed.size() > 20);
    const auto rules = recording_rules();
    REQUIRE(rules.size() >= 13);
    allowed.insert(rules.begin(), rules.end());
    allowed.insert(kNewMetrics.begin(), kNewMetrics.end());
    allowed.insert({"up", "ALERTS"});  // Prometheus' own

    const auto queries = dashboard_queries(kDashboards, kVariables);
    CHECK(queries.size() > 40);
    std::set<std::string> used;
    for (const auto& q : queries) {
        INFO(q.dashboard_uid << ": " << q.panel_title << " " << q.ref_id << ": " << q.expr);
        const auto names = metric_names(q.expr);
        CHECK_FALSE(names.empty());
        for (const auto& n : names) {
            CHECK_MESSAGE((allowed.count(n) == 1 || n.starts_with("scrape_")),
                          "unknown metric " << n);
            used.insert(n);
        }
        CHECK(q.expr.find('$') == std::string::npos);
    }
    // The dashboards read the sums from the recording rules rather than summing every miner.
    for (const char* rule : {"site:hashwatt_miner_hashrate_hashes_per_second:sum",
                             "site:hashwatt_miner_power_watts:sum",
                             "site:hashwatt_miner_efficiency_joules_per_terahash:ratio",
                             "site_state:hashwatt_miner_state:sum"}) {
        CHECK_MESSAGE(used.count(rule) == 1, "no panel uses " << rule);
    }
}

TEST_CASE("deploy dashboards: the metric name reader") {
    CHECK(metric_names(
              R"(sum by (site, state) (rate(a_total{x="b{c}", y=~"d"}[$__rate_interval])))") ==
          std::set<std::string>{"a_total"});
    CHECK(metric_names("x / (y > 0) * on (miner) group_left (site) max by (miner) (z) + 1e+12") ==
          std::set<std::string>{"x", "y", "z"});
    CHECK(metric_names("topk(10, site:m:sum) or time() - ts offset 5m") ==
          std::set<std::string>{"site:m:sum", "ts"});
    CHECK(metric_names(R"(quantile(0.5, a) unless bool b)") == std::set<std::string>{"a", "b"});
}

TEST_CASE("deploy grafana provisioning: the datasource uid and the dashboards path") {
    const auto ds = read_text(kSource + "/deploy/grafana/provisioning/datasources/hashwatt.yml");
    for (const char* line : {"apiVersion: 1", "type: prometheus", "uid: hashwatt-prometheus",
                             "url: http://127.0.0.1:9090"}) {
        CHECK_MESSAGE(ds.find(line) != std::string::npos,
                      "datasources/hashwatt.yml lacks " << line);
    }
    const auto dash = read_text(kSource + "/deploy/grafana/provisioning/dashboards/hashwatt.yml");
    for (const char* line :
         {"apiVersion: 1", "type: file", "path: /var/lib/grafana/dashboards/hashwatt"}) {
        CHECK_MESSAGE(dash.find(line) != std::string::npos,
                      "dashboards/hashwatt.yml lacks " << line);
    }
    for (const auto* text : {&ds, &dash}) CHECK(text->find('\t') == std::string::npos);  // YAML
}

// ---------------------------------------------------------------- the extractor itself

namespace {

const char* const kInline = R"~({
  "uid": "t-dash",
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "site", "type": "query", "query": {"query": "label_values(m_info, site)"}},
    {"name": "miner", "type": "query", "query": "label_values(m_info{site=~\"$site\", a=\"x,y\"}, miner)"},
    {"name": "job", "type": "query", "query": "label_values(job)"},
    {"name": "fixed", "type": "custom", "query": "a,b"}
  ]},
  "panels": [
    {"type": "timeseries", "title": "Plain", "id": 1, "targets": [
      {"refId": "A", "expr": "rate(x_total{miner=~\"$miner\"}[$__rate_interval])"},
      {"refId": "B", "expr": "y{site=~\"${site}\", m=\"${miner:regex}\", z=\"[[site]]\"}[$__range:$__interval]"},
      {"refId": "C", "datasource": {"type": "__expr__"}, "expression": "$A + 1"}
    ]},
    {"type": "row", "title": "Collapsed", "id": 2, "collapsed": true, "panels": [
      {"type": "stat", "title": "Inside", "id": 3, "targets": [
        {"refId": "A", "expr": "label_replace(w, \"d\", \"$1\", \"s\", \"(.*)$\")"}]}
    ]},
    {"type": "row", "title": "Open", "id": 4, "panels": []},
    {"type": "text", "title": "No targets", "id": 5}
  ]
})~";

}  // namespace

TEST_CASE("dashboard_queries: variables substituted, rows recursed, variable queries included") {
    const auto q =
        dashboard_queries_of(kInline, "inline.json", {{"site", "(a|b)"}, {"miner", "m1"}});
    REQUIRE(q.size() == 5);
    CHECK(q[0].dashboard_uid == "t-dash");
    CHECK(q[0].panel_title == "variable site");
    CHECK(q[0].ref_id == "site");
    CHECK(q[0].expr == "m_info");
    CHECK(q[1].panel_title == "variable miner");
    CHECK(q[1].expr ==
          R"~(m_info{site=~"(a|b)", a="x,y"})~");  // the comma in quotes is not the split
    CHECK(q[2].panel_title == "Plain");
    CHECK(q[2].ref_id == "A");
    CHECK(q[2].expr == R"(rate(x_total{miner=~"m1"}[1m]))");
    CHECK(q[3].ref_id == "B");
    CHECK(q[3].expr == R"~(y{site=~"(a|b)", m="m1", z="(a|b)"}[5m:1m])~");
    CHECK(q[4].panel_title == "Inside");                                 // a collapsed row's panel
    CHECK(q[4].expr == R"(label_replace(w, "d", "$1", "s", "(.*)$"))");  // not variables
}

TEST_CASE("dashboard_queries: given built-ins win over the defaults") {
    const auto q = dashboard_queries_of(kInline, "inline.json",
                                        {{"site", "s"},
                                         {"miner", "m"},
                                         {"__rate_interval", "2m"},
                                         {"__range", "1h"},
                                         {"__interval", "30s"}});
    REQUIRE(q.size() == 5);
    CHECK(q[2].expr == R"(rate(x_total{miner=~"m"}[2m]))");
    CHECK(q[3].expr == R"(y{site=~"s", m="m", z="s"}[1h:30s])");
}

TEST_CASE("dashboard_queries: a variable with no value names the file, panel and target") {
    try {
        (void)dashboard_queries_of(kInline, "inline.json", {{"site", "s"}});
        FAIL("no throw");
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        INFO(m);
        // The miner variable's own query is fine; the first panel target needing $miner fails.
        CHECK(m.find("inline.json") != std::string::npos);
        CHECK(m.find("panel 'Plain'") != std::string::npos);
        CHECK(m.find("target A") != std::string::npos);
        CHECK(m.find("$miner") != std::string::npos);
    }
    try {
        (void)dashboard_queries_of(kInline, "inline.json", {{"miner", "m"}});
        FAIL("no throw");
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find("variable miner") != std::string::npos);
        CHECK(m.find("$site") != std::string::npos);
    }
    CHECK_THROWS_WITH_AS(substitute_variables("a{b=\"${}\"}", {}),
                         doctest::Contains("bad variable"), std::runtime_error);
}

TEST_CASE("dashboard_queries: bad JSON and a missing uid say where") {
    try {
        (void)dashboard_queries_of("{\"uid\": \"x\",\n  \"panels\": [}", "bad.json", {});
        FAIL("no throw");
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.starts_with("bad.json:2:"));
        CHECK(m.find("bad JSON") != std::string::npos);
    }
    CHECK_THROWS_WITH_AS(dashboard_queries_of(R"({"panels": []})", "nouid.json", {}),
                         doctest::Contains("nouid.json: the dashboard has no uid"),
                         std::runtime_error);
    CHECK_THROWS_WITH_AS(
        dashboard_queries_of(
            R"({"uid": "u", "panels": [{"title": "T", "targets": [{"expr": 3}]}]})", "num.json",
            {}),
        doctest::Contains("num.json: panel 'T': expr is not a string"), std::runtime_error);
}

TEST_CASE("dashboard_queries: a directory, files in name order; a missing one is an error") {
    const TempDir dir;
    dir.write(
        "b.json",
        R"({"uid": "b", "panels": [{"title": "P", "targets": [{"refId": "A", "expr": "b"}]}]})");
    dir.write(
        "a.json",
        R"({"uid": "a", "panels": [{"title": "P", "targets": [{"refId": "A", "expr": "a"}]}]})");
    dir.write("notes.txt", "not a dashboard");
    const auto q = dashboard_queries(dir.path(), {});
    REQUIRE(q.size() == 2);
    CHECK(q[0].dashboard_uid == "a");
    CHECK(q[1].dashboard_uid == "b");
    CHECK_THROWS_AS(dashboard_queries(dir.path() + "/missing", {}), std::runtime_error);
    dir.write("c.json", "[1, 2");
    CHECK_THROWS_WITH_AS(dashboard_queries(dir.path(), {}), doctest::Contains("c.json:1:"),
                         std::runtime_error);
}
