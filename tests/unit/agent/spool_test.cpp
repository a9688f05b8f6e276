// The agent's disk spool (order, durability across reopen, batch_seq that never goes back,
// limits that drop the oldest, torn writes), the uplink's pure helpers and the [uplink] table.
#include "agent/uplink/spool.hpp"

#include "agent/config.hpp"
#include "agent/uplink/uplink.hpp"
#include "common/config.hpp"
#include "common/json_codec.hpp"
#include "common/log.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::agent;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string body_of(std::int64_t seq, std::size_t pad = 0) {
    return "{\"batch_seq\":" + std::to_string(seq) + ",\"pad\":\"" + std::string(pad, 'x') + "\"}";
}

std::size_t files_in(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1u : 0u;
    return n;
}

std::string uplink_error(const std::string& uplink_table) {
    try {
        (void)parse_agent_config("[[miner]]\nhost = \"h\"\n" + uplink_table, "agent.toml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

// Captures log lines for the test's lifetime.
struct LogCapture {
    std::vector<std::string> lines;
    LogCapture() {
        log::set_sink([this](std::string_view l) { lines.emplace_back(l); });
    }
    ~LogCapture() { log::set_sink(nullptr); }
    bool has(std::string_view text) const {
        for (const auto& l : lines)
            if (l.find(text) != std::string::npos) return true;
        return false;
    }
};

}  // namespace

TEST_CASE("spool: batches come back oldest first and leave when removed") {
    test::TempDir dir;
    Spool spool(dir.path() + "/spool", {});
    CHECK_FALSE(spool.oldest());
    const auto a = spool.reserve_seq();
    const auto b = spool.reserve_seq();
    const auto c = spool.reserve_seq();
    CHECK(a < b);
    CHECK(b < c);
    spool.push(b, body_of(b), 2);
    spool.push(a, body_of(a), 1);
    spool.push(c, body_of(c), 3);
    CHECK(spool.depth().batches == 3);
    CHECK(spool.depth().samples == 6);
    CHECK(spool.depth().bytes == body_of(a).size() + body_of(b).size() + body_of(c).size());

    auto first = spool.oldest();
    REQUIRE(first);
    CHECK(first->seq == a);
    CHECK(first->samples == 1);
    CHECK(first->body == body_of(a));
    spool.remove(a);
    CHECK(spool.oldest()->seq == b);
    spool.remove(a);  // twice: ignored
    spool.remove(b);
    spool.remove(c);
    CHECK_FALSE(spool.oldest());
    CHECK(spool.depth().batches == 0);
    CHECK(spool.depth().bytes == 0);
    // Only next_seq and the lock are left.
    CHECK(files_in(dir.path() + "/spool") == 2);
}

TEST_CASE("spool: batches and the seq counter survive a reopen") {
    test::TempDir dir;
    const std::string path = dir.path() + "/spool";
    std::int64_t last = 0;
    {
        Spool spool(path, {});
        for (int i = 0; i < 3; ++i) {
            last = spool.reserve_seq();
            spool.push(last, body_of(last), 10);
        }
    }
    {
        Spool spool(path, {});
        CHECK(spool.depth().batches == 3);
        CHECK(spool.depth().samples == 30);
        CHECK(spool.oldest()->seq == last - 2);
        CHECK(spool.oldest()->body == body_of(last - 2));
        const auto next = spool.reserve_seq();
        CHECK(next == last + 1);
        // Emptied, with the last seq handed out but never pushed...
        for (std::int64_t s = last - 2; s <= last; ++s) spool.remove(s);
        last = next;
    }
    {
        // ... the counter still moves on: the collector may have stored a batch with that seq.
        Spool spool(path, {});
        CHECK(spool.depth().batches == 0);
        CHECK(spool.reserve_seq() == last + 1);
    }
}

TEST_CASE("spool: seq stays ahead of batches even when next_seq is lost or behind") {
    test::TempDir dir;
    const std::string path = dir.path() + "/spool";
    std::int64_t seq = 0;
    {
        Spool spool(path, {});
        seq = spool.reserve_seq();
        spool.push(seq, body_of(seq), 1);
    }
    fs::remove(path + "/next_seq");
    {
        Spool spool(path, {});
        CHECK(spool.reserve_seq() == seq + 1);
    }
    std::ofstream(path + "/next_seq") << "5\n";  // behind the batches in the spool
    {
        Spool spool(path, {});
        CHECK(spool.reserve_seq() == seq + 1);
    }
    // A batch in rejected/ counts too.
    {
        Spool spool(path, {});
        const auto s = spool.reserve_seq();
        spool.push(s, body_of(s), 1);
        spool.reject(s);
        spool.remove(seq);
        CHECK(spool.rejected_batches() == 1);
        fs::remove(path + "/next_seq");
        seq = s;
    }
    {
        Spool spool(path, {});
        CHECK(spool.depth().batches == 0);
        CHECK(spool.reserve_seq() == seq + 1);
        CHECK(files_in(spool.rejected_dir()) == 1);
    }
}

TEST_CASE("spool: a brand-new spool starts from the clock, so a wiped spool reuses no seq") {
    test::TempDir dir;
    const auto before = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    Spool spool(dir.path() + "/fresh", {});
    CHECK(spool.reserve_seq() >= before);
}

TEST_CASE("spool: the count limit drops the oldest batches and counts them") {
    LogCapture logs;
    test::TempDir dir;
    Spool spool(dir.path() + "/spool", SpoolLimits{std::uint64_t{1} << 20, 3});
    std::vector<std::int64_t> seqs;
    for (int i = 0; i < 5; ++i) {
        seqs.push_back(spool.reserve_seq());
        CHECK(spool.push(seqs.back(), body_of(seqs.back()), 7) == (i < 3 ? 0u : 1u));
    }
    CHECK(spool.depth().batches == 3);
    CHECK(spool.dropped_batches() == 2);
    CHECK(spool.dropped_samples() == 14);
    CHECK(spool.oldest()->seq == seqs[2]);        // the two oldest went, the new ones stayed
    CHECK(files_in(dir.path() + "/spool") == 5);  // three batches, next_seq and the lock
    CHECK(logs.has("spool full: dropped the oldest batch"));
}

TEST_CASE("spool: the byte limit drops the oldest; a batch too big on its own is refused") {
    LogCapture logs;
    test::TempDir dir;
    // Seqs of one spool have the same number of digits, so these bodies are all one size.
    const std::string one = body_of(1000000000000000, 300);  // the clock's seqs: 16 digits
    Spool spool(dir.path() + "/spool", SpoolLimits{one.size() * 2 + 10, 1000});
    const auto a = spool.reserve_seq(), b = spool.reserve_seq(), c = spool.reserve_seq();
    REQUIRE(body_of(c, 300).size() == one.size());
    spool.push(a, body_of(a, 300), 1);
    spool.push(b, body_of(b, 300), 1);
    CHECK(spool.dropped_batches() == 0);
    spool.push(c, body_of(c, 300), 1);
    CHECK(spool.dropped_batches() == 1);
    CHECK(spool.oldest()->seq == b);
    CHECK(spool.depth().bytes <= one.size() * 2 + 10);

    const auto d = spool.reserve_seq();
    CHECK(spool.push(d, body_of(d, 2000), 4) == 1);
    CHECK(spool.dropped_batches() == 2);
    CHECK(spool.dropped_samples() == 5);
    CHECK(spool.depth().batches == 2);  // b and c untouched
    CHECK(logs.has("larger than spool_max_bytes"));
}

TEST_CASE("spool: a torn temporary file is removed on open, stray files are left alone") {
    test::TempDir dir;
    const std::string path = dir.path() + "/spool";
    std::int64_t seq = 0;
    {
        Spool spool(path, {});
        seq = spool.reserve_seq();
        spool.push(seq, body_of(seq), 2);
    }
    // What a crash between write and rename leaves behind.
    const std::string torn = path + "/" + Spool::file_name(seq + 1, 9) + ".tmp";
    std::ofstream(torn) << "{\"agent_id\":\"a\",\"batch_se";
    std::ofstream(path + "/notes.txt") << "operator notes";
    {
        Spool spool(path, {});
        CHECK_FALSE(fs::exists(torn));
        CHECK(fs::exists(path + "/notes.txt"));
        CHECK(spool.depth().batches == 1);
        CHECK(spool.oldest()->seq == seq);
    }
}

TEST_CASE("spool: a batch file removed by hand is skipped") {
    test::TempDir dir;
    Spool spool(dir.path() + "/spool", {});
    const auto a = spool.reserve_seq(), b = spool.reserve_seq();
    spool.push(a, body_of(a), 1);
    spool.push(b, body_of(b), 1);
    fs::remove(dir.path() + "/spool/" + Spool::file_name(a, 1));
    CHECK(spool.oldest()->seq == b);
    CHECK(spool.depth().batches == 1);
}

TEST_CASE("spool: one directory, one agent") {
    test::TempDir dir;
    const std::string path = dir.path() + "/spool";
    {
        Spool first(path, {});
        CHECK_THROWS_WITH(Spool(path, {}), doctest::Contains("is in use by another agent"));
    }
    Spool again(path, {});  // the lock went with the first
    CHECK(again.depth().batches == 0);
}

TEST_CASE("spool: an unusable directory is an error that names it") {
    test::TempDir dir;
    const std::string file = dir.write("not-a-dir", "x");
    CHECK_THROWS_WITH(Spool(file + "/spool", {}), doctest::Contains(file.c_str()));
}

TEST_CASE("uplink: the ingest body carries agent, site, seq and the samples in wire form") {
    MinerSample s;
    s.miner_id = "m1";
    s.host = "10.0.0.1";
    s.port = 4028;
    s.up = true;
    s.hashrate_ths = 104.5;
    const auto body = encode_ingest_batch("agent-1", "barn", 42, {s, s});
    const auto v = boost::json::parse(body).as_object();
    CHECK(v.at("agent_id").as_string() == "agent-1");
    CHECK(v.at("site").as_string() == "barn");
    CHECK(v.at("batch_seq").as_int64() == 42);
    REQUIRE(v.at("samples").as_array().size() == 2);
    CHECK(sample_from_json(v.at("samples").as_array()[1]).hashrate_ths == 104.5);
}

TEST_CASE("uplink: retry delays double up to the cap, with jitter in the upper half") {
    using Ms = std::chrono::milliseconds;
    CHECK(retry_delay(1s, 60s, 1, 1.0) == 1s);
    CHECK(retry_delay(1s, 60s, 1, 0.0) == 500ms);
    CHECK(retry_delay(1s, 60s, 2, 1.0) == 2s);
    CHECK(retry_delay(1s, 60s, 4, 1.0) == 8s);
    CHECK(retry_delay(1s, 60s, 7, 1.0) == 60s);  // 64 s capped
    CHECK(retry_delay(1s, 60s, 100000, 1.0) == 60s);
    CHECK(retry_delay(1s, 60s, 100000, 0.0) == 30s);
    CHECK(retry_delay(Ms(10), Ms(10), 3, 0.5) == Ms(7));

    CHECK(parse_retry_after("5") == Duration(5s));
    CHECK(parse_retry_after(" 0 ") == Duration(0s));
    CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
    CHECK_FALSE(parse_retry_after("-1"));
    CHECK_FALSE(parse_retry_after(""));
}

TEST_CASE("uplink: which answers deliver, reject or retry a batch") {
    CHECK(classify_status(200) == SendVerdict::delivered);
    CHECK(classify_status(204) == SendVerdict::delivered);
    CHECK(classify_status(400) == SendVerdict::rejected);
    CHECK(classify_status(413) == SendVerdict::rejected);
    CHECK(classify_status(422) == SendVerdict::rejected);
    for (unsigned s : {401u, 403u, 404u, 405u, 408u, 429u, 500u, 502u, 503u, 301u}) {
        CAPTURE(s);
        CHECK(classify_status(s) == SendVerdict::retry);
    }
}

TEST_CASE("agent config: [uplink] with defaults, overrides and relative paths") {
    test::TempDir dir;
    dir.write("agent.token", "  tok-123 \n", 0600);
    const std::string path = dir.write("agent.toml", R"(
[[miner]]
host = "10.0.0.7"

[uplink]
url = "http://10.0.0.2:8080/"
token_file = "agent.token"
spool_dir = "var/spool"
batch_max_samples = 200
batch_max_age = "2s"
spool_max_bytes = "64MiB"
spool_max_batches = 5000
retry_min = "500ms"
retry_max = "2m"
request_timeout = "10s"
shutdown_timeout = "3s"
)");
    const AgentConfig c = load_agent_config(path);
    REQUIRE(c.uplink);
    CHECK(c.uplink->url == "http://10.0.0.2:8080/");
    CHECK(c.uplink->host == "10.0.0.2");
    CHECK(c.uplink->port == 8080);
    CHECK(c.uplink->base_path == "");
    CHECK(c.uplink->token == "tok-123");  // trimmed
    CHECK(c.uplink->spool_dir == dir.path() + "/var/spool");
    CHECK(c.uplink->batch_max_samples == 200);
    CHECK(c.uplink->batch_max_age == 2s);
    CHECK(c.uplink->spool_max_bytes == std::uint64_t{64} << 20);
    CHECK(c.uplink->spool_max_batches == 5000);
    CHECK(c.uplink->retry_min == 500ms);
    CHECK(c.uplink->retry_max == 2min);
    CHECK(c.uplink->request_timeout == 10s);
    CHECK(c.uplink->shutdown_timeout == 3s);

    const AgentConfig d = parse_agent_config(
        "[[miner]]\nhost = \"h\"\n[uplink]\nurl = \"http://collector/hw\"\ntoken = \" t \"\n",
        "agent.toml");
    REQUIRE(d.uplink);
    CHECK(d.uplink->host == "collector");
    CHECK(d.uplink->port == 80);
    CHECK(d.uplink->base_path == "/hw");
    CHECK(d.uplink->token == "t");
    CHECK(d.uplink->batch_max_samples == 500);
    CHECK(d.uplink->batch_max_age == 5s);
    CHECK(d.uplink->spool_dir == "/var/lib/hashwatt/spool");
    CHECK(d.uplink->spool_max_bytes == std::uint64_t{256} << 20);
    CHECK(d.uplink->spool_max_batches == 100000);
    CHECK(d.uplink->retry_min == 1s);
    CHECK(d.uplink->retry_max == 60s);
    CHECK(d.uplink->request_timeout == 30s);
    CHECK(d.uplink->shutdown_timeout == 5s);

    CHECK_FALSE(parse_agent_config("[[miner]]\nhost = \"h\"\n", "agent.toml").uplink);
}

TEST_CASE("agent config: [uplink] mistakes are named with file, line, column and key") {
    CHECK(uplink_error("[uplink]\nurl = \"http://c:1\"\ntoken = \"t\"\nbatch_max_sample = 5\n") ==
          "agent.toml:6:1: uplink.batch_max_sample: unknown key (did you mean "
          "'batch_max_samples'?)");
    test::TempDir dir;
    const std::string tok = dir.write("tok", "t\n", 0600);
    CHECK(uplink_error("[uplink]\nurl = \"http://c:1\"\ntoken = \"t\"\ntoken_file = \"" + tok +
                       "\"\n")
              .find("uplink.token_file: give either token or token_file, not both") !=
          std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"http://c:1\"\n").find("uplink.token: needs token") !=
          std::string::npos);
    const auto missing =
        uplink_error("[uplink]\nurl = \"http://c:1\"\ntoken_file = \"/nonexistent/agent.token\"\n");
    CHECK(missing.find("agent.toml:5:14: uplink.token_file:") != std::string::npos);
    CHECK(missing.find("/nonexistent/agent.token") != std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"http://c:1\"\ntoken = \"  \"\n").find("token is empty") !=
          std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"https://c:1\"\nca_file = \"/nonexistent/ca.pem\"\n"
                       "token = \"t\"\n")
              .find("uplink.ca_file: TLS: cannot load CA file '/nonexistent/ca.pem'") !=
          std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"c:1\"\ntoken = \"t\"\n")
              .find("uplink.url: expected http[s]://HOST[:PORT]") != std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"http://c:0\"\ntoken = \"t\"\n").find("bad port") !=
          std::string::npos);
    CHECK(uplink_error("[uplink]\ntoken = \"t\"\n").find("uplink.url") != std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"http://c\"\ntoken = \"t\"\nretry_min = \"10s\"\n"
                       "retry_max = \"5s\"\n")
              .find("uplink.retry_max: is shorter than retry_min") != std::string::npos);
    CHECK(uplink_error("[uplink]\nurl = \"http://c\"\ntoken = \"t\"\nbatch_max_age = 5\n")
              .find("uplink.batch_max_age") != std::string::npos);
}

TEST_CASE(
    "deploy/config/agent.toml: the commented [uplink] block is valid and shows the defaults") {
    std::ifstream in(std::string(HASHWATT_SOURCE_DIR) + "/deploy/config/agent.toml");
    REQUIRE(in);
    // Uncomment "# [uplink]" and the "# key = value" lines after it, as an operator would.
    // "# [uplink]" or "# key = ..." (a commented setting), not "#   prose".
    auto setting = [](std::string_view l) {
        if (!l.starts_with("# ")) return false;
        l.remove_prefix(2);
        if (l == "[uplink]") return true;
        const auto key_end = l.find_first_not_of("abcdefghijklmnopqrstuvwxyz_");
        return key_end != 0 && key_end != std::string_view::npos &&
               l.substr(key_end).starts_with(" = ");
    };
    std::string text, line;
    bool in_uplink = false;
    while (std::getline(in, line)) {
        if (line == "# [uplink]") in_uplink = true;
        if (in_uplink && setting(line)) line = line.substr(2);
        text += line + "\n";
    }
    REQUIRE(in_uplink);
    test::TempDir dir;
    fs::create_directories(dir.path() + "/secrets");
    dir.write("secrets/agent.token", "example-token\n", 0600);
    const AgentConfig c = load_agent_config(dir.write("agent.toml", text));
    REQUIRE(c.uplink);
    const UplinkConfig defaults;
    CHECK(c.uplink->host == "10.0.0.2");
    CHECK(c.uplink->port == 8080);
    CHECK(c.uplink->token == "example-token");
    CHECK(c.uplink->batch_max_samples == defaults.batch_max_samples);
    CHECK(c.uplink->batch_max_age == defaults.batch_max_age);
    CHECK(c.uplink->spool_dir == defaults.spool_dir);
    CHECK(c.uplink->spool_max_bytes == defaults.spool_max_bytes);
    CHECK(c.uplink->spool_max_batches == defaults.spool_max_batches);
    CHECK(c.uplink->retry_min == defaults.retry_min);
    CHECK(c.uplink->retry_max == defaults.retry_max);
    CHECK(c.uplink->request_timeout == defaults.request_timeout);
    CHECK(c.uplink->shutdown_timeout == defaults.shutdown_timeout);
}
