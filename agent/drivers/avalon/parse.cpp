// Avalon replies -> MinerSample. The key names, units and quirks are those of the real captures
// in tests/fixtures/avalon/ (PROTOCOLS.md §6, §10).
#include "agent/drivers/avalon/parse.hpp"

#include "agent/drivers/ascii_text.hpp"
#include "agent/drivers/cgminer_pools.hpp"
#include "agent/drivers/json_fields.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace json = boost::json;

namespace {

// Boards and fans beyond these are ignored (A-series have 2-4 boards and 2-4 fans).
constexpr std::size_t kMaxBoards = 16;
constexpr int kMaxFans = 8;

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

using json_fields::field;
using json_fields::first_item;
using json_fields::plausible_temp_c;
using json_fields::rounded_integer;
using json_fields::text;
using json_fields::usable;
constexpr auto parse_reply = &json_fields::parse_cgminer_reply<AvalonParseError>;

// A whole string as a finite number ("25280.59", "49%"); nullopt for "nan", "-", text. Avalon
// writes fan duty and some ratios with a percent sign, so one trailing '%' is dropped.
std::optional<double> parse_double(std::string_view s) noexcept {
    s = trim_ascii(s);
    if (!s.empty() && s.back() == '%') s.remove_suffix(1);
    return json_fields::parse_decimal(s);
}

// Numbers come as JSON numbers or strings; null is a bare nan the transport repaired.
std::optional<double> number(const json::value* v) noexcept {
    return json_fields::number(v, &parse_double);
}

// A share or error counter: any number, rounded.
std::optional<std::int64_t> count(const json::value* v) noexcept {
    return rounded_integer(number(v));
}

char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool starts_with_ignore_case(std::string_view s, std::string_view upper_prefix) noexcept {
    if (s.size() < upper_prefix.size()) return false;
    for (std::size_t i = 0; i < upper_prefix.size(); ++i) {
        if (upper(s[i]) != upper_prefix[i]) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Finding the sections.

struct Sections {
    json::value joined, version, summary, stats, pools;  // owners
    const json::object* v = nullptr;
    const json::object* sum = nullptr;
    const json::object* st = nullptr;
    const json::object* po = nullptr;
};

constexpr auto separate = &json_fields::parse_usable_reply<AvalonParseError>;

Sections find_sections(const AvalonReplies& r) {
    Sections s;
    if (r.joined) {
        adopt(s.joined, parse_reply(*r.joined, "summary+estats+pools"));
        const json::object* st = usable(multi_section(s.joined, "estats"));
        if (!st) st = usable(multi_section(s.joined, "stats"));
        if (!st) {
            std::string why = "multi-command reply without estats";
            if (const auto status = cgminer_status(s.joined); status && !status->msg.empty()) {
                why += " (" + status->msg + ")";
            }
            throw AvalonJoinRefused(why);
        }
        s.st = st;
        s.sum = usable(multi_section(s.joined, "summary"));
        s.po = usable(multi_section(s.joined, "pools"));
        s.v = usable(multi_section(s.joined, "version"));
    }
    if (!s.v) s.v = separate(s.version, r.version, "version");
    if (!s.sum) s.sum = separate(s.summary, r.summary, "summary");
    if (!s.st) s.st = separate(s.stats, r.stats, "estats");
    if (!s.po) s.po = separate(s.pools, r.pools, "pools");
    return s;
}

// The device block of STATS (ID "AVA10…", with the MM ID0 string); pool records follow it in
// `stats` replies.
const json::object* device_block(const json::object* stats) {
    const json::value* v = field(stats, "STATS");
    if (!v) throw AvalonParseError("estats: no STATS section");
    const json::array* a = v->if_array();
    if (!a) throw AvalonParseError("estats: STATS is not an array");
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (o && o->contains("MM ID0")) return o;
    }
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        for (const auto& kv : *o) {
            // Avalon Q / nano write "MM ID0:Summary" = "'STATS':{…}", a different format.
            if (kv.key().starts_with("MM ID0:")) {
                throw AvalonParseError(
                    "estats: MM ID0:Summary (Avalon Q / nano format) is not supported");
            }
        }
    }
    throw AvalonParseError("estats: STATS has no MM ID0 string");
}

// ---------------------------------------------------------------------------------------------
// The MM ID0 string.

struct Mm {
    std::string_view ver, dna, system_status;
    std::optional<double> elapsed, hw, temp, tmax, ghs_spd, ghs_avg, ghs_mm, wall_power, mpo;
    std::optional<double> soft_off, work_mode;
    std::vector<std::optional<double>> ps, mghs, mtmax, mtavg, echu;
    std::optional<double> ecmm;
    std::vector<std::optional<double>> fans;  // Fan1.. by number; nullopt = slot not reported
};

std::optional<double> single(std::string_view value) noexcept { return parse_double(value); }

// "Fan3" -> 3; 0 when the key is not Fan<digits>.
int fan_slot(std::string_view key) noexcept {
    if (!key.starts_with("Fan") || key.size() == 3 || key.size() > 4) return 0;
    const char c = key[3];
    return c >= '1' && c <= '9' ? c - '0' : 0;
}

Mm read_mm(std::string_view mm) {
    Mm m;
    const std::vector<MmToken> tokens = avalon_mm_tokens(mm);
    if (tokens.empty()) throw AvalonParseError("estats: MM ID0 holds no Key[value] tokens");
    for (const MmToken& t : tokens) {
        const std::string_view k = t.key;
        const std::string_view v = t.value;
        // Dispatch on the first letter keeps the per-token cost at a few comparisons.
        switch (k.empty() ? '\0' : k.front()) {
            case 'D':
                if (k == "DNA") m.dna = trim_ascii(v);
                break;
            case 'E':
                if (k == "Elapsed") {
                    m.elapsed = single(v);
                } else if (k == "ECHU") {
                    m.echu = avalon_numbers(v);
                } else if (k == "ECMM") {
                    m.ecmm = single(v);
                }
                break;
            case 'F':
                if (const int slot = fan_slot(k); slot > 0 && slot <= kMaxFans) {
                    if (m.fans.size() < static_cast<std::size_t>(slot)) {
                        m.fans.resize(static_cast<std::size_t>(slot));
                    }
                    m.fans[static_cast<std::size_t>(slot - 1)] = single(v);
                }
                break;
            case 'G':
                if (k == "GHSspd") {
                    m.ghs_spd = single(v);
                } else if (k == "GHSavg") {
                    m.ghs_avg = single(v);
                } else if (k == "GHSmm") {
                    m.ghs_mm = single(v);
                }
                break;
            case 'H':
                if (k == "HW") m.hw = single(v);
                break;
            case 'M':
                if (k == "MGHS") {
                    m.mghs = avalon_numbers(v);
                } else if (k == "MTmax") {
                    m.mtmax = avalon_numbers(v);
                } else if (k == "MTavg") {
                    m.mtavg = avalon_numbers(v);
                } else if (k == "MPO") {
                    m.mpo = single(v);
                }
                break;
            case 'P':
                if (k == "PS") m.ps = avalon_numbers(v);
                break;
            case 'S':
                if (k == "SYSTEMSTATU") {
                    m.system_status = v;
                } else if (k == "SoftOFF") {
                    m.soft_off = single(v);
                }
                break;
            case 'T':
                if (k == "Temp") {
                    m.temp = single(v);
                } else if (k == "TMax") {
                    m.tmax = single(v);
                }
                break;
            case 'V':
                if (k == "Ver") m.ver = trim_ascii(v);
                break;
            case 'W':
                if (k == "WALLPOWER") {
                    m.wall_power = single(v);
                } else if (k == "WORKMODE") {
                    m.work_mode = single(v);
                }
                break;
            default:
                break;
        }
    }
    return m;
}

std::optional<double> at(const std::vector<std::optional<double>>& v, std::size_t i) noexcept {
    return i < v.size() ? v[i] : std::nullopt;
}

std::optional<double> positive(std::optional<double> v) noexcept {
    return v && *v > 0 ? v : std::nullopt;
}

bool contains(std::string_view hay, std::string_view needle) noexcept {
    return hay.find(needle) != std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// The parts of the sample.

void fill_identity(MinerSample& s, const json::object* ver, const Mm& mm, const MinerSample* id) {
    const json::object* v = first_item(ver, "VERSION");
    const std::string_view prod = text(field(v, "PROD"));
    const std::string_view model = text(field(v, "MODEL"));
    if (!prod.empty() || !model.empty()) {
        s.model = avalon_model_name(prod, model);
    } else if (!mm.ver.empty()) {
        // Ver[1246-81-21030201_…]: the model number leads, the firmware build ends it.
        const std::string_view number = mm.ver.substr(0, mm.ver.find('-'));
        if (!number.empty() && number != mm.ver) s.model = "AvalonMiner " + std::string(number);
    }
    if (!s.model && id) s.model = id->model;
    if (s.model && s.model->empty()) s.model.reset();

    if (const auto fw = trim_ascii(text(field(v, "VERSION"))); !fw.empty()) {
        s.firmware_version = std::string(fw);
    } else if (id && id->firmware_version) {
        s.firmware_version = id->firmware_version;
    } else if (const auto dash = mm.ver.rfind('-'); dash != std::string_view::npos) {
        s.firmware_version = std::string(mm.ver.substr(dash + 1));
    }
    if (const auto dna = trim_ascii(text(field(v, "DNA"))); !dna.empty()) {
        s.serial = std::string(dna);
    } else if (!mm.dna.empty()) {
        s.serial = std::string(mm.dna);
    } else if (id) {
        s.serial = id->serial;
    }
    s.mac = normalize_mac(text(field(v, "MAC")));
    if (!s.mac && id) s.mac = id->mac;
}

void fill_pools(MinerSample& s, const json::object* reply) {
    const json::array* a = json_fields::array_section<AvalonParseError>(reply, "POOLS", "pools");
    if (!a) return;
    s.pools.reserve(a->size());
    for (const auto& e : *a) {
        const json::object* o = e.if_object();
        if (!o) continue;
        PoolSample p = cgminer_pool(*o, &count);
        if (p.url.empty()) continue;  // unused slot
        s.pools.push_back(std::move(p));
    }
}

void fill_boards(MinerSample& s, const Mm& mm, const ModelSpec* model) {
    const std::size_t n = std::min(kMaxBoards, std::max(mm.mghs.size(), mm.mtmax.size()));
    s.boards.reserve(n);
    for (std::size_t b = 0; b < n; ++b) {
        BoardSample bs;
        bs.index = static_cast<int>(b);
        if (const auto ghs = at(mm.mghs, b)) bs.hashrate_ths = *ghs / 1000.0;
        bs.chip_temp_max_c = plausible_temp_c(at(mm.mtmax, b));
        // MTavg (the board's chip average) is the closest figure to a board temperature A-series
        // firmware gives (PROTOCOLS.md §9).
        bs.board_temp_max_c = plausible_temp_c(at(mm.mtavg, b));
        if (model && model->chips_per_board > 0) bs.expected_chips = model->chips_per_board;
        if (bs.hashrate_ths) bs.ok = *bs.hashrate_ths > 0;
        s.boards.push_back(bs);
    }
}

void fill_errors(MinerSample& s, const Mm& mm) {
    for (std::size_t b = 0; b < mm.echu.size() && b < kMaxBoards; ++b) {
        const auto flags = rounded_integer(mm.echu[b]);
        if (!flags || *flags == 0) continue;
        MinerErrorReport r;
        r.code = "ECHU" + std::to_string(b) + ":" + std::to_string(*flags);
        r.message = "hash board " + std::to_string(b) + " reports error flags " +
                    std::to_string(*flags) + " (ECHU)";
        s.errors.push_back(std::move(r));
    }
    if (const auto flags = rounded_integer(mm.ecmm); flags && *flags != 0) {
        MinerErrorReport r;
        r.code = "ECMM:" + std::to_string(*flags);
        r.message = "controller reports error flags " + std::to_string(*flags) + " (ECMM)";
        s.errors.push_back(std::move(r));
    }
}

void decide_state(MinerSample& s, const Mm& mm) {
    const bool hashing = s.hashrate_ths && *s.hashrate_ths > 0;
    const bool soft_off_known = mm.soft_off.has_value();
    const bool soft_off = soft_off_known && *mm.soft_off != 0;
    const bool idle_text = contains(mm.system_status, "In Idle");
    if (hashing) {
        // A miner winding down after softoff still hashes for a few seconds: mining until then.
        s.state = MinerState::mining;
    } else if (soft_off || (!soft_off_known && idle_text)) {
        s.state = MinerState::sleeping;
    } else if (s.uptime_s && *s.uptime_s < kAvalonBootingGraceS &&
               !(s.hashrate_avg_ths && *s.hashrate_avg_ths > 0)) {
        // Early and nothing hashed since cgminer started. (A miner that hashed and stopped, as
        // on overheat protection, has an average above 0: that is not booting.)
        s.state = MinerState::booting;
    } else if (!s.hashrate_ths) {
        // The hash rate is unknown (nan): no grounds to call it failed.
        s.state = MinerState::idle;
    } else if (soft_off_known || !s.errors.empty()) {
        // Not hashing, not told to sleep, long past start-up: overheat protection, lost boards.
        s.state = MinerState::error;
    } else {
        s.state = MinerState::idle;
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<MmToken> avalon_mm_tokens(std::string_view mm) {
    std::vector<MmToken> out;
    out.reserve(96);  // an A-series estats string has ~70-90 tokens
    std::size_t pos = 0;
    while (pos < mm.size()) {
        const std::size_t open = mm.find('[', pos);
        if (open == std::string_view::npos) break;
        const std::size_t close = mm.find(']', open + 1);
        if (close == std::string_view::npos) break;  // cut off: the last value is unreliable
        const std::string_view key = trim_ascii(mm.substr(pos, open - pos));
        if (!key.empty()) out.push_back({key, mm.substr(open + 1, close - open - 1)});
        pos = close + 1;
    }
    return out;
}

std::vector<std::optional<double>> avalon_numbers(std::string_view value) {
    std::vector<std::optional<double>> out;
    std::size_t pos = 0;
    while (pos < value.size()) {
        while (pos < value.size() && is_space(value[pos])) ++pos;
        if (pos >= value.size()) break;
        std::size_t end = pos;
        while (end < value.size() && !is_space(value[end])) ++end;
        out.push_back(parse_double(value.substr(pos, end - pos)));
        pos = end;
    }
    return out;
}

std::string avalon_model_name(std::string_view prod, std::string_view model) {
    std::string_view name = trim_ascii(prod.substr(0, prod.find('-')));
    const std::string_view number = trim_ascii(model.substr(0, model.find('-')));
    // pyasic: for these the PROD does not name the model, MODEL does.
    const bool vague = starts_with_ignore_case(name, "AVALONNANO") ||
                       (starts_with_ignore_case(name, "AVALONMINER 15") && name.size() <= 14);
    if ((name.empty() || vague) && !number.empty()) {
        const bool digits =
            std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
        return digits ? "AvalonMiner " + std::string(number) : std::string(number);
    }
    return std::string(name);
}

MinerSample parse_avalon(const AvalonReplies& r) {
    Sections sec = find_sections(r);
    if (!sec.st) {
        if (r.stats || r.joined) throw AvalonParseError("estats: error reply");
        throw AvalonParseError("estats: no reply");
    }
    const json::object* dev = device_block(sec.st);
    const json::value* mm_value = dev->if_contains("MM ID0");
    if (!mm_value->is_string()) throw AvalonParseError("estats: MM ID0 is not a string");
    const Mm mm = read_mm(mm_value->get_string());

    MinerSample s;
    s.up = true;
    s.make = "Canaan";
    s.firmware = "stock";
    fill_identity(s, sec.v, mm, r.identity);
    const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;

    const json::object* sum = first_item(sec.sum, "SUMMARY");

    // Hash rates (GH/s in the MM string, MH/s in the summary).
    if (mm.ghs_spd) {
        s.hashrate_ths = *mm.ghs_spd / 1000.0;
    } else if (sum) {
        for (std::string_view key : {"MHS 30s", "MHS 5s", "MHS 1m"}) {
            if (const json::value* v = sum->if_contains(key)) {
                if (const auto mhs = number(v)) s.hashrate_ths = *mhs / 1e6;
                break;  // present but nan: unknown, not an older window
            }
        }
    }
    if (sum && sum->contains("MHS av")) {
        // The summary's own average; a bare nan there (a10xx capture) stays unknown.
        if (const auto mhs = number(sum->if_contains("MHS av"))) s.hashrate_avg_ths = *mhs / 1e6;
    } else if (mm.ghs_avg) {
        s.hashrate_avg_ths = *mm.ghs_avg / 1000.0;
    } else if (!mm.mghs.empty()) {
        double total = 0;
        bool all = true;
        for (const auto& g : mm.mghs) {
            if (!g) all = false;
            total += g.value_or(0);
        }
        if (all) s.hashrate_avg_ths = total / 1000.0;
    }
    if (const auto mm_ghs = positive(mm.ghs_mm)) s.expected_hashrate_ths = *mm_ghs / 1000.0;

    // Power: the wall figure when the firmware has it, else the PSU's DC output.
    if (const auto wall = positive(mm.wall_power)) {
        s.power_w = wall;
        s.power_source = PowerSource::measured;
    } else if (const auto dc = positive(at(mm.ps, 4))) {
        s.power_w = dc;
        s.power_source = PowerSource::estimated;
    } else if (model && s.hashrate_ths) {
        s.power_w = estimated_power_w(*model, *s.hashrate_ths);
        s.power_source = PowerSource::estimated;
    }
    s.power_limit_w = positive(mm.mpo);

    // Uptime and counters: the summary, else the stats block, else the MM string.
    if (sum) {
        s.uptime_s = rounded_integer(number(sum->if_contains("Elapsed")));
        s.hw_errors_total = rounded_integer(number(sum->if_contains("Hardware Errors")));
    }
    if (!s.uptime_s) s.uptime_s = rounded_integer(number(dev->if_contains("Elapsed")));
    if (!s.uptime_s) s.uptime_s = rounded_integer(mm.elapsed);
    if (!s.hw_errors_total) s.hw_errors_total = rounded_integer(mm.hw);

    for (const auto& f : mm.fans) {
        if (const auto rpm = rounded_integer(f); rpm && *rpm >= 0) s.fans_rpm.push_back(*rpm);
    }
    s.inlet_temp_c = plausible_temp_c(mm.temp);
    fill_boards(s, mm, model);
    // TMax covers the chips when the per-board list is missing.
    if (s.boards.empty() && plausible_temp_c(mm.tmax)) {
        BoardSample b;
        b.chip_temp_max_c = plausible_temp_c(mm.tmax);
        s.boards.push_back(b);
    }
    fill_errors(s, mm);
    fill_pools(s, sec.po);
    decide_state(s, mm);
    return s;
}

AscsetReply parse_avalon_ascset(std::string_view raw, std::string_view option) {
    const json::value v = parse_reply(raw, "ascset");
    const auto st = cgminer_status(v);
    if (!st) throw AvalonParseError("ascset: reply without STATUS");
    AscsetReply r;
    r.status = st->code;
    r.code = st->number;
    r.message = st->msg;
    r.ok = status_ok(*st);
    if (option == "softoff" || option == "softon") r.ok = r.ok && contains(r.message, "success");
    return r;
}

std::vector<MmToken> avalon_ascset_info(std::string_view message) {
    const auto colon = message.find("info:");
    return avalon_mm_tokens(colon == std::string_view::npos ? message : message.substr(colon + 5));
}

double avalon_work_mode_power_w(int mode, double nominal_w, double max_w) noexcept {
    switch (mode) {
        case kAvalonWorkModeLow:
            return 0.8 * nominal_w;
        case kAvalonWorkModeHigh:
            return std::min(1.1 * nominal_w, max_w);
        default:
            return nominal_w;
    }
}

std::optional<int> avalon_work_mode_for(double target_w, double nominal_w, double max_w) noexcept {
    for (int mode : {kAvalonWorkModeHigh, kAvalonWorkModeNormal, kAvalonWorkModeLow}) {
        if (avalon_work_mode_power_w(mode, nominal_w, max_w) <= target_w) return mode;
    }
    return std::nullopt;
}

}  // namespace hashwatt::agent
