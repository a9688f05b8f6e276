// Stock Antminer replies -> MinerSample. The key names, units and quirks are those of the real
// captures in tests/fixtures/antminer/ (PROTOCOLS.md §2, §10).
#include "agent/drivers/antminer/parse.hpp"

#include "agent/drivers/ascii_text.hpp"
#include "agent/drivers/bmminer_stats.hpp"
#include "agent/drivers/cgminer_pools.hpp"
#include "agent/drivers/json_fields.hpp"
#include "agent/drivers/sleep_indicator_state.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace json = boost::json;

namespace {

// bmminer prints 16 chain and 8 fan slots at most (S9); anything beyond is ignored.
constexpr int kMaxSlots = 16;
// X17-era stock firmware reports this in stats `Mode` while asleep.
constexpr std::int64_t kModeSleeping = 254;

using json_fields::exact_integer;
using json_fields::field;
using json_fields::first_item;
using json_fields::keep_max;
using json_fields::keep_max_dashed_temp_c;
using json_fields::number;
using json_fields::plausible_temp_c;
using json_fields::text;
using json_fields::usable;
constexpr auto parse_reply = &json_fields::parse_cgminer_reply<AntminerParseError>;
constexpr auto array_section = &json_fields::array_section<AntminerParseError>;

void take_max_value(std::optional<double>& acc, const json::value& v) noexcept {
    if (v.is_string()) {
        keep_max_dashed_temp_c(acc, v.get_string());
    } else {
        keep_max(acc, plausible_temp_c(number(&v)));
    }
}

// bmminer's slot of a chain or fan key, within the slots this driver keeps.
int slot_of(std::string_view key, std::string_view prefix) noexcept {
    return bmminer_slot(key, prefix, kMaxSlots);
}

double ghs_to_ths(double ghs) noexcept { return ghs / 1000.0; }

// ---------------------------------------------------------------------------------------------
// Finding the sections of the replies.

struct Sections {
    json::value joined, version, summary, stats, pools;  // owners
    const json::object* v = nullptr;
    const json::object* sum = nullptr;
    const json::object* st = nullptr;
    const json::object* po = nullptr;
    // Whether the reply was given at all (an error STATUS then explains a missing section).
    bool have_summary = false, have_stats = false;
};

constexpr auto separate = &json_fields::parse_usable_reply<AntminerParseError>;

Sections find_sections(const AntminerReplies& r) {
    Sections s;
    if (r.joined) {
        adopt(s.joined, parse_reply(*r.joined, "summary+stats+pools"));
        const auto* sum = usable(multi_section(s.joined, "summary"));
        const auto* st = usable(multi_section(s.joined, "stats"));
        const auto* po = usable(multi_section(s.joined, "pools"));
        if (!sum || !st || !po) {
            std::string why = "multi-command reply without ";
            why += !sum ? "summary" : !st ? "stats" : "pools";
            if (const auto status = cgminer_status(s.joined); status && !status->msg.empty()) {
                why += " (" + status->msg + ")";
            }
            throw AntminerJoinRefused(why);
        }
        s.sum = sum;
        s.st = st;
        s.po = po;
        s.v = usable(multi_section(s.joined, "version"));
        s.have_summary = s.have_stats = true;
    }
    if (!s.v) s.v = separate(s.version, r.version, "version");
    if (!s.sum) s.sum = separate(s.summary, r.summary, "summary");
    if (!s.st) s.st = separate(s.stats, r.stats, "stats");
    if (!s.po) s.po = separate(s.pools, r.pools, "pools");
    s.have_summary = s.have_summary || r.summary.has_value();
    s.have_stats = s.have_stats || r.stats.has_value();
    return s;
}

// The version and device blocks of the stats reply; a STATS that is not an array is an error.
BmminerStatsBlocks stats_blocks(const json::object* reply) {
    const json::array* a = array_section(reply, "STATS", "stats");
    return a ? bmminer_stats_blocks(*a) : BmminerStatsBlocks{};
}

// ---------------------------------------------------------------------------------------------
// The parts of the sample.

struct Chain {
    std::optional<double> rate_ghs;
    std::optional<double> ideal_ghs;
    std::optional<std::int64_t> chips;
    std::optional<std::int64_t> hw;
    std::optional<double> chip_max;
    std::optional<double> board_max;
    bool rate_reported = false;  // a non-empty chain_rateN
    bool present() const noexcept { return rate_reported || (chips && *chips > 0); }
};

struct Device {
    std::optional<double> ghs_5s, ghs_av, mhs_5s, mhs_av;
    std::optional<std::int64_t> elapsed;
    std::optional<std::int64_t> mode;
    std::optional<std::int64_t> fan_num;
    std::optional<double> rate_ideal;
    std::string_view rate_unit;
    std::optional<double> power_w;
    std::array<Chain, kMaxSlots + 1> chains{};
    std::array<std::optional<std::int64_t>, kMaxSlots + 1> fans{};
};

// "3250 W" (newer stock builds); Hiveon's "34.65 (AB)" is not watts and is ignored.
std::optional<double> watts_string(std::string_view s) noexcept {
    s = trim_ascii(s);
    if (s.size() < 2 || (s.back() != 'W' && s.back() != 'w')) return std::nullopt;
    s.remove_suffix(1);
    const auto v = json_fields::parse_trimmed_decimal(s);
    if (!v || *v <= 0) return std::nullopt;
    return v;
}

// One pass over the device block's keys (a few hundred on an S9).
Device read_device(const json::object& o) {
    Device d;
    for (const auto& kv : o) {
        const std::string_view k = kv.key();
        const json::value& v = kv.value();
        if (k.empty()) continue;
        int n = 0;
        switch (k.front()) {
            case 'G':
                if (k == "GHS 5s")
                    d.ghs_5s = number(&v);
                else if (k == "GHS av")
                    d.ghs_av = number(&v);
                break;
            case 'M':
                if (k == "MHS 5s")
                    d.mhs_5s = number(&v);
                else if (k == "MHS av")
                    d.mhs_av = number(&v);
                else if (k == "Mode")
                    d.mode = exact_integer(&v);
                break;
            case 'E':
                if (k == "Elapsed") d.elapsed = exact_integer(&v);
                break;
            case 'f':
                if (k == "fan_num") {
                    d.fan_num = exact_integer(&v);
                } else if ((n = slot_of(k, "fan")) != 0) {
                    d.fans[static_cast<std::size_t>(n)] = exact_integer(&v);
                }
                break;
            case 't':
                if (k == "total_rateideal") {
                    d.rate_ideal = number(&v);
                } else if ((n = slot_of(k, "temp_chip")) != 0) {
                    take_max_value(d.chains[static_cast<std::size_t>(n)].chip_max, v);
                } else if ((n = slot_of(k, "temp2_")) != 0) {
                    take_max_value(d.chains[static_cast<std::size_t>(n)].chip_max, v);
                } else if ((n = slot_of(k, "temp_pcb")) != 0) {
                    take_max_value(d.chains[static_cast<std::size_t>(n)].board_max, v);
                } else if ((n = slot_of(k, "temp")) != 0) {
                    take_max_value(d.chains[static_cast<std::size_t>(n)].board_max, v);
                }
                break;
            case 'r':
                if (k == "rate_unit") d.rate_unit = text(&v);
                break;
            case 'c':
                if ((n = slot_of(k, "chain_rate")) != 0) {
                    auto& c = d.chains[static_cast<std::size_t>(n)];
                    c.rate_ghs = number(&v);
                    c.rate_reported = c.rate_ghs.has_value();
                } else if ((n = slot_of(k, "chain_rateideal")) != 0) {
                    d.chains[static_cast<std::size_t>(n)].ideal_ghs = number(&v);
                } else if ((n = slot_of(k, "chain_acn")) != 0) {
                    d.chains[static_cast<std::size_t>(n)].chips = exact_integer(&v);
                } else if ((n = slot_of(k, "chain_hw")) != 0) {
                    d.chains[static_cast<std::size_t>(n)].hw = exact_integer(&v);
                } else if (k == "chain_power" && v.is_string()) {
                    d.power_w = watts_string(v.get_string());
                }
                break;
            default:
                break;
        }
    }
    return d;
}

void fill_boards(MinerSample& s, const Device& d, const ModelSpec* model) {
    const int first = model ? model->first_board_index : 0;
    const int last = model ? model->first_board_index + model->boards - 1 : -1;
    bool any_hashing = false;
    for (int i = 1; i <= kMaxSlots; ++i) {
        const auto& c = d.chains[static_cast<std::size_t>(i)];
        any_hashing = any_hashing || (c.rate_ghs && *c.rate_ghs > 0);
    }
    for (int i = 1; i <= kMaxSlots; ++i) {
        const Chain& c = d.chains[static_cast<std::size_t>(i)];
        const bool expected_slot = i >= first && i <= last;
        // Empty slots are skipped, except those where the model has a board: that board is dead
        // (bmminer prints a dead chain exactly like an empty slot).
        if (!c.present() && !expected_slot) continue;
        BoardSample b;
        b.index = i;
        if (c.rate_ghs) b.hashrate_ths = ghs_to_ths(*c.rate_ghs);
        if (c.ideal_ghs && *c.ideal_ghs > 0) b.expected_hashrate_ths = ghs_to_ths(*c.ideal_ghs);
        b.chip_temp_max_c = c.chip_max;
        b.board_temp_max_c = c.board_max;
        b.chips = c.present() ? c.chips.value_or(0) : 0;
        if (model) b.expected_chips = model->chips_per_board;
        if (c.present()) b.hw_errors = c.hw;
        bool ok = b.chips > 0;
        if (ok && b.expected_chips) ok = *b.chips >= *b.expected_chips;
        // A board that does not hash while its neighbours do has failed.
        if (ok && any_hashing) ok = b.hashrate_ths && *b.hashrate_ths > 0;
        b.ok = ok;
        s.boards.push_back(std::move(b));
    }
}

// The fans present, in slot order. bmminer prints more slots than the miner has: S9 fans sit in
// fan5/fan6 behind four zero slots, S19 in fan1..fan4. The model table says where; otherwise the
// first non-zero slot starts the `fan_num` fans.
void fill_fans(MinerSample& s, const Device& d, const ModelSpec* model) {
    int highest = 0;
    int first_nonzero = 0;
    for (int i = 1; i <= kMaxSlots; ++i) {
        const auto& f = d.fans[static_cast<std::size_t>(i)];
        if (!f) continue;
        highest = i;
        if (*f > 0 && first_nonzero == 0) first_nonzero = i;
    }
    if (highest == 0) return;
    const int count =
        static_cast<int>(d.fan_num && *d.fan_num > 0 ? std::min<std::int64_t>(*d.fan_num, kMaxSlots)
                         : model                     ? model->fans
                                                     : 0);
    int start = first_nonzero != 0 ? first_nonzero : 1;
    if (model) {
        // Trust the table unless every fan it names reads 0 while another slot spins (a model
        // variant that numbers its fans differently).
        const int table_start = model->first_fan_slot;
        bool table_spins = false;
        for (int i = table_start; i < table_start + count && i <= kMaxSlots; ++i) {
            const auto& f = d.fans[static_cast<std::size_t>(i)];
            table_spins = table_spins || (f && *f > 0);
        }
        if (table_spins || first_nonzero == 0) start = table_start;
    }
    if (count == 0) {
        // No fan_num and no model: every non-zero slot.
        for (int i = 1; i <= highest; ++i) {
            const auto& f = d.fans[static_cast<std::size_t>(i)];
            if (f && *f > 0) s.fans_rpm.push_back(*f);
        }
        return;
    }
    for (int i = start; i < start + count && i <= kMaxSlots; ++i) {
        const auto& f = d.fans[static_cast<std::size_t>(i)];
        if (f) s.fans_rpm.push_back(std::max<std::int64_t>(0, *f));
    }
}

void fill_pools(MinerSample& s, const json::object* reply) {
    const json::array* a = array_section(reply, "POOLS", "pools");
    if (!a) return;
    s.pools.reserve(a->size());
    bool any_stratum_active = false;
    std::optional<std::size_t> best;  // first alive pool with the lowest priority
    std::optional<std::int64_t> best_priority;
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        PoolSample p = cgminer_pool(*o, &exact_integer);
        any_stratum_active = any_stratum_active || p.active.value_or(false);
        if (p.alive.value_or(false) && !p.url.empty()) {
            const auto prio = exact_integer(o->if_contains("Priority")).value_or(0);
            if (!best_priority || prio < *best_priority) {
                best_priority = prio;
                best = s.pools.size();
            }
        }
        s.pools.push_back(std::move(p));
    }
    if (!any_stratum_active) {
        for (std::size_t i = 0; i < s.pools.size(); ++i) s.pools[i].active = best && *best == i;
    }
}

// summary.cgi: SUMMARY[0].status[] = {type, status, code, msg}; status other than "s" is an
// error the miner reports.
void fill_web_errors(MinerSample& s, std::string_view body) {
    json::value v;
    try {
        adopt(v, parse_cgminer_json(body));
    } catch (const CgminerJsonError&) {
        return;
    }
    const json::object* item = first_item(v.if_object(), "SUMMARY");
    const json::value* list = field(item, "status");
    if (!list || !list->is_array()) return;
    for (const auto& e : list->get_array()) {
        const json::object* o = e.if_object();
        if (!o) continue;
        const std::string_view st = text(o->if_contains("status"));
        if (st.empty() || st == "s") continue;
        MinerErrorReport r;
        const json::value* code = o->if_contains("code");
        if (code && code->is_string() && !code->get_string().empty()) {
            r.code = std::string(code->get_string());
        } else if (const auto c = exact_integer(code)) {
            r.code = std::to_string(*c);
        }
        const std::string_view type = text(o->if_contains("type"));
        const std::string_view msg = text(o->if_contains("msg"));
        r.message = std::string(type);
        if (!msg.empty())
            r.message += r.message.empty() ? std::string(msg) : ": " + std::string(msg);
        if (r.message.empty()) r.message = "status " + std::string(st);
        s.errors.push_back(std::move(r));
    }
}

std::optional<int> work_mode_of(const json::object* conf) {
    const json::value* v = field(conf, "bitmain-work-mode");
    const auto mode = exact_integer(v);
    if (!mode || *mode < 0 || *mode > 255) return std::nullopt;
    return static_cast<int>(*mode);
}

// The state from what is known; see parse_antminer's contract. (An S19 that protects itself
// from overheating shows zero hash rate with its fans at full speed: error, not idle.)
void decide_state(MinerSample& s, bool asleep, bool indicator_known) {
    s.state = state_from_sleep_indicator(s, asleep, indicator_known, kBootingGraceS);
}

void estimate_power(MinerSample& s, const ModelSpec* model) {
    if (s.power_source == PowerSource::measured || !s.hashrate_ths || !model) return;
    // A dead board draws (almost) nothing: estimate for the boards that hash.
    double fraction = 1.0;
    if (!s.boards.empty() && model->boards > 0) {
        const auto hashing = std::count_if(s.boards.begin(), s.boards.end(), [](const auto& b) {
            return b.hashrate_ths && *b.hashrate_ths > 0;
        });
        if (hashing > 0 && hashing < model->boards) {
            fraction = static_cast<double>(hashing) / model->boards;
        }
    }
    const double ths = *s.hashrate_ths;
    s.power_w = ths > 0 ? fraction * estimated_power_w(*model, ths / fraction)
                        : estimated_power_w(*model, 0);
    s.power_source = PowerSource::estimated;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string antminer_model_name(std::string_view type) {
    type = type.substr(0, type.find(" ("));
    type = type.substr(0, type.find('\n'));
    type = trim_ascii(type);
    // Hiveon appends its name to the model: "Antminer S9 Hiveon".
    constexpr std::string_view kHiveon = "hiveon";
    if (type.size() > kHiveon.size() &&
        contains_ignore_case(type.substr(type.size() - kHiveon.size()), kHiveon)) {
        type = trim_ascii(type.substr(0, type.size() - kHiveon.size()));
    }
    return std::string(type);
}

std::string_view antminer_firmware(std::string_view type, std::string_view daemon) {
    if (contains_ignore_case(type, "vnish")) return "vnish";
    if (contains_ignore_case(type, "hiveon") || contains_ignore_case(daemon, "hiveon")) {
        return "hiveon";
    }
    return "stock";
}

std::optional<int> antminer_work_mode(std::string_view miner_conf) {
    try {
        const json::value v = parse_cgminer_json(miner_conf);
        return work_mode_of(v.if_object());
    } catch (const CgminerJsonError&) {
        return std::nullopt;
    }
}

void apply_antminer_web_state(MinerSample& s, std::optional<std::string_view> miner_conf,
                              std::optional<std::string_view> web_summary) {
    if (web_summary) fill_web_errors(s, *web_summary);
    const std::optional<int> mode = miner_conf ? antminer_work_mode(*miner_conf) : std::nullopt;
    // A sample already asleep got there from stats `Mode` 254, which the web does not undo.
    const bool asleep = s.state == MinerState::sleeping || (mode && *mode == 1);
    decide_state(s, asleep, mode.has_value());
    estimate_power(s, s.model ? find_reported_model(*s.model) : nullptr);
}

MinerSample parse_antminer(const AntminerReplies& r) {
    Sections sec = find_sections(r);
    const BmminerStatsBlocks stats = stats_blocks(sec.st);
    const json::object* sum = first_item(sec.sum, "SUMMARY");
    if (!sum && !stats.device) {
        if (!sec.have_summary && !sec.have_stats) {
            throw AntminerParseError("summary, stats: no reply");
        }
        throw AntminerParseError(sec.have_stats ? "stats: no device block in STATS"
                                                : "summary: no SUMMARY section");
    }

    MinerSample s;
    s.up = true;
    s.make = "Bitmain";
    const MinerSample* id = r.identity;

    // Identity.
    json::value sys_owner;
    const json::object* sys = nullptr;
    if (r.system_info) {
        try {
            adopt(sys_owner, parse_cgminer_json(*r.system_info));
            sys = sys_owner.if_object();
        } catch (const CgminerJsonError&) {
            sys = nullptr;  // identity then comes from the RPC and the cache
        }
    }
    const json::object* ver = first_item(sec.v, "VERSION");
    std::string_view type = text(field(ver, "Type"));
    if (type.empty()) type = text(field(stats.version, "Type"));
    std::string_view daemon = text(field(ver, "BMMiner"));
    if (daemon.empty()) daemon = text(field(stats.version, "BMMiner"));
    if (!type.empty()) {
        s.model = antminer_model_name(type);
        s.firmware = std::string(antminer_firmware(type, daemon));
    } else if (const auto t = text(field(sys, "minertype")); !t.empty()) {
        s.model = antminer_model_name(t);
        s.firmware = std::string(antminer_firmware(t, daemon));
    } else if (id) {
        s.model = id->model;
        s.firmware = id->firmware;
    }
    // The web's filesystem version names the firmware build; CompileTime only the daemon's. The
    // cached identity comes before CompileTime so the value does not flip between polls.
    if (const auto fw = text(field(sys, "system_filesystem_version")); !fw.empty()) {
        s.firmware_version = std::string(fw);
    } else if (id && id->firmware_version) {
        s.firmware_version = id->firmware_version;
    } else if (const auto ct = text(field(ver, "CompileTime")); !ct.empty()) {
        s.firmware_version = std::string(ct);
    } else if (const auto ct2 = text(field(stats.version, "CompileTime")); !ct2.empty()) {
        s.firmware_version = std::string(ct2);
    }
    if (sys) {
        std::string_view serial = text(sys->if_contains("serinum"));
        if (serial.empty()) serial = text(sys->if_contains("serial_no"));
        if (!serial.empty()) s.serial = std::string(serial);
        // An unreadable MAC (the anonymised "02:55:97:22:3M:72") is left out.
        s.mac = normalize_mac(text(sys->if_contains("macaddr")));
    }
    if (id) {
        if (!s.serial) s.serial = id->serial;
        if (!s.mac) s.mac = id->mac;
    }
    const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;

    // Hash rates, uptime, errors: summary first, stats when there is no summary.
    Device dev;
    if (stats.device) dev = read_device(*stats.device);
    if (sum) {
        if (auto v = number(sum->if_contains("GHS 5s"))) {
            s.hashrate_ths = ghs_to_ths(*v);
        } else if (auto m = number(sum->if_contains("MHS 5s"))) {
            s.hashrate_ths = *m / 1e6;
        }
        if (auto v = number(sum->if_contains("GHS av"))) {
            s.hashrate_avg_ths = ghs_to_ths(*v);
        } else if (auto m = number(sum->if_contains("MHS av"))) {
            s.hashrate_avg_ths = *m / 1e6;
        }
        s.uptime_s = exact_integer(sum->if_contains("Elapsed"));
        s.hw_errors_total = exact_integer(sum->if_contains("Hardware Errors"));
    }
    if (!s.hashrate_ths) {
        if (dev.ghs_5s)
            s.hashrate_ths = ghs_to_ths(*dev.ghs_5s);
        else if (dev.mhs_5s)
            s.hashrate_ths = *dev.mhs_5s / 1e6;
    }
    if (!s.hashrate_avg_ths) {
        if (dev.ghs_av)
            s.hashrate_avg_ths = ghs_to_ths(*dev.ghs_av);
        else if (dev.mhs_av)
            s.hashrate_avg_ths = *dev.mhs_av / 1e6;
    }
    if (!s.uptime_s) s.uptime_s = dev.elapsed;
    if (dev.rate_ideal && *dev.rate_ideal > 0) {
        s.expected_hashrate_ths = *dev.rate_ideal * json_fields::ths_per_rate_unit(dev.rate_unit);
    }
    if (dev.power_w) {
        s.power_w = dev.power_w;
        s.power_source = PowerSource::measured;
    }

    fill_boards(s, dev, model);
    fill_fans(s, dev, model);
    if (!s.hw_errors_total && stats.device) {
        std::int64_t total = 0;
        bool any = false;
        for (const auto& b : s.boards) {
            if (b.hw_errors) {
                total += *b.hw_errors;
                any = true;
            }
        }
        if (any) s.hw_errors_total = total;
    }
    fill_pools(s, sec.po);

    const bool asleep_rpc = dev.mode && *dev.mode == kModeSleeping;
    if (r.web_summary) fill_web_errors(s, *r.web_summary);
    const std::optional<int> mode = r.miner_conf ? antminer_work_mode(*r.miner_conf) : std::nullopt;
    decide_state(s, asleep_rpc || (mode && *mode == 1), mode.has_value());
    estimate_power(s, model);
    return s;
}

// ---------------------------------------------------------------------------------------------
// Writing the configuration.

std::string antminer_set_conf_body(std::string_view miner_conf, int mode, bool mode_as_string) {
    json::value v;
    try {
        adopt(v, parse_cgminer_json(miner_conf));
    } catch (const CgminerJsonError& e) {
        throw AntminerParseError(std::string("get_miner_conf: ") + e.what());
    }
    const json::object* conf = v.if_object();
    if (!conf) throw AntminerParseError("get_miner_conf: not an object");
    const json::value* pools = conf->if_contains("pools");
    // Without the pools the write would erase them from the miner: refuse.
    if (!pools || !pools->is_array()) throw AntminerParseError("get_miner_conf: no pools");

    json::object out;
    const json::value* level = conf->if_contains("bitmain-freq-level");
    out["freq-level"] =
        level && (level->is_string() || level->is_number()) ? *level : json::value("100");
    if (mode_as_string) {
        out["miner-mode"] = std::to_string(mode);
    } else {
        out["miner-mode"] = mode;
    }
    const json::value* pwm = conf->if_contains("bitmain-fan-pwm");
    out["bitmain-fan-pwm"] =
        pwm && (pwm->is_string() || pwm->is_number()) ? *pwm : json::value("100");
    const json::value* ctrl = conf->if_contains("bitmain-fan-ctrl");
    out["bitmain-fan-ctrl"] = ctrl && ctrl->is_bool() ? ctrl->get_bool() : false;
    json::array list;
    for (const auto& p : pools->get_array()) {
        const json::object* o = p.if_object();
        if (!o) continue;
        json::object e;
        e["url"] = text(o->if_contains("url"));
        e["user"] = text(o->if_contains("user"));
        e["pass"] = text(o->if_contains("pass"));
        list.push_back(std::move(e));
    }
    out["pools"] = std::move(list);
    return json::serialize(out);
}

bool antminer_set_conf_ok(std::string_view reply) {
    const std::string_view t = trim_ascii(reply);
    if (t.size() == 2 && lower_ascii(t[0]) == 'o' && lower_ascii(t[1]) == 'k') return true;
    try {
        const json::value v = parse_cgminer_json(t);
        const json::object* o = v.if_object();
        if (!o) return false;
        if (text(o->if_contains("code")) == "M000") return true;
        return text(o->if_contains("stats")) == "success";
    } catch (const CgminerJsonError&) {
        return false;
    }
}

}  // namespace hashwatt::agent
