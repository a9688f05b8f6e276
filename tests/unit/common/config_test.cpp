#include "common/config.hpp"

#include "common/log.hpp"
#include "tests/support/process.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::config;
using namespace std::chrono_literals;

namespace {

// Reads the shape of a small agent-like config, the way real loaders do.
void read_all(const Document& doc) {
    const Table root = doc.root();
    if (auto agent = root.table("agent")) {
        agent->string("id");
        agent->duration("interval", 1s, 24h);
        agent->integer("concurrency", 1, 100000);
    }
    for (const Table& m : root.tables("miner")) {
        m.required_string("host");
        m.integer("port", 1, 65535);
        m.string("password_file");
    }
    doc.finish();
}

std::string error_of(const std::string& text) {
    try {
        read_all(Document::parse(text, "agent.toml"));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("a misspelt key fails with file:line:column, the key path and a suggestion") {
    const std::string text =
        "[agent]\n"
        "id = \"site-a\"\n"
        "intervall = \"30s\"\n";
    CHECK(error_of(text) ==
          "agent.toml:3:1: agent.intervall: unknown key (did you mean 'interval'?)");
}

TEST_CASE("a misspelt key inside an array of tables names the element") {
    const std::string text =
        "[[miner]]\n"
        "host = \"10.0.0.1\"\n"
        "\n"
        "[[miner]]\n"
        "host = \"10.0.0.2\"\n"
        "  pasword_file = \"pw\"\n";
    CHECK(error_of(text) ==
          "agent.toml:6:3: miner[1].pasword_file: unknown key (did you mean 'password_file'?)");
}

TEST_CASE("unknown top-level tables and far-off keys get no suggestion") {
    CHECK(error_of("[colector]\nx = 1\n") == "agent.toml:1:2: colector: unknown key");
    CHECK(error_of("[agent]\nzzzzzz = 1\nyyyyyy = 2\n") ==
          "agent.toml:2:1: agent.zzzzzz: unknown key (and 1 more)");
}

TEST_CASE("wrong types and out-of-range values point at the value") {
    CHECK(error_of("[agent]\nconcurrency = \"ten\"\n") ==
          "agent.toml:2:15: agent.concurrency: expected an integer, got a string");
    CHECK(error_of("[agent]\nconcurrency = 0\n") ==
          "agent.toml:2:15: agent.concurrency: value 0 out of range 1..100000");
    CHECK(error_of("[agent]\ninterval = 30\n") ==
          "agent.toml:2:12: agent.interval: expected a duration string like \"30s\", \"5m\" or "
          "\"1h\", got an integer");
    CHECK(
        error_of("[agent]\ninterval = \"30\"\n") ==
        "agent.toml:2:12: agent.interval: missing unit after '30' in '30' (use ms, s, m, h or d)");
    CHECK(error_of("[agent]\ninterval = \"2d\"\n") ==
          "agent.toml:2:12: agent.interval: duration 2d out of range 1s..1d");
    CHECK(error_of("agent = 5\n") == "agent.toml:1:9: agent: expected a table, got an integer");
}

TEST_CASE("a missing required key names the table's location") {
    CHECK(error_of("[[miner]]\nport = 4028\n") ==
          "agent.toml:1:1: miner[0].host: required key missing");
}

TEST_CASE("TOML syntax errors carry their location") {
    const auto e = error_of("[agent]\nid = \"unterminated\n");
    CHECK(e.starts_with("agent.toml:2:"));
    CHECK(e.find("TOML syntax error") != std::string::npos);
}

TEST_CASE("a valid document passes finish()") {
    CHECK(error_of(
              "[agent]\nid = \"a\"\ninterval = \"1m\"\n[[miner]]\nhost = \"h\"\nport = 4028\n") ==
          "no error");
}

TEST_CASE("choice, number, size, arrays and keys()") {
    const auto doc = Document::parse(
        "mode = \"fast\"\nratio = 1\nspool = \"64MiB\"\nnames = [\"a\", \"b\"]\nbad = [\"a\", 2]\n"
        "[prices]\nz = 1\na = 2\n",
        "x.toml");
    const auto root = doc.root();
    CHECK(root.choice("mode", {"fast", "slow"}) == "fast");
    CHECK_THROWS_WITH_AS(root.choice("mode", {"slow"}),
                         "x.toml:1:8: mode: 'fast' is not one of: slow", ConfigError);
    CHECK(root.number("ratio", 0, 2) == 1.0);
    CHECK(root.size("spool") == 64ULL << 20);
    CHECK(root.string_array("names") == std::vector<std::string>{"a", "b"});
    CHECK_THROWS_WITH_AS(root.string_array("bad"),
                         "x.toml:5:13: bad[1]: expected a string, got an integer", ConfigError);
    CHECK(root.table("prices")->keys() == std::vector<std::string>{"z", "a"});
    CHECK_FALSE(root.string("absent"));
}

TEST_CASE("secret files: relative to the config, trimmed, and refused when others can read") {
    test::TempDir dir;
    dir.write("private", "s3cret\n", 0600);
    dir.write("owner-only-read", "ro\n", 0400);
    dir.write("shared", "open\n", 0644);
    dir.write("group", "grp\n", 0640);
    dir.write("group-write", "gw\n", 0620);
    dir.write("empty", "\n", 0600);
    std::filesystem::create_directories(dir.path() + "/a-directory");
    const std::string cfg = dir.write(
        "c.toml",
        "a_file = \"private\"\nb_file = \"shared\"\nc_file = \"missing\"\nd_file = \"empty\"\n"
        "e_file = \"group\"\nf_file = \"a-directory\"\ng_file = \"owner-only-read\"\n"
        "h_file = \"group-write\"\n");
    std::vector<std::string> lines;
    log::set_sink([&](std::string_view l) { lines.emplace_back(l); });
    const auto doc = Document::load_file(cfg);
    const auto root = doc.root();
    CHECK(root.secret_file("a_file") == "s3cret");
    CHECK(root.secret_file("g_file") == "ro");
    CHECK(lines.empty());
    log::set_sink(nullptr);
    SUBCASE("others may read: refused with the file, its mode and the fix") {
        const std::string shared = dir.path() + "/shared";
        const std::string what = "c.toml:2:10: b_file: secret file '" + shared + "' has mode 0644";
        const std::string fix = "run `chmod 600 " + shared + "`";
        CHECK_THROWS_WITH_AS(root.secret_file("b_file"), doctest::Contains(what.c_str()),
                             ConfigError);
        CHECK_THROWS_WITH_AS(root.secret_file("b_file"), doctest::Contains(fix.c_str()),
                             ConfigError);
    }
    SUBCASE("the group may read or write: refused") {
        CHECK_THROWS_WITH_AS(root.secret_file("e_file"), doctest::Contains("has mode 0640"),
                             ConfigError);
        CHECK_THROWS_WITH_AS(root.secret_file("h_file"), doctest::Contains("has mode 0620"),
                             ConfigError);
    }
    SUBCASE("not a regular file: refused") {
        CHECK_THROWS_WITH_AS(root.secret_file("f_file"),
                             doctest::Contains("a-directory' is not a regular file"), ConfigError);
    }
    SUBCASE("read_secret_file itself, as the CLI's --password-file uses it") {
        CHECK_THROWS_WITH_AS(read_secret_file(dir.path() + "/shared"),
                             doctest::Contains("chmod 600"), std::runtime_error);
        CHECK(read_secret_file(dir.path() + "/private") == "s3cret");
    }
    CHECK_THROWS_WITH_AS(root.secret_file("c_file"),
                         doctest::Contains("c.toml:3:10: c_file: cannot read secret file"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(root.secret_file("d_file"), doctest::Contains("is empty"), ConfigError);
}

TEST_CASE(
    "secret files under systemd: LoadCredential= names come first, the config's folder after") {
    CHECK(credential_candidate("/run/c", "tokens/read.token") == "/run/c/tokens_read.token");
    CHECK(credential_candidate("/run/c", "./agent.token") == "/run/c/agent.token");
    CHECK(credential_candidate("/run/c", "/etc/hashwatt/a.token").empty());
    CHECK(credential_candidate("", "tokens/read.token").empty());

    test::TempDir dir;
    std::filesystem::create_directories(dir.path() + "/etc/tokens");
    std::filesystem::create_directories(dir.path() + "/creds");
    dir.write("etc/tokens/read.token", "from-config-folder\n", 0600);
    dir.write("etc/tokens/admin.token", "admin-from-config-folder\n", 0600);
    // 0440: how a credential shows when systemd grants the service user read with an ACL (the
    // mask is the group bits); the directory is the unit's alone, so it is not refused.
    dir.write("creds/tokens_read.token", "from-credentials\n", 0440);
    const std::string cfg = dir.write("etc/c.toml",
                                      "read_file = \"tokens/read.token\"\nadmin_file = "
                                      "\"tokens/admin.token\"\nabs_file = \"" +
                                          dir.path() + "/etc/tokens/read.token\"\n");
    ::setenv("CREDENTIALS_DIRECTORY", (dir.path() + "/creds").c_str(), 1);
    const auto doc = Document::load_file(cfg);
    const auto root = doc.root();
    CHECK(root.secret_file("read_file") == "from-credentials");
    // Not among the credentials: read where the config says.
    CHECK(root.secret_file("admin_file") == "admin-from-config-folder");
    CHECK(root.secret_file("abs_file") == "from-config-folder");
    ::unsetenv("CREDENTIALS_DIRECTORY");
    CHECK(root.secret_file("read_file") == "from-config-folder");
}

TEST_CASE("a file that cannot be opened is a ConfigError naming it") {
    CHECK_THROWS_WITH_AS(Document::load_file("/nonexistent/hashwatt.toml"),
                         "/nonexistent/hashwatt.toml:0:0: cannot open: No such file or directory",
                         ConfigError);
}
