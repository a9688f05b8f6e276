// Stock Antminer: bmminer's RPC on TCP 4028 (PROTOCOLS.md §2.1) and the web CGI behind HTTP
// Digest auth (§2.2, §2.3). Modern S19/S21 replies follow tests/fixtures/antminer/s19pro_bmminer_*
// and s19_sleeping_*; the S9 era (ModelSpec::legacy_s9) follows s9_hiveon_* with stock strings,
// including the `}{` bmminer really sends between the two STATS elements.
#include "common/crypto.hpp"
#include "common/http_digest.hpp"
#include "common/json_writer.hpp"
#include "sim/cgminer.hpp"
#include "sim/frontends/antminer_rpc.hpp"
#include "sim/frontends/frontends.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {

// ---------------------------------------------------------------------------------------------
// Formatting helpers shared with vnish.cpp.

std::string fixed_string(double v, int decimals) { return format_fixed(v, decimals); }

void write_fixed(JsonWriter& w, std::string_view key, double v, int decimals) {
    w.key(key);
    w.value_fixed(v, decimals);
}

std::string suffix_string(double v) {
    if (!std::isfinite(v) || v < 0) v = 0;
    static constexpr std::array<std::string_view, 6> kSuffixes{"", "K", "M", "G", "T", "P"};
    std::size_t i = 0;
    while (v >= 1000.0 && i + 1 < kSuffixes.size()) {
        v /= 1000.0;
        ++i;
    }
    std::string s = fixed_string(v, i == 0 ? 0 : v >= 100 ? 0 : v >= 10 ? 1 : 2);
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    return s + std::string(kSuffixes[i]);
}

namespace {

constexpr std::string_view kRealm = "antMiner Configuration";
// One share stands for ~1,400 TH of work in the physics model, i.e. difficulty 1.4e15 / 2^32.
constexpr double kShareDiff = 326000.0;
constexpr double kTwoTo32 = 4294967296.0;

double ghs(double ths) { return ths * 1000.0; }

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

std::string upper_mac(std::string_view mac) {
    std::string out(mac);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The cgminer reply writer: one code path for the JSON form and the "cmd|param" text form
// (STATUS=S,When=..|SUMMARY,Elapsed=..|), written by hand so that bmminer's quirks (the S9 `}{`)
// can be reproduced.

class CgOut {
  public:
    // Replies are 1-4 KB; reserving once saves the string's doubling steps on every request.
    CgOut(bool json, TimePoint now) : json_(json), now_(now) { out_.reserve(4096); }

    void status(char st, int code, std::string_view msg, std::string_view desc) {
        const std::string when = std::to_string(unix_seconds(now_));
        if (json_) {
            out_ += "{\"STATUS\":[{\"STATUS\":";
            append_json_string(out_, std::string_view(&st, 1));
            out_ += ",\"When\":" + when + ",\"Code\":" + std::to_string(code) + ",\"Msg\":";
            append_json_string(out_, msg);
            out_ += ",\"Description\":";
            append_json_string(out_, desc);
            out_ += "}]";
        } else {
            out_ += "STATUS=";
            out_.push_back(st);
            out_ += ",When=" + when + ",Code=" + std::to_string(code) + ",Msg=";
            append_text(msg);
            out_ += ",Description=";
            append_text(desc);
            out_ += '|';
        }
    }

    void section(std::string_view name) {
        close_section();
        section_ = name;
        if (json_) {
            out_ += ',';
            append_json_string(out_, name);
            out_ += ":[";
        }
        in_section_ = true;
        first_item_ = true;
    }

    // `header`: the text form prefixes the item with "NAME," (SUMMARY, VERSION); items that
    // start with their own counter (POOL=0, STATS=0, ASC=0) have none.
    void item(bool header) {
        if (json_) {
            if (!first_item_ && !glue_) out_ += ',';
            out_ += '{';
        } else if (header) {
            append_text(section_);
            out_ += ',';
        }
        glue_ = false;
        first_item_ = false;
        first_field_ = true;
    }
    void end_item() { out_ += json_ ? '}' : '|'; }
    // bmminer of the S9 era writes the next STATS element without a comma: `}{`.
    void glue_next() { glue_ = true; }

    void str(std::string_view k, std::string_view v) {
        key(k);
        if (json_) {
            append_json_string(out_, v);
        } else {
            append_text(v);
        }
    }
    void integer(std::string_view k, std::int64_t v) {
        key(k);
        out_ += std::to_string(v);
    }
    void fixed(std::string_view k, double v, int decimals) {
        key(k);
        out_ += fixed_string(v, decimals);
    }
    void boolean(std::string_view k, bool v) {
        key(k);
        out_ += v ? "true" : "false";
    }

    std::string finish() {
        close_section();
        if (json_) out_ += ",\"id\":1}";
        return std::move(out_);
    }

  private:
    void key(std::string_view k) {
        if (!first_field_) out_ += ',';
        first_field_ = false;
        if (json_) {
            append_json_string(out_, k);
            out_ += ':';
        } else {
            append_text(k);
            out_ += '=';
        }
    }
    void close_section() {
        if (in_section_ && json_) out_ += ']';
        in_section_ = false;
    }
    // cgminer escapes its separators in the text form.
    void append_text(std::string_view s) {
        for (char c : s) {
            if (c == ',' || c == '|' || c == '=' || c == '\\') out_ += '\\';
            out_ += c;
        }
    }

    bool json_;
    TimePoint now_;
    std::string out_;
    std::string section_;
    bool in_section_ = false;
    bool first_item_ = true;
    bool first_field_ = true;
    bool glue_ = false;
};

// ---------------------------------------------------------------------------------------------
// What one reply is computed from.

struct Ctx {
    const SimMiner& m;
    const ModelSpec& model;
    const Snapshot& s;
    TimePoint now;
    std::string_view type;
    std::string_view compile_time;
    bool legacy;
    std::string_view description;
};

struct Chain {
    int slot;                    // chain number as bmminer prints it (1-based; S9: 6..8)
    const BoardSnapshot* board;  // nullptr: no board in this slot
    bool present() const { return board != nullptr && board->alive; }
};

// Chain slots 1..max(`min_slots`, last board): S19 prints an empty slot 4, S9 slots 1..16.
std::vector<Chain> chains(const Ctx& c, int min_slots) {
    int last = min_slots;
    for (const auto& b : c.s.boards) last = std::max(last, b.index);
    std::vector<Chain> out;
    out.reserve(static_cast<std::size_t>(std::max(0, last)));
    for (int slot = 1; slot <= last; ++slot) {
        const BoardSnapshot* found = nullptr;
        for (const auto& b : c.s.boards) {
            if (b.index == slot) found = &b;
        }
        out.push_back({slot, found});
    }
    return out;
}

int present_count(const std::vector<Chain>& cs) {
    return static_cast<int>(
        std::count_if(cs.begin(), cs.end(), [](const Chain& ch) { return ch.present(); }));
}

// The frequency the firmware is configured for at the current power target (it keeps reporting
// it while asleep, as the sleeping S19 capture does).
int configured_freq_mhz(const SimMiner& m) {
    const double base = m.model->legacy_s9 ? 650.0 : 525.0;
    const double ratio = std::max(0.1, m.physics.power_target_w() / m.model->nominal_w);
    return static_cast<int>(std::lround(base * std::pow(ratio, 0.6)));
}
int configured_freq_mhz(const Ctx& c) { return configured_freq_mhz(c.m); }

int configured_voltage_cv(const SimMiner& m) {
    const double ratio = std::max(0.1, m.physics.power_target_w() / m.model->nominal_w);
    return static_cast<int>(std::lround(1330.0 * std::pow(ratio, 0.25)));
}

std::string miner_version(const ModelSpec& model) {
    if (model.legacy_s9) return "16.8.1.3";
    return model.key.starts_with("s21") ? "71.0.1.3" : "49.0.1.3";
}
std::string miner_version(const Ctx& c) { return miner_version(c.model); }

std::string miner_id(const SimMiner& m) { return crypto::md5_hex(m.serial).substr(0, 16); }

std::int64_t fan_rpm(const Ctx& c, int slot) {
    const int f = slot - c.model.first_fan_slot;
    if (f < 0 || f >= static_cast<int>(c.s.fans_rpm.size())) return 0;
    return c.s.fans_rpm[static_cast<std::size_t>(f)];
}

std::string dash_joined(const std::array<double, 4>& t, double offset = 0) {
    std::string out;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (i) out += '-';
        out += std::to_string(std::lround(t[i] + offset));
    }
    return out;
}

// bmminer's chip status string: one character per chip ('o' hashing, 'x' idle), grouped.
std::string chip_status(int chips, bool hashing) {
    if (chips <= 0) return "";
    const int group = chips % 38 == 0 ? chips / 38 : 8;
    std::string out;
    for (int i = 0; i < chips; ++i) {
        if (i % group == 0) out += ' ';
        out += hashing ? 'o' : 'x';
    }
    return out;
}

// Share and work counters every report derives from the physics snapshot.
struct Work {
    std::int64_t accepted = 0, rejected = 0, stale = 0, hw = 0;
    double diff_accepted = 0, diff_rejected = 0, diff_stale = 0;
    std::int64_t best_share = 0;
    std::int64_t getworks = 0, discarded = 0, local_work = 0, network_blocks = 0;
    double utility = 0;       // accepted shares per minute
    double work_utility = 0;  // diff-1 shares per minute
    double total_mh = 0;
    double hw_pct = 0, rejected_pct = 0, stale_pct = 0;
};

Work work_of(const Snapshot& s) {
    Work w;
    w.accepted = s.accepted;
    w.rejected = s.rejected;
    w.stale = s.stale;
    w.hw = s.hw_errors;
    w.diff_accepted = static_cast<double>(s.accepted) * kShareDiff;
    w.diff_rejected = static_cast<double>(s.rejected) * kShareDiff;
    w.diff_stale = static_cast<double>(s.stale) * kShareDiff;
    w.best_share = static_cast<std::int64_t>(
        kShareDiff *
        (s.accepted > 0 ? 40.0 + 5.0 * std::sqrt(static_cast<double>(s.accepted)) : 0.0));
    const std::int64_t elapsed = std::max<std::int64_t>(0, s.elapsed_s);
    w.getworks = elapsed / 13 + (elapsed > 0 ? 1 : 0);
    w.discarded = elapsed * 90;
    w.local_work = w.discarded + w.getworks * 2;
    w.network_blocks = elapsed / 600;
    w.utility =
        elapsed > 0 ? static_cast<double>(s.accepted) * 60.0 / static_cast<double>(elapsed) : 0.0;
    w.work_utility = s.hashrate_avg_ths * 1e12 * 60.0 / kTwoTo32;
    w.total_mh = s.work_ths_s * 1e6;
    const double diff1 = s.work_ths_s * 1e12 / kTwoTo32;
    w.hw_pct = diff1 > 0 ? static_cast<double>(s.hw_errors) * 100.0 / diff1 : 0.0;
    const double shares = static_cast<double>(s.accepted + s.rejected + s.stale);
    w.rejected_pct = shares > 0 ? static_cast<double>(s.rejected) * 100.0 / shares : 0.0;
    w.stale_pct = shares > 0 ? static_cast<double>(s.stale) * 100.0 / shares : 0.0;
    return w;
}

// ---------------------------------------------------------------------------------------------
// The RPC reports.

void version_reply(CgOut& o, const Ctx& c) {
    o.status('S', 22, c.legacy ? "BMMiner versions" : "CGMiner versions", c.description);
    o.section("VERSION");
    o.item(true);
    o.str("BMMiner", c.legacy ? "2.0.0" : "1.0.0");
    o.str("API", "3.1");
    o.str("Miner", miner_version(c));
    o.str("CompileTime", c.compile_time);
    o.str("Type", c.type);
    o.end_item();
}

void summary_reply(CgOut& o, const Ctx& c) {
    const Work w = work_of(c.s);
    o.status('S', 11, "Summary", c.description);
    o.section("SUMMARY");
    o.item(true);
    o.integer("Elapsed", c.s.elapsed_s);
    if (c.legacy) {
        // S9-era bmminer prints the 5 s rate as a string.
        o.str("GHS 5s", fixed_string(ghs(c.s.hashrate_ths), 2));
    } else {
        o.fixed("GHS 5s", ghs(c.s.hashrate_ths), 2);
    }
    o.fixed("GHS av", ghs(c.s.hashrate_avg_ths), 2);
    if (!c.legacy) o.fixed("GHS 30m", ghs(c.s.hashrate_1m_ths), 2);
    o.integer("Found Blocks", 0);
    o.integer("Getwork", w.getworks);
    o.integer("Accepted", w.accepted);
    o.integer("Rejected", w.rejected);
    o.integer("Hardware Errors", w.hw);
    o.fixed("Utility", w.utility, 2);
    o.integer("Discarded", w.discarded);
    o.integer("Stale", w.stale);
    o.integer("Get Failures", 0);
    o.integer("Local Work", w.local_work);
    o.integer("Remote Failures", 0);
    o.integer("Network Blocks", w.network_blocks);
    o.fixed("Total MH", w.total_mh, 1);
    o.fixed("Work Utility", w.work_utility, 2);
    o.fixed("Difficulty Accepted", w.diff_accepted, 1);
    o.fixed("Difficulty Rejected", w.diff_rejected, 1);
    o.fixed("Difficulty Stale", w.diff_stale, 1);
    o.integer("Best Share", w.best_share);
    o.fixed("Device Hardware%", w.hw_pct, 4);
    o.fixed("Device Rejected%", w.rejected_pct, 4);
    o.fixed("Pool Rejected%", w.rejected_pct, 4);
    o.fixed("Pool Stale%", w.stale_pct, 4);
    o.integer("Last getwork", unix_seconds(c.now));
    o.end_item();
}

void stats_version_item(CgOut& o, const Ctx& c) {
    o.item(false);
    o.str("BMMiner", c.legacy ? "2.0.0" : "1.0.0");
    o.str("Miner", miner_version(c));
    o.str("CompileTime", c.compile_time);
    o.str("Type", c.type);
    o.end_item();
}

// S19/S21 bmminer ("cgminer 1.0.0"): key order as in the sleeping S19 capture.
void stats_modern(CgOut& o, const Ctx& c) {
    const auto cs = chains(c, 4);
    const int present = present_count(cs);
    const int freq = configured_freq_mhz(c);
    o.status('S', 70, "CGMiner stats", c.description);
    o.section("STATS");
    stats_version_item(o, c);
    o.item(false);
    o.integer("STATS", 0);
    o.str("ID", "BTM_SOC0");
    o.integer("Elapsed", c.s.elapsed_s);
    o.integer("Calls", 0);
    o.integer("Wait", 0);
    o.integer("Max", 0);
    o.integer("Min", 99999999);
    o.fixed("GHS 5s", ghs(c.s.hashrate_ths), 2);
    o.fixed("GHS av", ghs(c.s.hashrate_avg_ths), 2);
    o.fixed("rate_30m", ghs(c.s.hashrate_1m_ths), 2);
    o.integer("Mode", 2);
    o.integer("miner_count", present);
    o.integer("frequency", freq);
    o.integer("fan_num", c.model.fans);
    const int fan_slots = std::max(4, c.model.first_fan_slot - 1 + c.model.fans);
    for (int f = 1; f <= fan_slots; ++f) o.integer("fan" + std::to_string(f), fan_rpm(c, f));
    o.integer("temp_num", present);
    for (const auto& ch : cs) {
        if (!ch.present()) continue;
        const auto n = std::to_string(ch.slot);
        o.integer("temp" + n, std::lround(ch.board->board_temp_max_c));
        o.integer("temp2_" + n, std::lround(ch.board->chip_temp_max_c));
    }
    const auto temps = [&](std::string_view name, bool chip, double offset) {
        for (const auto& ch : cs) {
            std::string v = "0-0-0-0";
            if (ch.present()) {
                v = dash_joined(chip ? ch.board->chip_temps_c : ch.board->pcb_temps_c, offset);
            }
            o.str(std::string(name) + std::to_string(ch.slot), v);
        }
    };
    temps("temp_pcb", false, 0);
    temps("temp_chip", true, 0);
    // The PIC sensors sit ~10 °C below the PCB ones in every capture.
    temps("temp_pic", false, -10);
    o.fixed("total_rateideal", ghs(c.s.expected_ths), 2);
    o.str("rate_unit", "GH");
    o.integer("total_freqavg", freq);
    int total_chips = 0;
    for (const auto& ch : cs) total_chips += ch.present() ? ch.board->chips : 0;
    o.integer("total_acn", total_chips);
    o.fixed("total rate", ghs(c.s.hashrate_avg_ths), 2);
    o.integer("temp_max", 0);
    o.integer("no_matching_work", c.s.hw_errors);
    for (const auto& ch : cs) {
        o.integer("chain_acn" + std::to_string(ch.slot), ch.present() ? ch.board->chips : 0);
    }
    for (const auto& ch : cs) {
        o.str("chain_acs" + std::to_string(ch.slot),
              ch.present() ? chip_status(ch.board->chips, c.s.hashing) : "");
    }
    for (const auto& ch : cs) {
        o.integer("chain_hw" + std::to_string(ch.slot), ch.present() ? ch.board->hw_errors : 0);
    }
    for (const auto& ch : cs) {
        o.str("chain_rate" + std::to_string(ch.slot),
              ch.present() ? fixed_string(ghs(ch.board->hashrate_ths), 2) : "");
    }
    for (const auto& ch : cs) o.integer("freq" + std::to_string(ch.slot), ch.present() ? freq : 0);
    o.str("miner_version", miner_version(c));
    o.str("miner_id", miner_id(c.m));
    o.end_item();
}

// S9-era bmminer: chains 6..8 among 16 slots, fans in fan5/fan6, string 5 s rate, and no comma
// between the two STATS elements. Key set as in tests/fixtures/antminer/s9_hiveon_stats.txt.
void stats_legacy(CgOut& o, const Ctx& c, bool glue) {
    const auto cs = chains(c, 16);
    const int present = present_count(cs);
    const int freq = configured_freq_mhz(c);
    o.status('S', 70, "BMMiner stats", c.description);
    o.section("STATS");
    stats_version_item(o, c);
    if (glue) o.glue_next();
    o.item(false);
    o.integer("STATS", 0);
    o.str("ID", "BC50");
    o.integer("Elapsed", c.s.elapsed_s);
    o.integer("Calls", 0);
    o.fixed("Wait", 0, 6);
    o.fixed("Max", 0, 6);
    o.fixed("Min", 99999999, 6);
    o.str("GHS 5s", fixed_string(ghs(c.s.hashrate_ths), 2));
    o.fixed("GHS av", ghs(c.s.hashrate_avg_ths), 2);
    o.integer("miner_count", present);
    o.str("frequency", std::to_string(freq));
    o.integer("fan_num", c.model.fans);
    for (int f = 1; f <= 8; ++f) o.integer("fan" + std::to_string(f), fan_rpm(c, f));
    o.integer("temp_num", present);
    for (const auto& ch : cs) {
        o.integer("temp" + std::to_string(ch.slot),
                  ch.present() ? std::lround(ch.board->board_temp_max_c) : 0);
    }
    for (const auto& ch : cs) {
        o.integer("temp2_" + std::to_string(ch.slot),
                  ch.present() ? std::lround(ch.board->chip_temp_max_c) : 0);
    }
    for (const auto& ch : cs) o.integer("temp3_" + std::to_string(ch.slot), 0);
    for (const auto& ch : cs) {
        o.fixed("freq_avg" + std::to_string(ch.slot), ch.present() ? freq : 0, 2);
    }
    o.fixed("total_rateideal", ghs(c.s.expected_ths), 2);
    o.fixed("total_freqavg", present > 0 ? freq : 0, 2);
    int total_chips = 0;
    double chip_max = 0;
    for (const auto& ch : cs) {
        if (!ch.present()) continue;
        total_chips += ch.board->chips;
        chip_max = std::max(chip_max, ch.board->chip_temp_max_c);
    }
    o.integer("total_acn", total_chips);
    o.fixed("total_rate", ghs(c.s.hashrate_ths), 2);
    for (const auto& ch : cs) {
        o.fixed("chain_rateideal" + std::to_string(ch.slot),
                ch.present() ? ghs(ch.board->ideal_ths) : 0, 2);
    }
    o.integer("temp_max", std::lround(chip_max));
    o.fixed("Device Hardware%", work_of(c.s).hw_pct, 4);
    o.integer("no_matching_work", c.s.hw_errors);
    for (const auto& ch : cs) {
        o.integer("chain_acn" + std::to_string(ch.slot), ch.present() ? ch.board->chips : 0);
    }
    for (const auto& ch : cs) {
        o.str("chain_acs" + std::to_string(ch.slot),
              ch.present() ? chip_status(ch.board->chips, c.s.hashing) : "");
    }
    for (const auto& ch : cs) {
        o.integer("chain_hw" + std::to_string(ch.slot), ch.present() ? ch.board->hw_errors : 0);
    }
    for (const auto& ch : cs) {
        o.str("chain_rate" + std::to_string(ch.slot),
              ch.present() ? fixed_string(ghs(ch.board->hashrate_ths), 2) : "");
    }
    for (const auto& ch : cs) {
        if (ch.present()) o.str("chain_xtime" + std::to_string(ch.slot), "{}");
    }
    for (const auto& ch : cs) {
        if (ch.present()) o.str("chain_offside_" + std::to_string(ch.slot), "0");
    }
    for (const auto& ch : cs) {
        if (ch.present()) o.str("chain_opencore_" + std::to_string(ch.slot), "0");
    }
    o.str("miner_version", miner_version(c));
    // Per-chain power figures in the firmware's own unit (not watts; ~1/38 of the board's W).
    double power_units = 0;
    for (const auto& ch : cs) {
        const double p = ch.present() ? ch.board->power_w / 38.0 : 0.0;
        power_units += p;
        o.fixed("chain_power" + std::to_string(ch.slot), p, 2);
    }
    o.str("chain_power", fixed_string(power_units, 2) + " (AB)");
    o.end_item();
}

// {"command":"stats","new_api":true} on 2021+ S19/S21 firmware: per-chain arrays.
void write_new_api_stats_object(JsonWriter& w, const Ctx& c) {
    const auto cs = chains(c, 0);
    w.begin_object();
    w.field("elapsed", c.s.elapsed_s);
    w.field("rate_unit", "GH/s");
    write_fixed(w, "rate_5s", ghs(c.s.hashrate_ths), 2);
    write_fixed(w, "rate_30m", ghs(c.s.hashrate_1m_ths), 2);
    write_fixed(w, "rate_avg", ghs(c.s.hashrate_avg_ths), 2);
    write_fixed(w, "rate_ideal", ghs(c.s.expected_ths), 2);
    w.field("chain_num", present_count(cs));
    w.field("fan_num", c.model.fans);
    w.key("fan");
    w.begin_array();
    for (const auto rpm : c.s.fans_rpm) w.value(rpm);
    w.end_array();
    const double diff1 = c.s.work_ths_s * 1e12 / kTwoTo32;
    write_fixed(w, "hwp_total",
                diff1 > 0 ? static_cast<double>(c.s.hw_errors) * 100.0 / diff1 : 0.0, 4);
    w.field("miner-mode", c.m.control.antminer_work_mode);
    w.field("freq-level", 100);
    w.key("chain");
    w.begin_array();
    const int freq = configured_freq_mhz(c);
    for (const auto& ch : cs) {
        if (!ch.present()) continue;
        const BoardSnapshot& b = *ch.board;
        w.begin_object();
        w.field("index", ch.slot - 1);
        w.field("freq_avg", freq);
        write_fixed(w, "rate_ideal", ghs(b.ideal_ths), 2);
        write_fixed(w, "rate_real", ghs(b.hashrate_ths), 2);
        w.field("asic_num", b.chips);
        w.field("asic", chip_status(b.chips, c.s.hashing));
        const auto temps = [&](std::string_view k, const std::array<double, 4>& t, double off) {
            w.key(k);
            w.begin_array();
            for (double v : t) w.value(static_cast<std::int64_t>(std::lround(v + off)));
            w.end_array();
        };
        temps("temp_pic", b.pcb_temps_c, -10);
        temps("temp_pcb", b.pcb_temps_c, 0);
        temps("temp_chip", b.chip_temps_c, 0);
        w.field("hw", b.hw_errors);
        w.field("eeprom_loaded", true);
        w.field("sn", c.m.serial + "B" + std::to_string(ch.slot));
        const double bdiff1 = diff1 / std::max(1, c.model.boards);
        write_fixed(w, "hwp", bdiff1 > 0 ? static_cast<double>(b.hw_errors) * 100.0 / bdiff1 : 0.0,
                    4);
        w.end_object();
    }
    w.end_array();
    w.end_object();
}

std::string stats_new_api(const Ctx& c) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    write_status(w, 'S', 70, "CGMiner stats", c.description, c.now);
    w.key("STATS");
    w.begin_array();
    write_new_api_stats_object(w, c);
    w.end_array();
    w.field("id", 1);
    w.end_object();
    return out;
}

std::string pool_host(std::string_view url) {
    if (const auto p = url.find("://"); p != std::string_view::npos) url.remove_prefix(p + 3);
    if (const auto p = url.rfind(':'); p != std::string_view::npos) url = url.substr(0, p);
    return std::string(url);
}

// The pool the miner works on: the first with a URL.
int active_pool(const SimMiner& m) {
    for (std::size_t i = 0; i < m.pools.size(); ++i) {
        if (!m.pools[i].url.empty()) return static_cast<int>(i);
    }
    return -1;
}

void pools_reply(CgOut& o, const Ctx& c) {
    const Work w = work_of(c.s);
    const int active = active_pool(c.m);
    o.status('S', 7, std::to_string(c.m.pools.size()) + " Pool(s)", c.description);
    o.section("POOLS");
    for (std::size_t i = 0; i < c.m.pools.size(); ++i) {
        const SimPool& p = c.m.pools[i];
        const bool is_active = static_cast<int>(i) == active;
        const bool alive = !p.url.empty();
        o.item(false);
        o.integer("POOL", static_cast<std::int64_t>(i));
        o.str("URL", p.url);
        o.str("Status", alive ? "Alive" : "Dead");
        o.integer("Priority", static_cast<std::int64_t>(i));
        o.integer("Quota", c.legacy ? 0 : 1);
        o.str("Long Poll", "N");
        o.integer("Getworks", is_active ? w.getworks : alive ? 3 : 0);
        o.integer("Accepted", is_active ? w.accepted : 0);
        o.integer("Rejected", is_active ? w.rejected : 0);
        o.integer("Discarded", is_active ? w.discarded : 0);
        o.integer("Stale", is_active ? w.stale : 0);
        o.integer("Get Failures", 0);
        o.integer("Remote Failures", 0);
        o.str("User", p.user);
        o.str("Last Share Time", is_active && c.s.hashing && w.accepted > 0 ? "0:00:03" : "0");
        o.str("Diff", is_active ? suffix_string(kShareDiff) : "");
        o.integer("Diff1 Shares", 0);
        o.str("Proxy Type", "");
        o.str("Proxy", "");
        const int dec = c.legacy ? 8 : 1;
        o.fixed("Difficulty Accepted", is_active ? w.diff_accepted : 0, dec);
        o.fixed("Difficulty Rejected", is_active ? w.diff_rejected : 0, dec);
        o.fixed("Difficulty Stale", is_active ? w.diff_stale : 0, dec);
        o.fixed("Last Share Difficulty", is_active && w.accepted > 0 ? kShareDiff : 0, dec);
        o.boolean("Has Stratum", alive);
        o.boolean("Stratum Active", is_active);
        o.str("Stratum URL", is_active ? pool_host(p.url) : "");
        o.boolean("Has GBT", false);
        const double best = is_active ? static_cast<double>(w.best_share) : 0.0;
        if (c.legacy) {
            // S9-era bmminer prints Best Share as a padded string ("  0.0000").
            std::array<char, 48> buf{};
            std::snprintf(buf.data(), buf.size(), "%8.4f", best);
            o.str("Best Share", buf.data());
            o.fixed("Pool Rejected%", is_active ? w.rejected_pct : 0, 4);
            o.fixed("Pool Stale%", is_active ? w.stale_pct : 0, 4);
        } else {
            o.fixed("Best Share", best, 1);
            o.fixed("Pool Rejected%", is_active ? w.rejected_pct : 0, 2);
            // The doubled percent sign is what S19 bmminer really sends.
            o.fixed("Pool Stale%%", is_active ? w.stale_pct : 0, 2);
        }
        o.end_item();
    }
}

// Stock S19 `devs`: one pseudo-device with zero rates and the `Tenperature` typo.
void devs_reply(CgOut& o, const Ctx& c) {
    const Work w = work_of(c.s);
    const std::int64_t now_s = unix_seconds(c.now);
    o.status('S', 9, "1 ASC(s)", c.description);
    o.section("DEVS");
    o.item(false);
    o.integer("ASC", 0);
    o.str("Name", "BTM_SOC");
    o.integer("ID", 0);
    o.str("Enabled", "Y");
    o.str("Status", "Alive");
    o.fixed("Tenperature", 0, 2);
    o.fixed("MHS av", 0, 2);
    o.fixed("MHS 5s", 0, 2);
    o.integer("Accepted", w.accepted);
    o.integer("Rejected", w.rejected);
    o.integer("Hardware Errors", 0);
    o.fixed("Utility", 0, 2);
    o.integer("Last Share Pool", 0);
    o.integer("Last Share Time", now_s);
    o.fixed("Total MH", 0, 4);
    o.integer("Diff1 Work", 0);
    o.integer("Difficulty Accepted", static_cast<std::int64_t>(w.diff_accepted));
    o.integer("Difficulty Rejected", static_cast<std::int64_t>(w.diff_rejected));
    // bmminer really puts a timestamp here.
    o.integer("Last Share Difficulty", now_s);
    o.integer("Last Valid Work", now_s);
    o.fixed("Device Hardware%", 0, 4);
    o.fixed("Device Rejected%", 0, 4);
    o.integer("Device Elapsed", c.s.elapsed_s);
    o.end_item();
}

void devdetails_reply(CgOut& o, const Ctx& c) {
    o.status('S', 69, "Device Details", c.description);
    o.section("DEVDETAILS");
    o.item(false);
    o.integer("DEVDETAILS", 0);
    o.str("Name", "BTM_SOC");
    o.integer("ID", 0);
    o.str("Driver", "bitmain_soc");
    o.str("Kernel", "");
    o.str("Model", "");
    o.str("Device Path", "");
    o.end_item();
}

std::string answer_one(const Ctx& c, std::string_view command, bool json, bool new_api) {
    CgOut o(json, c.now);
    if (command == "version") {
        version_reply(o, c);
    } else if (command == "summary") {
        summary_reply(o, c);
    } else if (command == "stats") {
        if (new_api && json && !c.legacy) return stats_new_api(c);
        if (c.legacy) {
            stats_legacy(o, c, json);
        } else {
            stats_modern(o, c);
        }
    } else if (command == "pools") {
        pools_reply(o, c);
    } else if (command == "devs") {
        devs_reply(o, c);
    } else if (command == "devdetails") {
        devdetails_reply(o, c);
    } else {
        // estats, edevs, the privileged commands...: bmminer does not know them.
        o.status('E', 14, "Invalid command", c.description);
    }
    return o.finish();
}

std::string error_reply(bool json, int code, std::string_view msg, std::string_view desc,
                        TimePoint now) {
    CgOut o(json, now);
    o.status('E', code, msg, desc);
    return o.finish();
}

// ---------------------------------------------------------------------------------------------
// The web CGI.

HttpResponse json_response(std::string body, unsigned status = 200) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
}

std::string new_nonce() {
    try {
        return crypto::random_token(16);
    } catch (const std::exception&) {
        return "00000000000000000000000000000000";
    }
}

HttpResponse unauthorized() {
    HttpResponse r;
    r.status = 401;
    r.content_type = "text/html";
    r.body =
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html>\n<html><head>"
        "<title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>\n";
    r.headers.emplace_back("WWW-Authenticate", "Digest realm=\"" + std::string(kRealm) +
                                                   "\", nonce=\"" + new_nonce() +
                                                   "\", qop=\"auth\"");
    return r;
}

HttpResponse not_found() {
    HttpResponse r;
    r.status = 404;
    r.content_type = "text/html";
    r.body =
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>"
        "<h1>404 Not Found</h1></body></html>\n";
    return r;
}

// Checks the client's Digest answer (RFC 2617, MD5) for this request against the miner's
// credentials; the digest covers the URI the client asked for, which must be this request's.
bool digest_ok(const SimMiner& m, const HttpRequest& req) {
    // password_ok also fails every password while a password_changed fault is active.
    if (!m.password_ok(m.password)) return false;
    std::string target(req.path);
    if (!req.query.empty()) target += "?" + std::string(req.query);
    return http_digest::verify(req.authorization, kRealm, m.username, m.password, req.method,
                               target);
}

HttpResponse system_info(const SimMiner& m) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("dnsservers", "");
    w.field("firmware_type", "Release");
    w.field("gateway", "");
    w.field("hostname", m.hostname);
    w.field("ipaddress", m.ip_text);
    w.field("macaddr", upper_mac(m.mac));
    w.field("minertype", m.model->name);
    w.field("netdevice", "eth0");
    w.field("netmask", "255.255.255.0");
    w.field("nettype", "DHCP");
    w.field("serinum", m.serial);
    w.field("system_filesystem_version", m.firmware_version);
    w.field("system_kernel_version", m.model->legacy_s9
                                         ? "Linux 3.14.0-xilinx-ge8a2f71-dirty #82 SMP PREEMPT"
                                         : "Linux 4.9.38 #1 SMP PREEMPT " + m.firmware_version);
    w.field("system_mode", "GNU/Linux");
    w.end_object();
    return json_response(std::move(out));
}

// get_miner_conf.cgi is a hand-written template on the firmware: leading blank lines,
// `"key" : value` lines, the comma of the pools array on its own line.
HttpResponse miner_conf(const SimMiner& m) {
    std::string out = "\n\n{\n\"pools\" : [\n";
    for (std::size_t i = 0; i < m.pools.size(); ++i) {
        out += "{\n\"url\" : ";
        append_json_string(out, m.pools[i].url);
        out += ",\n\"user\" : ";
        append_json_string(out, m.pools[i].user);
        out += ",\n\"pass\" : \"x\"\n}";
        out += i + 1 < m.pools.size() ? ",\n" : "\n";
    }
    const int freq = configured_freq_mhz(m);
    out += "]\n,\n";
    out += "\"api-listen\" : true,\n";
    out += "\"api-network\" : true,\n";
    out += "\"api-groups\" : \"A:stats:pools:devs:summary:version\",\n";
    out += "\"api-allow\" : \"A:0/0,W:*\",\n";
    out += "\"bitmain-fan-ctrl\" : false,\n";
    out += "\"bitmain-fan-pwm\" : \"100\",\n";
    out += "\"bitmain-use-vil\" : true,\n";
    out += "\"bitmain-freq\" : \"" + std::to_string(freq) + "\",\n";
    out += "\"bitmain-voltage\" : \"" + std::to_string(configured_voltage_cv(m)) + "\",\n";
    out += "\"bitmain-ccdelay\" : \"0\",\n";
    out += "\"bitmain-pwth\" : \"0\",\n";
    out += "\"bitmain-work-mode\" : \"" + std::to_string(m.control.antminer_work_mode) + "\",\n";
    out += "\"bitmain-freq-level\" : \"100\"\n}\n";
    return json_response(std::move(out));
}

HttpResponse conf_reply(std::string_view stats, std::string_view code, std::string_view msg) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("stats", stats);
    w.field("code", code);
    w.field("msg", msg);
    w.end_object();
    return json_response(std::move(out));
}

HttpResponse conf_error() { return conf_reply("error", "M001", "Invalid parameter!"); }

// miner-mode as an integer or a string of digits ("1"): firmware builds differ.
std::optional<int> parse_mode(const boost::json::value& v) {
    if (v.is_int64()) {
        const auto i = v.get_int64();
        if (i >= 0 && i <= 255) return static_cast<int>(i);
        return std::nullopt;
    }
    if (v.is_uint64()) {
        const auto u = v.get_uint64();
        if (u <= 255) return static_cast<int>(u);
        return std::nullopt;
    }
    if (v.is_string()) {
        const auto s = trim(std::string_view(v.get_string()));
        if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') return s[0] - '0';
    }
    return std::nullopt;
}

HttpResponse set_miner_conf(SimMiner& m, const HttpRequest& req, TimePoint now) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(req.body, ec);
    if (ec || !v.is_object()) return conf_error();
    const auto& o = v.get_object();
    std::optional<int> mode;
    if (const auto* mm = o.if_contains("miner-mode")) {
        mode = parse_mode(*mm);
        if (!mode || (*mode != 0 && *mode != 1 && *mode != 3)) return conf_error();
    }
    std::optional<std::vector<SimPool>> pools;
    if (const auto* p = o.if_contains("pools")) {
        if (!p->is_array()) return conf_error();
        pools.emplace();
        for (const auto& e : p->get_array()) {
            if (!e.is_object()) return conf_error();
            const auto* url = e.get_object().if_contains("url");
            const auto* user = e.get_object().if_contains("user");
            if (!url || !url->is_string() || !user || !user->is_string()) return conf_error();
            // The web UI has three pool slots.
            if (pools->size() < 3) {
                pools->push_back({std::string(url->get_string()), std::string(user->get_string())});
            }
        }
    }
    if (pools) m.pools = std::move(*pools);
    if (mode) {
        m.control.antminer_work_mode = *mode;
        const double nominal = m.model->nominal_w;
        switch (*mode) {
            case 1:
                // A sleep_ignored miner saves the setting and says OK but keeps hashing.
                if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
                break;
            case 3:
                m.wake(now);
                m.physics.set_power_target(now, 0.75 * nominal);
                break;
            default:
                m.wake(now);
                m.physics.set_power_target(now, nominal);
                break;
        }
    }
    return conf_reply("success", "M000", "OK!");
}

HttpResponse reboot(SimMiner& m, TimePoint now) {
    m.physics.reboot(now);
    // The work mode is saved configuration: a miner told to sleep comes back asleep.
    if (m.control.antminer_work_mode == 1 && !m.faults.has(FaultKind::sleep_ignored)) {
        m.physics.sleep(now);
    }
    return conf_reply("success", "R000", "OK!");
}

// The web mirrors' envelope: STATUS is an object here, not an array.
void web_envelope(JsonWriter& w, const SimMiner& m, std::string_view msg, TimePoint now) {
    w.key("STATUS");
    w.begin_object();
    w.field("STATUS", "S");
    w.field("when", unix_seconds(now));
    w.field("Msg", msg);
    w.field("api_version", "1.0.0");
    w.end_object();
    w.key("INFO");
    w.begin_object();
    w.field("miner_version", miner_version(*m.model));
    w.field("CompileTime", m.firmware_version);
    w.field("type", m.model->name);
    w.end_object();
}

HttpResponse web_summary(const Ctx& c) {
    const Work work = work_of(c.s);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    web_envelope(w, c.m, "summary", c.now);
    w.key("SUMMARY");
    w.begin_array();
    w.begin_object();
    w.field("elapsed", c.s.elapsed_s);
    write_fixed(w, "rate_5s", ghs(c.s.hashrate_ths), 2);
    write_fixed(w, "rate_30m", ghs(c.s.hashrate_1m_ths), 2);
    write_fixed(w, "rate_avg", ghs(c.s.hashrate_avg_ths), 2);
    write_fixed(w, "rate_ideal", ghs(c.s.expected_ths), 2);
    w.field("rate_unit", "GH/s");
    w.field("hw_all", c.s.hw_errors);
    w.field("bestshare", work.best_share);
    w.key("status");
    w.begin_array();
    const auto item = [&](std::string_view type, bool ok, int code, std::string_view msg) {
        w.begin_object();
        w.field("type", type);
        w.field("status", ok ? "s" : "e");
        w.field("code", ok ? 0 : code);
        w.field("msg", ok ? "" : msg);
        w.end_object();
    };
    bool boards_ok = true;
    for (const auto& b : c.s.boards) boards_ok = boards_ok && b.alive;
    bool fans_ok = true;
    for (const auto rpm : c.s.fans_rpm) fans_ok = fans_ok && (rpm > 0 || !c.s.hashing);
    const bool temp_ok = c.s.state != SimState::protecting;
    item("rate", boards_ok, 1, "chain lost");
    item("network", true, 0, "");
    item("fans", fans_ok, 2, "fan lost");
    item("temp", temp_ok, 3, "over max temp");
    w.end_array();
    w.end_object();
    w.end_array();
    w.end_object();
    return json_response(std::move(out));
}

HttpResponse web_stats(const Ctx& c) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    web_envelope(w, c.m, "stats", c.now);
    w.key("STATS");
    w.begin_array();
    write_new_api_stats_object(w, c);
    w.end_array();
    w.end_object();
    return json_response(std::move(out));
}

HttpResponse web_pools(const Ctx& c) {
    const Work work = work_of(c.s);
    const int active = active_pool(c.m);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    web_envelope(w, c.m, "pools", c.now);
    w.key("POOLS");
    w.begin_array();
    for (std::size_t i = 0; i < c.m.pools.size(); ++i) {
        const SimPool& p = c.m.pools[i];
        const bool is_active = static_cast<int>(i) == active;
        w.begin_object();
        w.field("index", static_cast<std::int64_t>(i));
        w.field("url", p.url);
        w.field("user", p.user);
        w.field("status", p.url.empty() ? "Dead" : "Alive");
        w.field("priority", static_cast<std::int64_t>(i));
        w.field("getworks", is_active ? work.getworks : 0);
        w.field("accepted", is_active ? work.accepted : 0);
        w.field("rejected", is_active ? work.rejected : 0);
        w.field("discarded", is_active ? work.discarded : 0);
        w.field("stale", is_active ? work.stale : 0);
        w.field("diff", is_active ? suffix_string(kShareDiff) : "");
        w.field("diff1", 0);
        write_fixed(w, "diffa", is_active ? work.diff_accepted : 0, 2);
        write_fixed(w, "diffr", is_active ? work.diff_rejected : 0, 2);
        write_fixed(w, "diffs", is_active ? work.diff_stale : 0, 2);
        write_fixed(w, "lsdiff", is_active && work.accepted > 0 ? kShareDiff : 0, 2);
        w.field("lstime", is_active && c.s.hashing ? "0:00:03" : "0");
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return json_response(std::move(out));
}

HttpResponse index_page(const SimMiner& m) {
    HttpResponse r;
    r.content_type = "text/html";
    r.body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" +
             std::string(m.model->name) + "</title></head><body><div id=\"app\"></div></body>" +
             "</html>\n";
    return r;
}

HttpResponse antminer_http(SimMiner& m, const HttpRequest& req, TimePoint now) {
    // lighttpd protects the whole site, so even unknown paths answer 401 first.
    if (!digest_ok(m, req)) return unauthorized();
    const std::string_view path = req.path;
    if (path == "/" || path == "/index.html") return index_page(m);
    if (path == "/cgi-bin/get_system_info.cgi") return system_info(m);
    if (path == "/cgi-bin/get_miner_conf.cgi") return miner_conf(m);
    if (path == "/cgi-bin/set_miner_conf.cgi") {
        if (req.method != "POST") return conf_error();
        return set_miner_conf(m, req, now);
    }
    if (path == "/cgi-bin/reboot.cgi") return reboot(m, now);
    if (path == "/cgi-bin/get_blink_status.cgi") return json_response("{\"blink\":false}");
    if (path == "/cgi-bin/miner_type.cgi") {
        std::string out;
        JsonWriter w(out);
        w.begin_object();
        w.field("miner_type", m.model->name);
        w.field("subtype", m.model->legacy_s9 ? "" : "zynq7007_NBP1901");
        w.field("fw_version", m.firmware_version);
        w.end_object();
        return json_response(std::move(out));
    }
    if (path == "/cgi-bin/summary.cgi" || path == "/cgi-bin/stats.cgi" ||
        path == "/cgi-bin/pools.cgi") {
        const Snapshot s = m.physics.snapshot(now, m.faults);
        const Ctx c{m,
                    *m.model,
                    s,
                    now,
                    m.model->name,
                    m.firmware_version,
                    m.model->legacy_s9,
                    m.model->legacy_s9 ? "bmminer 1.0.0" : "cgminer 1.0.0"};
        if (path == "/cgi-bin/summary.cgi") return web_summary(c);
        if (path == "/cgi-bin/stats.cgi") return web_stats(c);
        return web_pools(c);
    }
    return not_found();
}

class AntminerFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        // Stock firmware's version string is its build date.
        return bmminer_rpc(m, req, now, m.model->name, m.firmware_version);
    }

    HttpResponse http(SimMiner& m, const HttpRequest& req, TimePoint now) const override {
        try {
            return antminer_http(m, req, now);
        } catch (const std::exception&) {
            HttpResponse r;
            r.status = 500;
            r.content_type = "text/html";
            r.body = "<html><body><h1>500 Internal Server Error</h1></body></html>";
            return r;
        }
    }

    bool has_http() const override { return true; }
};

}  // namespace

RpcReply bmminer_rpc(const SimMiner& m, const RpcRequest& req, TimePoint now, std::string_view type,
                     std::string_view compile_time) {
    const bool legacy = m.model->legacy_s9;
    const std::string_view description = legacy ? "bmminer 1.0.0" : "cgminer 1.0.0";
    RpcReply reply;
    try {
        const Snapshot s = m.physics.snapshot(now, m.faults);
        if (s.state == SimState::booting) {
            // The daemon is not running yet: nothing answers on 4028.
            reply.no_reply = true;
            return reply;
        }
        const Ctx c{m, *m.model, s, now, type, compile_time, legacy, description};
        if (req.command.empty()) {
            if (!req.json) {
                reply.body = error_reply(false, 14, "Invalid command", description, now);
                return reply;
            }
            // cgminer tells apart text that is not JSON from JSON without a command.
            boost::system::error_code ec;
            const auto v = boost::json::parse(req.raw, ec);
            reply.body = !ec && v.is_object()
                             ? error_reply(true, 24, "Missing JSON 'command'", description, now)
                             : error_reply(true, 23, "Invalid JSON", description, now);
            return reply;
        }
        if (req.command.find('+') != std::string::npos) {
            if (!req.json) {
                // Joins exist only in the JSON form.
                reply.body = error_reply(false, 14, "Invalid command", description, now);
                return reply;
            }
            reply.body = *join_multi_command(req.command, [&](std::string_view part) {
                return answer_one(c, part, true, req.new_api);
            });
            return reply;
        }
        reply.body = answer_one(c, req.command, req.json, req.new_api);
        return reply;
    } catch (const std::exception&) {
        reply.no_reply = false;
        reply.body = invalid_command_reply(description, now);
        return reply;
    }
}

const Frontend& antminer_frontend() {
    static const AntminerFrontend f;
    return f;
}

}  // namespace hashwatt::sim
