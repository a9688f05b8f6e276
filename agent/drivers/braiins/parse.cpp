// Braiins OS replies -> MinerSample. Key names, units and quirks are those of the real captures in
// tests/fixtures/braiins/ (PROTOCOLS.md §3, §9, §10).
#include "agent/drivers/braiins/parse.hpp"

#include "agent/drivers/ascii_text.hpp"
#include "agent/drivers/json_fields.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace json = boost::json;

namespace {

constexpr int kStatusNotStarted = 1;
constexpr int kStatusNormal = 2;
constexpr int kStatusPaused = 3;
constexpr int kStatusSuspended = 4;
// A board or fan list longer than this is not a miner's; the rest is ignored.
constexpr std::size_t kMaxItems = 64;

using json_fields::field;
using json_fields::keep_max;
using json_fields::object_at;
using json_fields::plausible_temp_c;
using json_fields::text;
using json_fields::usable;
constexpr auto parse_reply = &json_fields::parse_cgminer_reply<BraiinsParseError>;

// A quoted number as Braiins OS writes it: spaces around it are tolerated, a sign '+' or other
// whitespace is not (stricter than the other drivers' readers, and kept so).
std::optional<double> parse_double(std::string_view s) noexcept {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') return std::nullopt;
    return json_fields::parse_decimal(s);
}

std::optional<double> number(const json::value* v) noexcept {
    return json_fields::number(v, &parse_double);
}

// Braiins counts are read through double and rounded (the Antminer reader takes JSON integers
// exactly instead).
std::optional<std::int64_t> integer(const json::value* v) noexcept {
    return json_fields::rounded_integer(number(v));
}

// REST wraps every quantity in an object naming its unit: {"gigahash_per_second": 141463.5}.
std::optional<double> unit_value(const json::object* o, std::string_view key,
                                 std::string_view unit) noexcept {
    return number(field(object_at(o, key), unit));
}

void take_min(std::optional<double>& acc, std::optional<double> c) noexcept {
    if (c && (!acc || *c < *acc)) acc = c;
}

// The array `key` of an RPC reply (SUMMARY, DEVS, TEMPS, ...).
constexpr auto section = &json_fields::array_section<BraiinsParseError>;

const json::object* first_item(const json::object* reply, std::string_view key,
                               std::string_view command) {
    const json::array* a = section(reply, key, command);
    if (!a || a->empty()) return nullptr;
    return a->front().if_object();
}

// ---------------------------------------------------------------------------------------------
// Finding the replies.

struct Rpc {
    json::value joined, version, summary, devs, temps, fans, pools, tuner, devdetails;  // owners
    const json::object* v = nullptr;
    const json::object* sum = nullptr;
    const json::object* dv = nullptr;
    const json::object* tp = nullptr;
    const json::object* fn = nullptr;
    const json::object* po = nullptr;
    const json::object* tu = nullptr;
    const json::object* dd = nullptr;
    bool summary_given = false;
};

const json::object* separate(json::value& owner, std::optional<std::string_view> raw,
                             std::string_view command) {
    if (!raw) return nullptr;
    adopt(owner, parse_reply(*raw, command));
    const json::object* o = owner.if_object();
    if (!o) throw BraiinsParseError(std::string(command) + ": reply is not a JSON object");
    return usable(o);
}

Rpc find_rpc(const BraiinsReplies& r) {
    Rpc s;
    if (r.joined) {
        adopt(s.joined, parse_reply(*r.joined, kBraiinsTelemetryJoin));
        s.sum = usable(multi_section(s.joined, "summary"));
        if (!s.sum) {
            std::string why = "multi-command reply without summary";
            if (const auto status = cgminer_status(s.joined); status && !status->msg.empty()) {
                why += " (" + status->msg + ")";
            }
            throw BraiinsJoinRefused(why);
        }
        s.summary_given = true;
        s.dv = usable(multi_section(s.joined, "devs"));
        s.tp = usable(multi_section(s.joined, "temps"));
        s.fn = usable(multi_section(s.joined, "fans"));
        s.po = usable(multi_section(s.joined, "pools"));
        s.tu = usable(multi_section(s.joined, "tunerstatus"));
        s.v = usable(multi_section(s.joined, "version"));
        s.dd = usable(multi_section(s.joined, "devdetails"));
    }
    if (!s.sum) s.sum = separate(s.summary, r.summary, "summary");
    if (!s.dv) s.dv = separate(s.devs, r.devs, "devs");
    if (!s.tp) s.tp = separate(s.temps, r.temps, "temps");
    if (!s.fn) s.fn = separate(s.fans, r.fans, "fans");
    if (!s.po) s.po = separate(s.pools, r.pools, "pools");
    if (!s.tu) s.tu = separate(s.tuner, r.tunerstatus, "tunerstatus");
    if (!s.v) s.v = separate(s.version, r.version, "version");
    if (!s.dd) s.dd = separate(s.devdetails, r.devdetails, "devdetails");
    s.summary_given = s.summary_given || r.summary.has_value();
    return s;
}

struct Rest {
    json::value details, stats, hashboards, cooling, configuration, pools;  // owners
    const json::object* det = nullptr;
    const json::object* st = nullptr;
    const json::object* hb = nullptr;
    const json::object* co = nullptr;
    const json::object* cf = nullptr;
    const json::array* po = nullptr;
};

const json::value* rest_body(json::value& owner, std::optional<std::string_view> raw,
                             std::string_view route) {
    if (!raw) return nullptr;
    adopt(owner, parse_reply(*raw, route));
    return &owner;
}

const json::object* rest_object(json::value& owner, std::optional<std::string_view> raw,
                                std::string_view route) {
    const json::value* v = rest_body(owner, raw, route);
    if (!v) return nullptr;
    const json::object* o = v->if_object();
    if (!o) throw BraiinsParseError(std::string(route) + ": not a JSON object");
    return o;
}

Rest find_rest(const BraiinsReplies& r) {
    Rest s;
    s.det = rest_object(s.details, r.details, "miner/details");
    s.st = rest_object(s.stats, r.stats, "miner/stats");
    s.hb = rest_object(s.hashboards, r.hashboards, "miner/hw/hashboards");
    s.co = rest_object(s.cooling, r.cooling, "cooling/state");
    s.cf = rest_object(s.configuration, r.configuration, "configuration/miner");
    if (const json::value* v = rest_body(s.pools, r.rest_pools, "pools")) {
        s.po = v->if_array();
        if (!s.po) throw BraiinsParseError("pools: not a JSON array of pool groups");
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Identity.

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

void fill_identity(MinerSample& s, const Rpc& rpc, const Rest& rest, const MinerSample* id) {
    s.firmware = "braiins";
    // Model: REST miner_identity, else RPC devdetails, else the cache.
    const json::object* ident = object_at(rest.det, "miner_identity");
    std::string_view model = text(field(ident, "miner_model"));
    if (model.empty()) model = text(field(ident, "name"));
    if (model.empty()) model = text(field(first_item(rpc.dd, "DEVDETAILS", "devdetails"), "Model"));
    if (!model.empty()) {
        s.model = braiins_model_name(model);
    } else if (id) {
        s.model = id->model;
    }
    const ModelSpec* spec = s.model ? find_reported_model(*s.model) : nullptr;
    // Braiins OS runs on Antminers (BOSminer+ "am1-s9", "am2-s17", ...).
    s.make = spec ? std::string(spec->make) : std::string("Bitmain");

    // Firmware build: REST bos_version.current; the cache before the RPC daemon version so the
    // value does not flip between polls that read REST and polls that do not.
    const std::string_view current = text(field(object_at(rest.det, "bos_version"), "current"));
    if (!current.empty()) {
        s.firmware_version = std::string(current);
    } else if (id && id->firmware_version) {
        s.firmware_version = id->firmware_version;
    } else if (const json::object* v = first_item(rpc.v, "VERSION", "version")) {
        for (std::string_view key : {"BOSminer+", "BOSminer", "BOSer"}) {
            if (const auto t = trim(text(v->if_contains(key))); !t.empty()) {
                s.firmware_version = std::string(t);
                break;
            }
        }
    }
    if (const auto serial = text(field(rest.det, "serial_number")); !serial.empty()) {
        s.serial = std::string(serial);
    } else if (id) {
        s.serial = id->serial;
    }
    s.mac = normalize_mac(text(field(rest.det, "mac_address")));
    if (!s.mac && id) s.mac = id->mac;
}

// ---------------------------------------------------------------------------------------------
// Telemetry from the RPC.

// TunerChainStatus texts that are normal operation (pyasic's list) or an ordered pause.
bool tuner_status_fine(std::string_view st) noexcept {
    return st.empty() || st == "Stable" || st == "Testing performance profile" ||
           st == "Tuning individual chips" || contains_ignore_case(st, "paused");
}

struct TunerInfo {
    bool paused = false;
};

TunerInfo fill_rpc(MinerSample& s, const Rpc& rpc, const ModelSpec* model) {
    TunerInfo info;
    const json::object* sum = first_item(rpc.sum, "SUMMARY", "summary");
    if (!sum) throw BraiinsParseError("summary: no SUMMARY section");
    if (auto v = number(sum->if_contains("MHS 5s"))) s.hashrate_ths = *v / 1e6;
    if (auto v = number(sum->if_contains("MHS av"))) s.hashrate_avg_ths = *v / 1e6;
    s.uptime_s = integer(sum->if_contains("Elapsed"));
    s.hw_errors_total = integer(sum->if_contains("Hardware Errors"));

    // Boards: devs, one entry per hashboard, joined with temps by ID (6..8 on an S9).
    std::map<std::int64_t, std::size_t> by_id;
    double nominal_mhs = 0;
    bool any_nominal = false;
    if (const json::array* devs = section(rpc.dv, "DEVS", "devs")) {
        for (const auto& e : *devs) {
            const json::object* d = e.if_object();
            if (!d || s.boards.size() >= kMaxItems) continue;
            BoardSample b;
            b.index = static_cast<int>(
                integer(d->if_contains("ID")).value_or(static_cast<std::int64_t>(s.boards.size())));
            if (auto v = number(d->if_contains("MHS 5s"))) b.hashrate_ths = *v / 1e6;
            if (auto v = number(d->if_contains("Nominal MHS")); v && *v > 0) {
                b.expected_hashrate_ths = *v / 1e6;
                nominal_mhs += *v;
                any_nominal = true;
            }
            b.hw_errors = integer(d->if_contains("Hardware Errors"));
            const std::string_view status = text(d->if_contains("Status"));
            if (!status.empty()) b.ok = status == "Alive";
            if (model && model->chips_per_board > 0) b.expected_chips = model->chips_per_board;
            by_id[b.index] = s.boards.size();
            s.boards.push_back(b);
        }
    }
    if (any_nominal) s.expected_hashrate_ths = nominal_mhs / 1e6;
    if (const json::array* temps = section(rpc.tp, "TEMPS", "temps")) {
        for (const auto& e : *temps) {
            const json::object* t = e.if_object();
            if (!t) continue;
            const auto id = integer(t->if_contains("ID"));
            if (!id) continue;
            auto it = by_id.find(*id);
            if (it == by_id.end()) {
                if (s.boards.size() >= kMaxItems) continue;
                BoardSample b;
                b.index = static_cast<int>(*id);
                it = by_id.emplace(*id, s.boards.size()).first;
                s.boards.push_back(b);
            }
            BoardSample& b = s.boards[it->second];
            b.board_temp_max_c = plausible_temp_c(number(t->if_contains("Board")));
            b.chip_temp_max_c = plausible_temp_c(number(t->if_contains("Chip")));
        }
    }
    // Chips per board: devdetails (asked with the identity only; the cache does not keep it).
    if (const json::array* dd = section(rpc.dd, "DEVDETAILS", "devdetails")) {
        for (const auto& e : *dd) {
            const json::object* d = e.if_object();
            if (!d) continue;
            const auto id = integer(d->if_contains("ID"));
            const auto it = id ? by_id.find(*id) : by_id.end();
            if (it != by_id.end()) s.boards[it->second].chips = integer(d->if_contains("Chips"));
        }
    }

    // Fans: BOSminer lists every header, unpopulated ones at 0 RPM. With a known model its fan
    // count decides (a failed fan must stay visible at 0); otherwise trailing zeros are dropped.
    if (const json::array* fans = section(rpc.fn, "FANS", "fans")) {
        std::vector<std::int64_t> rpm;
        for (const auto& e : *fans) {
            const json::object* f = e.if_object();
            if (!f || rpm.size() >= kMaxItems) continue;
            rpm.push_back(std::max<std::int64_t>(0, integer(f->if_contains("RPM")).value_or(0)));
        }
        if (model && model->fans > 0 && static_cast<std::size_t>(model->fans) <= rpm.size()) {
            rpm.resize(static_cast<std::size_t>(model->fans));
        } else {
            while (!rpm.empty() && rpm.back() == 0) rpm.pop_back();
        }
        s.fans_rpm = std::move(rpm);
    }

    // Pools: the cgminer list.
    if (const json::array* pools = section(rpc.po, "POOLS", "pools")) {
        for (const auto& e : *pools) {
            const json::object* o = e.if_object();
            if (!o || s.pools.size() >= kMaxItems) continue;
            PoolSample p;
            p.url = std::string(text(o->if_contains("URL")));
            if (const auto u = text(o->if_contains("User")); !u.empty()) p.user = std::string(u);
            if (const json::value* a = o->if_contains("Stratum Active"); a && a->is_bool()) {
                p.active = a->get_bool();
            }
            if (const auto st = text(o->if_contains("Status")); !st.empty()) {
                p.alive = st == "Alive";
            }
            p.accepted = integer(o->if_contains("Accepted"));
            p.rejected = integer(o->if_contains("Rejected"));
            p.stale = integer(o->if_contains("Stale"));
            s.pools.push_back(std::move(p));
        }
    }

    // Power and limit: the tuner's approximation and its configured target.
    if (const json::object* t = first_item(rpc.tu, "TUNERSTATUS", "tunerstatus")) {
        if (auto w = number(t->if_contains("ApproximateMinerPowerConsumption")); w && *w > 0) {
            s.power_w = *w;
            s.power_source = PowerSource::estimated;
        }
        if (auto w = number(t->if_contains("PowerLimit")); w && *w > 0) s.power_limit_w = *w;
        if (const json::value* chains = t->if_contains("TunerChainStatus");
            chains && chains->is_array()) {
            for (const auto& e : chains->get_array()) {
                const json::object* c = e.if_object();
                if (!c) continue;
                const std::string_view st = text(c->if_contains("Status"));
                if (contains_ignore_case(st, "paused")) info.paused = true;
                if (tuner_status_fine(st) || s.errors.size() >= kMaxItems) continue;
                MinerErrorReport r;
                const auto idx = integer(c->if_contains("HashchainIndex"));
                r.message = (idx ? "chain " + std::to_string(*idx) + ": " : std::string()) +
                            std::string(st);
                s.errors.push_back(std::move(r));
            }
        }
    }
    return info;
}

// ---------------------------------------------------------------------------------------------
// Telemetry from REST.

void fill_rest_telemetry(MinerSample& s, const Rest& rest) {
    const json::object* ms = object_at(rest.st, "miner_stats");
    if (!ms) throw BraiinsParseError("miner/stats: no miner_stats object");
    const json::object* real = object_at(ms, "real_hashrate");
    if (auto v = unit_value(real, "last_5s", "gigahash_per_second")) s.hashrate_ths = *v / 1e3;
    if (auto v = unit_value(real, "since_restart", "gigahash_per_second")) {
        s.hashrate_avg_ths = *v / 1e3;
    }
    if (auto v = unit_value(ms, "nominal_hashrate", "gigahash_per_second"); v && *v > 0) {
        s.expected_hashrate_ths = *v / 1e3;
    }
    const json::object* power = object_at(rest.st, "power_stats");
    if (auto w = unit_value(power, "approximated_consumption", "watt"); w && *w > 0) {
        s.power_w = *w;
        s.power_source = PowerSource::estimated;
    }

    if (rest.hb) {
        const json::value* list = rest.hb->if_contains("hashboards");
        if (list && !list->is_array()) {
            throw BraiinsParseError("miner/hw/hashboards: hashboards is not an array");
        }
        if (list) {
            for (const auto& e : list->get_array()) {
                const json::object* h = e.if_object();
                if (!h || s.boards.size() >= kMaxItems) continue;
                BoardSample b;
                // "id" is a string ("1") in 25.07.
                b.index =
                    static_cast<int>(integer(h->if_contains("id"))
                                         .value_or(static_cast<std::int64_t>(s.boards.size())));
                const json::object* hs = object_at(h, "stats");
                if (auto v = unit_value(object_at(hs, "real_hashrate"), "last_5s",
                                        "gigahash_per_second")) {
                    b.hashrate_ths = *v / 1e3;
                }
                if (auto v = unit_value(hs, "nominal_hashrate", "gigahash_per_second");
                    v && *v > 0) {
                    b.expected_hashrate_ths = *v / 1e3;
                }
                b.board_temp_max_c = plausible_temp_c(unit_value(h, "board_temp", "degree_c"));
                b.chip_temp_max_c = plausible_temp_c(
                    unit_value(object_at(h, "highest_chip_temp"), "temperature", "degree_c"));
                b.chips = integer(h->if_contains("chips_count"));
                const json::value* enabled = h->if_contains("enabled");
                const bool on = !enabled || !enabled->is_bool() || enabled->get_bool();
                b.ok = on && b.chips.value_or(0) > 0;
                take_min(s.inlet_temp_c,
                         plausible_temp_c(unit_value(h, "lowest_inlet_temp", "degree_c")));
                keep_max(s.outlet_temp_c,
                         plausible_temp_c(unit_value(h, "highest_outlet_temp", "degree_c")));
                s.boards.push_back(b);
            }
        }
    }

    if (rest.co) {
        const json::value* fans = rest.co->if_contains("fans");
        if (fans && !fans->is_array())
            throw BraiinsParseError("cooling/state: fans is not an array");
        if (fans) {
            for (const auto& e : fans->get_array()) {
                const json::object* f = e.if_object();
                if (!f || s.fans_rpm.size() >= kMaxItems) continue;
                s.fans_rpm.push_back(
                    std::max<std::int64_t>(0, integer(f->if_contains("rpm")).value_or(0)));
            }
        }
    }

    if (rest.po) {
        for (const auto& g : *rest.po) {
            const json::value* list = field(g.if_object(), "pools");
            if (!list || !list->is_array()) continue;
            for (const auto& e : list->get_array()) {
                const json::object* o = e.if_object();
                if (!o || s.pools.size() >= kMaxItems) continue;
                PoolSample p;
                p.url = std::string(text(o->if_contains("url")));
                if (const auto u = text(o->if_contains("user")); !u.empty()) {
                    p.user = std::string(u);
                }
                if (const json::value* a = o->if_contains("active"); a && a->is_bool()) {
                    p.active = a->get_bool();
                }
                if (const json::value* a = o->if_contains("alive"); a && a->is_bool()) {
                    p.alive = a->get_bool();
                }
                const json::object* ps = object_at(o, "stats");
                p.accepted = integer(field(ps, "accepted_shares"));
                p.rejected = integer(field(ps, "rejected_shares"));
                p.stale = integer(field(ps, "stale_shares"));
                s.pools.push_back(std::move(p));
            }
        }
    }

    if (auto up = integer(field(rest.det, "system_uptime_s"))) s.uptime_s = up;
}

void decide_state(MinerSample& s, std::optional<int> status, bool tuner_paused) {
    const bool hashing = s.hashrate_ths && *s.hashrate_ths > 0;
    if (hashing) {
        s.state = MinerState::mining;
    } else if ((status && (*status == kStatusPaused || *status == kStatusSuspended)) ||
               (!status && tuner_paused)) {
        s.state = MinerState::sleeping;
    } else if (!s.errors.empty()) {
        s.state = MinerState::error;
    } else if (status) {
        // The firmware's own word decides: NOT_STARTED is bosminer starting; NORMAL (or
        // RESTRICTED) without hashing is overheat protection, lost chains...
        s.state = *status == kStatusNotStarted ? MinerState::booting : MinerState::error;
    } else if (s.uptime_s && *s.uptime_s < kBraiinsBootingGraceS) {
        // Without REST nothing else tells a start-up from a stop.
        s.state = MinerState::booting;
    } else {
        s.state = MinerState::idle;
    }
}

std::optional<int> status_of(const json::object* details) {
    const auto st = integer(field(details, "status"));
    if (!st || *st < 0 || *st > 255) return std::nullopt;
    return static_cast<int>(*st);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string braiins_model_name(std::string_view reported) {
    reported = trim(reported);
    constexpr std::string_view kBitmain = "Bitmain ";
    if (reported.starts_with(kBitmain)) reported.remove_prefix(kBitmain.size());
    if (const ModelSpec* m = find_reported_model(reported)) return std::string(m->name);
    return std::string(reported);
}

std::optional<int> braiins_miner_status(std::string_view details) {
    try {
        const json::value v = parse_cgminer_json(details);
        return status_of(v.if_object());
    } catch (const CgminerJsonError&) {
        return std::nullopt;
    }
}

bool braiins_has_rest(std::string_view fw) noexcept {
    // bos_version.current: "<yyyy-mm-dd>-<n>-<hash>-<yy.mm>[-plus]"; the daemon version of the
    // RPC starts with its semantic version instead ("0.2.0-...").
    if (fw.size() < 11 || fw[4] != '-' || fw[7] != '-') return false;
    std::size_t pos = 10;
    while (pos < fw.size()) {
        std::size_t end = fw.find('-', pos + 1);
        if (end == std::string_view::npos) end = fw.size();
        std::string_view token = fw.substr(pos, end - pos);
        if (!token.empty() && token.front() == '-') token.remove_prefix(1);
        const auto dot = token.find('.');
        if (dot != std::string_view::npos && dot > 0) {
            int major = 0, minor = 0;
            const auto [p1, e1] = std::from_chars(token.data(), token.data() + dot, major);
            const auto [p2, e2] =
                std::from_chars(token.data() + dot + 1, token.data() + token.size(), minor);
            if (e1 == std::errc() && e2 == std::errc() && p1 == token.data() + dot &&
                p2 == token.data() + token.size()) {
                return major > 25 || (major == 25 && minor >= 7);
            }
        }
        pos = end;
    }
    return false;
}

std::optional<BraiinsPowerRange> braiins_power_constraints(std::string_view constraints) {
    try {
        const json::value v = parse_cgminer_json(constraints);
        const json::object* pt =
            object_at(object_at(v.if_object(), "tuner_constraints"), "power_target");
        const auto lo = unit_value(pt, "min", "watt");
        const auto hi = unit_value(pt, "max", "watt");
        if (!lo || !hi || *lo <= 0 || *hi < *lo) return std::nullopt;
        return BraiinsPowerRange{*lo, *hi};
    } catch (const CgminerJsonError&) {
        return std::nullopt;
    }
}

std::optional<std::string> braiins_login_token(std::string_view reply) {
    try {
        const json::value v = parse_cgminer_json(reply);
        const std::string_view t = text(field(v.if_object(), "token"));
        if (t.empty()) return std::nullopt;
        return std::string(t);
    } catch (const CgminerJsonError&) {
        return std::nullopt;
    }
}

MinerSample parse_braiins(const BraiinsReplies& r) {
    Rpc rpc = find_rpc(r);
    Rest rest = find_rest(r);
    if (!rpc.sum && !rest.st) {
        if (rpc.summary_given) throw BraiinsParseError("summary: error reply, no telemetry");
        if (r.stats) throw BraiinsParseError("miner/stats: no telemetry");
        throw BraiinsParseError("summary, miner/stats: no reply");
    }

    MinerSample s;
    s.up = true;
    fill_identity(s, rpc, rest, r.identity);
    const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;

    TunerInfo tuner;
    if (rpc.sum) {
        tuner = fill_rpc(s, rpc, model);
        // What the tuner did not say, REST may.
        if (!s.power_w) {
            if (auto w = unit_value(object_at(rest.st, "power_stats"), "approximated_consumption",
                                    "watt");
                w && *w > 0) {
                s.power_w = *w;
                s.power_source = PowerSource::estimated;
            }
        }
    } else {
        fill_rest_telemetry(s, rest);
        // The sticker hash rate is what the miner is sold at (EXPECTED.md's hr_exp for REST);
        // only here, so a steady RPC poll and a REST one agree with themselves poll after poll.
        if (auto v = unit_value(rest.det, "sticker_hashrate", "gigahash_per_second"); v && *v > 0) {
            s.expected_hashrate_ths = *v / 1e3;
        }
    }
    if (!s.power_limit_w) {
        if (auto w = unit_value(object_at(rest.cf, "tuner"), "power_target", "watt"); w && *w > 0) {
            s.power_limit_w = *w;
        }
    }
    decide_state(s, status_of(rest.det), tuner.paused);
    return s;
}

}  // namespace hashwatt::agent
