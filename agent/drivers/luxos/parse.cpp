// LuxOS replies -> MinerSample. Key names, units and quirks are those of the real captures in
// tests/fixtures/luxos/ (LUXminer 2025.4.8 on an S19k Pro; PROTOCOLS.md §4, §9, §10).
#include "agent/drivers/luxos/parse.hpp"

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

namespace hashwatt::agent::luxos {

namespace json = boost::json;

namespace {

// LUXminer prints four chain slots on three-board machines; anything past 16 is ignored.
constexpr int kMaxSlots = 16;

using json_fields::exact_integer;
using json_fields::field;
using json_fields::first_item;
using json_fields::keep_max;
using json_fields::keep_max_dashed_temp_c;
using json_fields::number;
using json_fields::plausible_temp_c;
using json_fields::text;
using json_fields::usable;
constexpr auto parse_reply = &json_fields::parse_cgminer_reply<ParseError>;

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    }
    return true;
}

// bmminer's slot of a chain or fan key ("chain_acn3" -> 3), within the slots this driver keeps.
int slot_of(std::string_view key, std::string_view prefix) noexcept {
    return bmminer_slot(key, prefix, kMaxSlots);
}

// The model without firmware tags: "Antminer S19k Pro (LuxOS)" / "...\nV1" -> "Antminer S19k Pro".
std::string model_name(std::string_view type) {
    type = type.substr(0, type.find(" ("));
    type = type.substr(0, type.find('\n'));
    return std::string(trim_ascii(type));
}

// ---------------------------------------------------------------------------------------------
// Finding the sections.

constexpr auto array_section = &json_fields::array_section<ParseError>;

constexpr std::array<std::string_view, 11> kCommands{"version", "summary",  "stats", "devs",
                                                     "pools",   "fans",     "temps", "power",
                                                     "config",  "profiles", "events"};
enum Cmd {
    kVersion,
    kSummary,
    kStats,
    kDevs,
    kPools,
    kFans,
    kTemps,
    kPower,
    kConfig,
    kProfiles,
    kEvents
};

struct Sections {
    json::value joined;
    std::array<json::value, kCommands.size()> owners;
    std::array<const json::object*, kCommands.size()> r{};
    const json::object* operator[](Cmd c) const noexcept { return r[c]; }
};

Sections find_sections(const Replies& in) {
    const std::array<const std::optional<std::string_view>*, kCommands.size()> raw{
        &in.version, &in.summary, &in.stats,  &in.devs,     &in.pools, &in.fans,
        &in.temps,   &in.power,   &in.config, &in.profiles, &in.events};
    Sections s;
    if (in.joined) {
        adopt(s.joined, parse_reply(*in.joined, "joined poll"));
        // The join must answer the three every poll needs; a firmware that refuses joins answers
        // with one error STATUS and none of them.
        for (Cmd c : {kSummary, kStats, kConfig}) {
            if (!multi_section(s.joined, kCommands[c])) {
                std::string why = "multi-command reply without " + std::string(kCommands[c]);
                if (const auto st = cgminer_status(s.joined); st && !st->msg.empty()) {
                    why += " (" + st->msg + ")";
                }
                throw JoinRefused(why);
            }
        }
        for (std::size_t i = 0; i < kCommands.size(); ++i) {
            s.r[i] = usable(multi_section(s.joined, kCommands[i]));
        }
    }
    for (std::size_t i = 0; i < kCommands.size(); ++i) {
        if (s.r[i] || !*raw[i]) continue;
        adopt(s.owners[i], parse_reply(**raw[i], kCommands[i]));
        s.r[i] = usable(s.owners[i].if_object());
    }
    return s;
}

// stats: STATS[0] is the version block (Type, Miner), the device block follows it; a STATS that is
// not an array is an error.
BmminerStatsBlocks stats_blocks(const json::object* reply) {
    const json::array* a = array_section(reply, "STATS", "stats");
    return a ? bmminer_stats_blocks(*a) : BmminerStatsBlocks{};
}

// ---------------------------------------------------------------------------------------------
// The parts of the sample.

struct Chain {
    std::optional<std::int64_t> chips;
    std::optional<std::int64_t> expected_chips;  // letters in chain_acsN ('o' ok, 'x' missing)
    std::optional<std::int64_t> hw;
    std::optional<double> rate_avg_ghs;  // chain_rateN: the board's average, not its 5 s rate
    std::optional<double> chip_max;
    std::optional<double> pcb_max;
    bool present() const { return (chips && *chips > 0) || (rate_avg_ghs && *rate_avg_ghs > 0); }
};

struct Device {
    std::array<Chain, kMaxSlots + 1> chains{};  // by slot 1..16
    std::array<std::optional<std::int64_t>, kMaxSlots + 1> fans{};
    std::optional<std::int64_t> fan_num;
    std::optional<double> rate_ideal;
    std::string_view rate_unit;
    std::optional<double> ghs_5s, ghs_av;
    std::optional<std::int64_t> elapsed;
};

Device read_device(const json::object& o) {
    Device d;
    for (const auto& kv : o) {
        const std::string_view k = kv.key();
        const json::value& v = kv.value();
        if (int n = slot_of(k, "chain_acn")) {
            d.chains[static_cast<std::size_t>(n)].chips = exact_integer(&v);
        } else if (int n2 = slot_of(k, "chain_acs")) {
            if (v.is_string()) {
                const std::string_view letters = v.get_string();
                const auto count =
                    std::count_if(letters.begin(), letters.end(), [](char c) { return c != ' '; });
                if (count > 0) d.chains[static_cast<std::size_t>(n2)].expected_chips = count;
            }
        } else if (int n3 = slot_of(k, "chain_hw")) {
            d.chains[static_cast<std::size_t>(n3)].hw = exact_integer(&v);
        } else if (int n4 = slot_of(k, "chain_rate")) {
            d.chains[static_cast<std::size_t>(n4)].rate_avg_ghs = number(&v);
        } else if (int n5 = slot_of(k, "temp_chip")) {
            if (v.is_string()) {
                keep_max_dashed_temp_c(d.chains[static_cast<std::size_t>(n5)].chip_max,
                                       v.get_string());
            }
        } else if (int n6 = slot_of(k, "temp_pcb")) {
            if (v.is_string()) {
                keep_max_dashed_temp_c(d.chains[static_cast<std::size_t>(n6)].pcb_max,
                                       v.get_string());
            }
        } else if (int n7 = slot_of(k, "fan")) {
            d.fans[static_cast<std::size_t>(n7)] = exact_integer(&v);
        }
    }
    d.fan_num = exact_integer(o.if_contains("fan_num"));
    d.rate_ideal = number(o.if_contains("total_rateideal"));
    d.rate_unit = text(o.if_contains("rate_unit"));
    d.ghs_5s = number(o.if_contains("GHS 5s"));
    d.ghs_av = number(o.if_contains("GHS av"));
    d.elapsed = exact_integer(o.if_contains("Elapsed"));
    return d;
}

// Which side of the board a `temps` sensor sits on, from METADATA's labels ("Board Intake
// (top)"); the capture's layout when there is no METADATA.
enum class Side { intake, exhaust, unknown };

struct SensorSides {
    std::array<std::pair<std::string_view, Side>, 4> sides{{{"TopLeft", Side::exhaust},
                                                            {"TopRight", Side::intake},
                                                            {"BottomLeft", Side::exhaust},
                                                            {"BottomRight", Side::intake}}};
};

SensorSides sensor_sides(const json::object* temps) {
    SensorSides s;
    const json::object* meta = first_item(temps, "METADATA");
    if (!meta) return s;
    for (auto& [key, side] : s.sides) {
        const json::object* m = field(meta, key) ? field(meta, key)->if_object() : nullptr;
        const std::string_view label = text(field(m, "Label"));
        if (label.empty()) continue;
        side = contains_ignore_case(label, "intake")    ? Side::intake
               : contains_ignore_case(label, "exhaust") ? Side::exhaust
                                                        : Side::unknown;
    }
    return s;
}

struct BoardTemps {
    std::optional<double> max, intake, exhaust;
};

// temps: TEMPS[] by board ID, four sensors each.
std::vector<std::pair<std::int64_t, BoardTemps>> read_temps(const json::object* temps) {
    std::vector<std::pair<std::int64_t, BoardTemps>> out;
    const json::array* a = array_section(temps, "TEMPS", "temps");
    if (!a) return out;
    const SensorSides sides = sensor_sides(temps);
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        const auto id = exact_integer(o->if_contains("ID"));
        if (!id) continue;
        BoardTemps t;
        for (const auto& [key, side] : sides.sides) {
            const auto c = number(o->if_contains(key));
            if (!c) continue;
            keep_max(t.max, plausible_temp_c(c));
            if (side == Side::intake) keep_max(t.intake, plausible_temp_c(c));
            if (side == Side::exhaust) keep_max(t.exhaust, plausible_temp_c(c));
        }
        out.emplace_back(*id, t);
    }
    return out;
}

struct Dev {
    std::int64_t id = 0;
    std::optional<double> mhs_5s;
    std::optional<double> nominal_mhs;
    std::optional<std::int64_t> hw;
    std::optional<bool> alive;
};

// devs: one entry per board, in no particular order (the capture lists IDs 2, 0, 1).
std::vector<Dev> read_devs(const json::object* devs) {
    std::vector<Dev> out;
    const json::array* a = array_section(devs, "DEVS", "devs");
    if (!a) return out;
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        const auto id = exact_integer(o->if_contains("ID"));
        if (!id || *id < 0 || *id >= kMaxSlots) continue;
        Dev d;
        d.id = *id;
        d.mhs_5s = number(o->if_contains("MHS 5s"));
        d.nominal_mhs = number(o->if_contains("Nominal MHS"));
        d.hw = exact_integer(o->if_contains("Hardware Errors"));
        if (const auto st = text(o->if_contains("Status")); !st.empty()) d.alive = st == "Alive";
        if (text(o->if_contains("Enabled")) == "N") d.alive = false;
        out.push_back(d);
    }
    std::sort(out.begin(), out.end(), [](const Dev& x, const Dev& y) { return x.id < y.id; });
    return out;
}

void fill_boards(MinerSample& s, const Device* dev, const std::vector<Dev>& devs,
                 const std::vector<std::pair<std::int64_t, BoardTemps>>& temps,
                 const ModelSpec* model) {
    const Chain empty;
    auto chain = [&](int slot) -> const Chain& {
        return dev && slot >= 1 && slot <= kMaxSlots ? dev->chains[static_cast<std::size_t>(slot)]
                                                     : empty;
    };
    auto temps_of = [&](std::int64_t id) -> const BoardTemps* {
        for (const auto& [i, t] : temps) {
            if (i == id) return &t;
        }
        return nullptr;
    };
    auto make_board = [&](int slot, const Dev* d) {
        const Chain& c = chain(slot);
        BoardSample b;
        b.index = slot;  // stats numbers chains 1..N; devs/temps IDs are 0..N-1
        if (d && d->mhs_5s) b.hashrate_ths = *d->mhs_5s / 1e6;
        if (d && d->nominal_mhs && *d->nominal_mhs > 0) {
            b.expected_hashrate_ths = *d->nominal_mhs / 1e6;
        }
        b.chips = c.chips;
        b.expected_chips = c.expected_chips;
        if (!b.expected_chips && model) b.expected_chips = model->chips_per_board;
        b.hw_errors = c.hw ? c.hw : d ? d->hw : std::nullopt;
        b.chip_temp_max_c = c.chip_max;
        const BoardTemps* t = temps_of(slot - 1);
        b.board_temp_max_c = t && t->max ? t->max : c.pcb_max;
        if (d && d->alive) {
            b.ok = *d->alive && (!b.chips || *b.chips > 0);
        } else if (b.chips) {
            b.ok = *b.chips > 0;
        }
        s.boards.push_back(std::move(b));
    };
    if (!devs.empty()) {
        for (const Dev& d : devs) make_board(static_cast<int>(d.id) + 1, &d);
        return;
    }
    // No devs reply: the chains stats shows with chips or a rate.
    for (int slot = 1; slot <= kMaxSlots; ++slot) {
        if (chain(slot).present()) make_board(slot, nullptr);
    }
}

void fill_fans(MinerSample& s, const json::object* fans, const Device* dev) {
    if (const json::array* a = array_section(fans, "FANS", "fans")) {
        // FANS IDs are the order of stats fan1..fanN (the capture: 1920, 1920, 2340, 2340 in
        // both); the FAN labels ("FAN4", "FAN2", ...) do not follow it.
        std::vector<std::pair<std::int64_t, std::int64_t>> by_id;
        for (const auto& e : *a) {
            const json::object* o = e.if_object();
            if (!o) continue;
            const auto rpm = exact_integer(o->if_contains("RPM"));
            if (!rpm) continue;
            by_id.emplace_back(exact_integer(o->if_contains("ID"))
                                   .value_or(static_cast<std::int64_t>(by_id.size())),
                               std::max<std::int64_t>(0, *rpm));
        }
        std::stable_sort(by_id.begin(), by_id.end(),
                         [](const auto& x, const auto& y) { return x.first < y.first; });
        for (const auto& [id, rpm] : by_id) s.fans_rpm.push_back(rpm);
        if (!by_id.empty()) return;
    }
    if (!dev) return;
    int count = static_cast<int>(std::clamp<std::int64_t>(dev->fan_num.value_or(0), 0, kMaxSlots));
    if (count == 0) {
        for (int i = 1; i <= kMaxSlots; ++i) {
            const auto& f = dev->fans[static_cast<std::size_t>(i)];
            if (f && *f > 0) s.fans_rpm.push_back(*f);
        }
        return;
    }
    for (int i = 1; i <= count; ++i) {
        const auto& f = dev->fans[static_cast<std::size_t>(i)];
        if (f) s.fans_rpm.push_back(std::max<std::int64_t>(0, *f));
    }
}

void fill_pools(MinerSample& s, const json::object* reply) {
    const json::array* a = array_section(reply, "POOLS", "pools");
    if (!a) return;
    s.pools.reserve(a->size());
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        // LUXminer marks every pool it is connected to (one per group) "Stratum Active".
        s.pools.push_back(cgminer_pool(*o, &exact_integer));
    }
}

// The sleep notice is the curtailment the operator asked for, not a fault.
bool is_sleep_event(std::string_view code) noexcept {
    return equals_ignore_case(code, "SLEEP") || contains_ignore_case(code, "curtail");
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned mp = m > 2 ? m - 3 : m + 9;  // March = 0
    const unsigned doy = (153 * mp + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "2026-04-08T03:38:27+00:00" (events CreatedAt) as Unix seconds; nullopt when not that form.
std::optional<std::int64_t> iso8601_seconds(std::string_view t) noexcept {
    auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > t.size()) return std::nullopt;
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (t[i] < '0' || t[i] > '9') return std::nullopt;
            v = v * 10 + (t[i] - '0');
        }
        return v;
    };
    const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
               mi = digits(14, 2), se = digits(17, 2);
    if (!y || !mo || !d || !h || !mi || !se || *mo < 1 || *mo > 12 || *d < 1 || *d > 31) {
        return std::nullopt;
    }
    std::int64_t secs =
        days_from_civil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86400 +
        *h * 3600 + *mi * 60 + *se;
    // An offset "+hh:mm" / "-hh:mm" after the seconds; "Z" or nothing is UTC.
    if (t.size() >= 25 && (t[19] == '+' || t[19] == '-')) {
        const auto oh = digits(20, 2), om = digits(23, 2);
        if (!oh || !om) return std::nullopt;
        const std::int64_t off = *oh * 3600 + *om * 60;
        secs += t[19] == '+' ? -off : off;
    }
    return secs;
}

// LUXminer keeps its event log across restarts (the capture lists day-old events on a running
// miner): only events since the daemon started (the reply's When minus Elapsed, a minute of
// slack) are current problems. Without the times to tell, an event counts as current.
void fill_events(MinerSample& s, const json::object* reply) {
    const json::array* a = array_section(reply, "EVENTS", "events");
    if (!a) return;
    std::optional<std::int64_t> daemon_start;
    if (const json::object* st = first_item(reply, "STATUS"); st && s.uptime_s) {
        if (const auto when = exact_integer(st->if_contains("When"))) {
            daemon_start = *when - *s.uptime_s - 60;
        }
    }
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        const std::string_view code = text(o->if_contains("Code"));
        if (is_sleep_event(code)) continue;
        if (daemon_start) {
            const auto created = iso8601_seconds(text(o->if_contains("CreatedAt")));
            if (created && *created < *daemon_start) continue;
        }
        MinerErrorReport r;
        if (!code.empty()) r.code = std::string(code);
        r.message = std::string(text(o->if_contains("Description")));
        if (r.message.empty()) r.message = code.empty() ? "event" : std::string(code);
        if (text(o->if_contains("Target")) == "BOARD") {
            if (const auto id = exact_integer(o->if_contains("ID"))) {
                r.message += " (board " + std::to_string(*id) + ")";
            }
        }
        s.errors.push_back(std::move(r));
    }
}

std::optional<double> profile_watts(const json::object* profiles, std::string_view name) {
    const json::array* a = array_section(profiles, "PROFILES", "profiles");
    if (!a || name.empty()) return std::nullopt;
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (o && text(o->if_contains("Profile Name")) == name) {
            return number(o->if_contains("Watts"));
        }
    }
    return std::nullopt;
}

// Without a curtail flag nothing says why a miner that is not hashing stopped: idle. (The
// events that make it an error are those of this run only, see fill_events.)
void decide_state(MinerSample& s, std::optional<bool> curtailed) {
    s.state = state_from_sleep_indicator(s, curtailed.value_or(false), curtailed.has_value(),
                                         kBootingGraceS);
}

std::vector<Profile> profiles_of(const json::object* reply) {
    std::vector<Profile> out;
    const json::array* a = array_section(reply, "PROFILES", "profiles");
    if (!a) throw ParseError("profiles: no PROFILES section");
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        Profile p;
        p.name = std::string(text(o->if_contains("Profile Name")));
        const auto w = number(o->if_contains("Watts"));
        if (p.name.empty() || !w || *w <= 0) continue;
        p.watts = *w;
        p.hashrate_ths = number(o->if_contains("Hashrate"));
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

MinerSample parse_luxos(const Replies& in) { return read_luxos(in).sample; }

Reading read_luxos(const Replies& in) {
    const Sections sec = find_sections(in);
    const BmminerStatsBlocks stats = stats_blocks(sec[kStats]);
    const json::object* sum = first_item(sec[kSummary], "SUMMARY");
    if (!sum && !stats.device) {
        if (!in.joined && !in.summary && !in.stats) throw ParseError("summary, stats: no reply");
        throw ParseError("summary, stats: neither has a usable SUMMARY or device block");
    }
    const json::object* conf = first_item(sec[kConfig], "CONFIG");
    const json::object* ver = first_item(sec[kVersion], "VERSION");
    const MinerSample* id = in.identity;

    Reading out;
    MinerSample& s = out.sample;
    s.up = true;
    s.make = "Bitmain";  // LuxOS runs on Antminers only
    s.firmware = "luxos";

    // Identity: the version reply when fetched, else what stats and config carry every poll.
    std::string_view type = text(field(ver, "Type"));
    if (type.empty()) type = text(field(stats.version, "Type"));
    if (type.empty()) type = text(field(conf, "Model"));
    if (!type.empty()) {
        s.model = model_name(type);
    } else if (id) {
        s.model = id->model;
    }
    std::string_view release = text(field(ver, "Miner"));
    if (release.empty()) release = text(field(stats.version, "Miner"));
    if (!release.empty()) {
        s.firmware_version = std::string(release);
    } else if (id) {
        s.firmware_version = id->firmware_version;
    }
    if (const auto serial = text(field(conf, "SerialNumber")); !serial.empty()) {
        s.serial = std::string(serial);
    } else if (id) {
        s.serial = id->serial;
    }
    s.mac = normalize_mac(text(field(conf, "MACAddr")));
    if (!s.mac && stats.device) s.mac = normalize_mac(text(stats.device->if_contains("miner_id")));
    if (!s.mac && id) s.mac = id->mac;
    const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;

    // Hash rates, uptime: summary first, the stats device block when there is no summary.
    Device dev;
    if (stats.device) dev = read_device(*stats.device);
    if (sum) {
        if (const auto v = number(sum->if_contains("GHS 5s"))) s.hashrate_ths = *v / 1e3;
        if (const auto v = number(sum->if_contains("GHS av"))) s.hashrate_avg_ths = *v / 1e3;
        s.uptime_s = exact_integer(sum->if_contains("Elapsed"));
        s.hw_errors_total = exact_integer(sum->if_contains("Hardware Errors"));
    }
    if (!s.hashrate_ths && dev.ghs_5s) s.hashrate_ths = *dev.ghs_5s / 1e3;
    if (!s.hashrate_avg_ths && dev.ghs_av) s.hashrate_avg_ths = *dev.ghs_av / 1e3;
    if (!s.uptime_s) s.uptime_s = dev.elapsed;
    if (dev.rate_ideal && *dev.rate_ideal > 0) {
        s.expected_hashrate_ths = *dev.rate_ideal * json_fields::ths_per_rate_unit(dev.rate_unit);
    }

    const std::vector<Dev> devs = read_devs(sec[kDevs]);
    const auto temps = read_temps(sec[kTemps]);
    fill_boards(s, stats.device ? &dev : nullptr, devs, temps, model);
    if (!s.expected_hashrate_ths) {
        double total = 0;
        for (const auto& b : s.boards) total += b.expected_hashrate_ths.value_or(0);
        if (total > 0) s.expected_hashrate_ths = total;
    }
    if (!s.hw_errors_total) {
        std::optional<std::int64_t> total;
        for (const auto& b : s.boards) {
            if (b.hw_errors) total = total.value_or(0) + *b.hw_errors;
        }
        s.hw_errors_total = total;
    }
    for (const auto& [board, t] : temps) {
        keep_max(s.inlet_temp_c, plausible_temp_c(t.intake));
        keep_max(s.outlet_temp_c, plausible_temp_c(t.exhaust));
    }
    fill_fans(s, sec[kFans], stats.device ? &dev : nullptr);

    if (const json::object* p = first_item(sec[kPower], "POWER")) {
        if (const auto w = number(p->if_contains("Watts")); w && *w >= 0) {
            s.power_w = *w;
            // PSU false: LUXminer's own estimate, not the power supply's telemetry.
            const json::value* psu = p->if_contains("PSU");
            s.power_source = psu && psu->is_bool() && psu->get_bool() ? PowerSource::measured
                                                                      : PowerSource::estimated;
        }
    }
    out.active_profile = std::string(text(field(conf, "Profile")));
    out.profiles_read = sec[kProfiles] != nullptr;
    if (out.profiles_read) {
        s.power_limit_w = profile_watts(sec[kProfiles], out.active_profile);
    } else if (!out.active_profile.empty() && out.active_profile == in.known_profile) {
        s.power_limit_w = in.known_profile_w;
    }

    fill_pools(s, sec[kPools]);
    fill_events(s, sec[kEvents]);

    // CurtailMode "None" while mining (the capture); anything else is a curtailment (the value
    // while asleep has not been captured: see PROTOCOLS.md §10 item 7).
    std::optional<bool> curtailed;
    if (const json::value* c = field(conf, "CurtailMode"); c && c->is_string()) {
        const std::string_view mode = trim_ascii(c->get_string());
        curtailed = !mode.empty() && !equals_ignore_case(mode, "none");
    }
    decide_state(s, curtailed);
    return out;
}

MinerSample luxos_identity(const MinerSample& s) {
    MinerSample id = identity_fields(s);
    id.power_limit_w = s.power_limit_w;
    return id;
}

Status read_status(std::string_view reply, std::string_view command) {
    const json::value v = parse_reply(reply, command);
    const auto st = cgminer_status(v);
    if (!st) throw ParseError(std::string(command) + ": no STATUS in the reply");
    return Status{status_ok(*st), st->number, st->msg};
}

SessionReply read_session_reply(std::string_view reply, std::string_view command) {
    const json::value v = parse_reply(reply, command);
    const auto st = cgminer_status(v);
    if (!st) throw ParseError(std::string(command) + ": no STATUS in the reply");
    SessionReply out;
    out.status = Status{status_ok(*st), st->number, st->msg};
    if (const json::object* sess = first_item(v.if_object(), "SESSION")) {
        out.session_id = std::string(trim_ascii(text(sess->if_contains("SessionID"))));
    }
    if (out.status.ok && command == "logon" && out.session_id.empty()) {
        throw ParseError("logon: success without a SessionID");
    }
    return out;
}

std::vector<Profile> read_profiles(std::string_view reply) {
    const json::value v = parse_reply(reply, "profiles");
    const json::object* o = v.if_object();
    if (const json::object* sub = multi_section(v, "profiles")) o = sub;
    if (const auto st = o ? cgminer_status(*o) : std::nullopt; st && !status_ok(*st)) {
        throw ParseError("profiles: " + st->msg);
    }
    return profiles_of(o);
}

std::optional<Profile> choose_profile(const std::vector<Profile>& profiles, double target_w) {
    const Profile* best = nullptr;
    for (const auto& p : profiles) {
        if (p.watts <= target_w && (!best || p.watts > best->watts)) best = &p;
    }
    return best ? std::optional<Profile>(*best) : std::nullopt;
}

namespace {

ControlState control_state(const json::object* prof, const json::object* atm,
                           const json::object* config) {
    ControlState c;
    c.profiles = profiles_of(prof);
    const json::object* conf = first_item(config, "CONFIG");
    if (const json::value* e = field(first_item(atm, "ATM"), "Enabled"); e && e->is_bool()) {
        c.atm_enabled = e->get_bool();
    } else if (const json::value* e2 = field(conf, "IsAtmEnabled"); e2 && e2->is_bool()) {
        c.atm_enabled = e2->get_bool();
    }
    if (const auto p = text(field(conf, "Profile")); !p.empty()) c.active_profile = std::string(p);
    return c;
}

}  // namespace

ControlState read_control_state(std::string_view joined) {
    const json::value v = parse_reply(joined, "profiles+atm+config");
    const json::object* prof = usable(multi_section(v, "profiles"));
    const json::object* atm = usable(multi_section(v, "atm"));
    const json::object* config = usable(multi_section(v, "config"));
    if (!prof || !config) {
        std::string why =
            std::string("multi-command reply without ") + (!prof ? "profiles" : "config");
        if (const auto st = cgminer_status(v); st && !st->msg.empty()) why += " (" + st->msg + ")";
        throw JoinRefused(why);
    }
    return control_state(prof, atm, config);
}

ControlState read_control_state(std::string_view profiles, std::optional<std::string_view> atm,
                                std::string_view config) {
    const json::value p = parse_reply(profiles, "profiles");
    const json::value c = parse_reply(config, "config");
    json::value a;
    if (atm) adopt(a, parse_reply(*atm, "atm"));
    const json::object* prof = usable(p.if_object());
    if (!prof) throw ParseError("profiles: refused or not an object");
    const json::object* conf = usable(c.if_object());
    if (!conf) throw ParseError("config: refused or not an object");
    return control_state(prof, usable(a.if_object()), conf);
}

std::string rpc_json(std::string_view command, std::string_view parameter) {
    json::object o;
    o["command"] = command;
    if (!parameter.empty()) o["parameter"] = parameter;
    return json::serialize(o);
}

}  // namespace hashwatt::agent::luxos
