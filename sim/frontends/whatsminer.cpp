// Whatsminer (MicroBT btminer, API v2) on TCP 4028: cgminer-style reads (summary, pools,
// devs/edevs, devdetails), the flat-envelope whatsminer reads (get_version, status, get_token,
// get_miner_info, get_psu, get_error_code) and the encrypted write API ({"enc":1,"data":…}).
//
// Which firmware this imitates: an API 2.0.5 build (fw 20230803.11.REL). Those accept both the
// "command" and the "cmd" key for every read. The 2020 M30S firmware captured in
// tests/fixtures/whatsminer/m30s_error_cmd_key_multicommand.json (cgminer 4.9.2 based) rejects
// "cmd" with Code 24; the simulator deliberately does not reproduce that older behaviour, so
// agents must not depend on it either way.
//
// Where the captures disagree on small things the choice is: cgminer-style Description
// "btminer" (2021+ firmware; the 2020 capture says "cgminer 4.9.2"); flat reads Description ""
// (the API 2.0.5 captures); errors, get_token and write replies Description "whatsminer v1.3"
// (a 2023 capture of the invalid-command reply).
#include "common/btminer_crypto.hpp"
#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "sim/cgminer.hpp"
#include "sim/frontends/frontends.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

constexpr std::string_view kCgDescription = "btminer";
constexpr std::string_view kReadDescription = "";
constexpr std::string_view kFlatDescription = "whatsminer v1.3";
constexpr std::string_view kApiVersion = "2.0.5";
constexpr auto kTokenLifetime = std::chrono::minutes(30);
// The share difficulty that makes the physics's accepted count (one share per 1,400 TH) add up.
constexpr double kPoolDifficulty = 1400e12 / 4294967296.0;

// Message codes of the API v2 document.
constexpr int kCodeInvalidCommand = 14;
constexpr int kCodeInvalidJson = 23;
constexpr int kCodePermissionDenied = 45;
constexpr int kCodeOk = 131;
constexpr int kCodeCommandError = 132;
constexpr int kCodeToken = 134;
constexpr int kCodeTokenError = 135;
constexpr int kCodeBase64Error = 137;

// ---------------------------------------------------------------------------------------------
// Small formatting helpers

// btminer prints floats with fixed decimals ("Temperature":80.00); JsonWriter's shortest form
// would turn an integral value into an integer, which is a different JSON type.
std::string fixed(double v, int decimals) { return format_fixed(v, decimals); }

void field_fixed(JsonWriter& w, std::string_view key, double v, int decimals) {
    w.key(key);
    w.raw(fixed(v, decimals));
}

// cgminer's "Device Hardware%": errors over errors plus good work.
double hw_percent(double errors, double diff1) {
    return errors + diff1 > 0 ? 100.0 * errors / (errors + diff1) : 0.0;
}

std::int64_t rounded(double v) {
    if (!std::isfinite(v)) return 0;
    return static_cast<std::int64_t>(std::llround(v));
}

std::string upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
}

// "2024-06-15 10:30:00" (UTC), the form get_error_code prints.
std::string wall_clock(TimePoint t) {
    const std::time_t secs = static_cast<std::time_t>(unix_seconds(t));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

// MD5-crypt salt alphabet.
constexpr std::string_view kSaltChars =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// The miner's fixed salt: real units keep one per device; derived from the serial so it is
// stable across restarts of the simulator.
std::string miner_salt(const SimMiner& m) {
    std::uint64_t h = fnv1a(m.serial);
    std::string out;
    for (int i = 0; i < 8; ++i) {
        out.push_back(kSaltChars[h % kSaltChars.size()]);
        h /= kSaltChars.size();
        if (h == 0) h = fnv1a(out) | 1;
    }
    return out;
}

std::string fresh_newsalt() {
    const std::string hex = crypto::random_token(6);  // 12 hex digits, all salt characters
    return hex.substr(0, 8);
}

// Model as DEVDETAILS prints it: name plus hardware revision ("M30S++V10").
std::string model_code(const ModelSpec& model) {
    const std::string_view name = model.name;
    if (name == "M50") return "M50VH50";
    if (name == "M60") return "M60VK10";
    return std::string(name) + "V10";
}

// ---------------------------------------------------------------------------------------------
// Derived figures shared by summary and devs

struct ErrorCode {
    int code;
    TimePoint since;
};

// Current errors the firmware would raise for the active faults (codes from MicroBT's table:
// 110/111 intake/exhaust fan speed, 350+n slot n temperature protecting, 530+n slot n not found).
std::vector<ErrorCode> current_errors(const SimMiner& m, const Snapshot& s, TimePoint now) {
    std::vector<ErrorCode> out;
    const TimePoint booted = now - std::chrono::seconds(s.uptime_s);
    if (m.faults.has(FaultKind::fan_failure)) {
        out.push_back(
            {m.faults.fan_index() == 0 ? 110 : 111, m.faults.since(FaultKind::fan_failure)});
    }
    if (m.faults.has(FaultKind::dead_board)) {
        out.push_back({530 + m.faults.board_index(), booted});
    }
    if (s.state == SimState::protecting) {
        const TimePoint since = m.faults.has(FaultKind::overheating)
                                    ? m.faults.since(FaultKind::overheating)
                                    : m.faults.since(FaultKind::fan_failure);
        for (const auto& b : s.boards) {
            if (b.alive) out.push_back({350 + (b.index - m.model->first_board_index), since});
        }
    }
    return out;
}

// Codes recorded at the factory test: harmless history a monitor must not alert on. Real units
// carry zero to a few; the simulator gives miner i (i mod 3) of them so every shape occurs.
std::vector<int> factory_errors(const SimMiner& m) {
    static constexpr std::array<int, 2> kCodes{202, 2310};
    const std::size_t n = m.index % 3;
    return {kCodes.begin(),
            kCodes.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(n, 2))};
}

double chip_temp_min(const Snapshot& s) {
    double lo = 0;
    bool any = false;
    for (const auto& b : s.boards) {
        for (double t : b.chip_temps_c) {
            if (!any || t < lo) lo = t;
            any = true;
        }
    }
    return lo;
}

double chip_temp_avg(const BoardSnapshot& b) {
    double sum = 0;
    for (double t : b.chip_temps_c) sum += t;
    return sum / static_cast<double>(b.chip_temps_c.size());
}

double chip_temp_avg(const Snapshot& s) {
    if (s.boards.empty()) return 0;
    double sum = 0;
    for (const auto& b : s.boards) sum += chip_temp_avg(b);
    return sum / static_cast<double>(s.boards.size());
}

double board_temp_max(const Snapshot& s) {
    double hi = 0;
    for (const auto& b : s.boards) hi = std::max(hi, b.pcb_temps_c[3]);
    return hi;
}

std::int64_t fan_rpm(const Snapshot& s, std::size_t i) {
    return i < s.fans_rpm.size() ? s.fans_rpm[i] : 0;
}

// The PSU fan follows load.
std::int64_t psu_fan_rpm(const Snapshot& s, const ModelSpec& model) {
    return rounded((3000.0 + 5000.0 * std::min(1.2, s.power_w / model.nominal_w)) / 8.0) * 8;
}

double avg_freq(const Snapshot& s) {
    double sum = 0;
    int n = 0;
    for (const auto& b : s.boards) {
        if (!b.alive) continue;
        sum += b.freq_mhz;
        ++n;
    }
    return n ? sum / n : 0;
}

double board_voltage(const Snapshot& s) {
    for (const auto& b : s.boards) {
        if (b.voltage_v > 0) return b.voltage_v;
    }
    return 0;
}

std::string_view power_mode(const SimMiner& m, bool lower_case) {
    const double ratio = m.physics.power_target_w() / m.model->nominal_w;
    if (ratio < 0.95) return lower_case ? "low" : "Low";
    if (ratio > 1.02) return lower_case ? "high" : "High";
    return lower_case ? "normal" : "Normal";
}

std::int64_t block_height(TimePoint now) {
    // Height 840000 was mined on 2024-04-20; one block per ten minutes since is close enough.
    return 840000 + std::max<std::int64_t>(0, (unix_seconds(now) - 1713571200) / 600);
}

// ---------------------------------------------------------------------------------------------
// Envelopes

void cg_open(JsonWriter& w, int code, std::string_view msg, TimePoint now) {
    w.begin_object();
    write_status(w, 'S', code, msg, kCgDescription, now);
}

void cg_close(JsonWriter& w) {
    w.field("id", 1);
    w.end_object();
}

// cgminer's own "Invalid command": it leaves Description out for this one code (api.c does not
// describe itself to random probes). Used for unknown members of a multi-command.
std::string cg_invalid_command(TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("STATUS");
    w.begin_array();
    w.begin_object();
    w.field("STATUS", "E");
    w.field("When", unix_seconds(now));
    w.field("Code", kCodeInvalidCommand);
    w.field("Msg", "Invalid command");
    w.end_object();
    w.end_array();
    w.field("id", 1);
    w.end_object();
    return out;
}

// The flat whatsminer envelope {"STATUS":"S","When":…,"Code":…,"Msg":…,"Description":…}; `msg`
// writes the Msg value.
template <typename F>
std::string flat_reply(char status, int code, std::string_view description, TimePoint now,
                       F&& msg) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("STATUS", std::string_view(&status, 1));
    w.field("When", unix_seconds(now));
    w.field("Code", code);
    w.key("Msg");
    msg(w);
    w.field("Description", description);
    w.end_object();
    return out;
}

std::string flat_message(char status, int code, std::string_view msg, std::string_view description,
                         TimePoint now) {
    return flat_reply(status, code, description, now, [&](JsonWriter& w) { w.value(msg); });
}

std::string flat_error(int code, std::string_view msg, TimePoint now) {
    return flat_message('E', code, msg, kFlatDescription, now);
}

std::string invalid_cmd(TimePoint now) {
    return flat_error(kCodeInvalidCommand, "invalid cmd", now);
}

// ---------------------------------------------------------------------------------------------
// cgminer-style reads

std::string summary_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const ModelSpec& model = *m.model;
    const double elapsed = static_cast<double>(std::max<std::int64_t>(1, s.elapsed_s));
    const double diff_accepted = static_cast<double>(s.accepted) * kPoolDifficulty;
    const double diff_rejected = static_cast<double>(s.rejected) * kPoolDifficulty;
    const double diff_stale = static_cast<double>(s.stale) * kPoolDifficulty;
    const double diff1 = s.work_ths_s * 1e12 / 4294967296.0;
    const double input_v = 228.75;
    std::string out;
    out.reserve(4096);  // one allocation instead of the string's doubling steps
    JsonWriter w(out);
    cg_open(w, 11, "Summary", now);
    w.key("SUMMARY");
    w.begin_array();
    w.begin_object();
    w.field("Elapsed", s.elapsed_s);
    field_fixed(w, "MHS av", s.hashrate_avg_ths * 1e6, 2);
    field_fixed(w, "MHS 5s", s.hashrate_ths * 1e6, 2);
    field_fixed(w, "MHS 1m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 5m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 15m", s.hashrate_1m_ths * 1e6, 2);
    w.field("Found Blocks", 0);
    w.field("Getworks", rounded(elapsed / 27.0));
    w.field("Accepted", s.accepted);
    w.field("Rejected", s.rejected);
    w.field("Hardware Errors", s.hw_errors);
    field_fixed(w, "Utility", static_cast<double>(s.accepted) / elapsed * 60.0, 2);
    w.field("Discarded", s.accepted * 460);
    w.field("Stale", s.stale);
    w.field("Get Failures", 0);
    w.field("Local Work", rounded(diff1 / 10.0));
    w.field("Remote Failures", 0);
    w.field("Network Blocks", s.elapsed_s / 600);
    field_fixed(w, "Total MH", s.work_ths_s * 1e6, 4);
    field_fixed(w, "Work Utility", diff1 / elapsed * 60.0, 2);
    field_fixed(w, "Difficulty Accepted", diff_accepted, 8);
    field_fixed(w, "Difficulty Rejected", diff_rejected, 8);
    field_fixed(w, "Difficulty Stale", diff_stale, 8);
    w.field("Best Share", s.accepted > 0 ? rounded(kPoolDifficulty * 1300.0) : 0);
    field_fixed(w, "Temperature", board_temp_max(s), 2);
    w.field("freq_avg", rounded(avg_freq(s)));
    w.field("Fan Speed In", fan_rpm(s, 0));
    w.field("Fan Speed Out", fan_rpm(s, 1));
    w.field("Voltage", rounded(board_voltage(s) * 100.0));
    w.field("Power", rounded(s.power_w));
    w.field("Power_RT", rounded(s.power_w));
    field_fixed(w, "Device Hardware%", hw_percent(static_cast<double>(s.hw_errors), diff1), 4);
    field_fixed(w, "Device Rejected%", diff1 > 0 ? 100.0 * diff_rejected / diff1 : 0, 4);
    field_fixed(w, "Pool Rejected%",
                diff_accepted + diff_rejected > 0
                    ? 100.0 * diff_rejected / (diff_accepted + diff_rejected)
                    : 0,
                4);
    field_fixed(
        w, "Pool Stale%",
        diff_accepted + diff_stale > 0 ? 100.0 * diff_stale / (diff_accepted + diff_stale) : 0, 4);
    w.field("Last getwork", 0);
    w.field("Uptime", s.uptime_s);
    w.field("Chip Data", "HP5A05-20043018 D02 BINV02-193005B");
    w.field("Power Current", rounded(s.power_w / 12.95 * 1000.0));
    w.field("Power Fanspeed", psu_fan_rpm(s, model));
    const auto errors = current_errors(m, s, now);
    for (std::size_t i = 0; i < errors.size(); ++i) {
        w.field("Error Code " + std::to_string(i), errors[i].code);
    }
    const auto factory = factory_errors(m);
    for (std::size_t i = 0; i < factory.size(); ++i) {
        w.field("Factory Error Code " + std::to_string(i), factory[i]);
    }
    w.field("Error Code Count", static_cast<std::int64_t>(errors.size()));
    w.field("Factory Error Code Count", static_cast<std::int64_t>(factory.size()));
    w.field("Security Mode", 0);
    w.field("Liquid Cooling", false);
    const bool stable = s.hashing && s.hashrate_1m_ths >= 0.95 * s.expected_ths;
    w.field("Hash Stable", stable);
    w.field("Hash Stable Cost Seconds", stable ? std::min<std::int64_t>(s.elapsed_s, 1500) : 0);
    field_fixed(w, "Hash Deviation%",
                s.expected_ths > 0 && s.hashing
                    ? 100.0 * (s.hashrate_1m_ths - s.expected_ths) / s.expected_ths
                    : 0,
                4);
    w.field("Target Freq", rounded(avg_freq(s)));
    w.field("Target MHS", rounded(s.expected_ths * 1e6));
    field_fixed(w, "Env Temp", s.ambient_c, 2);
    w.field("Power Mode", power_mode(m, false));
    // The firmware wraps its version in single quotes and escapes them as \' , which is not a
    // legal JSON escape: clients must repair it, as they must for the real thing.
    {
        std::string quoted;
        append_json_string(quoted, m.firmware_version);
        quoted.insert(1, "\\'");
        quoted.insert(quoted.size() - 1, "\\'");
        w.key("Firmware Version");
        w.raw(quoted);
    }
    w.field("MAC", upper(m.mac));
    w.field("Factory GHS", rounded(model.nominal_ths * 1000.0));
    w.field("Power Limit", rounded(m.control.whatsminer_power_limit_w));
    field_fixed(w, "Power Voltage Input", input_v, 2);
    field_fixed(w, "Power Current Input", s.power_w / input_v, 2);
    field_fixed(w, "Chip Temp Min", chip_temp_min(s), 2);
    field_fixed(w, "Chip Temp Max", s.chip_temp_max_c, 2);
    field_fixed(w, "Chip Temp Avg", chip_temp_avg(s), 2);
    w.end_object();
    w.end_array();
    cg_close(w);
    return out;
}

std::string devs_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const ModelSpec& model = *m.model;
    const auto boards = static_cast<double>(std::max(1, model.boards));
    std::string out;
    out.reserve(4096);
    JsonWriter w(out);
    cg_open(w, 9, std::to_string(s.boards.size()) + " ASC(s)", now);
    w.key("DEVS");
    w.begin_array();
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        const BoardSnapshot& b = s.boards[i];
        const auto id = static_cast<std::int64_t>(i);
        const double share = b.alive ? 1.0 / boards : 0.0;
        const double board_work = s.work_ths_s * share;
        const double diff1 = board_work * 1e12 / 4294967296.0;
        const auto accepted = rounded(static_cast<double>(s.accepted) * share);
        const auto rejected = rounded(static_cast<double>(s.rejected) * share);
        const double elapsed = static_cast<double>(std::max<std::int64_t>(1, s.elapsed_s));
        w.begin_object();
        w.field("ASC", id);
        w.field("Name", "SM");
        w.field("ID", id);
        w.field("Slot", id);
        w.field("Enabled", "Y");
        w.field("Status", b.alive ? "Alive" : "Dead");
        field_fixed(w, "Temperature", b.pcb_temps_c[3], 2);
        w.field("Chip Frequency", rounded(b.freq_mhz));
        w.field("Fan Speed In", fan_rpm(s, 0));
        w.field("Fan Speed Out", fan_rpm(s, 1));
        field_fixed(w, "MHS av", b.avg_hashrate_ths * 1e6, 2);
        field_fixed(w, "MHS 5s", b.hashrate_ths * 1e6, 2);
        field_fixed(w, "MHS 1m", s.hashrate_1m_ths * share * 1e6, 2);
        field_fixed(w, "MHS 5m", s.hashrate_1m_ths * share * 1e6, 2);
        field_fixed(w, "MHS 15m", s.hashrate_1m_ths * share * 1e6, 2);
        w.field("Accepted", accepted);
        w.field("Rejected", rejected);
        w.field("Hardware Errors", b.hw_errors);
        field_fixed(w, "Utility", static_cast<double>(accepted) / elapsed * 60.0, 2);
        w.field("Last Share Pool", 0);
        w.field("Last Share Time", s.hashing ? unix_seconds(now) - 7 : 0);
        field_fixed(w, "Total MH", board_work * 1e6, 4);
        w.field("Diff1 Work", rounded(diff1));
        field_fixed(w, "Difficulty Accepted", static_cast<double>(accepted) * kPoolDifficulty, 8);
        field_fixed(w, "Difficulty Rejected", static_cast<double>(rejected) * kPoolDifficulty, 8);
        field_fixed(w, "Last Share Difficulty", accepted > 0 ? kPoolDifficulty : 0, 8);
        w.field("Last Valid Work", s.hashing ? unix_seconds(now) : 0);
        field_fixed(w, "Device Hardware%", hw_percent(static_cast<double>(b.hw_errors), diff1), 4);
        field_fixed(w, "Device Rejected%",
                    diff1 > 0 ? 100.0 * static_cast<double>(rejected) * kPoolDifficulty / diff1 : 0,
                    4);
        w.field("Device Elapsed", s.elapsed_s);
        w.field("Upfreq Complete", s.hashing ? 1 : 0);
        w.field("Effective Chips", b.chips);
        char pcb_sn[32];
        std::snprintf(pcb_sn, sizeof pcb_sn, "HWSIMPCB%06u%02d", m.index % 1000000U, b.index);
        w.field("PCB SN", std::string_view(pcb_sn));
        field_fixed(w, "Chip Temp Min",
                    *std::min_element(b.chip_temps_c.begin(), b.chip_temps_c.end()), 2);
        field_fixed(w, "Chip Temp Max", b.chip_temp_max_c, 2);
        field_fixed(w, "Chip Temp Avg", chip_temp_avg(b), 2);
        w.field("chip_vol_diff", 11);
        w.end_object();
    }
    w.end_array();
    cg_close(w);
    return out;
}

std::string pools_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    cg_open(w, 7, std::to_string(m.pools.size()) + " Pool(s)", now);
    w.key("POOLS");
    w.begin_array();
    for (std::size_t i = 0; i < m.pools.size(); ++i) {
        const SimPool& p = m.pools[i];
        const bool active = i == 0;
        const std::int64_t accepted = active ? s.accepted : 0;
        const std::int64_t rejected = active ? s.rejected : 0;
        const std::int64_t stale = active ? s.stale : 0;
        std::string host = p.url;
        if (const auto sep = host.find("://"); sep != std::string::npos) host.erase(0, sep + 3);
        if (const auto colon = host.rfind(':'); colon != std::string::npos) host.erase(colon);
        w.begin_object();
        w.field("POOL", static_cast<std::int64_t>(i + 1));  // btminer numbers pools from 1
        w.field("URL", p.url);
        w.field("Status", "Alive");
        w.field("Priority", static_cast<std::int64_t>(i));
        w.field("Quota", 1);
        w.field("Long Poll", "N");
        w.field("Getworks", active ? s.elapsed_s / 27 : 0);
        w.field("Accepted", accepted);
        w.field("Rejected", rejected);
        w.field("Works", active ? rounded(s.work_ths_s * 1e12 / 4294967296.0 / 10.0) : 0);
        w.field("Discarded", 0);
        w.field("Stale", stale);
        w.field("Get Failures", 0);
        w.field("Remote Failures", 0);
        w.field("User", p.user);
        w.field("Last Share Time", active && s.hashing ? unix_seconds(now) - 7 : 0);
        w.field("Diff1 Shares", active ? rounded(s.work_ths_s * 1e12 / 4294967296.0) : 0);
        w.field("Proxy Type", "");
        w.field("Proxy", "");
        field_fixed(w, "Difficulty Accepted", static_cast<double>(accepted) * kPoolDifficulty, 8);
        field_fixed(w, "Difficulty Rejected", static_cast<double>(rejected) * kPoolDifficulty, 8);
        field_fixed(w, "Difficulty Stale", static_cast<double>(stale) * kPoolDifficulty, 8);
        field_fixed(w, "Last Share Difficulty", active ? kPoolDifficulty : 0, 8);
        field_fixed(w, "Work Difficulty", active ? kPoolDifficulty : 0, 8);
        w.field("Has Stratum", true);
        w.field("Stratum Active", active);
        w.field("Stratum URL", active ? std::string_view(host) : std::string_view());
        field_fixed(w, "Stratum Difficulty", active ? kPoolDifficulty : 0, 8);
        w.field("Has GBT", false);
        w.field("Best Share", active && accepted > 0 ? rounded(kPoolDifficulty * 1300.0) : 0);
        const auto acc = static_cast<double>(accepted);
        const auto rej = static_cast<double>(rejected);
        const auto stl = static_cast<double>(stale);
        field_fixed(w, "Pool Rejected%", acc + rej > 0 ? 100.0 * rej / (acc + rej) : 0, 4);
        field_fixed(w, "Pool Stale%", acc + stl > 0 ? 100.0 * stl / (acc + stl) : 0, 4);
        w.field("Bad Work", active ? s.elapsed_s / 30 : 0);
        w.field("Current Block Height", active ? block_height(now) : 0);
        w.field("Current Block Version", 536870912);
        w.end_object();
    }
    w.end_array();
    cg_close(w);
    return out;
}

std::string devdetails_reply(const SimMiner& m, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    cg_open(w, 69, "Device Details", now);
    w.key("DEVDETAILS");
    w.begin_array();
    const std::string model = model_code(*m.model);
    for (int i = 0; i < m.model->boards; ++i) {
        w.begin_object();
        w.field("DEVDETAILS", i);
        w.field("Name", "SM");
        w.field("ID", i);
        w.field("Driver", "bitmicro");
        w.field("Kernel", "");
        w.field("Model", model);
        w.field("Device Path", "");
        w.end_object();
    }
    w.end_array();
    cg_close(w);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Whatsminer-specific (flat envelope) reads

std::string get_version_reply(const SimMiner& m, TimePoint now) {
    return flat_reply('S', kCodeOk, kReadDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.field("api_ver", kApiVersion);
        w.field("fw_ver", m.firmware_version);
        w.field("platform", "H616");
        w.end_object();
    });
}

// The API 2.0.5 schema (apiv205_status.json). Older firmware answered {"btmineroff":…,
// "Firmware Version":…} instead (m31s_sleeping_status.json); one schema is simulated.
std::string status_reply_205(const SimMiner& m, TimePoint now) {
    const bool off = m.physics.commanded_asleep();
    return flat_reply('S', kCodeOk, kReadDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.field("FirmwareVersion", m.firmware_version);
        w.field("hash_percent", std::to_string(m.control.whatsminer_power_pct));
        w.field("mineroff", off ? "true" : "false");
        w.field("mineroff_reason", off ? "api power_off" : "");
        w.field("mineroff_time", "");
        w.field("power_limit_set", std::to_string(rounded(m.control.whatsminer_power_limit_w)));
        w.field("power_mode", power_mode(m, true));
        w.end_object();
    });
}

std::string get_token_reply(SimMiner& m, TimePoint now) {
    char time4[8];
    std::snprintf(time4, sizeof time4, "%04lld", static_cast<long long>(unix_seconds(now) % 10000));
    m.control.whatsminer_time4 = time4;
    m.control.whatsminer_newsalt = fresh_newsalt();
    m.control.whatsminer_token_issued = now;
    const std::string salt = miner_salt(m);
    return flat_reply('S', kCodeToken, kFlatDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.field("time", m.control.whatsminer_time4);
        w.field("salt", salt);
        w.field("newsalt", m.control.whatsminer_newsalt);
        w.end_object();
    });
}

std::string get_miner_info_reply(const SimMiner& m, TimePoint now) {
    return flat_reply('S', kCodeOk, kReadDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.field("ip", m.ip_text);
        w.field("proto", "dhcp");
        w.field("netmask", "255.0.0.0");
        w.field("dns", "127.0.0.1");
        w.field("mac", upper(m.mac));
        w.field("ledstat", "auto");
        w.field("gateway", "127.0.0.1");
        w.field("hostname", m.hostname);
        w.field("minersn", m.serial);
        w.end_object();
    });
}

std::string get_psu_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const double vin = 228.75;
    return flat_reply('S', kCodeOk, kReadDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.field("name", "P222B");
        w.field("hw_version", "V01.00");
        w.field("sw_version", "230208.220429");
        w.field("model", "P222B");
        w.field("iin", std::to_string(rounded(s.power_w / vin * 100.0)));
        w.field("vin", std::to_string(rounded(vin * 100.0)));
        w.field("fan_speed", std::to_string(psu_fan_rpm(s, *m.model)));
        w.field("version", "1");
        w.field("serial_no", "P222B" + m.serial.substr(std::min<std::size_t>(5, m.serial.size())));
        w.field("vendor", "1");
        w.field("temp0", fixed(s.ambient_c + 15.0 * s.power_w / m.model->nominal_w, 1));
        w.end_object();
    });
}

std::string get_error_code_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const auto errors = current_errors(m, s, now);
    return flat_reply('S', kCodeOk, kReadDescription, now, [&](JsonWriter& w) {
        w.begin_object();
        w.key("error_code");
        w.begin_array();
        for (const auto& e : errors) {
            w.begin_object();
            w.field(std::to_string(e.code), wall_clock(e.since));
            w.end_object();
        }
        w.end_array();
        w.end_object();
    });
}

// ---------------------------------------------------------------------------------------------
// The encrypted write API

std::optional<std::string> string_member(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    if (v->is_double()) return std::to_string(v->get_double());
    if (v->is_bool()) return std::string(v->get_bool() ? "true" : "false");
    return std::nullopt;
}

std::optional<long> parse_long(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (s.empty()) return std::nullopt;
    long v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

bool is_write_command(std::string_view c) {
    static constexpr std::array<std::string_view, 20> kWrites{
        "power_off",        "power_on",         "reboot",
        "restart_btminer",  "set_power_pct",    "adjust_power_limit",
        "set_low_power",    "set_normal_power", "set_high_power",
        "set_led",          "update_pools",     "update_pwd",
        "factory_reset",    "net_config",       "set_target_freq",
        "set_power_pct_v2", "set_hostname",     "set_zone",
        "download_logs",    "update_firmware"};
    return std::find(kWrites.begin(), kWrites.end(), c) != kWrites.end();
}

// Runs one decrypted write command; returns the plaintext reply (the caller encrypts it).
std::string run_write(SimMiner& m, const boost::json::object& cmd, std::string_view name,
                      TimePoint now) {
    auto ok = [&] { return flat_message('S', kCodeOk, "", kFlatDescription, now); };
    auto command_error = [&] {
        return flat_message('E', kCodeCommandError, "command error", kFlatDescription, now);
    };
    const double limit = m.control.whatsminer_power_limit_w > 0 ? m.control.whatsminer_power_limit_w
                                                                : m.model->max_power_w;
    if (name == "power_off") {
        // respbefore only decides whether btminer answers before or after cutting the boards;
        // the reply is the same.
        if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
        return ok();
    }
    if (name == "power_on") {
        m.wake(now);
        return ok();
    }
    if (name == "reboot" || name == "restart_btminer") {
        // restart_btminer only restarts the daemon; the physics model has one restart kind.
        m.physics.reboot(now);
        if (m.control.whatsminer_power_pct != 100) {
            // set_power_pct is temporary: a restart goes back to the normal target.
            m.control.whatsminer_power_pct = 100;
            m.physics.set_power_target(now, std::min(m.model->nominal_w, limit));
        }
        return ok();
    }
    if (name == "set_power_pct") {
        const auto pct = string_member(cmd, "percent");
        const auto v = pct ? parse_long(*pct) : std::nullopt;
        if (!v || *v < 0 || *v > 100) return command_error();
        m.control.whatsminer_power_pct = static_cast<int>(*v);
        m.physics.set_power_target(now, limit * static_cast<double>(*v) / 100.0);
        return ok();
    }
    if (name == "adjust_power_limit") {
        const auto pl = string_member(cmd, "power_limit");
        const auto v = pl ? parse_long(*pl) : std::nullopt;
        // The limit cannot exceed what the model is rated for.
        if (!v || *v <= 0 || static_cast<double>(*v) > m.model->max_power_w) return command_error();
        m.control.whatsminer_power_limit_w = static_cast<double>(*v);
        m.control.whatsminer_power_pct = 100;
        // The real miner restarts to apply a new limit; the reply goes out first.
        m.physics.reboot(now);
        m.physics.set_power_target(now, static_cast<double>(*v));
        return ok();
    }
    if (name == "set_low_power" || name == "set_normal_power" || name == "set_high_power") {
        const double nominal = m.model->nominal_w;
        const double target = name == "set_low_power"    ? 0.85 * nominal
                              : name == "set_high_power" ? 1.10 * nominal
                                                         : nominal;
        m.physics.set_power_target(now, std::min(target, limit));
        return ok();
    }
    // The LED and the network settings are not simulated; the miner accepts them.
    if (name == "set_led" || name == "net_config") return ok();
    if (name == "factory_reset") {
        // Settings are not simulated beyond the restart a reset ends with.
        m.physics.reboot(now);
        return ok();
    }
    if (name == "update_pwd") {
        const auto old_pwd = string_member(cmd, "old");
        const auto new_pwd = string_member(cmd, "new");
        // WhatsMinerTool allows at most 8 characters; MD5-crypt cannot take a NUL.
        if (!old_pwd || !new_pwd || !m.password_ok(*old_pwd) || new_pwd->empty() ||
            new_pwd->size() > 8 || new_pwd->find('\0') != std::string::npos) {
            return command_error();
        }
        m.password = *new_pwd;
        return ok();
    }
    if (name == "update_pools") {
        std::vector<SimPool> pools;
        for (int i = 1; i <= 3; ++i) {
            const auto url = string_member(cmd, "pool" + std::to_string(i));
            if (!url || url->empty()) continue;
            pools.push_back({*url, string_member(cmd, "worker" + std::to_string(i)).value_or("")});
        }
        if (pools.empty()) return command_error();
        m.pools = std::move(pools);
        return ok();
    }
    return flat_message('E', kCodeInvalidCommand, "invalid cmd", kFlatDescription, now);
}

std::string handle_encrypted(SimMiner& m, const boost::json::object& request, TimePoint now) {
    const auto* data = request.if_contains("data");
    if (!data || !data->is_string())
        return flat_error(kCodeBase64Error, "base64 decode error", now);
    if (m.control.whatsminer_newsalt.empty()) {
        return flat_error(kCodeTokenError, "check token error", now);
    }
    if (now - m.control.whatsminer_token_issued > kTokenLifetime) {
        return flat_error(kCodeTokenError, "expired token", now);
    }
    // After a password change the miner's keys come from a password the client does not have:
    // nothing it sends can decrypt to a valid command.
    if (!m.password_ok(m.password)) return flat_error(kCodeTokenError, "check token error", now);
    btminer::WriteKeys keys;
    try {
        keys = btminer::derive_write_keys(
            m.password, btminer::TokenMaterial{m.control.whatsminer_time4, miner_salt(m),
                                               m.control.whatsminer_newsalt});
    } catch (const std::exception&) {
        return flat_error(kCodeTokenError, "check token error", now);
    }
    const auto plain = btminer::decrypt_payload(keys.aes_key, data->get_string());
    if (!plain) return flat_error(kCodeBase64Error, "base64 decode error", now);
    boost::system::error_code ec;
    const auto parsed = boost::json::parse(*plain, ec);
    // A client with the wrong password derives the wrong AES key: its ciphertext decrypts to
    // bytes that are not JSON, and its token does not match either.
    if (ec || !parsed.is_object()) return flat_error(kCodeTokenError, "check token error", now);
    const auto& cmd = parsed.get_object();
    const auto token = string_member(cmd, "token");
    if (!token || !crypto::constant_time_equal(*token, keys.sign)) {
        return flat_error(kCodeTokenError, "check token error", now);
    }
    auto name = string_member(cmd, "cmd");
    if (!name) name = string_member(cmd, "command");
    const std::string reply = run_write(m, cmd, name.value_or(""), now);
    return btminer::make_encrypted_reply(keys.aes_key, reply);
}

// ---------------------------------------------------------------------------------------------

bool is_cg_read(std::string_view c) {
    return c == "summary" || c == "pools" || c == "devs" || c == "edevs" || c == "devdetails";
}

std::string cg_read(const SimMiner& m, std::string_view c, TimePoint now) {
    if (c == "devdetails") return devdetails_reply(m, now);
    const Snapshot s = m.physics.snapshot(now, m.faults);
    if (c == "summary") return summary_reply(m, s, now);
    if (c == "pools") return pools_reply(m, s, now);
    return devs_reply(m, s, now);  // devs and edevs answer alike
}

std::string dispatch(SimMiner& m, const RpcRequest& req, TimePoint now) {
    if (!req.json) return flat_error(kCodeInvalidJson, "invalid json message", now);
    if (req.command.empty()) {
        boost::system::error_code ec;
        const auto v = boost::json::parse(req.raw, ec);
        if (ec || !v.is_object()) return flat_error(kCodeInvalidJson, "invalid json message", now);
        const auto& o = v.get_object();
        if (o.contains("enc")) return handle_encrypted(m, o, now);
        return invalid_cmd(now);
    }
    const std::string_view c = req.command;
    if (c.find('+') != std::string_view::npos) {
        // Only the cgminer-style reads join; btminer hands the rest of a join to its cgminer
        // core, which knows no get_*/status and answers each with its own Invalid command.
        return *join_multi_command(c, [&](std::string_view part) {
            return is_cg_read(part) ? cg_read(m, part, now) : cg_invalid_command(now);
        });
    }
    if (is_cg_read(c)) return cg_read(m, c, now);
    if (c == "get_version") return get_version_reply(m, now);
    if (c == "status") return status_reply_205(m, now);
    if (c == "get_token") return get_token_reply(m, now);
    if (c == "get_miner_info") return get_miner_info_reply(m, now);
    if (c == "get_psu") return get_psu_reply(m, m.physics.snapshot(now, m.faults), now);
    if (c == "get_error_code") {
        return get_error_code_reply(m, m.physics.snapshot(now, m.faults), now);
    }
    // Writes only exist in ciphertext.
    if (is_write_command(c)) return flat_error(kCodePermissionDenied, "permission denied", now);
    return invalid_cmd(now);
}

class WhatsminerFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        try {
            return {dispatch(m, req, now)};
        } catch (const std::exception&) {
            // Never let a request take the simulator down; btminer answers oddities this way.
            return {invalid_cmd(now)};
        }
    }
};

}  // namespace

const Frontend& whatsminer_frontend() {
    static const WhatsminerFrontend f;
    return f;
}

}  // namespace hashwatt::sim
