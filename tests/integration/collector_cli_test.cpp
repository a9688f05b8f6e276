// `hashwatt collector`: the shipped example passes --check-config, a mistake exits 2 with its
// place, and a running collector serves the API, stores batches and keeps them across a restart.
#include "tests/support/net.hpp"
#include "tests/support/process.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = HASHWATT_BINARY;
const std::string kAgentToken = "agent-token-0123456789";
const std::string kReadToken = "read-token-0123456789";

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A collector config in `dir` on a free port with an agent and a read token.
std::string write_config(const TempDir& dir) {
    dir.write("agent.token", kAgentToken + "\n", 0600);
    return dir.write("collector.toml",
                     "[storage]\npath = \"state/collector.db\"\n"
                     "[api]\nlisten = \"127.0.0.1:0\"\n"
                     "[[token]]\nrole = \"agent\"\nagent_id = \"barn\"\n"
                     "secret_file = \"agent.token\"\n"
                     "[[token]]\nrole = \"read\"\nsecret = \"" +
                         kReadToken + "\"\n");
}

// Waits for the 'api: URL' line and returns host and port.
std::pair<std::string, unsigned> api_of(Child& c) {
    std::string url;
    REQUIRE(wait_until(
        [&] {
            const auto out = c.stdout_text();
            const auto at = out.find("api: ");
            const auto end = out.find('\n', at);
            if (at != 0 || end == std::string::npos) return false;
            url = out.substr(5, end - 5);
            return true;
        },
        20s));
    REQUIRE(url.ends_with("/api/v1"));
    return split_url(url.substr(0, url.size() - 7));
}

const char* kBatch =
    R"({"agent_id":"barn","site":"barn-1","batch_seq":1,"samples":[{"miner_id":"m1",)"
    R"("host":"10.0.0.7","port":4028,"observed_at":"2026-11-25T09:07:50.123Z","up":true,)"
    R"("state":"mining","hashrate_ths":104.5,"power_w":3250}]})";

}  // namespace

TEST_CASE("collector --check-config: the shipped example passes once its token files exist") {
    TempDir dir;
    const std::string example = std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/collector.toml";
    std::filesystem::create_directories(dir.path() + "/tokens");
    for (const char* name : {"barn-1-agent", "read", "admin"}) {
        dir.write(std::string("tokens/") + name + ".token",
                  std::string(name) + "-0123456789abcdef\n", 0600);
    }
    const std::string copy = dir.write("collector.toml", read_file(example));
    RunResult r = run({kBinary, "collector", "--config", copy, "--check-config"}, 20s);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(": ok (database /var/lib/hashwatt/collector.db, listen 127.0.0.1:8480, 3 "
                     "tokens, retention raw 14d / 5m 365d / 1h forever)") != std::string::npos);

    // Without the token files the example names the first one missing.
    r = run({kBinary, "collector", "--config", example, "--check-config"}, 20s);
    CHECK(r.exit_code == 2);
    const std::string text = read_file(example);
    const std::string before = text.substr(0, text.find("\nsecret_file") + 1);
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    CHECK(r.err.find("collector.toml:" + std::to_string(line) +
                     ":15: token[0].secret_file: cannot read secret file") != std::string::npos);
}

TEST_CASE("collector --check-config: the small-farm example with an embedded agent passes") {
    TempDir dir;
    const std::string example =
        std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/collector-small-farm.toml";
    std::filesystem::create_directories(dir.path() + "/tokens");
    dir.write("tokens/read.token", "read-0123456789abcdef\n", 0600);
    const std::string copy = dir.write("collector.toml", read_file(example));
    const RunResult r = run({kBinary, "collector", "--config", copy, "--check-config"}, 20s);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("embedded agent barn-1: site barn-1, 1 miners, 1 scan ranges, interval 30s") !=
          std::string::npos);
}

TEST_CASE("collector --check-config: the shipped collector.toml with file = \"alerts.toml\"") {
    TempDir dir;
    const std::string source = std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/";
    std::filesystem::create_directories(dir.path() + "/tokens");
    for (const char* name : {"barn-1-agent", "read", "admin", "webhook"}) {
        dir.write(std::string("tokens/") + name + ".token",
                  std::string(name) + "-0123456789abcdef\n", 0600);
    }
    // Uncomment the example's `# file = "alerts.toml"`, as an operator would.
    std::string collector = read_file(source + "collector.toml");
    const std::string commented = "# file = \"alerts.toml\"";
    const auto at = collector.find(commented);
    REQUIRE(at != std::string::npos);
    collector.erase(at, 2);
    const std::string cfg = dir.write("collector.toml", collector);
    const std::string alerts = read_file(source + "alerts.toml");
    dir.write("alerts.toml", alerts);
    RunResult r = run({kBinary, "collector", "--config", cfg, "--check-config"}, 20s);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("alerts " + dir.path() +
                     "/alerts.toml: on, 11 of 11 rules enabled, 0 alertmanagers, 0 webhooks\n") !=
          std::string::npos);

    // The commented notifier examples, uncommented ("# key = value" and "# [[table]]" lines
    // from the first notifier on; the prose stays), are valid too.
    std::string with_notifiers;
    bool notifiers = false;
    std::istringstream lines(alerts);
    for (std::string line; std::getline(lines, line);) {
        if (line == "# [[alertmanager]]") notifiers = true;
        const bool setting =
            line.starts_with("# [[") ||
            (line.size() > 2 && std::islower(static_cast<unsigned char>(line[2])) &&
             line.find(" = ") != std::string::npos &&
             line.find(" = ") < line.find_first_of(" ", 2) + 1);
        if (notifiers && setting) line.erase(0, 2);
        with_notifiers += line + "\n";
    }
    REQUIRE(notifiers);
    dir.write("alerts.toml", with_notifiers);
    r = run({kBinary, "collector", "--config", cfg, "--check-config"}, 20s);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("alerts.toml: on, 11 of 11 rules enabled, 1 alertmanagers, 1 webhooks\n") !=
          std::string::npos);

    // A mistake in the included file exits 2 naming that file, its line and column.
    std::string bad = alerts;
    const std::string offline = "threshold = 90                  # seconds";
    const auto t = bad.find(offline);
    REQUIRE(t != std::string::npos);
    bad.replace(t, 14, "threshold = 0 ");
    dir.write("alerts.toml", bad);
    r = run({kBinary, "collector", "--config", cfg, "--check-config"}, 20s);
    CHECK(r.exit_code == 2);
    const std::string before = bad.substr(0, t);
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    CHECK(r.err.find("alerts.toml:" + std::to_string(line) +
                     ":13: rule[0].threshold: value 0 out of range 1..86400") != std::string::npos);

    // A key set in both files is refused, naming both.
    dir.write("alerts.toml", "interval = \"30s\"\n");
    r = run({kBinary, "collector", "--config", cfg, "--check-config"}, 20s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("alerts.toml:1:12: interval: also set in " + cfg + ":") != std::string::npos);
}

TEST_CASE("collector: embedded agents are checked like agent.toml, and their ids are their own") {
    TempDir dir;
    auto check = [&](const std::string& text) {
        const std::string path = dir.write("collector.toml", text);
        return run({kBinary, "collector", "--config", path, "--check-config"}, 20s);
    };
    RunResult r = check("[[agent]]\nsite = \"x\"\n[[agent.scan]]\nranges = [\"10.0.0.0/24\"]\n");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agent[0].id: missing") != std::string::npos);
    r = check("[[agent]]\nid = \"a\"\n");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nothing to poll") != std::string::npos);
    r = check("[[agent]]\nid = \"a\"\nintervall = \"5s\"\n[[agent.miner]]\nhost = \"10.0.0.7\"\n");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agent[0].intervall: unknown key (did you mean 'interval'?)") !=
          std::string::npos);
    const std::string miner = "[[agent.miner]]\nhost = \"10.0.0.7\"\n";
    r = check("[[agent]]\nid = \"a\"\n" + miner + "[[agent]]\nid = \"a\"\n" + miner);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agent[1].id: agent id 'a' is used twice") != std::string::npos);
    r = check(
        "[[token]]\nrole = \"agent\"\nagent_id = \"a\"\nsecret = \"abcdefghijklmnop0123\"\n"
        "[[agent]]\nid = \"a\"\n" +
        miner);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agent[0].id: agent id 'a' is also issued a [[token]]") != std::string::npos);
}

TEST_CASE("collector: a mistake in the config exits 2 naming its place") {
    TempDir dir;
    const std::string bad = dir.write("collector.toml", "[api]\nlisten = \"127.0.0.1\"\n");
    for (const bool check : {true, false}) {
        std::vector<std::string> args{kBinary, "collector", "--config", bad};
        if (check) args.push_back("--check-config");
        const RunResult r = run(args, 20s);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("collector.toml:2:10: api.listen: expected IP:PORT, got '127.0.0.1'") !=
              std::string::npos);
    }
}

TEST_CASE(
    "collector: serves the API, stores a batch, keeps it across a restart, stops on SIGTERM") {
    TempDir dir;
    const std::string cfg = write_config(dir);
    std::filesystem::create_directories(dir.path() + "/state");
    const std::vector<std::string> auth{"Authorization: Bearer " + kAgentToken};
    const std::vector<std::string> read{"Authorization: Bearer " + kReadToken};
    {
        Child c({kBinary, "collector", "--config", cfg}, dir.path() + "/run1");
        const auto [ip, port] = api_of(c);
        CHECK(http_request(ip, port, "GET", "/healthz").status == 200);
        CHECK(http_request(ip, port, "GET", "/readyz").status == 200);
        const auto posted = http_request(ip, port, "POST", "/api/v1/ingest", kBatch, auth);
        INFO(posted.body);
        CHECK(posted.status == 200);
        CHECK(posted.body.find("\"stored\":1") != std::string::npos);
        CHECK(http_request(ip, port, "GET", "/api/v1/miners").status == 401);
        CHECK(c.stop(SIGTERM) == 0);
        CHECK(c.stderr_text().find("collector stopped") != std::string::npos);
    }
    Child c({kBinary, "collector", "--config", cfg}, dir.path() + "/run2");
    const auto [ip, port] = api_of(c);
    const auto miners = http_request(ip, port, "GET", "/api/v1/miners", {}, read);
    CHECK(miners.status == 200);
    CHECK(miners.body.find("\"miner_id\":\"m1\"") != std::string::npos);
    // The same batch again is a duplicate: the ingest record survived the restart too.
    const auto again = http_request(ip, port, "POST", "/api/v1/ingest", kBatch, auth);
    CHECK(again.body.find("\"duplicate\":true") != std::string::npos);
    CHECK(c.stop(SIGINT) == 0);
}
