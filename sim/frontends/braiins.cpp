// Braiins OS front-end: BOSminer's cgminer-compatible RPC on TCP 4028 (PROTOCOLS.md §3.1) and
// the public REST API of Braiins OS 25.07 on HTTP (§3.3).
//
// Shapes follow tests/fixtures/braiins: the RPC captures come from an S9 on BOSminer+ 0.2.0, the
// REST captures from an S19 XP on 25.07. Commands no capture covers follow the BOSminer API
// documentation examples (tunerstatus 203, devdetails 69, tempctrl 200) and, for REST, the 25.07
// OpenAPI document (asic-rs meta/braiins/25.07/openapi.json). What neither shows is marked
// "guessed" or "modelled" where it is written.
#include "sim/cgminer.hpp"
#include "sim/frontends/frontends.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

constexpr std::string_view kBosminer = "BOSminer+ 0.2.0-36c56a9363";  // the captures' daemon
constexpr std::string_view kBosminerVersion = "0.2.0-36c56a9363";
// REST tokens expire after an hour without use; each request refreshes them (LoginResponse).
constexpr std::int64_t kTokenTimeoutS = 3600;
constexpr double kShareDifficulty = 65536.0;  // the S9 capture's pool difficulty

// ---------------------------------------------------------------------------------------------
// Number formatting: float fields keep their decimal point even when integral ("0.0").

std::string real_text(double v) {
    if (!std::isfinite(v)) v = 0;
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

void real(JsonWriter& w, std::string_view key, double v) {
    w.key(key);
    w.raw(real_text(v));
}

std::int64_t whole(double v) { return std::isfinite(v) ? std::llround(v) : 0; }

// {"<unit>": v} as the REST API wraps every quantity.
void unit_object(JsonWriter& w, std::string_view key, std::string_view unit, double v) {
    w.key(key);
    w.begin_object();
    real(w, unit, v);
    w.end_object();
}

void watt_object(JsonWriter& w, std::string_view key, double watts) {
    w.key(key);
    w.begin_object();
    w.field("watt", whole(watts));
    w.end_object();
}

std::string random_text(std::uint64_t seed, std::size_t n) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::uint64_t x = seed;
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        x += 0x9E3779B97F4A7C15ULL;
        std::uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        out.push_back(kAlphabet[z % kAlphabet.size()]);
    }
    return out;
}

std::uint64_t miner_seed(const SimMiner& m, std::uint64_t salt) {
    return (static_cast<std::uint64_t>(m.index) + 1) * 0xD6E8FEB86659FD93ULL ^ salt;
}

// Braiins writes the model without the space before the suffix: "Bitmain Antminer S19XP".
std::string bos_model(const ModelSpec& model) {
    std::string_view name = model.name;
    std::string out = std::string(model.make) + " ";
    constexpr std::string_view kPrefix = "Antminer ";
    if (name.starts_with(kPrefix)) {
        out += kPrefix;
        name.remove_prefix(kPrefix.size());
    }
    for (char c : name) {
        if (c != ' ') out.push_back(c);
    }
    return out;
}

struct BoardHardware {
    std::string_view model_key;
    std::string_view chip;
    std::string_view board;
};

// Chip and hashboard names of the models the simulator knows (Bitmain's published parts).
constexpr std::array kHardware{
    BoardHardware{"s9", "BM1387", "BHB42601"},      BoardHardware{"s19", "BM1398", "BHB42601"},
    BoardHardware{"s19pro", "BM1398", "BHB42603"},  BoardHardware{"s19jpro", "BM1362", "BHB42841"},
    BoardHardware{"s19kpro", "BM1366", "BHB56903"}, BoardHardware{"s19xp", "BM1366", "BHB56801"},
    BoardHardware{"s21", "BM1368", "BHB68601"},     BoardHardware{"s21xp", "BM1370", "BHB68701"},
};

BoardHardware hardware(const ModelSpec& model) {
    for (const auto& h : kHardware) {
        if (h.model_key == model.key) return h;
    }
    return {model.key, "BM1398", "BHB42601"};
}

// Per-board share counts: the miner's total split over the boards that hash.
std::int64_t board_share(std::int64_t total, const Snapshot& s, const BoardSnapshot& b) {
    int alive = 0;
    for (const auto& bb : s.boards) alive += bb.alive ? 1 : 0;
    return b.alive && alive > 0 ? total / alive : 0;
}

// ---------------------------------------------------------------------------------------------
// RPC (BOSminer)

class Reply {
  public:
    explicit Reply(TimePoint now) : now_(now), w_(out_) { w_.begin_object(); }
    JsonWriter& w() { return w_; }
    void status(char letter, int code, std::string_view msg) {
        write_status(w_, letter, code, msg, kBosminer, now_);
    }
    std::string finish() {
        w_.field("id", 1);
        w_.end_object();
        return std::move(out_);
    }

  private:
    TimePoint now_;
    std::string out_;
    JsonWriter w_;
};

std::string rpc_version(TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 22, "BOSminer+ versions");
    w.key("VERSION");
    w.begin_array();
    w.begin_object();
    w.field("API", "3.7");
    w.field("BOSminer+", kBosminerVersion);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string rpc_summary(const Snapshot& s, TimePoint now) {
    const double minutes = std::max(1.0, static_cast<double>(s.elapsed_s) / 60.0);
    const auto shares = static_cast<double>(s.accepted + s.rejected + s.stale);
    Reply r(now);
    auto& w = r.w();
    r.status('S', 11, "Summary");
    w.key("SUMMARY");
    w.begin_array();
    w.begin_object();
    w.field("Accepted", s.accepted);
    w.field("Best Share", s.accepted > 0 ? whole(kShareDifficulty) : 0);
    real(w, "Device Hardware%", 0.0);
    real(w, "Device Rejected%", 0.0);
    real(w, "Difficulty Accepted", static_cast<double>(s.accepted) * kShareDifficulty);
    real(w, "Difficulty Rejected", static_cast<double>(s.rejected) * kShareDifficulty);
    real(w, "Difficulty Stale", static_cast<double>(s.stale) * kShareDifficulty);
    w.field("Discarded", 0);
    w.field("Elapsed", s.elapsed_s);
    w.field("Found Blocks", 0);
    w.field("Get Failures", 0);
    w.field("Getworks", s.accepted / 2 + 1);
    w.field("Hardware Errors", s.hw_errors);
    w.field("Last getwork", unix_seconds(now));
    w.field("Local Work", whole(s.work_ths_s * 1e6 / 4295.0));
    real(w, "MHS 15m", s.hashrate_1m_ths * 1e6);
    real(w, "MHS 1m", s.hashrate_1m_ths * 1e6);
    real(w, "MHS 24h", s.hashrate_avg_ths * 1e6);
    real(w, "MHS 5m", s.hashrate_1m_ths * 1e6);
    real(w, "MHS 5s", s.hashrate_ths * 1e6);
    real(w, "MHS av", s.hashrate_avg_ths * 1e6);
    w.field("Network Blocks", 0);
    real(w, "Pool Rejected%", shares > 0 ? 100.0 * static_cast<double>(s.rejected) / shares : 0);
    real(w, "Pool Stale%", shares > 0 ? 100.0 * static_cast<double>(s.stale) / shares : 0);
    w.field("Rejected", s.rejected);
    w.field("Remote Failures", 0);
    w.field("Stale", s.stale);
    real(w, "Total MH", s.work_ths_s * 1e6);
    real(w, "Utility", static_cast<double>(s.accepted) / minutes);
    real(w, "Work Utility", static_cast<double>(s.accepted) * kShareDifficulty / minutes / 65536.0);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string rpc_devs(const ModelSpec& model, const Snapshot& s, TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 9, std::to_string(s.boards.size()) + " ASC(s)");
    w.key("DEVS");
    w.begin_array();
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        const BoardSnapshot& b = s.boards[i];
        const std::int64_t accepted = board_share(s.accepted, s, b);
        const std::int64_t rejected = board_share(s.rejected, s, b);
        const double per_board_1m =
            b.alive && model.boards > 0 ? s.hashrate_1m_ths * 1e6 / model.boards : 0.0;
        const double minutes = std::max(1.0, static_cast<double>(s.elapsed_s) / 60.0);
        w.begin_object();
        w.field("ASC", static_cast<std::int64_t>(i));
        w.field("Accepted", accepted);
        w.field("Device Elapsed", s.elapsed_s);
        real(w, "Device Hardware%", 0.0);
        real(w, "Device Rejected%", 0.0);
        w.field("Diff1 Work", whole(b.avg_hashrate_ths * static_cast<double>(s.elapsed_s) / 4.295));
        real(w, "Difficulty Accepted", static_cast<double>(accepted) * kShareDifficulty);
        real(w, "Difficulty Rejected", static_cast<double>(rejected) * kShareDifficulty);
        w.field("Enabled", "Y");
        real(w, "Hardware Error MHS 15m", 0.0);
        w.field("Hardware Errors", b.hw_errors);
        w.field("ID", b.index);
        real(w, "Last Share Difficulty", accepted > 0 ? kShareDifficulty : 0.0);
        w.field("Last Share Pool", accepted > 0 ? 0 : -1);
        w.field("Last Share Time", accepted > 0 ? unix_seconds(now) : 0);
        w.field("Last Valid Work", unix_seconds(now));
        real(w, "MHS 15m", per_board_1m);
        real(w, "MHS 1m", per_board_1m);
        real(w, "MHS 5m", per_board_1m);
        real(w, "MHS 5s", b.hashrate_ths * 1e6);
        real(w, "MHS av", b.avg_hashrate_ths * 1e6);
        w.field("Name", "");
        real(w, "Nominal MHS", std::round(b.ideal_ths * 1e6));
        w.field("Rejected", rejected);
        w.field("Status", b.alive ? "Alive" : "Dead");
        real(w, "Temperature", 0.0);  // BOSminer leaves it 0.0; temps has the figures
        real(w, "Total MH", b.avg_hashrate_ths * 1e6 * static_cast<double>(s.elapsed_s));
        real(w, "Utility", static_cast<double>(accepted) / minutes);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string rpc_temps(const Snapshot& s, TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 201, std::to_string(s.boards.size()) + " Temp(s)");
    w.key("TEMPS");
    w.begin_array();
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        w.begin_object();
        real(w, "Board", s.boards[i].board_temp_max_c);
        real(w, "Chip", s.boards[i].chip_temp_max_c);
        w.field("ID", s.boards[i].index);
        w.field("TEMP", static_cast<std::int64_t>(i));
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string rpc_fans(const Snapshot& s, TimePoint now) {
    // BOSminer reports all four fan headers; unpopulated ones at 0 RPM (S9 capture).
    const std::size_t n = std::max<std::size_t>(4, s.fans_rpm.size());
    Reply r(now);
    auto& w = r.w();
    r.status('S', 202, std::to_string(n) + " Fan(s)");
    w.key("FANS");
    w.begin_array();
    for (std::size_t i = 0; i < n; ++i) {
        w.begin_object();
        w.field("FAN", static_cast<std::int64_t>(i));
        w.field("ID", static_cast<std::int64_t>(i));
        w.field("RPM", i < s.fans_rpm.size() ? s.fans_rpm[i] : 0);
        w.field("Speed", s.fan_pwm_pct);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string rpc_pools(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 7, std::to_string(m.pools.size()) + " Pool(s)");
    w.key("POOLS");
    w.begin_array();
    for (std::size_t i = 0; i < m.pools.size(); ++i) {
        const auto& p = m.pools[i];
        const bool active = i == 0 && s.hashing;
        const std::int64_t accepted = i == 0 ? s.accepted : 0;
        const std::int64_t rejected = i == 0 ? s.rejected : 0;
        const std::int64_t stale = i == 0 ? s.stale : 0;
        const auto all = static_cast<double>(accepted + rejected + stale);
        std::string stratum = p.url;
        if (const auto sep = stratum.find("://"); sep != std::string::npos)
            stratum.erase(0, sep + 3);
        w.begin_object();
        w.field("Accepted", accepted);
        w.field("AsicBoost", true);
        w.field("Bad Work", 0);
        w.field("Best Share", accepted > 0 ? whole(kShareDifficulty) : 0);
        w.field("Current Block Height", 0);
        w.field("Current Block Version", 536870912);
        w.field("Diff1 Shares", whole(static_cast<double>(accepted + rejected) * kShareDifficulty));
        real(w, "Difficulty Accepted", static_cast<double>(accepted) * kShareDifficulty);
        real(w, "Difficulty Rejected", static_cast<double>(rejected) * kShareDifficulty);
        real(w, "Difficulty Stale", static_cast<double>(stale) * kShareDifficulty);
        w.field("Discarded", 0);
        w.field("Get Failures", 0);
        w.field("Getworks", i == 0 ? accepted / 2 + 1 : 0);
        w.field("Has GBT", false);
        w.field("Has Stratum", true);
        w.field("Has Vmask", true);
        real(w, "Last Share Difficulty", accepted > 0 ? kShareDifficulty : 0.0);
        w.field("Last Share Time", accepted > 0 ? unix_seconds(now) : 0);
        w.field("Long Poll", "N");
        w.field("POOL", static_cast<std::int64_t>(i));
        real(w, "Pool Rejected%", all > 0 ? 100.0 * static_cast<double>(rejected) / all : 0.0);
        real(w, "Pool Stale%", all > 0 ? 100.0 * static_cast<double>(stale) / all : 0.0);
        w.field("Priority", static_cast<std::int64_t>(i));
        w.field("Proxy", "");
        w.field("Proxy Type", "");
        w.field("Quota", 1);
        w.field("Rejected", rejected);
        w.field("Remote Failures", 0);
        w.field("Stale", stale);
        w.field("Status", "Alive");
        w.field("Stratum Active", active);
        real(w, "Stratum Difficulty", active ? kShareDifficulty : 0.0);
        w.field("Stratum URL", stratum);
        w.field("URL", p.url);
        w.field("User", p.user);
        real(w, "Work Difficulty", active ? kShareDifficulty : 0.0);
        w.field("Works", whole(active ? s.work_ths_s * 1e3 / 4295.0 : 0.0));
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string rpc_devdetails(const ModelSpec& model, const Snapshot& s, TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 69, "Device Details");
    w.key("DEVDETAILS");
    w.begin_array();
    const std::string name = bos_model(model);
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        const BoardSnapshot& b = s.boards[i];
        w.begin_object();
        w.field("Chips", b.chips);
        w.field("Cores", b.chips * 114);
        w.field("DEVDETAILS", static_cast<std::int64_t>(i));
        w.field("Device Path", "");
        w.field("Driver", "");
        w.field("Frequency", whole(b.freq_mhz * 1e6));
        w.field("ID", b.index);
        w.field("Kernel", "");
        w.field("Model", name);
        w.field("Name", "Hash Chain " + std::to_string(b.index));
        real(w, "Voltage", b.voltage_v);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string rpc_tunerstatus(const SimMiner& m, const Snapshot& s, TimePoint now) {
    double chains_w = 0;
    for (const auto& b : s.boards) chains_w += b.power_w;
    const bool paused = m.physics.commanded_asleep();
    const std::int64_t created = unix_seconds(now) - s.elapsed_s;
    const std::int64_t per_chain_limit =
        m.model->boards > 0 ? whole(s.power_target_w / m.model->boards) : 0;
    Reply r(now);
    auto& w = r.w();
    r.status('S', 203, "Tuner Status");
    w.key("TUNERSTATUS");
    w.begin_array();
    w.begin_object();
    w.field("ApproximateChainPowerConsumption", whole(chains_w));
    w.field("ApproximateMinerPowerConsumption", whole(s.power_w));
    w.field("DynamicPowerScaling", "Disabled");
    w.field("PowerLimit", whole(s.power_target_w));
    w.key("TunerChainStatus");
    w.begin_array();
    for (const auto& b : s.boards) {
        // pyasic treats anything but "Stable"/"Testing performance profile"/"Tuning individual
        // chips" as an error; Foreman reads "paused" in the status as sleeping. Guessed texts.
        std::string_view status = "Stable";
        if (paused) {
            status = "Mining paused";
        } else if (!b.alive) {
            status = "Failed: hashboard not hashing";
        } else if (s.state == SimState::booting) {
            status = "Testing performance profile";
        }
        w.begin_object();
        w.field("ApproximatePowerConsumptionWatt", whole(b.power_w));
        w.field("HashchainIndex", b.index);
        w.field("Iteration", 0);
        w.field("LoadedProfileCreatedOn", created);
        w.field("PowerLimitWatt", per_chain_limit);
        w.field("StageElapsed", s.elapsed_s);
        w.field("Status", status);
        w.field("TunerRunning", false);
        w.field("TuningElapsed", s.elapsed_s);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string rpc_tempctrl(TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', 200, "Temperature control");
    w.key("TEMPCTRL");
    w.begin_array();
    w.begin_object();
    w.field("Dangerous", 110);
    w.field("Hot", 100);
    w.field("Mode", "Automatic");
    w.field("Target", 89);
    w.end_object();
    w.end_array();
    return r.finish();
}

// pause / resume: pyasic only checks that PAUSE[0] / RESUME[0] is there and truthy. Guessed codes.
std::string rpc_pause_resume(std::string_view section, int code, std::string_view msg,
                             TimePoint now) {
    Reply r(now);
    auto& w = r.w();
    r.status('S', code, msg);
    w.key(section);
    w.begin_array();
    w.begin_object();
    w.field(section, true);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string rpc_one(SimMiner& m, std::string_view cmd, TimePoint now) {
    if (cmd == "version") return rpc_version(now);
    if (cmd == "tempctrl") return rpc_tempctrl(now);
    if (cmd == "pause") {
        // A sleep_ignored miner acknowledges and carries on hashing.
        if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
        return rpc_pause_resume("PAUSE", 210, "Mining paused", now);
    }
    if (cmd == "resume") {
        m.wake(now);
        return rpc_pause_resume("RESUME", 211, "Mining resumed", now);
    }
    if (cmd == "summary" || cmd == "devs" || cmd == "edevs" || cmd == "temps" || cmd == "fans" ||
        cmd == "pools" || cmd == "devdetails" || cmd == "tunerstatus") {
        const Snapshot s = m.physics.snapshot(now, m.faults);
        if (cmd == "summary") return rpc_summary(s, now);
        if (cmd == "devs" || cmd == "edevs") return rpc_devs(*m.model, s, now);
        if (cmd == "temps") return rpc_temps(s, now);
        if (cmd == "fans") return rpc_fans(s, now);
        if (cmd == "pools") return rpc_pools(m, s, now);
        if (cmd == "devdetails") return rpc_devdetails(*m.model, s, now);
        return rpc_tunerstatus(m, s, now);
    }
    return invalid_command_reply(kBosminer, now);
}

// ---------------------------------------------------------------------------------------------
// REST (Braiins OS 25.07)

HttpResponse json_response(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

// The OpenAPI document gives error statuses but no body; this JSON shape is modelled.
HttpResponse error_response(unsigned status, std::string_view message) {
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("code", static_cast<std::int64_t>(status));
    w.field("message", message);
    w.end_object();
    return json_response(status, std::move(body));
}

bool token_valid(SimMiner& m, TimePoint now) {
    if (m.control.api_token.empty()) return false;
    if (now - m.control.api_token_issued > std::chrono::seconds(kTokenTimeoutS)) {
        m.control.api_token.clear();
        return false;
    }
    return true;
}

bool authorized(SimMiner& m, std::string_view header, TimePoint now) {
    // A changed password ends the sessions opened with the old one.
    if (m.faults.has(FaultKind::password_changed)) return false;
    if (!token_valid(m, now) || header != m.control.api_token) return false;
    m.control.api_token_issued = now;  // each request refreshes the token's timeout
    return true;
}

HttpResponse rest_login(SimMiner& m, const HttpRequest& req, TimePoint now) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(req.body, ec);
    const auto* o = !ec ? v.if_object() : nullptr;
    const auto* user = o ? o->if_contains("username") : nullptr;
    const auto* pass = o ? o->if_contains("password") : nullptr;
    if (!user || !pass || !user->is_string() || !pass->is_string()) {
        return error_response(400, "Invalid request payload.");
    }
    if (std::string_view(user->get_string()) != m.username ||
        !m.password_ok(std::string_view(pass->get_string()))) {
        return error_response(401, "Invalid username or password.");
    }
    // A second login while a token lives gets the same token, so two clients do not log each
    // other out (real BOS keeps several sessions; the simulator remembers one).
    if (!token_valid(m, now)) {
        m.control.api_token = random_text(
            miner_seed(m, static_cast<std::uint64_t>(now.time_since_epoch().count())), 16);
    }
    m.control.api_token_issued = now;
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("token", m.control.api_token);
    w.field("timeout_s", kTokenTimeoutS);
    w.end_object();
    return json_response(200, std::move(body));
}

int miner_status(const SimMiner& m, const Snapshot& s) {
    // MinerStatus: 1 NOT_STARTED, 2 NORMAL, 3 PAUSED.
    if (m.physics.commanded_asleep()) return 3;
    if (s.state == SimState::booting) return 1;
    return 2;
}

std::string rest_details(const SimMiner& m, const Snapshot& s) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("bos_mode", 4);
    w.key("bos_version");
    w.begin_object();
    w.field("bos_plus", true);
    w.field("current", m.firmware_version);
    w.field("major", "2022-09-13-0-11012d53-22.08-plus");
    w.end_object();
    w.field("bosminer_uptime_s", s.elapsed_s);
    w.field("control_board_soc_family", 3);
    w.field("hostname", m.hostname);
    w.field("kernel_version", "4.9.113");
    w.field("mac_address", m.mac);
    w.key("miner_identity");
    w.begin_object();
    w.field("brand", 1);
    w.field("miner_model", m.model->name);
    w.field("model", 18);
    w.field("name", m.model->name);
    w.end_object();
    w.field("platform", 4);
    w.key("psu_info");
    w.begin_object();
    w.key("fw_version");
    w.null();
    unit_object(w, "max_voltage", "volt", 15.2);
    unit_object(w, "min_voltage", "volt", 11.96);
    w.field("model_name", "APW121215d/e");
    w.key("serial_number");
    w.null();
    w.field("version", 117);
    w.end_object();
    w.field("serial_number", m.serial);
    w.field("status", miner_status(m, s));
    unit_object(w, "sticker_hashrate", "gigahash_per_second", m.model->nominal_ths * 1e3);
    w.field("system_uptime", s.uptime_s);
    w.field("system_uptime_s", s.uptime_s);
    w.field("uid", random_text(miner_seed(m, 1), 16));
    w.end_object();
    return out;
}

// real_hashrate as BOS reports it, from a 5 s, a 1 min and an average figure (TH/s).
void real_hashrate(JsonWriter& w, double r5s_ths, double r1m_ths, double avg_ths) {
    w.key("real_hashrate");
    w.begin_object();
    unit_object(w, "last_15m", "gigahash_per_second", r1m_ths * 1e3);
    unit_object(w, "last_15s", "gigahash_per_second", r5s_ths * 1e3);
    unit_object(w, "last_1h", "gigahash_per_second", avg_ths * 1e3);
    unit_object(w, "last_1m", "gigahash_per_second", r1m_ths * 1e3);
    unit_object(w, "last_24h", "gigahash_per_second", avg_ths * 1e3);
    unit_object(w, "last_30m", "gigahash_per_second", r1m_ths * 1e3);
    unit_object(w, "last_30s", "gigahash_per_second", r5s_ths * 1e3);
    unit_object(w, "last_5m", "gigahash_per_second", r1m_ths * 1e3);
    unit_object(w, "last_5s", "gigahash_per_second", r5s_ths * 1e3);
    unit_object(w, "since_restart", "gigahash_per_second", avg_ths * 1e3);
    w.end_object();
}

void work_stats(JsonWriter& w, std::int64_t accepted, double nominal_ths, double r5s_ths,
                double r1m_ths, double avg_ths) {
    w.field("best_share", accepted > 0 ? whole(kShareDifficulty * 4) : 0);
    unit_object(w, "error_hashrate", "megahash_per_second", 0.0);
    w.field("found_blocks", 0);
    unit_object(w, "nominal_hashrate", "gigahash_per_second", nominal_ths * 1e3);
    real_hashrate(w, r5s_ths, r1m_ths, avg_ths);
}

void pool_stats(JsonWriter& w, const Snapshot& s, std::int64_t accepted, std::int64_t rejected,
                std::int64_t stale, TimePoint now) {
    w.key("pool_stats");
    w.begin_object();
    w.field("accepted_shares", accepted);
    w.field("best_share", accepted > 0 ? whole(kShareDifficulty * 4) : 0);
    w.field("generated_work", whole(s.work_ths_s * 1e3 / 4.295));
    w.field("last_difficulty", accepted > 0 ? whole(kShareDifficulty * 4) : 0);
    w.key("last_share_time");
    w.begin_object();
    w.field("nanos", 0);
    w.field("seconds", accepted > 0 ? unix_seconds(now) : 0);
    w.end_object();
    w.field("rejected_shares", rejected);
    w.field("stale_shares", stale);
    w.end_object();
}

std::string rest_stats(const Snapshot& s, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("miner_stats");
    w.begin_object();
    work_stats(w, s.accepted, s.expected_ths, s.hashrate_ths, s.hashrate_1m_ths,
               s.hashrate_avg_ths);
    w.end_object();
    pool_stats(w, s, s.accepted, s.rejected, s.stale, now);
    w.key("power_stats");
    w.begin_object();
    watt_object(w, "approximated_consumption", s.power_w);
    unit_object(w, "efficiency", "joule_per_terahash",
                s.hashrate_ths > 0 ? s.power_w / s.hashrate_ths : 0.0);
    w.end_object();
    w.end_object();
    return out;
}

std::string rest_hashboards(const SimMiner& m, const Snapshot& s) {
    const auto hw = hardware(*m.model);
    const int boards = std::max(1, m.model->boards);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("hashboards");
    w.begin_array();
    for (const auto& b : s.boards) {
        const std::string id = std::to_string(b.index);
        w.begin_object();
        w.field("board_name", hw.board);
        unit_object(w, "board_temp", "degree_c", b.board_temp_max_c);
        w.field("chip_type", hw.chip);
        w.field("chips_count", b.chips);
        unit_object(w, "current_frequency", "hertz", b.freq_mhz * 1e6);
        unit_object(w, "current_voltage", "volt", b.voltage_v);
        w.field("enabled", true);
        w.key("highest_chip_temp");
        w.begin_object();
        w.field("id", b.index);
        w.field("location", 1);
        unit_object(w, "temperature", "degree_c", b.chip_temp_max_c);
        w.end_object();
        unit_object(w, "highest_outlet_temp", "degree_c", b.outlet_temp_c);
        w.field("id", id);
        unit_object(w, "lowest_inlet_temp", "degree_c", b.inlet_temp_c);
        w.field("model", hw.board);
        w.field("serial_number", m.serial + "B" + id);
        w.key("stats");
        w.begin_object();
        work_stats(w, board_share(s.accepted, s, b), b.ideal_ths, b.hashrate_ths,
                   b.alive ? s.hashrate_1m_ths / boards : 0.0, b.avg_hashrate_ths);
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return out;
}

std::string rest_cooling(const Snapshot& s) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("fans");
    w.begin_array();
    for (std::size_t i = 0; i < s.fans_rpm.size(); ++i) {
        w.begin_object();
        w.field("position", static_cast<std::int64_t>(i));
        w.field("rpm", s.fans_rpm[i]);
        real(w, "target_speed_ratio", s.fan_pwm_pct / 100.0);
        w.end_object();
    }
    w.end_array();
    w.key("highest_temperature");
    w.begin_object();
    w.key("id");
    w.null();
    w.field("location", 1);
    unit_object(w, "temperature", "degree_c", s.chip_temp_max_c);
    w.end_object();
    w.end_object();
    return out;
}

std::string rest_configuration(const SimMiner& m) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("pool_groups");
    w.begin_array();  // empty as in the capture: pools are read from /pools
    w.end_array();
    w.key("tuner");
    w.begin_object();
    w.field("enabled", true);
    w.key("hashrate_target");
    w.null();
    watt_object(w, "power_target", m.physics.power_target_w());
    w.field("tuner_mode", 1);
    w.end_object();
    w.end_object();
    return out;
}

std::string rest_tuner_state(const SimMiner& m, const Snapshot& s, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("mode_state");
    w.begin_object();
    w.key("powertargetmodestate");
    w.begin_object();
    watt_object(w, "current_target", s.power_target_w);
    w.key("profile");
    w.begin_object();
    w.key("created");
    w.begin_object();
    w.field("nanos", 0);
    w.field("seconds", unix_seconds(now) - s.elapsed_s);
    w.end_object();
    watt_object(w, "estimated_power_consumption", s.power_target_w);
    unit_object(w, "measured_hashrate", "gigahash_per_second", s.expected_ths * 1e3);
    watt_object(w, "target", s.power_target_w);
    w.end_object();
    w.end_object();
    w.end_object();
    // TunerState: 2 stable; 1 while the miner is not hashing (paused or starting).
    w.field("overall_tuner_state", s.hashing && !m.physics.commanded_asleep() ? 2 : 1);
    w.end_object();
    return out;
}

std::string rest_pools(const SimMiner& m, const Snapshot& s, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    w.begin_object();
    w.field("name", "default");
    w.key("pools");
    w.begin_array();
    for (std::size_t i = 0; i < m.pools.size(); ++i) {
        const bool first = i == 0;
        w.begin_object();
        w.field("active", first && s.hashing);
        w.field("alive", true);
        w.field("enabled", true);
        w.key("stats");
        w.begin_object();
        const std::int64_t accepted = first ? s.accepted : 0;
        w.field("accepted_shares", accepted);
        w.field("best_share", accepted > 0 ? whole(kShareDifficulty * 4) : 0);
        w.field("generated_work", first ? whole(s.work_ths_s * 1e3 / 4.295) : 0);
        w.field("last_difficulty", accepted > 0 ? whole(kShareDifficulty * 4) : 0);
        w.key("last_share_time");
        w.begin_object();
        w.field("nanos", 0);
        w.field("seconds", accepted > 0 ? unix_seconds(now) : 0);
        w.end_object();
        w.field("rejected_shares", first ? s.rejected : 0);
        w.field("stale_shares", first ? s.stale : 0);
        w.end_object();
        w.field("uid", random_text(miner_seed(m, 100 + i), 16));
        w.field("url", m.pools[i].url);
        w.field("user", m.pools[i].user);
        w.end_object();
    }
    w.end_array();
    w.key("strategy");
    w.begin_object();
    w.key("quota");
    w.begin_object();
    w.field("value", 1);
    w.end_object();
    w.end_object();
    w.end_object();
    w.end_array();
    return out;
}

std::string rest_network(const SimMiner& m) {
    const auto dot = m.ip_text.rfind('.');
    const std::string prefix = m.ip_text.substr(0, dot == std::string::npos ? 0 : dot + 1);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("default_gateway", prefix + "1");
    w.key("dns_servers");
    w.begin_array();
    w.value("127.0.0.1");
    w.end_array();
    w.field("hostname", m.hostname);
    w.field("mac_address", m.mac);
    w.field("name", "eth0");
    w.key("networks");
    w.begin_array();
    w.begin_object();
    w.field("address", m.ip_text);
    w.field("netmask", "255.255.255.0");
    w.end_object();
    w.end_array();
    w.field("protocol", 1);
    w.end_object();
    return out;
}

// Modelled on the 25.07 OpenAPI GetConstraintsResponse (no capture of this route exists): the
// power target range is the model's, the default its nominal power.
std::string rest_constraints(const ModelSpec& model) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("cooling_constraints");
    w.null();
    w.key("dps_constraints");
    w.null();
    w.key("hashboards_constraints");
    w.null();
    w.key("tuner_constraints");
    w.begin_object();
    w.field("default_mode", 1);
    w.key("enabled");
    w.begin_object();
    w.field("default", true);
    w.end_object();
    w.key("hashrate_target");
    w.begin_object();
    unit_object(w, "default", "terahash_per_second", model.nominal_ths);
    unit_object(w, "max", "terahash_per_second", hashrate_at_power(model, model.max_power_w));
    unit_object(w, "min", "terahash_per_second", hashrate_at_power(model, model.min_power_w));
    w.end_object();
    w.key("power_target");
    w.begin_object();
    watt_object(w, "default", model.nominal_w);
    watt_object(w, "max", model.max_power_w);
    watt_object(w, "min", model.min_power_w);
    w.end_object();
    w.end_object();
    w.end_object();
    return out;
}

HttpResponse rest_power_target(SimMiner& m, const HttpRequest& req, TimePoint now) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(req.body, ec);
    const auto* o = !ec ? v.if_object() : nullptr;
    const auto* watt = o ? o->if_contains("watt") : nullptr;
    double watts = -1;
    if (watt && watt->is_int64()) watts = static_cast<double>(watt->get_int64());
    if (watt && watt->is_uint64()) watts = static_cast<double>(watt->get_uint64());
    if (watts < 0) return error_response(400, "Invalid request payload.");
    const ModelSpec& model = *m.model;
    if (watts < model.min_power_w || watts > model.max_power_w) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "Power target %.0f W is out of range %.0f W - %.0f W", watts,
                      model.min_power_w, model.max_power_w);
        return error_response(400, msg);
    }
    m.physics.set_power_target(now, watts);
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("watt", whole(watts));
    w.end_object();
    return json_response(200, std::move(body));
}

HttpResponse bool_response(bool b) { return json_response(200, b ? "true" : "false"); }

// Routes that answer without a token.
bool is_public(std::string_view path) {
    return path == "/api/v1/auth/login" || path == "/api/v1/version";
}

HttpResponse rest(SimMiner& m, const HttpRequest& req, TimePoint now) {
    std::string_view path = req.path;
    // "/api/v1/pools/" and "/api/v1/pools" are the same route; tools spell it both ways.
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    const std::string_view method = req.method;

    enum class Route {
        none,
        login,
        details,
        stats,
        hashboards,
        cooling,
        configuration,
        tuner_state,
        pools,
        network,
        version,
        constraints,
        pause,
        resume,
        reboot,
        restart,
        power_target
    };
    struct Entry {
        std::string_view path;
        std::string_view method;
        Route route;
    };
    static constexpr std::array kRoutes{
        Entry{"/api/v1/auth/login", "POST", Route::login},
        Entry{"/api/v1/miner/details", "GET", Route::details},
        Entry{"/api/v1/miner/stats", "GET", Route::stats},
        Entry{"/api/v1/miner/hw/hashboards", "GET", Route::hashboards},
        Entry{"/api/v1/cooling/state", "GET", Route::cooling},
        Entry{"/api/v1/configuration/miner", "GET", Route::configuration},
        Entry{"/api/v1/configuration/constraints", "GET", Route::constraints},
        Entry{"/api/v1/performance/tuner-state", "GET", Route::tuner_state},
        Entry{"/api/v1/pools", "GET", Route::pools},
        Entry{"/api/v1/network", "GET", Route::network},
        Entry{"/api/v1/version", "GET", Route::version},
        Entry{"/api/v1/actions/pause", "PUT", Route::pause},
        Entry{"/api/v1/actions/resume", "PUT", Route::resume},
        Entry{"/api/v1/actions/reboot", "PUT", Route::reboot},
        Entry{"/api/v1/actions/restart", "PUT", Route::restart},
        Entry{"/api/v1/performance/power-target", "PUT", Route::power_target},
    };
    Route route = Route::none;
    bool path_known = false;
    for (const auto& e : kRoutes) {
        if (e.path != path) continue;
        path_known = true;
        if (e.method == method) route = e.route;
    }
    if (!path_known) return error_response(404, "Not found");
    if (route == Route::none) return error_response(405, "Method not allowed");
    if (!is_public(path) && !authorized(m, req.authorization, now)) {
        return error_response(401, "Unauthorized. User must be authenticated.");
    }

    switch (route) {
        case Route::login:
            return rest_login(m, req, now);
        case Route::version:
            return json_response(200, R"({"major":1,"minor":0,"patch":0})");
        case Route::configuration:
            return json_response(200, rest_configuration(m));
        case Route::network:
            return json_response(200, rest_network(m));
        case Route::constraints:
            return json_response(200, rest_constraints(*m.model));
        case Route::power_target:
            return rest_power_target(m, req, now);
        case Route::pause: {
            // The reply says whether the miner was already paused.
            const bool was = m.physics.commanded_asleep();
            if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
            return bool_response(was);
        }
        case Route::resume: {
            const bool was_mining = !m.physics.commanded_asleep();
            m.wake(now);
            return bool_response(was_mining);
        }
        case Route::reboot: {
            m.physics.reboot(now);
            HttpResponse r;
            r.status = 204;
            r.content_type.clear();
            return r;
        }
        case Route::restart: {
            // The physics has no bosminer-only restart; a reboot is the nearest thing.
            const bool was_running = !m.physics.commanded_asleep();
            m.physics.reboot(now);
            return bool_response(was_running);
        }
        default:
            break;
    }
    const Snapshot s = m.physics.snapshot(now, m.faults);
    switch (route) {
        case Route::details:
            return json_response(200, rest_details(m, s));
        case Route::stats:
            return json_response(200, rest_stats(s, now));
        case Route::hashboards:
            return json_response(200, rest_hashboards(m, s));
        case Route::cooling:
            return json_response(200, rest_cooling(s));
        case Route::tuner_state:
            return json_response(200, rest_tuner_state(m, s, now));
        case Route::pools:
            return json_response(200, rest_pools(m, s, now));
        default:
            return error_response(500, "Internal server error.");
    }
}

class BraiinsFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        RpcReply reply;
        try {
            if (req.command.empty()) {
                // cgminer's envelope errors: 23 not JSON, 24 JSON without a command.
                boost::system::error_code ec;
                const auto v = boost::json::parse(req.raw, ec);
                reply.body = !ec && v.is_object()
                                 ? status_reply('E', 24, "Missing JSON 'command'", kBosminer, now)
                                 : status_reply('E', 23, "Invalid JSON", kBosminer, now);
                return reply;
            }
            if (auto joined = join_multi_command(
                    req.command, [&](std::string_view c) { return rpc_one(m, c, now); })) {
                reply.body = std::move(*joined);
                return reply;
            }
            reply.body = rpc_one(m, req.command, now);
        } catch (const std::exception&) {
            reply.body = invalid_command_reply(kBosminer, now);
        }
        return reply;
    }

    HttpResponse http(SimMiner& m, const HttpRequest& req, TimePoint now) const override {
        try {
            if (req.path.starts_with("/api/")) return rest(m, req, now);
            if ((req.method == "GET" || req.method == "HEAD") &&
                (req.path == "/" || req.path.empty())) {
                HttpResponse r;
                r.content_type = "text/html";
                r.body =
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Braiins OS</title>"
                    "</head><body><div id=\"root\">Braiins OS</div></body></html>";
                return r;
            }
            return Frontend::http(m, req, now);
        } catch (const std::exception&) {
            return error_response(500, "Internal server error.");
        }
    }

    bool has_http() const override { return true; }
};

}  // namespace

const Frontend& braiins_frontend() {
    static const BraiinsFrontend f;
    return f;
}

}  // namespace hashwatt::sim
