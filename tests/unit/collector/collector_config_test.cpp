#include "collector/config/collector_config.hpp"

#include "common/config.hpp"
#include "tests/support/process.hpp"

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
                                       "[metrics]\nstale_after = \"10m\"\n"
                                       "[[token]]\nrole = \"agent\"\nagent_id = \"barn\"\n"
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
