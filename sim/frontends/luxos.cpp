// LuxOS (LUXminer) front-end: cgminer-style RPC on TCP 4028 plus LUXminer's own commands,
// one-at-a-time sessions for every write, and frequency profiles as the only power knob. The web
// root only has to identify the firmware ("Luxor Firmware"), so it is the only HTTP route.
//
// Shapes follow tests/fixtures/luxos (S19k Pro, LUXminer 2025.4.8) and the command examples of
// docs.luxor.tech (logon 316, session 319, curtail 335, profileset 321, atm 339, atmset 340).
// Codes and messages no source shows are marked "guessed" where they are written.
#include "sim/cgminer.hpp"
#include "sim/frontends/frontends.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

constexpr std::string_view kBuildSuffix = "-57b389c7";  // the capture's build hash
constexpr std::string_view kCompileTime = "Tue Apr  8 22:05:35 UTC 2025";
constexpr std::string_view kEventDocs =
    "https://docs.luxor.tech/firmware/kb/eventstroubleshooting#";
// LUXminer drops a session after a minute without use (docs.luxor.tech, "Sessions").
constexpr Duration kSessionIdle = std::chrono::seconds(60);
// Every share is worth the pool difficulty the capture shows (32K).
constexpr std::int64_t kShareDifficulty = 32768;

// Profiles: LuxOS builds 16 under-clocking and 8 over-clocking steps of 25 MHz around the
// EEPROM default (docs.luxor.tech, "Preset Profiles"); the capture's S19k Pro default is 590 MHz.
constexpr int kDefaultFreqMhz = 590;
constexpr int kStepMhz = 25;
constexpr int kUnderSteps = 16;
constexpr int kOverSteps = 8;
constexpr std::string_view kDefaultProfile = "default";

// ---------------------------------------------------------------------------------------------
// Number formatting: LUXminer prints float fields with a decimal point even when integral.

std::string real_text(double v) {
    if (!std::isfinite(v)) v = 0;
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string s(buf, r.ptr);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

std::string fixed_text(double v, int decimals) { return format_fixed(v, decimals); }

void real(JsonWriter& w, std::string_view key, double v) {
    w.key(key);
    w.raw(real_text(v));
}

// A float rounded to `decimals` places, still printed in its shortest form ("12.0", "121.8").
void rounded(JsonWriter& w, std::string_view key, double v, int decimals) {
    const double scale = std::pow(10.0, decimals);
    real(w, key, std::round(v * scale) / scale);
}

std::int64_t whole(double v) { return std::isfinite(v) ? std::llround(v) : 0; }

std::string iso8601(TimePoint t) {
    const std::time_t secs = static_cast<std::time_t>(unix_seconds(t));
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buf;
}

std::string description(const SimMiner& m) {
    return "LUXminer " + m.firmware_version + std::string(kBuildSuffix);
}

// ---------------------------------------------------------------------------------------------
// Profiles

struct Profile {
    std::string name;
    int frequency_mhz = 0;
    int step = 0;
    double hashrate_ths = 0;
    double watts = 0;
    double voltage_v = 0;
};

// The 25 built-in profiles. Hash rate scales with frequency; the power is the model's own
// curve (sim/physics.cpp: TH/s = nominal * (W / nominal W)^0.75) solved for watts, so that a
// miner set to a profile hashes what the profile promises. Profiles below or above the model's
// power range exist as on real LuxOS; the physics clamps them to what the model can do.
std::vector<Profile> build_profiles(const ModelSpec& model) {
    std::vector<Profile> out;
    out.reserve(kUnderSteps + kOverSteps + 1);
    for (int step = -kUnderSteps; step <= kOverSteps; ++step) {
        Profile p;
        p.step = step;
        p.frequency_mhz = kDefaultFreqMhz + step * kStepMhz;
        const double ratio = static_cast<double>(p.frequency_mhz) / kDefaultFreqMhz;
        p.name = step == 0 ? std::string(kDefaultProfile) : std::to_string(p.frequency_mhz) + "MHz";
        p.hashrate_ths = std::round(model.nominal_ths * ratio * 10.0) / 10.0;
        p.watts = std::round(model.nominal_w * std::pow(ratio, 1.0 / 0.75));
        // 0.15 V per step from 13.5 V, floored at 11.88 V: the capture's S19k Pro table.
        p.voltage_v = std::round(std::max(11.88, 13.5 + 0.15 * step) * 100.0) / 100.0;
        out.push_back(std::move(p));
    }
    return out;
}

// Built once per model of the table: stats, devs and config all need it on every poll.
const std::vector<Profile>& profiles(const ModelSpec& model) {
    static const std::vector<std::vector<Profile>> table = [] {
        std::vector<std::vector<Profile>> t;
        for (const auto& spec : all_models()) t.push_back(build_profiles(spec));
        return t;
    }();
    const auto models = all_models();
    const std::less<const ModelSpec*> before;
    if (!before(&model, models.data()) && before(&model, models.data() + models.size())) {
        return table[static_cast<std::size_t>(&model - models.data())];
    }
    // A model outside the table (tests may make one): built once and kept, so references stay.
    static std::mutex mutex;
    static std::map<const ModelSpec*, std::vector<Profile>> others;
    const std::lock_guard lock(mutex);
    auto it = others.find(&model);
    if (it == others.end()) it = others.emplace(&model, build_profiles(model)).first;
    return it->second;
}

// The profile a miner runs before anyone chose one: the one nearest its nominal power.
std::string default_profile_name(const ModelSpec& model) {
    const auto& all = profiles(model);
    const auto best = std::min_element(all.begin(), all.end(), [&](const auto& a, const auto& b) {
        return std::abs(a.watts - model.nominal_w) < std::abs(b.watts - model.nominal_w);
    });
    return best->name;
}

std::string active_profile(const SimMiner& m) {
    return m.control.luxos_profile.empty() ? default_profile_name(*m.model)
                                           : m.control.luxos_profile;
}

const Profile* find_profile(const std::vector<Profile>& all, std::string_view name) {
    for (const auto& p : all) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Sessions: one at a time, dropped after kSessionIdle without use.

bool session_open(SimMiner& m, TimePoint now) {
    if (m.control.luxos_session.empty()) return false;
    if (now - m.control.luxos_session_used > kSessionIdle) {
        m.control.luxos_session.clear();
        return false;
    }
    return true;
}

std::string new_session_id(const SimMiner& m, TimePoint now) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::uint64_t x = (static_cast<std::uint64_t>(m.index) + 1) * 0x9E3779B97F4A7C15ULL ^
                      static_cast<std::uint64_t>(now.time_since_epoch().count());
    std::string id;
    for (int i = 0; i < 8; ++i) {
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ULL;
        x ^= x >> 29;
        id.push_back(kAlphabet[x % kAlphabet.size()]);
    }
    return id;
}

// ---------------------------------------------------------------------------------------------
// Replies

class Reply {
  public:
    Reply(const SimMiner& m, TimePoint now) : m_(m), now_(now), w_(out_) { w_.begin_object(); }

    JsonWriter& w() { return w_; }

    void status(char letter, int code, std::string_view msg) {
        write_status(w_, letter, code, msg, description(m_), now_);
    }

    std::string finish() {
        w_.field("id", 1);
        w_.end_object();
        return std::move(out_);
    }

  private:
    const SimMiner& m_;
    TimePoint now_;
    std::string out_;
    JsonWriter w_;
};

std::string status_only(const SimMiner& m, TimePoint now, char letter, int code,
                        std::string_view msg) {
    return status_reply(letter, code, msg, description(m), now);
}

// Per-board share counts: the miner's total split evenly over the boards that hash.
struct Shares {
    std::int64_t accepted = 0;
    std::int64_t rejected = 0;
};

Shares board_shares(const Snapshot& s, const BoardSnapshot& b) {
    int alive = 0;
    for (const auto& bb : s.boards) alive += bb.alive ? 1 : 0;
    if (!b.alive || alive == 0) return {};
    return {s.accepted / alive, s.rejected / alive};
}

std::string temps_text(const std::array<double, 4>& t) {
    // LuxOS order: exhaust top, intake top, intake bottom, exhaust bottom ("47-34-34-47").
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lld-%lld-%lld-%lld", static_cast<long long>(whole(t[3])),
                  static_cast<long long>(whole(t[0])), static_cast<long long>(whole(t[1])),
                  static_cast<long long>(whole(t[2])));
    return buf;
}

std::string chips_text(int chips, int expected) {
    // " oooo oooo ... o": one letter per chip in groups of four, 'x' for a missing chip.
    std::string out;
    for (int i = 0; i < expected; ++i) {
        if (i % 4 == 0) out.push_back(' ');
        out.push_back(i < chips ? 'o' : 'x');
    }
    return out;
}

std::string mac_compact(std::string_view mac) {
    std::string out;
    for (char c : mac) {
        if (c != ':') out.push_back(c);
    }
    return out;
}

std::string subnet_host(std::string_view ip, std::string_view last) {
    const auto dot = ip.rfind('.');
    return std::string(ip.substr(0, dot == std::string_view::npos ? 0 : dot + 1)) +
           std::string(last);
}

std::string version_reply(const SimMiner& m, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 22, "LUXminer versions");
    w.key("VERSION");
    w.begin_array();
    w.begin_object();
    w.field("API", "3.7");
    w.field("CompileTime", kCompileTime);
    w.field("LUXminer", m.firmware_version + std::string(kBuildSuffix));
    w.field("Miner", m.firmware_version);
    w.field("Type", m.model->name);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string summary_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 11, "Summary");
    const double minutes = std::max(1.0, static_cast<double>(s.elapsed_s) / 60.0);
    const std::int64_t shares = s.accepted + s.rejected + s.stale;
    w.key("SUMMARY");
    w.begin_array();
    w.begin_object();
    w.field("Elapsed", s.elapsed_s);
    rounded(w, "GHS 5s", s.hashrate_ths * 1e3, 2);
    rounded(w, "GHS av", s.hashrate_avg_ths * 1e3, 2);
    rounded(w, "GHS 1m", s.hashrate_1m_ths * 1e3, 2);
    rounded(w, "GHS 5m", s.hashrate_1m_ths * 1e3, 2);
    rounded(w, "GHS 15m", s.hashrate_1m_ths * 1e3, 2);
    rounded(w, "GHS 30m", s.hashrate_1m_ths * 1e3, 2);
    rounded(w, "GHS 24h", s.hashrate_avg_ths * 1e3, 2);
    w.field("Found Blocks", 0);
    w.field("Getworks", s.accepted / 2 + 1);
    w.field("Accepted", s.accepted);
    w.field("Rejected", s.rejected);
    w.field("Hardware Errors", s.hw_errors);
    rounded(w, "Utility", static_cast<double>(s.accepted) / minutes, 2);
    w.field("Discarded", 0);
    w.field("Stale", s.stale);
    w.field("Get Failures", 0);
    w.field("Local Work", 0);
    w.field("Remote Failures", 0);
    w.field("Network Blocks", 0);
    real(w, "Total MH", s.work_ths_s * 1e6);
    rounded(w, "Work Utility",
            static_cast<double>(s.accepted * kShareDifficulty) / minutes / 65536.0, 2);
    w.field("Difficulty Accepted", s.accepted * kShareDifficulty);
    w.field("Difficulty Rejected", s.rejected * kShareDifficulty);
    w.field("Difficulty Stale", s.stale * kShareDifficulty);
    w.field("Best Share", s.accepted > 0 ? kShareDifficulty : 0);
    real(w, "Device Hardware%", 0.0);
    real(w, "Device Rejected%", 0.0);
    rounded(w, "Pool Rejected%",
            shares > 0 ? 100.0 * static_cast<double>(s.rejected) / static_cast<double>(shares) : 0,
            4);
    rounded(w, "Pool Stale%",
            shares > 0 ? 100.0 * static_cast<double>(s.stale) / static_cast<double>(shares) : 0, 4);
    w.field("Last getwork", unix_seconds(now));
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string stats_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const ModelSpec& model = *m.model;
    const auto& all = profiles(model);
    const Profile* prof = find_profile(all, active_profile(m));
    const double freq = s.hashing && prof ? prof->frequency_mhz : 0.0;
    // LUXminer lays out four chain slots on three-board machines, the fourth empty.
    const int slots = std::max(4, model.boards);
    const int fan_slots = std::max(4, model.first_fan_slot - 1 + model.fans);

    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 70, "LUXminer stats");
    w.key("STATS");
    w.begin_array();
    w.begin_object();
    w.field("CompileTime", kCompileTime);
    w.field("Miner", m.firmware_version);
    w.field("Type", model.name);
    w.end_object();

    w.begin_object();
    w.field("STATS", 0);
    w.field("ID", "BTM_SOC0");
    w.field("Elapsed", s.elapsed_s);
    w.field("Calls", 0);
    w.field("Wait", 0);
    w.field("Max", 0);
    w.field("Min", 99999999);
    rounded(w, "GHS 5s", s.hashrate_ths * 1e3, 2);
    rounded(w, "GHS av", s.hashrate_avg_ths * 1e3, 2);
    rounded(w, "rate_30m", s.hashrate_1m_ths * 1e3, 2);
    w.field("Mode", 2);
    w.field("miner_count", model.boards);
    w.field("frequency", whole(freq));
    w.field("fan_num", model.fans);
    for (int slot = 1; slot <= fan_slots; ++slot) {
        const int f = slot - model.first_fan_slot;
        const std::int64_t rpm = f >= 0 && static_cast<std::size_t>(f) < s.fans_rpm.size()
                                     ? s.fans_rpm[static_cast<std::size_t>(f)]
                                     : 0;
        w.field("fan" + std::to_string(slot), rpm);
    }
    w.field("temp_num", model.boards);
    double temp_max = 0;
    for (const auto& b : s.boards) {
        const auto n = std::to_string(b.index - model.first_board_index + 1);
        real(w, "temp" + n, b.board_temp_max_c);
        temp_max = std::max(temp_max, b.board_temp_max_c);
    }
    for (const auto& b : s.boards) {
        real(w, "temp2_" + std::to_string(b.index - model.first_board_index + 1),
             b.chip_temp_max_c);
    }
    for (int slot = 1; slot <= slots; ++slot) {
        const auto i = static_cast<std::size_t>(slot - 1);
        const bool present = i < s.boards.size();
        const std::string n = std::to_string(slot);
        w.field("temp_pcb" + n, present ? temps_text(s.boards[i].pcb_temps_c) : "0-0-0-0");
        w.field("temp_chip" + n, present ? temps_text(s.boards[i].chip_temps_c) : "0-0-0-0");
        w.field("temp_pic" + n, present ? temps_text(s.boards[i].pcb_temps_c) : "0-0-0-0");
    }
    rounded(w, "total_rateideal", s.expected_ths * 1e3, 2);
    w.field("rate_unit", "GH");
    real(w, "total_freqavg", freq);
    w.field("total_acn", slots);
    // "total rate" is the mean of the chain rates on LUXminer, not the miner's total.
    rounded(w, "total rate", model.boards > 0 ? s.hashrate_avg_ths * 1e3 / model.boards : 0.0, 2);
    real(w, "temp_max", temp_max);
    w.field("no_matching_work", 0);
    for (int slot = 1; slot <= slots; ++slot) {
        const auto i = static_cast<std::size_t>(slot - 1);
        const bool present = i < s.boards.size();
        const std::string n = std::to_string(slot);
        w.field("chain_acn" + n, present ? s.boards[i].chips : 0);
        w.field("chain_acs" + n,
                present ? chips_text(s.boards[i].chips, s.boards[i].expected_chips) : "");
        w.field("chain_hw" + n, present ? s.boards[i].hw_errors : 0);
        // The board's average since start in GH/s, as a string (EXPECTED.md: not the 5 s rate).
        w.field("chain_rate" + n,
                present ? fixed_text(s.boards[i].avg_hashrate_ths * 1e3, 2) : std::string("0"));
        real(w, "freq" + n, present && s.boards[i].alive ? freq : 0.0);
    }
    w.field("miner_version", m.firmware_version);
    w.field("miner_id", mac_compact(m.mac));
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string devs_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    const ModelSpec& model = *m.model;
    const std::string profile = active_profile(m);
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 9, std::to_string(s.boards.size()) + " ASC(s)");
    w.key("DEVS");
    w.begin_array();
    // LUXminer lists its boards in no particular order (the capture: 2, 0, 1); rotate so the
    // last board comes first and a driver that assumes ID order gets caught.
    const std::size_t n = s.boards.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (k + n - 1) % n;
        const BoardSnapshot& b = s.boards[i];
        const auto sh = board_shares(s, b);
        const std::int64_t elapsed = s.elapsed_s;
        const double total_mh = b.avg_hashrate_ths * 1e6 * static_cast<double>(elapsed);
        w.begin_object();
        w.field("ASC", static_cast<std::int64_t>(i));
        w.field("Name", "");
        w.field("ID", static_cast<std::int64_t>(i));
        w.field("Enabled", "Y");
        w.field("Status", b.alive ? "Alive" : "Dead");
        real(w, "Temperature", b.board_temp_max_c);
        real(w, "MHS av", b.avg_hashrate_ths * 1e6);
        real(w, "MHS 5s", b.hashrate_ths * 1e6);
        const double per_board_1m =
            b.alive && model.boards > 0 ? s.hashrate_1m_ths * 1e6 / model.boards : 0.0;
        real(w, "MHS 1m", per_board_1m);
        real(w, "MHS 5m", per_board_1m);
        real(w, "MHS 15m", per_board_1m);
        real(w, "MHS 30m", per_board_1m);
        real(w, "MHS 60m", b.avg_hashrate_ths * 1e6);
        w.field("Accepted", sh.accepted);
        w.field("Rejected", sh.rejected);
        w.field("Hardware Errors", b.hw_errors);
        w.field("Utility", 0);
        w.field("Last Share Pool", sh.accepted > 0 ? 0 : -1);
        w.field("Last Share Time", sh.accepted > 0 ? unix_seconds(now) : 0);
        real(w, "Total MH", total_mh);
        w.field("Diff1 Work", (sh.accepted + sh.rejected) * kShareDifficulty);
        w.field("Difficulty Accepted", sh.accepted * kShareDifficulty);
        w.field("Difficulty Rejected", sh.rejected * kShareDifficulty);
        w.field("Last Share Difficulty", sh.accepted > 0 ? kShareDifficulty : 0);
        w.field("Last Valid Work", sh.accepted > 0 ? unix_seconds(now) : 0);
        w.field("Device Hardware%", 0);
        w.field("Device Rejected%", 0);
        w.field("Device Elapsed", elapsed);
        w.field("Hardware Error MHS 15m", 0);
        real(w, "Nominal MHS", std::round(b.ideal_ths * 1e6));
        w.field("Board", "BHB56903");
        w.field("Connector", "J" + std::to_string(7 + i));
        w.field("SerialNumber", m.serial + "B" + std::to_string(i));
        w.field("ControllerIPVersionHex", "0x18351835");
        w.field("ControllerIPVersionStr", "N/A");
        w.field("Profile", profile);
        w.field("IsRamping", false);
        w.field("IsUserShutdown", false);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string pools_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(m, now);
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
        const std::int64_t all = accepted + rejected + stale;
        std::string stratum = p.url;
        if (const auto sep = stratum.find("://"); sep != std::string::npos)
            stratum.erase(0, sep + 3);
        w.begin_object();
        w.field("POOL", static_cast<std::int64_t>(i));
        w.field("URL", p.url);
        w.field("Status", i == 0 ? "Alive" : "Dead");
        w.field("Priority", static_cast<std::int64_t>(i));
        real(w, "Quota", 1.0);
        w.field("Long Pool", "N");  // sic: LUXminer's spelling of cgminer's "Long Poll"
        w.field("Getworks", i == 0 ? accepted / 2 + 1 : 0);
        w.field("Accepted", accepted);
        w.field("Rejected", rejected);
        w.field("Works", 0);
        w.field("Discarded", 0);
        w.field("Stale", stale);
        w.field("Get Failures", 0);
        w.field("Remote Failures", 0);
        w.field("User", p.user);
        w.field("Last Share Time", accepted > 0 ? "00:00:01" : "00:00:00");
        w.field("Diff1 Shares", (accepted + rejected) * kShareDifficulty);
        w.field("Proxy Type", "");
        w.field("Proxy", "");
        w.field("Difficulty Accepted", accepted * kShareDifficulty);
        w.field("Difficulty Rejected", rejected * kShareDifficulty);
        w.field("Difficulty Stale", stale * kShareDifficulty);
        w.field("Last Share Difficulty", accepted > 0 ? kShareDifficulty : 0);
        w.field("Work Difficulty", active ? kShareDifficulty : 0);
        w.field("Has Stratum", true);
        w.field("Stratum Active", active);
        w.field("Stratum URL", stratum);
        w.field("Stratum Difficulty", active ? kShareDifficulty : 0);
        w.field("Has Vmask", true);
        w.field("Has GBT", false);
        w.field("Best Share", accepted > 0 ? kShareDifficulty : 0);
        rounded(w, "Pool Rejected%",
                all > 0 ? 100.0 * static_cast<double>(rejected) / static_cast<double>(all) : 0, 4);
        rounded(w, "Pool Stale%",
                all > 0 ? 100.0 * static_cast<double>(stale) / static_cast<double>(all) : 0, 4);
        w.field("Bad Work", 0);
        w.field("Current Block Height", 0);
        w.field("Current Block Version", active ? 536870912 : 0);
        w.field("AsicBoost", true);
        w.field("Diff", active ? "32K" : "0");
        w.field("GROUP", 0);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string config_reply(const SimMiner& m, TimePoint now) {
    const ModelSpec& model = *m.model;
    const auto& all = profiles(model);
    const std::string profile = active_profile(m);
    const Profile* prof = find_profile(all, profile);
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 33, "LUXminer config");
    w.key("CONFIG");
    w.begin_array();
    w.begin_object();
    w.field("ASC Count", model.boards);
    w.field("PGA Count", 0);
    w.field("Pool Count", static_cast<std::int64_t>(m.pools.size()));
    w.field("Strategy", "Failover");
    w.field("Log Interval", 0);
    w.field("Device Code", "");
    w.field("OS", "LuxOS");
    w.field("Hotplug", "None");
    w.field("Model", model.name);
    w.field("SerialNumber", m.serial);
    w.field("MACAddr", m.mac);
    w.field("Hostname", m.hostname);
    w.field("IPAddr", m.ip_text);
    w.field("Netmask", "255.255.255.0");
    w.field("Gateway", subnet_host(m.ip_text, "1"));
    w.field("BcastAddr", subnet_host(m.ip_text, "255"));
    w.field("DNS Servers", "");
    w.field("DHCP", true);
    w.field("ControlBoardType", "cvitek");
    w.field("Cooling", "Air");
    w.field("ImmersionMode", false);
    w.field("Profile", profile);
    w.field("ProfileStep", std::to_string(prof ? prof->step : 0));
    w.field("IsAtmEnabled", m.control.luxos_atm_enabled);
    w.field("IsTuning", false);
    // "None" while mining is what the capture shows; "Sleep" while curtailed is modelled on the
    // curtail command's vocabulary, no capture of a sleeping LuxOS has been found.
    w.field("CurtailMode", m.physics.commanded_asleep() ? "Sleep" : "None");
    w.field("IsPowerSupplyOn", !m.physics.commanded_asleep());
    w.field("IsSingleVoltage", true);
    rounded(w, "NameplateTHS", model.nominal_ths, 1);
    w.field("PSULabel", "APW121215e");
    w.field("PSUHwVersion", "75");
    w.field("FPGABuildIdHex", "0x18351835");
    w.field("FPGABuildIdStr", "2018-35-18 35:00");
    w.field("FeeStatus", "Ok");
    w.field("SystemStatus", "Normal");
    w.field("RedLed", "auto");
    w.field("GreenLed", "auto");
    w.field("LogFileLevel", "info");
    w.field("UpdateOnStartup", "off");
    w.field("UpdateOnTimeout", "off");
    w.field("UpdateOnUser", "full");
    w.field("UpdateSource", "https://storage.googleapis.com/luxor-firmware/stable");
    w.field("UpdateTimeout", 60);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string fans_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 202, std::to_string(s.fans_rpm.size()) + " Fan(s)");
    w.key("FANS");
    w.begin_array();
    // The capture labels its four fans FAN4, FAN2, FAN1, FAN3 in ID order; keep those labels.
    // The RPMs follow the IDs, not the labels: the capture's FANS in ID order read 1920, 1920,
    // 2340, 2340, exactly its stats fan1..fan4 (by label they would read 2340, 1920, 2340, 1920).
    static constexpr std::array<int, 4> kFourFanLabel{3, 1, 0, 2};
    for (std::size_t id = 0; id < s.fans_rpm.size(); ++id) {
        const std::size_t label =
            s.fans_rpm.size() == 4 ? static_cast<std::size_t>(kFourFanLabel[id]) : id;
        w.begin_object();
        w.field("ID", static_cast<std::int64_t>(id));
        w.field("FAN", "FAN" + std::to_string(label + 1));
        w.field("RPM", s.fans_rpm[id]);
        w.field("Speed", s.fan_pwm_pct);
        w.end_object();
    }
    w.end_array();
    w.key("FANCTRL");
    w.begin_array();
    w.begin_object();
    w.field("MinFans", std::max(1, m.model->fans - 1));
    w.field("PowerOffSpeed", 20);
    w.end_object();
    w.end_array();
    return r.finish();
}

void sensor_label(JsonWriter& w, std::string_view key, std::string_view label, int row, int col) {
    w.key(key);
    w.begin_object();
    w.field("Label", label);
    w.key("Position");
    w.begin_array();
    w.value(row);
    w.value(col);
    w.end_array();
    w.end_object();
}

std::string temps_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 201, std::to_string(s.boards.size()) + " Temp(s)");
    w.key("TEMPS");
    w.begin_array();
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        const auto& t = s.boards[i].pcb_temps_c;  // physics order: inlet ... outlet
        w.begin_object();
        w.field("ID", static_cast<std::int64_t>(i));
        w.field("TEMP", static_cast<std::int64_t>(i));
        real(w, "TopLeft", t[3]);
        real(w, "TopRight", t[0]);
        real(w, "BottomLeft", t[2]);
        real(w, "BottomRight", t[1]);
        w.end_object();
    }
    w.end_array();
    w.key("METADATA");
    w.begin_array();
    w.begin_object();
    sensor_label(w, "TopLeft", "Board Exhaust (top)", 0, 0);
    sensor_label(w, "TopRight", "Board Intake (top)", 0, 1);
    sensor_label(w, "BottomLeft", "Board Exhaust (bottom)", 1, 0);
    sensor_label(w, "BottomRight", "Board Intake (bottom)", 1, 1);
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string power_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 311, "Power usage");
    w.key("POWER");
    w.begin_array();
    w.begin_object();
    w.field("Watts", whole(s.power_w));
    w.field("PSU", false);  // an estimate, not PSU telemetry, as on the capture's S19k Pro
    w.end_object();
    w.end_array();
    return r.finish();
}

std::string profiles_reply(const SimMiner& m, TimePoint now) {
    const auto& all = profiles(*m.model);
    const std::string active = active_profile(m);
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 323, "List profiles");
    w.key("PROFILES");
    w.begin_array();
    for (const auto& p : all) {
        w.begin_object();
        w.field("Profile Name", p.name);
        w.field("Frequency", p.frequency_mhz);
        rounded(w, "Hashrate", p.hashrate_ths, 1);
        w.field("Watts", whole(p.watts));
        real(w, "Voltage", p.voltage_v);
        w.field("Step", std::to_string(p.step));
        w.field("IsTuned", p.name == active);
        w.field("IsDynamic", true);
        w.field("CanRestore", true);
        w.field("HasOverrides", false);
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string atm_reply(const SimMiner& m, TimePoint now) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 339, "ATM configuration values");
    w.key("ATM");
    w.begin_array();
    w.begin_object();
    w.field("Enabled", m.control.luxos_atm_enabled);
    w.field("StartupMinutes", 1);
    w.field("PostRampMinutes", 1);
    real(w, "TempWindow", 3.0);
    w.field("MinProfile", "");
    w.field("MaxProfile", kDefaultProfile);
    w.end_object();
    w.end_array();
    return r.finish();
}

struct Event {
    std::string_view code;
    std::string_view text;
    std::string_view target;
    int board = -1;  // BOARD events carry the board's ID
    TimePoint since;
};

std::string doc_anchor(std::string_view code) {
    std::string out(kEventDocs);
    for (char c : code) {
        out.push_back(c == '_' ? '-'
                               : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return out;
}

std::string events_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    // The documented event codes for what the simulator can be in; miner-wide events first.
    std::vector<Event> events;
    if (s.state == SimState::sleeping)
        events.push_back({"SLEEP", "Miner is in Sleep mode.", "MINER", -1, now});
    if (s.state == SimState::protecting) {
        events.push_back(
            {"OVERTEMP_PROTECTION", "Board overtemp protection triggered.", "MINER", -1,
             m.faults.has(FaultKind::overheating) ? m.faults.since(FaultKind::overheating) : now});
    }
    if (m.faults.has(FaultKind::fan_failure)) {
        events.push_back(
            {"FAN_FAILURE", "Fan failure.", "MINER", -1, m.faults.since(FaultKind::fan_failure)});
    }
    for (std::size_t i = 0; i < s.boards.size(); ++i) {
        if (!s.boards[i].alive) {
            events.push_back({"REBOOT_NOT_HASHING", "Board reboot due to it not hashing.", "BOARD",
                              static_cast<int>(i), now});
        }
    }
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', 357, "Miner Events");
    w.key("EVENTS");
    w.begin_array();
    for (const auto& e : events) {
        w.begin_object();
        w.field("Code", e.code);
        w.field("Description", e.text);
        w.field("Target", e.target);
        if (e.board >= 0) w.field("ID", e.board);
        w.field("CreatedAt", iso8601(e.since));
        w.field("DocUrl", doc_anchor(e.code));
        w.end_object();
    }
    w.end_array();
    return r.finish();
}

std::string session_section(const SimMiner& m, TimePoint now, int code, std::string_view msg,
                            std::string_view sid) {
    Reply r(m, now);
    auto& w = r.w();
    r.status('S', code, msg);
    w.key("SESSION");
    w.begin_array();
    w.begin_object();
    w.field("SessionID", sid);
    w.end_object();
    w.end_array();
    return r.finish();
}

// ---------------------------------------------------------------------------------------------
// Dispatch

std::vector<std::string_view> split_params(std::string_view p) {
    std::vector<std::string_view> out;
    if (p.empty()) return out;
    std::size_t start = 0;
    while (true) {
        const auto comma = p.find(',', start);
        out.push_back(p.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return out;
}

class LuxosFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        RpcReply reply;
        try {
            if (req.command.empty()) {
                reply.body = malformed(m, req, now);
                return reply;
            }
            if (auto joined = join_multi_command(
                    req.command, [&](std::string_view c) { return one(m, c, {}, now); })) {
                reply.body = std::move(*joined);
                return reply;
            }
            reply.body = one(m, req.command, split_params(req.parameter), now);
        } catch (const std::exception&) {
            // Never let a surprise escape into the server: answer like a confused daemon.
            reply.body = status_only(m, now, 'E', 14, "Invalid command");
        }
        return reply;
    }

    HttpResponse http(SimMiner& m, const HttpRequest& req, TimePoint now) const override {
        if ((req.method == "GET" || req.method == "HEAD") &&
            (req.path == "/" || req.path.empty())) {
            HttpResponse r;
            r.content_type = "text/html";
            r.body =
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Luxor Firmware"
                "</title></head><body><div id=\"app\">Luxor Firmware - LuxOS</div></body></html>";
            return r;
        }
        return Frontend::http(m, req, now);
    }

    bool has_http() const override { return true; }

  private:
    static std::string malformed(const SimMiner& m, const RpcRequest& req, TimePoint now) {
        // cgminer's two envelope errors: 23 the bytes are not JSON, 24 JSON without a command.
        boost::system::error_code ec;
        const auto v = boost::json::parse(req.raw, ec);
        if (!ec && v.is_object()) return status_only(m, now, 'E', 24, "Missing JSON 'command'");
        return status_only(m, now, 'E', 23, "Invalid JSON");
    }

    // Checks the session id in params[0]; on success refreshes the session and returns "".
    // Guessed: codes 400/401 for a missing/wrong id (no capture of LUXminer refusing one).
    static std::string session_error(SimMiner& m, const std::vector<std::string_view>& params,
                                     TimePoint now) {
        if (params.empty() || params[0].empty()) {
            return status_only(m, now, 'E', 400, "Missing session id");
        }
        if (!session_open(m, now) || params[0] != m.control.luxos_session) {
            return status_only(m, now, 'E', 401, "Invalid session id");
        }
        m.control.luxos_session_used = now;
        return {};
    }

    static std::string one(SimMiner& m, std::string_view cmd,
                           const std::vector<std::string_view>& params, TimePoint now) {
        // Reads.
        if (cmd == "version") return version_reply(m, now);
        if (cmd == "config") return config_reply(m, now);
        if (cmd == "profiles") return profiles_reply(m, now);
        if (cmd == "atm") return atm_reply(m, now);
        if (cmd == "summary" || cmd == "stats" || cmd == "estats" || cmd == "devs" ||
            cmd == "edevs" || cmd == "pools" || cmd == "fans" || cmd == "temps" || cmd == "power" ||
            cmd == "events") {
            const Snapshot s = m.physics.snapshot(now, m.faults);
            if (cmd == "summary") return summary_reply(m, s, now);
            if (cmd == "stats" || cmd == "estats") return stats_reply(m, s, now);
            if (cmd == "devs" || cmd == "edevs") return devs_reply(m, s, now);
            if (cmd == "pools") return pools_reply(m, s, now);
            if (cmd == "fans") return fans_reply(m, s, now);
            if (cmd == "temps") return temps_reply(m, s, now);
            if (cmd == "power") return power_reply(m, s, now);
            return events_reply(m, s, now);
        }

        // Sessions.
        if (cmd == "session") {
            const bool open = session_open(m, now);
            return session_section(m, now, 319, "Session information",
                                   open ? std::string_view(m.control.luxos_session) : "");
        }
        if (cmd == "logon") {
            if (session_open(m, now))
                return status_only(m, now, 'E', 402, "Another session is active");
            m.control.luxos_session = new_session_id(m, now);
            m.control.luxos_session_used = now;
            return session_section(m, now, 316, "Session created", m.control.luxos_session);
        }
        if (cmd == "kill") {
            // Guessed code/message: the docs only say it force-drops the session.
            m.control.luxos_session.clear();
            return status_only(m, now, 'S', 318, "Session killed");
        }

        // Writes: the session id comes first in the parameter.
        if (cmd == "logoff" || cmd == "curtail" || cmd == "profileset" || cmd == "atmset" ||
            cmd == "rebootdevice" || cmd == "resetminer") {
            if (auto err = session_error(m, params, now); !err.empty()) return err;
            if (cmd == "logoff") {
                m.control.luxos_session.clear();
                return status_only(m, now, 'S', 317, "Session closed");  // guessed code/message
            }
            if (cmd == "curtail") return curtail(m, params, now);
            if (cmd == "profileset") return profileset(m, params, now);
            if (cmd == "atmset") return atmset(m, params, now);
            const bool asleep = m.physics.commanded_asleep();
            // There is no "restart the daemon" in the physics: both restart everything. A
            // curtailed miner stays curtailed across restarts (docs.luxor.tech, curtail).
            m.physics.reboot(now);
            if (asleep) m.physics.sleep(now);
            if (cmd == "rebootdevice")
                return status_only(m, now, 'S', 338, "Device reboot requested");
            return status_only(m, now, 'S', 346, "Miner reset requested");  // guessed codes
        }
        return status_only(m, now, 'E', 14, "Invalid command");
    }

    static std::string curtail(SimMiner& m, const std::vector<std::string_view>& params,
                               TimePoint now) {
        const std::string_view action = params.size() > 1 ? params[1] : std::string_view{};
        std::string_view text;
        if (action == "sleep") {
            // A sleep_ignored miner acknowledges and carries on hashing.
            if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
            text = "sleep mode";
        } else if (action == "wakeup") {
            m.wake(now);
            text = "wake up";
        } else {
            return status_only(m, now, 'E', 336, "Invalid curtail action");  // guessed
        }
        Reply r(m, now);
        auto& w = r.w();
        r.status('S', 335, "Curtailment command sent");
        w.key("CURTAIL");
        w.begin_array();
        w.begin_object();
        w.field("Action", text);
        w.end_object();
        w.end_array();
        return r.finish();
    }

    static std::string profileset(SimMiner& m, const std::vector<std::string_view>& params,
                                  TimePoint now) {
        // Legacy form "<sid>,<board 0..3>,<profile>": the board is ignored, the profile applies to
        // the whole machine (docs.luxor.tech, profileset).
        std::string_view name = params.size() > 1 ? params[1] : std::string_view{};
        if (params.size() > 2 && name.size() == 1 && name[0] >= '0' && name[0] <= '3') {
            name = params[2];
        }
        // ATM owns the profile while it runs, which is why clients switch it off first (pyasic
        // set_power_limit, luxos-tooling with_atm). Guessed code and message.
        if (m.control.luxos_atm_enabled) {
            return status_only(m, now, 'E', 322, "Cannot set profile while ATM is enabled");
        }
        const auto& all = profiles(*m.model);
        const Profile* p = find_profile(all, name);
        if (!p) return status_only(m, now, 'E', 322, "Profile not found");  // guessed
        m.control.luxos_profile = p->name;
        m.physics.set_power_target(now, p->watts);
        Reply r(m, now);
        auto& w = r.w();
        r.status('S', 321, "Profile Set");
        w.key("PROFILE");
        w.begin_array();
        w.begin_object();
        w.field("Board", 0);
        w.field("FrequencyStep", 5);
        w.field("Profile", p->name);
        real(w, "VoltageStep", 0.05);
        w.end_object();
        w.end_array();
        return r.finish();
    }

    static std::string atmset(SimMiner& m, const std::vector<std::string_view>& params,
                              TimePoint now) {
        // key=value pairs after the session id; every pair is checked before any is applied.
        std::optional<bool> enabled;
        if (params.size() < 2) return status_only(m, now, 'E', 341, "Missing ATM parameters");
        for (std::size_t i = 1; i < params.size(); ++i) {
            const auto kv = params[i];
            const auto eq = kv.find('=');
            const auto key = kv.substr(0, eq);
            const auto value =
                eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
            if (eq == std::string_view::npos) {
                return status_only(m, now, 'E', 341, "Invalid ATM parameter");  // guessed
            }
            if (key == "enabled" || key == "prevent_oc") {
                if (value != "true" && value != "false") {
                    return status_only(m, now, 'E', 341, "Invalid ATM parameter");
                }
                if (key == "enabled") enabled = value == "true";
            } else if (key == "startup_minutes" || key == "post_ramp_minutes" ||
                       key == "temp_window") {
                double v = 0;
                const auto [ptr, ec] =
                    std::from_chars(value.data(), value.data() + value.size(), v);
                if (ec != std::errc() || ptr != value.data() + value.size() || v < 0) {
                    return status_only(m, now, 'E', 341, "Invalid ATM parameter");
                }
            } else if (key != "min_profile" && key != "max_profile") {
                return status_only(m, now, 'E', 341, "Invalid ATM parameter");
            }
        }
        if (enabled) m.control.luxos_atm_enabled = *enabled;
        return status_only(m, now, 'S', 340, "ATM configuration updated");  // message guessed
    }
};

}  // namespace

const Frontend& luxos_frontend() {
    static const LuxosFrontend f;
    return f;
}

}  // namespace hashwatt::sim
