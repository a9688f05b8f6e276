#include "collector/config/collector_config.hpp"

#include "common/config.hpp"
#include "tests/support/process.hpp"

#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;

namespace {

std::string error_of(const std::string& text) {
    try {
        (void)parse_collector_config(text, "collector.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

const char* kToken = "abcdefghijklmnop0123";  // 20 characters

}  // namespace

TEST_CASE("collector config: defaults when the file is empty") {
    const auto c = parse_collector_config("", "collector.toml");
    CHECK(c.database_path == "/var/lib/hashwatt/collector.db");
    CHECK(c.api.address == "127.0.0.1");
    CHECK(c.api.port == 8480);
    CHECK(c.api.tokens.empty());
    CHECK(c.writer.horizons.raw == std::chrono::days(14));
    CHECK(c.writer.horizons.rollup_5m == std::chrono::days(365));
    CHECK(!c.writer.horizons.rollup_1h);
    CHECK(c.writer.queue_capacity == 256);
    CHECK(c.writer.maintenance_interval == std::chrono::minutes(1));
    CHECK(!c.api.metrics_require_token);
    CHECK(c.api.auth_limit.max_failures == 10);
    CHECK(c.api.auth_limit.window == std::chrono::seconds(60));
    CHECK(c.api.auth_limit.lockout == std::chrono::seconds(60));
    CHECK(c.metrics.latest.stale_after == std::chrono::hours(1));
}

TEST_CASE("collector config: every key read") {
    test::TempDir dir;
    dir.write("agent.token", std::string(kToken) + "\n", 0600);
    const std::string path = dir.write("collector.toml",
                                       "[storage]\npath = \"data/c.db\"\nqueue_batches = 8\n"
                                       "maintenance_interval = \"10s\"\n"
                                       "[retention]\nraw = \"2d\"\nrollup_5m = \"30d\"\n"
                                       "rollup_1h = \"400d\"\n"
                                       "[api]\nlisten = \"[::1]:0\"\nmax_body_size = \"1MiB\"\n"
                                       "max_header_size = \"8KiB\"\nrequest_timeout = \"5s\"\n"
                                       "idle_timeout = \"20s\"\n"
                                       "metrics_require_token = true\n"
                                       "auth_max_failures = 5\nauth_failure_window = \"2m\"\n"
                                       "auth_lockout = \"10m\"\nauth_max_clients = 100\n"
                                       "[metrics]\nstale_after = \"10m\"\n"
                                       "[[token]]\nrole = \"agent\"\nagent_id = \"barn\"\n"
                                       "site = \"west\"\n"
                                       "secret_file = \"agent.token\"\n"
                                       "[[token]]\nrole = \"admin\"\n"
                                       "secret = \"zyxwvutsrqponmlk9876\"\n");
    const auto c = load_collector_config(path);
    CHECK(c.database_path == dir.path() + "/data/c.db");
    CHECK(c.writer.queue_capacity == 8);
    CHECK(c.writer.maintenance_interval == std::chrono::seconds(10));
    CHECK(c.writer.horizons.raw == std::chrono::days(2));
    CHECK(c.writer.horizons.rollup_5m == std::chrono::days(30));
    CHECK(c.writer.horizons.rollup_1h == std::chrono::days(400));
    CHECK(c.api.address == "::1");
    CHECK(c.api.port == 0);
    CHECK(c.api.body_limit_bytes == 1024 * 1024);
    CHECK(c.api.header_limit_bytes == 8 * 1024);
    CHECK(c.api.request_timeout == std::chrono::seconds(5));
    CHECK(c.api.idle_timeout == std::chrono::seconds(20));
    CHECK(c.api.metrics_require_token);
    CHECK(c.api.auth_limit.max_failures == 5);
    CHECK(c.api.auth_limit.window == std::chrono::minutes(2));
    CHECK(c.api.auth_limit.lockout == std::chrono::minutes(10));
    CHECK(c.api.auth_limit.max_clients == 100);
    REQUIRE(c.api.tokens.size() == 2);
    CHECK(c.api.tokens[0].site == "west");
    CHECK(c.api.tokens[1].site.empty());
    CHECK(c.metrics.latest.stale_after == std::chrono::minutes(10));
    REQUIRE(c.api.tokens.size() == 2);
    CHECK(c.api.tokens[0].role == Role::agent);
    CHECK(c.api.tokens[0].agent_id == "barn");
    CHECK(c.api.tokens[0].secret == kToken);  // trailing newline stripped
    CHECK(c.api.tokens[1].role == Role::admin);
    CHECK(c.api.tokens[1].agent_id.empty());
}

TEST_CASE("collector config: forever keeps a level without limit") {
    const auto c = parse_collector_config(
        "[retention]\nraw = \"forever\"\nrollup_5m = \"forever\"\n", "collector.toml");
    CHECK(!c.writer.horizons.raw);
    CHECK(!c.writer.horizons.rollup_5m);
    CHECK(!c.writer.horizons.rollup_1h);
}

TEST_CASE("collector config: mistakes are named with file, line, column and key") {
    CHECK(error_of("[storage]\npaht = \"x.db\"\n") ==
          "collector.toml:2:1: storage.paht: unknown key (did you mean 'path'?)");
    CHECK(error_of("[api]\nlisten = \"8480\"\n").find("api.listen: expected IP:PORT") !=
          std::string::npos);
    CHECK(error_of("[api]\nlisten = \"127.0.0.1:70000\"\n").find("api.listen") !=
          std::string::npos);
    CHECK(error_of("[retention]\nraw = \"soon\"\n").find("retention.raw") != std::string::npos);
    CHECK(error_of("[retention]\nraw = \"30d\"\nrollup_5m = \"7d\"\n")
              .find("retention.rollup_5m: is kept for less time than raw") != std::string::npos);
    CHECK(error_of("[retention]\nrollup_1h = \"30d\"\n")
              .find("retention.rollup_1h: is kept for less time than rollup_5m") !=
          std::string::npos);
    CHECK(
        error_of("[[token]]\nsecret = \"abcdefghijklmnop0123\"\n").find("token[0].role: missing") !=
        std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"root\"\nsecret = \"abcdefghijklmnop0123\"\n")
              .find("token[0].role") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"agent\"\nsecret = \"abcdefghijklmnop0123\"\n")
              .find("token[0].agent_id: missing") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nagent_id = \"a\"\n"
                   "secret = \"abcdefghijklmnop0123\"\n")
              .find("token[0].agent_id: only agent tokens") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsite = \"west\"\n"
                   "secret = \"abcdefghijklmnop0123\"\n")
              .find("token[0].site: only agent tokens name a site") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"agent\"\nagent_id = \"a\"\nsite = \"\"\n"
                   "secret = \"abcdefghijklmnop0123\"\n")
              .find("token[0].site: empty") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsecret = \"short\"\n")
              .find("token[0].secret: token too short (5 characters; at least 16)") !=
          std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsecret = \"abcdefgh ijklmnop0123\"\n")
              .find("whitespace") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\n").find("exactly one of secret and secret_file") !=
          std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsecret = \"abcdefghijklmnop0123\"\n"
                   "secret_file = \"x\"\n")
              .find("exactly one of") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsecret_file = \"no-such-file.token\"\n")
              .find("token[0].secret_file: cannot read secret file") != std::string::npos);
    CHECK(error_of("[[token]]\nrole = \"read\"\nsecret = \"abcdefghijklmnop0123\"\n"
                   "[[token]]\nrole = \"admin\"\nsecret = \"abcdefghijklmnop0123\"\n")
              .find("token[1].secret: the same token is given twice") != std::string::npos);
}

namespace {

// collector.toml and alerts.toml in `dir`; the error of loading them, or "no error".
std::string include_error(const test::TempDir& dir, const std::string& collector,
                          const std::string& alerts) {
    dir.write("alerts.toml", alerts);
    const std::string path = dir.write("collector.toml", collector);
    try {
        (void)load_collector_config(path);
    } catch (const config::ConfigError& e) {
        std::string what = e.what();
        // Paths relative to the directory, so the expectations read like the files.
        for (auto at = what.find(dir.path() + "/"); at != std::string::npos;
             at = what.find(dir.path() + "/")) {
            what.erase(at, dir.path().size() + 1);
        }
        return what;
    }
    return "no error";
}

}  // namespace

TEST_CASE("collector config: [alerts] file reads the alert keys from a file of their own") {
    test::TempDir dir;
    dir.write("hook.token", "hook-token-0123456789\n", 0600);
    dir.write("alerts.toml", R"(interval = "30s"

[[rule]]
name = "MinerChipTempHigh"
threshold = 88

[[rule]]
name = "MinerPowerOverLimit"
enabled = false

[[alertmanager]]
url = "http://127.0.0.1:9093"

[[webhook]]
name = "ops"
url = "http://127.0.0.1:9099/alerts"
token_file = "hook.token"
)");
    const std::string path =
        dir.write("collector.toml", "[alerts]\nfile = \"alerts.toml\"\nenabled = true\n");
    const auto c = load_collector_config(path);
    CHECK(c.alerts_file == dir.path() + "/alerts.toml");
    CHECK(c.alerts.enabled);
    CHECK(c.alerts.interval == std::chrono::seconds(30));
    CHECK(c.alerts.rules.size() == alerts::default_rules().size());
    for (const auto& r : c.alerts.rules) {
        if (r.name == "MinerChipTempHigh") CHECK(r.threshold == 88);
        if (r.name == "MinerPowerOverLimit") CHECK_FALSE(r.enabled);
        if (r.name == "MinerOffline") CHECK(r.enabled);
    }
    REQUIRE(c.notifiers.alertmanagers.size() == 1);
    CHECK(c.notifiers.alertmanagers[0].name == "alertmanager");
    CHECK(c.notifiers.alertmanagers[0].endpoint.port == 9093);
    REQUIRE(c.notifiers.webhooks.size() == 1);
    CHECK(c.notifiers.webhooks[0].bearer_token == "hook-token-0123456789");  // beside alerts.toml

    // Without the key nothing is read from elsewhere.
    CHECK(parse_collector_config("[alerts]\ninterval = \"20s\"\n", "c.toml").alerts_file.empty());

    // The rules in collector.toml, the notifiers in the file: both are taken.
    dir.write("alerts.toml",
              "enabled = false\n[[webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9099/\"\n");
    const auto split = load_collector_config(
        dir.write("collector.toml",
                  "[alerts]\nfile = \"alerts.toml\"\n[[alerts.rule]]\nname = \"Warm\"\nkind = "
                  "\"board_temp_high\"\nthreshold = 70\n[[alerts.alertmanager]]\nurl = "
                  "\"http://127.0.0.1:9093\"\n"));
    CHECK_FALSE(split.alerts.enabled);
    CHECK(split.alerts.rules.size() == alerts::default_rules().size() + 1);
    CHECK(split.alerts.rules.back().name == "Warm");
    CHECK(split.notifiers.alertmanagers.size() == 1);
    CHECK(split.notifiers.webhooks.size() == 1);
}

TEST_CASE("collector config: mistakes in the alerts file name that file, line and column") {
    test::TempDir dir;
    const std::string include = "[storage]\npath = \"x.db\"\n[alerts]\nfile = \"alerts.toml\"\n";
    CHECK(
        include_error(dir, include, "[[rule]]\nname = \"MinerChipTempHigh\"\nthreshold = 900\n") ==
        "alerts.toml:3:13: rule[0].threshold: value 900 out of range 20..150");
    CHECK(include_error(dir, include, "interval = \"15s\"\nintervall = \"1m\"\n") ==
          "alerts.toml:2:1: intervall: unknown key (did you mean 'interval'?)");
    CHECK(include_error(dir, include, "[[webhook]]\nname = \"ops\"\nurl = \"https://x/\"\n")
              .starts_with("alerts.toml:3:7: webhook[0].url: https is not supported"));
    CHECK(include_error(dir, include, "[[rule]\nname = 1\n").starts_with("alerts.toml:1:"));
    CHECK(include_error(dir, include, "[alerts]\nenabled = true\n")
              .starts_with("alerts.toml:1:1: alerts: this file holds what goes under [alerts]"));
    CHECK(include_error(dir, include, "file = \"more.toml\"\n") ==
          "alerts.toml:1:8: file: an alerts file cannot name another");
    // A file that is not there is named at the key that names it.
    CHECK(include_error(dir, "[alerts]\nfile = \"nowhere.toml\"\n", "") ==
          "collector.toml:2:8: alerts.file: cannot open nowhere.toml: No such file or directory");
    CHECK(include_error(dir, "[alerts]\nfile = \"\"\n", "") ==
          "collector.toml:2:8: alerts.file: empty path");
}

TEST_CASE("collector config: a key set both in [alerts] and in its file is an error naming both") {
    test::TempDir dir;
    CHECK(include_error(dir, "[alerts]\nfile = \"alerts.toml\"\ninterval = \"15s\"\n",
                        "enabled = true\ninterval = \"30s\"\n") ==
          "alerts.toml:2:12: interval: also set in collector.toml:3:1 (alerts.interval); set it in "
          "one place");
    CHECK(include_error(dir,
                        "[alerts]\nfile = \"alerts.toml\"\n[[alerts.rule]]\nname = "
                        "\"MinerOffline\"\nenabled = false\n",
                        "\n[[rule]]\nname = \"MinerFanFailure\"\nenabled = false\n") ==
          "alerts.toml:2:1: rule: also set in collector.toml:3:10 (alerts.rule); set it in one "
          "place");
    // Notifier names stay unique across the two files.
    CHECK(
        include_error(dir,
                      "[alerts]\nfile = \"alerts.toml\"\n[[alerts.alertmanager]]\nurl = "
                      "\"http://127.0.0.1:9093\"\n",
                      "[[webhook]]\nname = \"alertmanager\"\nurl = \"http://127.0.0.1:9099/\"\n") ==
        "alerts.toml:2:8: webhook[0].name: 'alertmanager' names another notifier already "
        "(names must be unique)");
}

TEST_CASE("deploy/config/alerts.toml restates every default rule exactly as built in") {
    test::TempDir dir;
    const std::string shipped = std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/alerts.toml";
    const auto c = load_collector_config(
        dir.write("collector.toml", "[alerts]\nfile = \"" + shipped + "\"\n"));
    CHECK(c.notifiers.alertmanagers.empty());  // the notifier examples are commented out
    CHECK(c.notifiers.webhooks.empty());
    const auto defaults = alerts::default_rules();
    REQUIRE(c.alerts.rules.size() == defaults.size());
    for (std::size_t i = 0; i < defaults.size(); ++i) {
        const auto& got = c.alerts.rules[i];
        const auto& want = defaults[i];
        INFO(want.name);
        CHECK(got.name == want.name);
        CHECK(got.enabled == want.enabled);
        CHECK(got.threshold == want.threshold);
        CHECK(got.make_thresholds == want.make_thresholds);
        CHECK(got.for_duration == want.for_duration);
        CHECK(got.keep_firing_for == want.keep_firing_for);
        CHECK(got.severity == want.severity);
        CHECK(got.expected_boards == want.expected_boards);
        CHECK(got.window == want.window);
    }
    // Every default is written out, not left to the built-in value.
    std::ifstream in(shipped);
    std::stringstream text;
    text << in.rdbuf();
    for (const auto& d : defaults) {
        CHECK_MESSAGE(text.str().find("name = \"" + d.name + "\"\n") != std::string::npos, d.name);
    }
}
