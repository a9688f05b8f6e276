// Canaan Avalon A-series (AvalonMiner 1246 class) running Canaan's cgminer 4.11.1 with the
// Avalon10-family driver, TCP 4028: version, summary, pools, devs/edevs, devdetails, stats and
// estats (the telemetry lives in the "MM ID0" string of Key[value] tokens), control through
// ascset, and cgminer's restart. Both request forms work: JSON {"command":…,"parameter":…} and
// the text form "command|parameter", which gets cgminer's text reply
// (STATUS=S,When=…,Code=…,Msg=…,Description=…|SECTION,key=value,…|).
#include "common/json_writer.hpp"
#include "sim/cgminer.hpp"
#include "sim/frontends/frontends.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

constexpr std::string_view kDescription = "cgminer 4.11.1";
// The share difficulty that makes the physics's accepted count (one share per 1,400 TH) add up.
constexpr double kPoolDifficulty = 1400e12 / 4294967296.0;

// cgminer message codes (api.c MSG_*).
constexpr int kMsgInvalidCommand = 14;
constexpr int kMsgMissingId = 15;
constexpr int kMsgInvalidJson = 23;
constexpr int kMsgMissingCommand = 24;
constexpr int kMsgAccessDenied = 45;
constexpr int kMsgInvalidAsc = 107;
constexpr int kMsgMissingAscOption = 116;
constexpr int kMsgAscInfo = 118;
constexpr int kMsgAscSetOk = 119;
constexpr int kMsgAscSetError = 120;

// The option list the 1246's "ascset|0,help" prints (ascset_help_reply.json).
constexpr std::string_view kHelp =
    "help|voltage|fan-spd|lcd|hash-sn-read|hash-sn-write|volt-tuning|workmode|worklevel|"
    "work_mode_lvl|reboot|softon|softoff|filter-clean|facopts|faclock|activate|solo-allowed|"
    "frequency|loop|password|qr_auth|time|";

// ---------------------------------------------------------------------------------------------
// Formatting helpers

// cgminer prints doubles with fixed decimals ("MHS av":25536751.74, "Wait":0.000000); an
// integral value must stay a float in the JSON.
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

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
}

// Deterministic value in [0, 1) for a chip: the same chip reads alike from poll to poll.
double unit_noise(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    const std::uint64_t x = mix(a * 0x9E3779B97F4A7C15ULL ^ mix(b + 0x51ED27ULL) ^ (c << 20));
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53);
}

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) {
            return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// atoi as cgminer uses it: leading digits (optionally signed), anything else stops; 0 if none.
long c_atoi(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    bool neg = false;
    if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
        neg = s.front() == '-';
        s.remove_prefix(1);
    }
    long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') break;
        if (v > 100000000L) break;  // far past any value an option takes
        v = v * 10 + (c - '0');
    }
    return neg ? -v : v;
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------------------------------------
// Identity

// "AvalonMiner 1246" -> "1246"; the MODEL field adds the hardware variant ("1246-81").
std::string model_number(const ModelSpec& model) {
    std::string_view name = model.name;
    if (const auto sp = name.rfind(' '); sp != std::string_view::npos) name.remove_prefix(sp + 1);
    return std::string(name);
}

std::string model_variant(const ModelSpec& model) { return model_number(model) + "-81"; }

std::string dna(const SimMiner& m) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0201%012llx",
                  static_cast<unsigned long long>(fnv1a(m.serial) & 0xFFFFFFFFFFFFULL));
    return buf;
}

// A-series firmware prints its MAC as 12 hex digits without separators.
std::string bare_mac(const SimMiner& m) {
    std::string out;
    for (char c : m.mac) {
        if (c == ':' || c == '-') continue;
        out.push_back(c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    return out;
}

std::int64_t block_height(TimePoint now) {
    return 840000 + std::max<std::int64_t>(0, (unix_seconds(now) - 1713571200) / 600);
}

// ---------------------------------------------------------------------------------------------
// Envelopes

// cgminer's message(): the STATUS array. Like api.c it leaves Description out of "Invalid
// command" (it does not describe itself to random probes).
void status_section(JsonWriter& w, char status, int code, std::string_view msg, TimePoint now) {
    w.key("STATUS");
    w.begin_array();
    w.begin_object();
    w.field("STATUS", std::string_view(&status, 1));
    w.field("When", unix_seconds(now));
    w.field("Code", code);
    w.field("Msg", msg);
    if (code != kMsgInvalidCommand) w.field("Description", kDescription);
    w.end_object();
    w.end_array();
}

std::string status_only(char status, int code, std::string_view msg, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    status_section(w, status, code, msg, now);
    w.field("id", 1);
    w.end_object();
    return out;
}

void open_reply(JsonWriter& w, int code, std::string_view msg, TimePoint now) {
    w.begin_object();
    status_section(w, 'S', code, msg, now);
}

void close_reply(JsonWriter& w) {
    w.field("id", 1);
    w.end_object();
}

// ---------------------------------------------------------------------------------------------
// Derived figures

double board_chip_avg(const BoardSnapshot& b) {
    double sum = 0;
    for (double t : b.chip_temps_c) sum += t;
    return sum / static_cast<double>(b.chip_temps_c.size());
}

double chip_avg(const Snapshot& s) {
    if (s.boards.empty()) return 0;
    double sum = 0;
    for (const auto& b : s.boards) sum += board_chip_avg(b);
    return sum / static_cast<double>(s.boards.size());
}

double diff1_work(const Snapshot& s) { return s.work_ths_s * 1e12 / 4294967296.0; }

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

// The PSU telemetry vector PS[…]: index 4 is the DC output in W, index 6 the wall power.
std::string power_supply_vector(const Snapshot& s) {
    const std::int64_t wall = rounded(s.power_w);
    const std::int64_t dc = rounded(s.power_w * 0.91);
    const std::int64_t vout = s.hashing ? 1240 : 1200;
    const std::int64_t amps =
        rounded(static_cast<double>(dc) / (static_cast<double>(vout) / 100.0));
    return "0 1200 " + std::to_string(vout) + " " + std::to_string(amps) + " " +
           std::to_string(dc) + " " + std::to_string(vout) + " " + std::to_string(wall);
}

// ---------------------------------------------------------------------------------------------
// The MM ID0 string

class MmWriter {
  public:
    explicit MmWriter(std::string& out) : out_(out) {}
    // Key[value]
    void item(std::string_view key, std::string_view value) {
        if (!out_.empty()) out_.push_back(' ');
        out_ += key;
        out_.push_back('[');
        out_ += value;
        out_.push_back(']');
    }
    void item(std::string_view key, std::int64_t v) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        item(key, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    // Key[v0 v1 …]; `width` pads each value like the firmware's "%3d" (PVT_T).
    template <typename Get>
    void list(std::string_view key, std::size_t n, Get&& get, int width = 0) {
        if (!out_.empty()) out_.push_back(' ');
        out_ += key;
        out_.push_back('[');
        // to_chars and hand padding, not snprintf: per-chip lists make this the simulator's
        // hottest formatting loop (four lists of every chip on every board per request).
        char buf[32];
        for (std::size_t i = 0; i < n; ++i) {
            if (i) out_.push_back(' ');
            const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(get(i)));
            const auto len = static_cast<int>(r.ptr - buf);
            if (len < width) out_.append(static_cast<std::size_t>(width - len), ' ');
            out_.append(buf, r.ptr);
        }
        out_.push_back(']');
    }

  private:
    std::string& out_;
};

std::string mm_id0(const SimMiner& m, const Snapshot& s) {
    const ModelSpec& model = *m.model;
    const std::size_t boards = s.boards.size();
    const auto chips = static_cast<std::size_t>(std::max(0, model.chips_per_board));
    const std::uint64_t seed = fnv1a(m.serial);
    int alive = 0;
    for (const auto& b : s.boards) alive += b.alive ? 1 : 0;
    const double elapsed = static_cast<double>(std::max<std::int64_t>(1, s.elapsed_s));
    const double diff1 = diff1_work(s);

    std::string out;
    out.reserve(16384);
    MmWriter mm(out);
    mm.item("Ver", model_variant(model) + "-" + m.firmware_version);
    mm.item("DNA", dna(m));
    mm.item("MEMFREE", "1358896.0");
    mm.item("NETFAIL", "0 0 0 0 0 0 0 0");
    mm.item("SYSTEMSTATU", std::string("Work: ") + (s.hashing ? "In Work" : "In Idle") +
                               ", Hash Board: " + std::to_string(alive) + " ");
    mm.item("Elapsed", s.elapsed_s);
    mm.item("BOOTBY", "0x0A.00000002");
    mm.item("LW", rounded(diff1 / 2.0));
    mm.list("MH", boards, [&](std::size_t b) { return s.boards[b].hw_errors % 100; });
    mm.item("HW", s.hw_errors);
    const double dh =
        s.hashing ? 2.0 + 4.0 * unit_noise(seed, 1, static_cast<std::uint64_t>(s.elapsed_s / 60))
                  : 0.0;
    mm.item("DH", fixed(dh, 3) + "%");
    mm.item("Temp", rounded(s.ambient_c));
    mm.item("TMax", rounded(s.chip_temp_max_c));
    mm.item("TAvg", rounded(chip_avg(s)));
    for (std::size_t f = 0; f < s.fans_rpm.size(); ++f) {
        mm.item("Fan" + std::to_string(f + 1), s.fans_rpm[f]);
    }
    mm.item("FanR", std::to_string(s.fan_pwm_pct) + "%");
    mm.item("Vo", s.hashing ? 310 : 0);
    mm.item("PS", power_supply_vector(s));
    for (std::size_t b = 0; b < boards; ++b) {
        mm.list("PLL" + std::to_string(b), 4, [&](std::size_t i) {
            return s.hashing && s.boards[b].alive
                       ? rounded(500.0 + 8000.0 * unit_noise(seed, b, 100 + i))
                       : std::int64_t{0};
        });
    }
    mm.item("GHSspd", fixed(s.hashrate_ths * 1000.0, 2));
    mm.item("DHspd", fixed(dh, 3) + "%");
    mm.item("GHSmm", fixed(s.expected_ths * 1000.0, 2));
    mm.item("GHSavg", fixed(s.hashrate_avg_ths * 1000.0, 2));
    mm.item("WU", fixed(diff1 / elapsed * 60.0, 2));
    mm.item("Freq", fixed(avg_freq(s), 2));
    mm.item("Led", 0);
    {
        std::string mghs;
        for (std::size_t b = 0; b < boards; ++b) {
            if (b) mghs.push_back(' ');
            mghs += fixed(s.boards[b].avg_hashrate_ths * 1000.0, 2);
        }
        mm.item("MGHS", mghs);
    }
    mm.list("MTmax", boards, [&](std::size_t b) { return rounded(s.boards[b].chip_temp_max_c); });
    mm.list("MTavg", boards, [&](std::size_t b) { return rounded(board_chip_avg(s.boards[b])); });
    mm.item("TA", static_cast<std::int64_t>(boards * chips));
    mm.item("Core", "A3201");
    mm.item("PING", 42);
    mm.item("POWS", 0);
    mm.list("HASHS", boards, [](std::size_t) { return 0; });
    mm.item("POOLS", 0);
    // Non-zero while soft-off; the firmware keeps it set from the softoff command to softon.
    mm.item("SoftOFF", m.physics.commanded_asleep() ? 1 : 0);
    mm.list("ECHU", boards, [&](std::size_t b) { return s.boards[b].alive ? 0 : 512; });
    mm.item("ECMM", 0);
    const double freq = avg_freq(s);
    for (std::size_t b = 0; b < boards; ++b) {
        mm.list("SF" + std::to_string(b), 4, [&](std::size_t i) {
            return freq > 0 ? rounded(freq - 14.0 + 20.0 * static_cast<double>(i))
                            : std::int64_t{0};
        });
    }
    // Per-chip temperatures, spread between the board's coolest and hottest sensor; one chip
    // sits at the hottest so MTmax is the maximum of the board's PVT_T.
    for (std::size_t b = 0; b < boards; ++b) {
        const BoardSnapshot& bs = s.boards[b];
        const double lo = *std::min_element(bs.chip_temps_c.begin(), bs.chip_temps_c.end());
        const double hi = bs.chip_temp_max_c;
        const std::size_t hottest = chips ? (seed + b * 13) % chips : 0;
        mm.list(
            "PVT_T" + std::to_string(b), chips,
            [&](std::size_t j) {
                if (!bs.alive) return std::int64_t{0};
                if (j == hottest) return rounded(hi);
                return rounded(lo + (hi - lo) * unit_noise(seed, b, j));
            },
            3);
    }
    for (std::size_t b = 0; b < boards; ++b) {
        const bool on = s.hashing && s.boards[b].alive;
        mm.list("PVT_V" + std::to_string(b), chips, [&](std::size_t j) {
            return on ? rounded(275.0 + 20.0 * unit_noise(seed, b + 10, j)) : std::int64_t{0};
        });
    }
    mm.list("MW", boards, [&](std::size_t b) {
        return s.boards[b].alive
                   ? rounded(diff1 / 2.0 / static_cast<double>(std::max<std::size_t>(1, boards)))
                   : std::int64_t{0};
    });
    for (std::size_t b = 0; b < boards; ++b) {
        const double per_chip =
            s.boards[b].alive && chips
                ? diff1 / 2.0 / static_cast<double>(boards * chips) / elapsed * 60.0
                : 0.0;
        mm.list("MW" + std::to_string(b), chips, [&](std::size_t j) {
            return rounded(per_chip * (0.85 + 0.3 * unit_noise(seed, b + 20, j)));
        });
    }
    for (std::size_t b = 0; b < boards; ++b) {
        mm.list("ASICCRC" + std::to_string(b), chips, [](std::size_t) { return 0; });
    }
    mm.list("CRC", boards, [](std::size_t) { return 0; });
    mm.item("POW_I2C", "OK");
    mm.item("FACOPTS0", "");
    mm.item("FACOPTS1", "");
    mm.item("ATAOPTS0", "--avalon10-freq 504:524:544:564 --avalon10-voltage-level 39 ");
    mm.item("ATAOPTS1", "--avalon10-freq 504:524:544:564 --avalon10-voltage-level 35 ");
    mm.item("ADJ", 1);
    mm.list("COP", boards, [](std::size_t) { return 0; });
    mm.item("MPO", rounded(s.power_target_w));
    mm.item("MVL", 87);
    for (std::size_t b = 0; b < boards; ++b) {
        mm.list("ATABD" + std::to_string(b), 4, [&](std::size_t i) {
            return freq > 0 ? rounded(freq - 14.0 + 20.0 * static_cast<double>(i))
                            : std::int64_t{0};
        });
    }
    mm.item("WORKMODE", m.control.avalon_workmode);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Reads

void cgminer_stats_head(JsonWriter& w, std::int64_t index, std::string_view id,
                        std::int64_t elapsed) {
    w.field("STATS", index);
    w.field("ID", id);
    w.field("Elapsed", elapsed);
    w.field("Calls", 0);
    field_fixed(w, "Wait", 0, 6);
    field_fixed(w, "Max", 0, 6);
    field_fixed(w, "Min", 99999999.0, 6);
}

// stats answers the device and then one record per pool; estats only the device.
std::string stats_reply(const SimMiner& m, const Snapshot& s, TimePoint now, bool with_pools) {
    std::string out;
    JsonWriter w(out);
    open_reply(w, 70, "CGMiner stats", now);
    w.key("STATS");
    w.begin_array();
    w.begin_object();
    cgminer_stats_head(w, 0, "AVA100", s.elapsed_s);
    w.field("MM ID0", mm_id0(m, s));
    w.field("MM Count", 1);
    w.field("Smart Speed", 1);
    w.field("Voltage Level Offset", 0);
    w.field("Nonce Mask", 25);
    w.end_object();
    if (with_pools) {
        for (std::size_t i = 0; i < m.pools.size(); ++i) {
            const bool active = i == 0;
            const double diff = active ? kPoolDifficulty : 0.0;
            const std::int64_t recv = active ? 4000 + s.elapsed_s * 175 : 2000;
            const std::int64_t sent = active ? 200 + s.accepted * 130 : 255;
            w.begin_object();
            cgminer_stats_head(w, static_cast<std::int64_t>(i + 1), "POOL" + std::to_string(i),
                               s.elapsed_s);
            w.field("Pool Calls", 0);
            w.field("Pool Attempts", 0);
            field_fixed(w, "Pool Wait", 0, 6);
            field_fixed(w, "Pool Max", 0, 6);
            field_fixed(w, "Pool Min", 99999999.0, 6);
            field_fixed(w, "Pool Av", 0, 6);
            w.field("Work Had Roll Time", false);
            w.field("Work Can Roll", false);
            w.field("Work Had Expire", false);
            w.field("Work Roll Time", 0);
            field_fixed(w, "Work Diff", diff, 8);
            field_fixed(w, "Min Diff", diff, 8);
            field_fixed(w, "Max Diff", diff, 8);
            w.field("Min Diff Count", active ? s.accepted : 0);
            w.field("Max Diff Count", active ? s.accepted : 0);
            w.field("Times Sent", active ? s.accepted + 3 : 3);
            w.field("Bytes Sent", sent);
            w.field("Times Recv", active ? s.elapsed_s / 6 + 5 : 6);
            w.field("Bytes Recv", recv);
            w.field("Net Bytes Sent", sent);
            w.field("Net Bytes Recv", recv);
            w.end_object();
        }
    }
    w.end_array();
    close_reply(w);
    return out;
}

std::string version_reply(const SimMiner& m, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    open_reply(w, 22, "CGMiner versions", now);
    w.key("VERSION");
    w.begin_array();
    w.begin_object();
    w.field("CGMiner", "4.11.1");
    w.field("API", "3.7");
    w.field("STM8", "20.08.01");
    w.field("PROD", std::string(m.model->name) + "-81");
    w.field("MODEL", model_variant(*m.model));
    w.field("HWTYPE", "MM3v2_X3");
    w.field("SWTYPE", "MM314");
    w.field("VERSION", m.firmware_version);
    w.field("LOADER", "d0d779de.00");
    w.field("DNA", dna(m));
    w.field("MAC", bare_mac(m));
    w.field("UPAPI", "2");
    w.end_object();
    w.end_array();
    close_reply(w);
    return out;
}

std::string summary_reply(const Snapshot& s, TimePoint now) {
    const double elapsed = static_cast<double>(std::max<std::int64_t>(1, s.elapsed_s));
    const double diff1 = diff1_work(s);
    const double acc = static_cast<double>(s.accepted) * kPoolDifficulty;
    const double rej = static_cast<double>(s.rejected) * kPoolDifficulty;
    const double stale = static_cast<double>(s.stale) * kPoolDifficulty;
    std::string out;
    JsonWriter w(out);
    open_reply(w, 11, "Summary", now);
    w.key("SUMMARY");
    w.begin_array();
    w.begin_object();
    w.field("Elapsed", s.elapsed_s);
    field_fixed(w, "MHS av", s.hashrate_avg_ths * 1e6, 2);
    field_fixed(w, "MHS 30s", s.hashrate_ths * 1e6, 2);
    field_fixed(w, "MHS 1m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 5m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 15m", s.hashrate_1m_ths * 1e6, 2);
    w.field("Found Blocks", 0);
    w.field("Getworks", s.elapsed_s / 27);
    w.field("Accepted", s.accepted);
    w.field("Rejected", s.rejected);
    w.field("Hardware Errors", s.hw_errors);
    field_fixed(w, "Utility", static_cast<double>(s.accepted) / elapsed * 60.0, 2);
    w.field("Discarded", s.accepted * 460);
    w.field("Stale", s.stale);
    w.field("Get Failures", 0);
    w.field("Local Work", rounded(diff1 / 2.0));
    w.field("Remote Failures", 0);
    w.field("Network Blocks", s.elapsed_s / 600);
    field_fixed(w, "Total MH", s.work_ths_s * 1e6, 4);
    field_fixed(w, "Work Utility", diff1 / elapsed * 60.0, 2);
    field_fixed(w, "Difficulty Accepted", acc, 8);
    field_fixed(w, "Difficulty Rejected", rej, 8);
    field_fixed(w, "Difficulty Stale", stale, 8);
    w.field("Best Share", s.accepted > 0 ? rounded(kPoolDifficulty * 1300.0) : 0);
    field_fixed(w, "Device Hardware%", hw_percent(static_cast<double>(s.hw_errors), diff1), 4);
    field_fixed(w, "Device Rejected%", diff1 > 0 ? 100.0 * rej / diff1 : 0, 4);
    field_fixed(w, "Pool Rejected%", acc + rej > 0 ? 100.0 * rej / (acc + rej) : 0, 4);
    field_fixed(w, "Pool Stale%", acc + stale > 0 ? 100.0 * stale / (acc + stale) : 0, 4);
    w.field("Last getwork", 0);
    w.end_object();
    w.end_array();
    close_reply(w);
    return out;
}

std::string devs_reply(const Snapshot& s, TimePoint now) {
    const double elapsed = static_cast<double>(std::max<std::int64_t>(1, s.elapsed_s));
    const double diff1 = diff1_work(s);
    const double rej = static_cast<double>(s.rejected) * kPoolDifficulty;
    std::string out;
    JsonWriter w(out);
    open_reply(w, 9, "1 ASC(s)", now);
    w.key("DEVS");
    w.begin_array();
    w.begin_object();
    w.field("ASC", 0);
    w.field("Name", "AVA10");
    w.field("ID", 0);
    w.field("Enabled", "Y");
    w.field("Status", "Alive");
    field_fixed(w, "Temperature", s.chip_temp_max_c, 2);
    field_fixed(w, "MHS av", s.hashrate_avg_ths * 1e6, 2);
    field_fixed(w, "MHS 30s", s.hashrate_ths * 1e6, 2);
    field_fixed(w, "MHS 1m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 5m", s.hashrate_1m_ths * 1e6, 2);
    field_fixed(w, "MHS 15m", s.hashrate_1m_ths * 1e6, 2);
    w.field("Accepted", s.accepted);
    w.field("Rejected", s.rejected);
    w.field("Hardware Errors", s.hw_errors);
    field_fixed(w, "Utility", static_cast<double>(s.accepted) / elapsed * 60.0, 2);
    w.field("Last Share Pool", s.accepted > 0 ? 0 : -1);
    w.field("Last Share Time", s.hashing ? unix_seconds(now) - 9 : 0);
    field_fixed(w, "Total MH", s.work_ths_s * 1e6, 4);
    w.field("Diff1 Work", rounded(diff1));
    field_fixed(w, "Difficulty Accepted", static_cast<double>(s.accepted) * kPoolDifficulty, 8);
    field_fixed(w, "Difficulty Rejected", rej, 8);
    field_fixed(w, "Last Share Difficulty", s.accepted > 0 ? kPoolDifficulty : 0, 8);
    w.field("Last Valid Work", s.hashing ? unix_seconds(now) : 0);
    field_fixed(w, "Device Hardware%", hw_percent(static_cast<double>(s.hw_errors), diff1), 4);
    field_fixed(w, "Device Rejected%", diff1 > 0 ? 100.0 * rej / diff1 : 0, 4);
    w.field("Device Elapsed", s.elapsed_s);
    w.end_object();
    w.end_array();
    close_reply(w);
    return out;
}

std::string pools_reply(const SimMiner& m, const Snapshot& s, TimePoint now) {
    std::string out;
    JsonWriter w(out);
    open_reply(w, 7, std::to_string(m.pools.size()) + " Pool(s)", now);
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
        const double acc = static_cast<double>(accepted) * kPoolDifficulty;
        const double rej = static_cast<double>(rejected) * kPoolDifficulty;
        const double stl = static_cast<double>(stale) * kPoolDifficulty;
        w.begin_object();
        w.field("POOL", static_cast<std::int64_t>(i));
        w.field("URL", p.url);
        w.field("Status", "Alive");
        w.field("Priority", static_cast<std::int64_t>(i));
        w.field("Quota", 1);
        w.field("Long Poll", "N");
        w.field("Getworks", active ? s.elapsed_s / 27 : 0);
        w.field("Accepted", accepted);
        w.field("Rejected", rejected);
        w.field("Works", active ? rounded(diff1_work(s) / 10.0) : 0);
        w.field("Discarded", 0);
        w.field("Stale", stale);
        w.field("Get Failures", 0);
        w.field("Remote Failures", 0);
        w.field("User", p.user);
        w.field("Last Share Time",
                active && s.hashing ? std::max<std::int64_t>(0, s.elapsed_s - 9) : 0);
        w.field("Diff1 Shares", active ? rounded(diff1_work(s)) : 0);
        w.field("Proxy Type", "");
        w.field("Proxy", "");
        field_fixed(w, "Difficulty Accepted", acc, 8);
        field_fixed(w, "Difficulty Rejected", rej, 8);
        field_fixed(w, "Difficulty Stale", stl, 8);
        field_fixed(w, "Last Share Difficulty", active ? kPoolDifficulty : 0, 8);
        field_fixed(w, "Work Difficulty", active ? kPoolDifficulty : 0, 8);
        w.field("Has Stratum", true);
        w.field("Stratum Active", active);
        w.field("Stratum URL", active ? std::string_view(host) : std::string_view());
        field_fixed(w, "Stratum Difficulty", active ? kPoolDifficulty : 0, 8);
        w.field("Has Vmask", true);
        w.field("Has GBT", false);
        w.field("Best Share", active && accepted > 0 ? rounded(kPoolDifficulty * 1300.0) : 0);
        field_fixed(w, "Pool Rejected%", acc + rej > 0 ? 100.0 * rej / (acc + rej) : 0, 4);
        field_fixed(w, "Pool Stale%", acc + stl > 0 ? 100.0 * stl / (acc + stl) : 0, 4);
        w.field("Bad Work", active ? s.elapsed_s / 300 : 0);
        w.field("Current Block Height", active ? block_height(now) : 0);
        w.field("Current Block Version", 536870912);
        w.end_object();
    }
    w.end_array();
    close_reply(w);
    return out;
}

std::string devdetails_reply(TimePoint now) {
    std::string out;
    JsonWriter w(out);
    open_reply(w, 69, "Device Details", now);
    w.key("DEVDETAILS");
    w.begin_array();
    w.begin_object();
    w.field("DEVDETAILS", 0);
    w.field("Name", "AVA10");
    w.field("ID", 0);
    w.field("Driver", "avalon10");
    w.field("Kernel", "");
    w.field("Model", "");
    w.field("Device Path", "");
    w.end_object();
    w.end_array();
    close_reply(w);
    return out;
}

// ---------------------------------------------------------------------------------------------
// ascset

std::string asc_info(std::string_view text, TimePoint now) {
    return status_only('I', kMsgAscInfo, "ASC 0 set info: " + std::string(text), now);
}

std::string asc_ok(TimePoint now) { return status_only('S', kMsgAscSetOk, "ASC 0 set OK", now); }

std::string asc_failed(std::string_view why, TimePoint now) {
    return status_only('E', kMsgAscSetError, "ASC 0 set failed: " + std::string(why), now);
}

// softoff/softon take "1:<unix time>": the time to act at (clients send now + a few seconds).
// The simulator acts at once and echoes the time, as the real reply does.
std::string soft_time(std::string_view set) {
    const auto colon = set.find(':');
    return std::string(colon == std::string_view::npos ? set : set.substr(colon + 1));
}

std::string ascset(SimMiner& m, std::string_view param, bool has_param, TimePoint now) {
    if (!has_param || param.empty()) {
        return status_only('E', kMsgMissingId, "Missing device id parameter", now);
    }
    const auto comma = param.find(',');
    const std::string_view id_text = param.substr(0, comma);
    std::string_view rest =
        comma == std::string_view::npos ? std::string_view() : param.substr(comma + 1);
    if (rest.empty()) {
        return status_only('E', kMsgMissingAscOption, "Missing option after ASC number", now);
    }
    const long id = c_atoi(id_text);
    if (id != 0) {
        return status_only('E', kMsgInvalidAsc,
                           "Invalid ASC id " + std::to_string(id) + " - range is 0 - 0", now);
    }
    const auto comma2 = rest.find(',');
    const std::string_view opt = rest.substr(0, comma2);
    const std::string_view set =
        comma2 == std::string_view::npos ? std::string_view() : rest.substr(comma2 + 1);
    const bool ignore_sleep = m.faults.has(FaultKind::sleep_ignored);

    if (iequals(opt, "help")) return asc_info(kHelp, now);
    if (iequals(opt, "softoff")) {
        if (set.empty()) return asc_failed("missing softoff value", now);
        if (!ignore_sleep) m.physics.sleep(now);
        return asc_info("success softoff:" + soft_time(set), now);
    }
    if (iequals(opt, "softon")) {
        if (set.empty()) return asc_failed("missing softon value", now);
        m.wake(now);
        return asc_info("success softon:" + soft_time(set), now);
    }
    if (iequals(opt, "workmode")) {
        if (!all_digits(set)) return asc_failed("invalid workmode value, valid range 0-2", now);
        const long mode = c_atoi(set);
        if (mode == 255)
            return asc_info("WORKMODE[" + std::to_string(m.control.avalon_workmode) + "]", now);
        if (mode < 0 || mode > 2) return asc_failed("invalid workmode value, valid range 0-2", now);
        // Low / normal / high: the physics clamps the high mode to what the model can draw.
        static constexpr std::array<double, 3> kShare{0.8, 1.0, 1.1};
        m.control.avalon_workmode = static_cast<int>(mode);
        m.physics.set_power_target(now,
                                   m.model->nominal_w * kShare[static_cast<std::size_t>(mode)]);
        return asc_ok(now);
    }
    if (iequals(opt, "hashpower")) {
        if (set.empty()) {
            return asc_info("PS[" + power_supply_vector(m.physics.snapshot(now, m.faults)) + "]",
                            now);
        }
        // 0 cuts the hash boards' power, 1 restores it (libminer's sleep and wake).
        if (set == "0") {
            if (!ignore_sleep) m.physics.sleep(now);
            return asc_ok(now);
        }
        if (set == "1") {
            m.wake(now);
            return asc_ok(now);
        }
        return asc_failed("invalid hashpower value, valid value 0|1", now);
    }
    if (iequals(opt, "led")) {
        if (set.empty()) return asc_failed("missing module_id setting", now);
        const auto dash = set.find('-');
        const long module = c_atoi(set.substr(0, dash));
        if (module != 1)
            return asc_failed("invalid module_id: " + std::to_string(module) + ", valid range 1-1",
                              now);
        const long value = dash == std::string_view::npos ? -1 : c_atoi(set.substr(dash + 1));
        // The locate LED is not simulated: it reads off and accepts on/off.
        if (value == 255) return asc_info("LED[0]", now);
        if (value == 0 || value == 1 || value == -1) return asc_ok(now);
        return asc_failed("invalid LED status: " + std::to_string(value) + ", valid value 0|1",
                          now);
    }
    if (iequals(opt, "reboot")) {
        // The reply goes out, then the controller restarts and drops the connection.
        m.physics.reboot(now);
        return asc_ok(now);
    }
    // The remaining options of the help list are accepted without a simulated effect.
    for (std::string_view known :
         {"voltage", "fan-spd", "lcd", "hash-sn-read", "hash-sn-write", "volt-tuning", "worklevel",
          "work_mode_lvl", "filter-clean", "facopts", "faclock", "activate", "solo-allowed",
          "frequency", "loop", "password", "qr_auth", "time"}) {
        if (iequals(opt, known)) return asc_ok(now);
    }
    return asc_failed("Unknown option: " + std::string(opt), now);
}

// ---------------------------------------------------------------------------------------------
// The text form: cgminer's print_data with isjson false. A tiny reader for the JSON written
// above (compact, well-formed) turns each reply into "key=value,…|" records.

class Reader {
  public:
    explicit Reader(std::string_view s) : s_(s) {}
    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    bool eat(char c) {
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    bool done() const { return pos_ >= s_.size(); }
    // A string literal, decoded (the writer only emits the escapes below and \u00XX).
    std::string string() {
        std::string out;
        if (!eat('"')) return out;
        while (pos_ < s_.size() && s_[pos_] != '"') {
            char c = s_[pos_++];
            if (c == '\\' && pos_ < s_.size()) {
                const char e = s_[pos_++];
                switch (e) {
                    case 'n':
                        c = '\n';
                        break;
                    case 'r':
                        c = '\r';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    case 'b':
                        c = '\b';
                        break;
                    case 'f':
                        c = '\f';
                        break;
                    case 'u': {
                        unsigned v = 0;
                        const auto end = std::min(s_.size(), pos_ + 4);
                        std::from_chars(s_.data() + pos_, s_.data() + end, v, 16);
                        pos_ = end;
                        c = static_cast<char>(v & 0xFF);
                        break;
                    }
                    default:
                        c = e;
                }
            }
            out.push_back(c);
        }
        eat('"');
        return out;
    }
    // The raw text of any value.
    std::string_view value() {
        const std::size_t start = pos_;
        skip();
        return s_.substr(start, pos_ - start);
    }

  private:
    void skip() {
        const char c = peek();
        if (c == '"') {
            string();
        } else if (c == '{' || c == '[') {
            const char close = c == '{' ? '}' : ']';
            ++pos_;
            while (!done() && peek() != close) {
                if (c == '{') {
                    string();
                    eat(':');
                }
                skip();
                eat(',');
            }
            eat(close);
        } else {
            while (!done() && peek() != ',' && peek() != '}' && peek() != ']') ++pos_;
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

// api.c escape_string for the text form: ',' '|' '=' and '\' get a backslash.
void append_text_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        if (c == ',' || c == '|' || c == '=' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
}

void text_records(Reader& r, std::string& out, std::string_view prefix) {
    if (!r.eat('[')) {
        r.value();
        return;
    }
    bool first = true;
    while (!r.done() && r.peek() != ']') {
        if (!r.eat('{')) {
            r.value();
            r.eat(',');
            continue;
        }
        if (first && !prefix.empty()) {
            out += prefix;
            out.push_back(',');
        }
        first = false;
        bool first_field = true;
        while (!r.done() && r.peek() != '}') {
            const std::string key = r.string();
            r.eat(':');
            if (!first_field) out.push_back(',');
            first_field = false;
            out += key;
            out.push_back('=');
            if (r.peek() == '"') {
                append_text_escaped(out, r.string());
            } else {
                out += r.value();
            }
            r.eat(',');
        }
        r.eat('}');
        out.push_back('|');
        r.eat(',');
    }
    r.eat(']');
}

std::string to_text(std::string_view json) {
    Reader r(json);
    if (!r.eat('{')) return std::string(json);
    std::string out;
    while (!r.done() && r.peek() != '}') {
        const std::string key = r.string();
        r.eat(':');
        if (key == "STATUS" && r.peek() == '"') {
            out += r.string();  // restart: the bare word RESTART
        } else if (key == "id") {
            r.value();
        } else if (r.peek() == '[') {
            // Single-record sections carry their name in front (api.c "SUMMARY,"); per-item
            // records (POOL=0, STATS=0, ASC=0) start with their own id field instead.
            const bool named = key == "SUMMARY" || key == "VERSION" || key == "CONFIG" ||
                               key == "COIN" || key == "CHECK";
            text_records(r, out, named ? std::string_view(key) : std::string_view());
        } else {
            r.value();
        }
        r.eat(',');
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

bool joinable(std::string_view c) {
    return c == "version" || c == "summary" || c == "pools" || c == "devs" || c == "edevs" ||
           c == "stats" || c == "estats" || c == "devdetails";
}

// One command's JSON reply; nullopt-like empty string means "unknown command".
std::string one_command(SimMiner& m, std::string_view c, std::string_view param, bool has_param,
                        TimePoint now) {
    if (c == "version") return version_reply(m, now);
    if (c == "devdetails") return devdetails_reply(now);
    if (c == "ascset") return ascset(m, param, has_param, now);
    if (c == "restart") {
        m.physics.reboot(now);
        return R"({"STATUS":"RESTART","id":1})";
    }
    if (c == "summary" || c == "pools" || c == "devs" || c == "edevs" || c == "stats" ||
        c == "estats") {
        const Snapshot s = m.physics.snapshot(now, m.faults);
        if (c == "summary") return summary_reply(s, now);
        if (c == "pools") return pools_reply(m, s, now);
        if (c == "stats") return stats_reply(m, s, now, true);
        if (c == "estats") return stats_reply(m, s, now, false);
        return devs_reply(s, now);
    }
    return status_only('E', kMsgInvalidCommand, "Invalid command", now);
}

std::string json_dispatch(SimMiner& m, const RpcRequest& req, TimePoint now) {
    if (req.json) {
        // cgminer knows only the "command" key; anything else is its "Missing JSON 'command'".
        if (req.key != "command") {
            boost::system::error_code ec;
            const auto v = boost::json::parse(req.raw, ec);
            if (ec || !v.is_object()) return status_only('E', kMsgInvalidJson, "Invalid JSON", now);
            const auto* c = v.get_object().if_contains("command");
            if (!c) return status_only('E', kMsgMissingCommand, "Missing JSON 'command'", now);
            return status_only('E', kMsgInvalidCommand, "Invalid command", now);
        }
    }
    const std::string_view c = req.command;
    // cgminer takes a string or number parameter; other JSON types count as absent.
    const bool structured = req.json && !req.parameter.empty() &&
                            (req.parameter.front() == '[' || req.parameter.front() == '{');
    const bool has_param = req.has_parameter && !structured;
    if (c.find('+') != std::string_view::npos) {
        return *join_multi_command(c, [&](std::string_view part) -> std::string {
            if (joinable(part)) return one_command(m, part, {}, false, now);
            if (part == "ascset" || part == "restart") {
                return status_only('E', kMsgAccessDenied,
                                   "Access denied to '" + std::string(part) + "' command", now);
            }
            return status_only('E', kMsgInvalidCommand, "Invalid command", now);
        });
    }
    return one_command(m, c, has_param ? std::string_view(req.parameter) : std::string_view(),
                       has_param, now);
}

std::string text_dispatch(SimMiner& m, const RpcRequest& req, TimePoint now) {
    const std::string_view c = req.command;
    if (c.find('+') == std::string_view::npos) return to_text(json_dispatch(m, req, now));
    // A text-form join: "CMD=<name>|" before each member's own text reply.
    std::string out;
    std::vector<std::string_view> seen;
    std::size_t start = 0;
    while (start <= c.size()) {
        const std::size_t end = std::min(c.find('+', start), c.size());
        const std::string_view part = c.substr(start, end - start);
        start = end + 1;
        if (part.empty() || std::find(seen.begin(), seen.end(), part) != seen.end()) continue;
        seen.push_back(part);
        out += "CMD=";
        append_text_escaped(out, part);
        out.push_back('|');
        std::string json;
        if (joinable(part)) {
            json = one_command(m, part, {}, false, now);
        } else if (part == "ascset" || part == "restart") {
            json = status_only('E', kMsgAccessDenied,
                               "Access denied to '" + std::string(part) + "' command", now);
        } else {
            json = status_only('E', kMsgInvalidCommand, "Invalid command", now);
        }
        out += to_text(json);
    }
    return out;
}

class AvalonFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        try {
            if (!req.json) return {text_dispatch(m, req, now)};
            return {json_dispatch(m, req, now)};
        } catch (const std::exception&) {
            // Never let one request take the simulator down.
            return {status_only('E', kMsgInvalidCommand, "Invalid command", now)};
        }
    }
};

}  // namespace

const Frontend& avalon_frontend() {
    static const AvalonFrontend f;
    return f;
}

}  // namespace hashwatt::sim
