#include "agent/drivers/whatsminer/parse.hpp"

#include "agent/drivers/json_fields.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include <boost/json.hpp>

namespace hashwatt::agent::whatsminer {

namespace json = boost::json;

ParseError::ParseError(std::string command, const std::string& problem)
    : std::runtime_error(command + ": " + problem), command_(std::move(command)) {}

namespace {

constexpr std::string_view kMake = "MicroBT";
constexpr std::string_view kFirmware = "stock";
// btminer needs a few minutes after it starts before the boards hash; zero hash rate within
// this window is a boot, later it is idle.
constexpr std::int64_t kBootWindowS = 600;
// Below this share of the nameplate rate (or 0.5 TH/s when that is unknown) the summary cannot
// tell a sleeping miner from a stalled one: ask `status`.
constexpr double kNearZeroShare = 0.05;
constexpr double kNearZeroThs = 0.5;

// --- JSON access: btminer writes numbers as numbers or strings, and its JSON needs repairs ---

json::value parse_reply(std::string_view command, std::string_view text) {
    try {
        return parse_cgminer_json(text);
    } catch (const CgminerJsonError& e) {
        throw ParseError(std::string(command), e.what());
    }
}

// Spaces and single quotes around a quoted number are dropped (btminer wraps some strings in
// '...').
std::optional<double> to_number(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\'')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\'')) s.remove_suffix(1);
    return json_fields::parse_decimal(s);
}

std::optional<double> number(const json::value* v) { return json_fields::number(v, &to_number); }

std::optional<double> number(const json::object& o, std::string_view key) {
    return number(o.if_contains(key));
}

std::optional<std::int64_t> integer(const json::value* v) {
    return json_fields::rounded_integer(number(v));
}

std::optional<std::int64_t> integer(const json::object& o, std::string_view key) {
    return integer(o.if_contains(key));
}

std::optional<std::string_view> text(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string_view(v->get_string());
}

// "true"/"false" as btminer writes flags (strings), or a JSON bool.
std::optional<bool> flag(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_bool()) return v->get_bool();
    if (v->is_string()) {
        const std::string_view s = v->get_string();
        if (s == "true" || s == "1") return true;
        if (s == "false" || s == "0") return false;
    }
    if (v->is_int64()) return v->get_int64() != 0;
    return std::nullopt;
}

// A temperature reading, or nullopt for the sentinels (0 absent, -273 no sensor, >= 200).
std::optional<double> temperature(const json::object& o, std::string_view key) {
    return json_fields::plausible_temp_c(number(o, key));
}

// An intake reading: farms in cold climates see real values below zero, so only the sentinels
// go (0 = no sensor, -273 and anything below -60 °C = not a reading).
std::optional<double> inlet_temperature(const json::object& o, std::string_view key) {
    const auto t = number(o, key);
    if (!t || *t == 0 || *t < -60 || *t >= 200) return std::nullopt;
    return t;
}

std::optional<double> ths_from_mhs(std::optional<double> mhs) {
    if (!mhs || *mhs < 0) return std::nullopt;
    return *mhs / 1e6;
}

std::optional<double> ths_from_ghs(std::optional<double> ghs) {
    if (!ghs || *ghs <= 0) return std::nullopt;  // 0 = not known (no nameplate rate is zero)
    return *ghs / 1e3;
}

// "'20200512.13.REL'" -> "20200512.13.REL" (btminer quotes its version, sometimes as \').
std::optional<std::string> firmware_text(std::optional<std::string_view> raw) {
    if (!raw) return std::nullopt;
    std::string_view s = *raw;
    while (!s.empty() && (s.front() == '\'' || s.front() == ' ' || s.front() == '\\')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == '\'' || s.back() == ' ' || s.back() == '\\')) {
        s.remove_suffix(1);
    }
    if (s.empty()) return std::nullopt;
    return std::string(s);
}

std::string code_text(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    if (const auto i = integer(&v)) return std::to_string(*i);
    return {};
}

void add_error(std::vector<MinerErrorReport>& errors, std::string code, std::string message = {}) {
    if (code.empty()) return;
    for (const auto& e : errors) {
        if (e.code == code) return;  // summary and get_error_code list the same codes
    }
    if (message.empty()) message = whatsminer_error_message(code);
    errors.push_back(MinerErrorReport{std::move(code), std::move(message)});
}

bool is_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The first object of a cgminer section ("SUMMARY":[{…}]), or nullptr.
const json::object* first_of(const json::object& reply, std::string_view section) {
    const json::value* v = reply.if_contains(section);
    if (!v || !v->is_array() || v->get_array().empty()) return nullptr;
    return v->get_array().front().if_object();
}

const json::array* array_of(const json::object& reply, std::string_view section) {
    const json::value* v = reply.if_contains(section);
    return v ? v->if_array() : nullptr;
}

// Fails unless the envelope is a success; the message carries the miner's own words.
void require_ok(std::string_view command, const json::object& reply) {
    const auto st = cgminer_status(reply);
    if (!st) throw ParseError(std::string(command), "no STATUS in the reply");
    if (!status_ok(*st)) {
        std::string problem = "the miner answered STATUS " + std::string(1, st->code);
        if (st->number) problem += " Code " + std::to_string(st->number);
        if (!st->msg.empty()) problem += " \"" + st->msg + "\"";
        throw ParseError(std::string(command), problem);
    }
}

// Whether an optional reply (identity, pools, devs) is a success worth reading. Firmware that
// lacks a command answers it with an error envelope: that is "not available", not a fault.
bool answered_ok(const json::object& reply) {
    const auto st = cgminer_status(reply);
    return st && status_ok(*st);
}

const json::object& as_object(std::string_view command, const json::value& v) {
    const json::object* o = v.if_object();
    if (!o) throw ParseError(std::string(command), "the reply is not a JSON object");
    return *o;
}

// The Msg object of a flat whatsminer reply, or nullptr (error replies carry a string there).
const json::object* flat_msg(const json::object& reply) {
    if (!answered_ok(reply)) return nullptr;
    const json::value* msg = reply.if_contains("Msg");
    return msg ? msg->if_object() : nullptr;
}

// --- the sections ------------------------------------------------------------------------

void read_summary(const json::object& reply, WhatsminerReading& r) {
    require_ok("summary", reply);
    const json::object* s = first_of(reply, "SUMMARY");
    if (!s) throw ParseError("summary", "no SUMMARY section");
    MinerSample& out = r.sample;

    // The 1 min figure: `MHS 5s` swings by several percent from one poll to the next (pyasic
    // reports `MHS 1m` too). The 5 s figure stands in when the 1 min one is missing.
    const auto h5s = ths_from_mhs(number(*s, "MHS 5s"));
    const auto h1m = ths_from_mhs(number(*s, "MHS 1m"));
    r.hashrate_5s_ths = h5s;
    out.hashrate_ths = h1m ? h1m : h5s;
    out.hashrate_avg_ths = ths_from_mhs(number(*s, "MHS av"));
    out.expected_hashrate_ths = ths_from_ghs(number(*s, "Factory GHS"));

    // `Power` is -1 when the PSU does not report; `Power_RT` is the same reading, newer.
    for (std::string_view key : {"Power", "Power_RT"}) {
        if (const auto p = number(*s, key); p && *p >= 0) {
            out.power_w = *p;
            out.power_source = PowerSource::measured;
            break;
        }
    }
    if (const auto limit = number(*s, "Power Limit"); limit && *limit > 0) {
        out.power_limit_w = *limit;
    }

    // The two case fans. `Power Fanspeed` is the PSU's own fan and is left out.
    for (std::string_view key : {"Fan Speed In", "Fan Speed Out"}) {
        if (const auto rpm = integer(*s, key); rpm && *rpm >= 0) out.fans_rpm.push_back(*rpm);
    }
    out.inlet_temp_c = inlet_temperature(*s, "Env Temp");
    out.hw_errors_total = integer(*s, "Hardware Errors");
    out.uptime_s = integer(*s, "Elapsed");  // btminer's run time; `Uptime` is the OS's
    out.firmware_version = firmware_text(text(*s, "Firmware Version"));
    if (const auto mac = text(*s, "MAC")) out.mac = normalize_mac(*mac);

    // Current errors: `Error Code Count` + `Error Code N` (firmware before API 2.0.4). The
    // `Factory Error Code N` history is harmless and not reported.
    r.summary_lists_errors = s->contains("Error Code Count");
    constexpr std::string_view kPrefix = "Error Code ";
    for (const auto& kv : *s) {
        const std::string_view key = kv.key();
        if (key.starts_with(kPrefix) && is_digits(key.substr(kPrefix.size()))) {
            r.summary_lists_errors = true;
            add_error(out.errors, code_text(kv.value()));
        }
    }
}

void read_devs(const json::object& reply, MinerSample& out) {
    if (!answered_ok(reply)) return;  // a miner with every board disabled answers E: no boards
    const json::array* devs = array_of(reply, "DEVS");
    if (!devs) devs = array_of(reply, "EDEVS");
    if (!devs) return;
    int position = 0;
    for (const json::value& v : *devs) {
        const json::object* d = v.if_object();
        if (!d) continue;
        BoardSample b;
        // The physical slot (0-based) survives a missing board; ASC/ID renumber.
        std::optional<std::int64_t> index = integer(*d, "Slot");
        if (!index) index = integer(*d, "ASC");
        if (!index) index = integer(*d, "ID");
        b.index = static_cast<int>(index.value_or(position));
        ++position;
        const auto h1m = ths_from_mhs(number(*d, "MHS 1m"));
        b.hashrate_ths = h1m ? h1m : ths_from_mhs(number(*d, "MHS 5s"));
        b.expected_hashrate_ths = ths_from_ghs(number(*d, "Factory GHS"));  // API 2.0.5
        b.chip_temp_max_c = temperature(*d, "Chip Temp Max");
        b.board_temp_max_c = temperature(*d, "Temperature");
        b.chips = integer(*d, "Effective Chips");
        b.hw_errors = integer(*d, "Hardware Errors");
        const auto status = text(*d, "Status");
        if (status || b.chips) {
            b.ok = (!status || *status == "Alive") && (!b.chips || *b.chips > 0);
        }
        out.boards.push_back(std::move(b));
    }
    std::stable_sort(out.boards.begin(), out.boards.end(),
                     [](const BoardSample& a, const BoardSample& b) { return a.index < b.index; });
}

void read_pools(const json::object& reply, MinerSample& out) {
    if (!answered_ok(reply)) return;
    const json::array* pools = array_of(reply, "POOLS");
    if (!pools) return;
    for (const json::value& v : *pools) {
        const json::object* p = v.if_object();
        if (!p) continue;
        const auto url = text(*p, "URL");
        if (!url || url->empty()) continue;  // an unconfigured slot
        PoolSample pool;
        pool.url = std::string(*url);
        if (const auto user = text(*p, "User")) pool.user = std::string(*user);
        pool.active = flag(*p, "Stratum Active");
        if (const auto st = text(*p, "Status")) pool.alive = *st == "Alive";
        pool.accepted = integer(*p, "Accepted");
        pool.rejected = integer(*p, "Rejected");
        pool.stale = integer(*p, "Stale");
        out.pools.push_back(std::move(pool));
    }
}

void read_devdetails(const json::object& reply, MinerSample& out) {
    if (!answered_ok(reply)) return;
    const json::object* d = first_of(reply, "DEVDETAILS");
    if (!d) return;
    if (const auto model = text(*d, "Model"); model && !model->empty()) {
        out.model = whatsminer_model_name(*model);
    }
}

void read_get_version(const json::object& reply, MinerSample& out) {
    const json::object* msg = flat_msg(reply);
    if (!msg) return;
    if (!out.firmware_version) out.firmware_version = firmware_text(text(*msg, "fw_ver"));
}

void read_get_miner_info(const json::object& reply, MinerSample& out) {
    const json::object* msg = flat_msg(reply);
    if (!msg) return;
    if (!out.mac) {
        if (const auto mac = text(*msg, "mac")) out.mac = normalize_mac(*mac);
    }
    if (const auto sn = text(*msg, "minersn"); sn && !sn->empty()) out.serial = std::string(*sn);
}

void read_status(const json::object& reply, WhatsminerReading& r) {
    const json::object* msg = flat_msg(reply);
    if (!msg) return;  // older firmware without `status`: the sleep flag stays unknown
    // API 2.0.5 says `mineroff`, older firmware `btmineroff`.
    r.mining_off = flag(*msg, "mineroff");
    if (!r.mining_off) r.mining_off = flag(*msg, "btmineroff");
    MinerSample& out = r.sample;
    if (!out.power_limit_w) {
        if (const auto limit = number(*msg, "power_limit_set"); limit && *limit > 0) {
            out.power_limit_w = *limit;
        }
    }
    if (!out.firmware_version) {
        out.firmware_version = firmware_text(text(*msg, "FirmwareVersion"));
        if (!out.firmware_version)
            out.firmware_version = firmware_text(text(*msg, "Firmware Version"));
    }
}

// API 2.0.4 writes the list as `"error_code":["110":"…","111":"…"]`, a dict in list brackets.
// Turns that pair of brackets into braces; nullopt when there is nothing to repair.
std::optional<std::string> repair_error_code_list(std::string_view raw) {
    constexpr std::string_view kKey = "\"error_code\":[";
    const auto at = raw.find(kKey);
    if (at == std::string_view::npos) return std::nullopt;
    const std::size_t open = at + kKey.size() - 1;
    std::size_t close = std::string_view::npos;
    bool in_string = false;
    for (std::size_t i = open + 1; i < raw.size(); ++i) {
        const char c = raw[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ']') {
            close = i;
            break;
        } else if (c == '[' || c == '{') {
            return std::nullopt;  // a real nested list: not the 2.0.4 form
        }
    }
    if (close == std::string_view::npos) return std::nullopt;
    std::string fixed(raw);
    fixed[open] = '{';
    fixed[close] = '}';
    return fixed;
}

void read_error_codes(std::string_view raw, MinerSample& out) {
    json::value v;
    try {
        adopt(v, parse_cgminer_json(raw));
    } catch (const CgminerJsonError& e) {
        const auto fixed = repair_error_code_list(raw);
        if (!fixed) throw ParseError("get_error_code", e.what());
        adopt(v, parse_reply("get_error_code", *fixed));
    }
    const json::object* msg = flat_msg(as_object("get_error_code", v));
    if (!msg) return;  // API < 2.0.1 has no get_error_code
    const json::value* list = msg->if_contains("error_code");
    if (!list) return;
    auto read_entry = [&](const json::value& e) {
        if (const json::object* o = e.if_object()) {
            for (const auto& kv : *o) add_error(out.errors, std::string(kv.key()));
        } else {
            add_error(out.errors, code_text(e));
        }
    };
    if (const json::array* a = list->if_array()) {
        for (const auto& e : *a) read_entry(e);
    } else if (list->is_object()) {
        read_entry(*list);
    }
}

// Fills what this round did not carry from the cached identity, unless the MAC says the
// address now holds a different miner.
void merge_identity(MinerSample& out, const MinerSample& id) {
    if (out.mac && id.mac && *out.mac != *id.mac) return;
    if (!out.model) out.model = id.model;
    if (!out.serial) out.serial = id.serial;
    if (!out.mac) out.mac = id.mac;
    if (!out.firmware_version) out.firmware_version = id.firmware_version;
}

// What the model table adds once the model is known: chips per board and, when the firmware
// reports no power, an estimate from the hash rate.
void apply_model(MinerSample& out) {
    const ModelSpec* spec = out.model ? find_reported_model(*out.model) : nullptr;
    if (!spec) return;
    for (auto& b : out.boards) b.expected_chips = spec->chips_per_board;
    if (!out.power_w && out.hashrate_ths) {
        out.power_w = estimated_power_w(*spec, *out.hashrate_ths);
        out.power_source = PowerSource::estimated;
    }
}

}  // namespace

bool WhatsminerReading::wants_status() const {
    if (mining_off) return false;
    std::optional<double> rate = sample.hashrate_ths;
    if (hashrate_5s_ths && (!rate || *hashrate_5s_ths < *rate)) rate = hashrate_5s_ths;
    if (!rate) return true;
    const double near_zero = sample.expected_hashrate_ths
                                 ? kNearZeroShare * *sample.expected_hashrate_ths
                                 : kNearZeroThs;
    return *rate < near_zero;
}

WhatsminerReading read_whatsminer(const WhatsminerReplies& replies, const MinerSample* identity) {
    WhatsminerReading r;
    MinerSample& out = r.sample;
    out.make = std::string(kMake);
    out.firmware = std::string(kFirmware);

    if (replies.joined) {
        constexpr std::string_view kJoined = "summary+devs+pools";
        const json::value v = parse_reply(kJoined, *replies.joined);
        const json::object* summary = multi_section(v, "summary");
        if (!summary) {
            // Not a multi-command reply: the firmware answered the join with one error.
            const json::object& o = as_object(kJoined, v);
            require_ok(kJoined, o);
            throw ParseError(std::string(kJoined), "no summary part in the reply");
        }
        read_summary(*summary, r);
        if (const json::object* devs = multi_section(v, "devs")) read_devs(*devs, out);
        if (const json::object* pools = multi_section(v, "pools")) read_pools(*pools, out);
    } else {
        if (!replies.summary) throw ParseError("summary", "no summary reply");
        read_summary(as_object("summary", parse_reply("summary", *replies.summary)), r);
        if (replies.devs) read_devs(as_object("devs", parse_reply("devs", *replies.devs)), out);
        if (replies.pools) {
            read_pools(as_object("pools", parse_reply("pools", *replies.pools)), out);
        }
    }

    if (replies.devdetails) {
        read_devdetails(as_object("devdetails", parse_reply("devdetails", *replies.devdetails)),
                        out);
        r.identity_read = true;
    }
    if (replies.get_version) {
        read_get_version(as_object("get_version", parse_reply("get_version", *replies.get_version)),
                         out);
        r.identity_read = true;
    }
    if (replies.get_miner_info) {
        read_get_miner_info(
            as_object("get_miner_info", parse_reply("get_miner_info", *replies.get_miner_info)),
            out);
        r.identity_read = true;
    }
    if (identity) merge_identity(out, *identity);
    apply_model(out);
    add_whatsminer_followups(r, replies.status, replies.get_error_code);
    return r;
}

void add_whatsminer_followups(WhatsminerReading& r, std::optional<std::string_view> status,
                              std::optional<std::string_view> get_error_code) {
    if (status) read_status(as_object("status", parse_reply("status", *status)), r);
    if (get_error_code) read_error_codes(*get_error_code, r.sample);
    r.sample.state = whatsminer_state(r.sample, r.mining_off);
}

MinerSample parse_whatsminer(const WhatsminerReplies& replies, const MinerSample* identity) {
    return std::move(read_whatsminer(replies, identity).sample);
}

MinerSample whatsminer_identity(const MinerSample& s) {
    MinerSample id = identity_fields(s);
    id.power_limit_w = s.power_limit_w;
    return id;
}

std::string whatsminer_model_name(std::string_view reported) {
    if (const ModelSpec* spec = find_reported_model(reported)) return std::string(spec->name);
    std::string name;
    for (char c : reported) {
        if (c != '_' && c != ' ') name.push_back(c);
    }
    // Drop the hardware revision: a 'V' followed by letters and digits up to the end ("V10",
    // "VK40", "VH50"). Model names themselves have no 'V' after the leading 'M'.
    const auto v = name.find_last_of("Vv");
    if (v != std::string::npos && v > 1 && v + 1 < name.size() &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(v) + 1, name.end(),
                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }) &&
        std::isdigit(static_cast<unsigned char>(name.back()))) {
        name.erase(v);
    }
    return name;
}

MinerState whatsminer_state(const MinerSample& s, std::optional<bool> mining_off) {
    if (mining_off.value_or(false)) return MinerState::sleeping;
    if (s.hashrate_ths && *s.hashrate_ths > 0) return MinerState::mining;
    if (!s.errors.empty()) return MinerState::error;
    if (s.uptime_s && *s.uptime_s < kBootWindowS) return MinerState::booting;
    return MinerState::idle;
}

std::string whatsminer_error_message(std::string_view code_text_in) {
    if (!is_digits(code_text_in) || code_text_in.size() > 9) return {};
    int code = 0;
    std::from_chars(code_text_in.data(), code_text_in.data() + code_text_in.size(), code);
    struct Known {
        int code;
        std::string_view text;
    };
    // MicroBT's error code table, the codes a monitor meets most (paraphrased).
    static constexpr Known kKnown[] = {
        {110, "intake fan speed error"},
        {111, "exhaust fan speed error"},
        {120, "intake fan speed off by more than 2000 rpm"},
        {121, "exhaust fan speed off by more than 2000 rpm"},
        {130, "intake fan speed off by more than 3000 rpm"},
        {131, "exhaust fan speed off by more than 3000 rpm"},
        {140, "fan speed too high"},
        {200, "no power supply found"},
        {201, "power supply does not match the configuration"},
        {202, "power supply output voltage error"},
        {203, "power supply protecting: ambient temperature too high"},
        {204, "power supply current protecting: ambient temperature too high"},
        {205, "power supply current error"},
        {206, "power supply input voltage too low"},
        {207, "power supply input current protecting: bad power input"},
        {329, "control board temperature sensor error"},
        {600, "ambient temperature too high"},
        {610, "ambient temperature too high for high performance mode"},
        {700, "invalid MAC address"},
        {710, "control board rebooted after an exception"},
        {2000, "no pool configured"},
        {2010, "all pools disabled"},
        {2030, "high pool rejection rate"},
        {2040, "pool does not support asicboost"},
        {2310, "hash rate too low"},
        {2320, "hash rate too low"},
        {2330, "hash rate loss too high"},
        {2340, "hash rate loss too high"},
        {2350, "hash rate loss"},
    };
    for (const auto& k : kKnown) {
        if (k.code == code) return std::string(k.text);
    }
    const std::string slot = std::to_string(code % 10);
    struct SlotFamily {
        int tens;  // code / 10
        std::string_view text;
    };
    // Three-digit codes whose last digit is the hashboard slot.
    static constexpr SlotFamily kSlotFamilies[] = {
        {30, "temperature sensor not detected"},
        {32, "temperature reading error"},
        {35, "temperature protecting"},
        {41, "EEPROM not detected"},
        {42, "EEPROM parse error"},
        {43, "chip bin type error"},
        {44, "EEPROM chip number error"},
        {45, "EEPROM transfer error"},
        {51, "miner type error"},
        {52, "bin type error"},
        {53, "not found"},
        {54, "chip id read error"},
        {55, "has bad chips"},
        {56, "loss of balance"},
        {57, "chip transfer error"},
        {58, "reset error"},
        {59, "frequency too low"},
        {202, "pool connection failed"},
    };
    for (const auto& f : kSlotFamilies) {
        if (code / 10 == f.tens) {
            if (f.tens == 202) return "pool " + slot + " connection failed";
            return "slot " + slot + " " + std::string(f.text);
        }
    }
    if (code >= 100 && code < 200) return "fan error";
    if (code >= 200 && code < 300) return "power supply error";
    if (code >= 300 && code < 400) return "temperature error";
    if (code >= 400 && code < 500) return "hashboard EEPROM error";
    if (code >= 500 && code < 600) return "hashboard error";
    if (code >= 600 && code < 700) return "ambient temperature error";
    if (code >= 700 && code < 800) return "control board error";
    if (code >= 800 && code < 900) return "checksum error";
    if (code >= 2000 && code < 2100) return "pool error";
    if (code >= 2300 && code < 2400) return "hash rate error";
    if (code >= 5000 && code < 6000) return "hashboard chip error";
    if (code >= 50000 && code < 57000) return "hashboard chip error";
    return "miner error";
}

std::string write_command_json(std::string_view cmd, const WriteParams& params,
                               std::string_view sign) {
    auto append = [](std::string& out, std::string_view s) {
        out.push_back('"');
        for (char c : s) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    };
    std::string out = "{\"cmd\":";
    append(out, cmd);
    for (const auto& [k, v] : params) {
        out.push_back(',');
        append(out, k);
        out.push_back(':');
        append(out, v);
    }
    out += ",\"token\":";
    append(out, sign);
    out.push_back('}');
    return out;
}

TokenReply read_token_reply(std::string_view reply) {
    TokenReply out;
    json::value v;
    try {
        adopt(v, parse_cgminer_json(reply));
    } catch (const CgminerJsonError& e) {
        out.problem = std::string("get_token: ") + e.what();
        return out;
    }
    const json::object* o = v.if_object();
    const auto st = o ? cgminer_status(*o) : std::nullopt;
    if (!st) {
        out.problem = "get_token: no STATUS in the reply";
        return out;
    }
    if (!status_ok(*st)) {
        out.problem = "get_token refused: Code " + std::to_string(st->number);
        if (!st->msg.empty()) out.problem += " \"" + st->msg + "\"";
        if (st->number == 45)
            out.problem += " (the write API is disabled: enable it in WhatsMinerTool)";
        return out;
    }
    const json::value* msg = o->if_contains("Msg");
    btminer::TokenMaterial t;
    if (const json::object* m = msg ? msg->if_object() : nullptr) {
        const auto time = text(*m, "time");
        const auto salt = text(*m, "salt");
        const auto newsalt = text(*m, "newsalt");
        if (time && salt && newsalt)
            t = {std::string(*time), std::string(*salt), std::string(*newsalt)};
    } else if (msg && msg->is_string()) {
        // The text-API variant: "<epoch> <salt> <newsalt>"; the token uses the epoch's last 4
        // digits.
        const std::string_view s = msg->get_string();
        const auto a = s.find(' ');
        const auto b = a == std::string_view::npos ? a : s.find(' ', a + 1);
        if (b != std::string_view::npos) {
            const std::string_view epoch = s.substr(0, a);
            t = {std::string(epoch.substr(epoch.size() >= 4 ? epoch.size() - 4 : 0)),
                 std::string(s.substr(a + 1, b - a - 1)), std::string(s.substr(b + 1))};
        }
    }
    if (t.time.empty() || t.salt.empty() || t.newsalt.empty()) {
        out.problem = "get_token: no time/salt/newsalt in the reply";
        return out;
    }
    out.token = std::move(t);
    return out;
}

WriteReply read_write_reply(std::string_view reply, const std::array<std::uint8_t, 32>& aes_key) {
    WriteReply out;
    json::value v;
    try {
        adopt(v, parse_cgminer_json(reply));
    } catch (const CgminerJsonError& e) {
        out.message = e.what();
        return out;
    }
    const json::object* o = v.if_object();
    if (!o) {
        out.message = "the reply is not a JSON object";
        return out;
    }
    if (const json::value* enc = o->if_contains("enc"); enc && enc->is_string()) {
        const auto plain = btminer::decrypt_payload(aes_key, enc->get_string());
        if (!plain) {
            out.kind = WriteReply::Kind::auth;
            out.message = "the encrypted reply is not valid base64 blocks";
            return out;
        }
        // Under a key derived from the wrong password the plaintext is noise, not JSON.
        try {
            adopt(v, parse_cgminer_json(*plain));
        } catch (const CgminerJsonError&) {
            out.kind = WriteReply::Kind::auth;
            out.message = "the reply does not decrypt with the configured password";
            return out;
        }
        o = v.if_object();
        if (!o) {
            out.kind = WriteReply::Kind::auth;
            out.message = "the reply does not decrypt with the configured password";
            return out;
        }
    }
    const auto st = cgminer_status(*o);
    if (!st) {
        out.message = "no STATUS in the reply";
        return out;
    }
    out.code = st->number;
    out.message = st->msg;
    if (st->number == 131 || st->msg == "API command OK" || (status_ok(*st) && st->number == 0)) {
        out.kind = WriteReply::Kind::ok;
    } else if (st->number == 135 || st->number == 136 || st->number == 137) {
        out.kind = WriteReply::Kind::auth;
    } else if (status_ok(*st)) {
        out.kind = WriteReply::Kind::ok;
    } else {
        out.kind = WriteReply::Kind::refused;
    }
    return out;
}

bool looks_like_whatsminer_v3(std::string_view reply) {
    json::value v;
    try {
        adopt(v, parse_cgminer_json(reply));
    } catch (const std::exception&) {
        return false;
    }
    const json::object* o = v.if_object();
    if (!o || o->contains("STATUS")) return false;  // v2 and cgminer replies carry STATUS
    const json::value* code = o->if_contains("code");
    if (!code || !(code->is_int64() || code->is_uint64())) return false;
    if (!o->contains("msg")) return false;
    // Every v3 reply names the command in `desc` and the time in `when`.
    const json::value* desc = o->if_contains("desc");
    return (desc && desc->is_string()) || o->contains("when");
}

MinerSample parse_whatsminer_v3_device_info(std::string_view reply) {
    constexpr std::string_view kCommand = "get.device.info";
    if (!looks_like_whatsminer_v3(reply)) {
        throw ParseError(std::string(kCommand), "not a Whatsminer API v3 reply");
    }
    const json::value v = parse_reply(kCommand, reply);
    const json::object& o = v.get_object();
    const json::value* msgv = o.if_contains("msg");
    const json::object* msg = msgv ? msgv->if_object() : nullptr;
    if (!msg)
        throw ParseError(std::string(kCommand),
                         "no msg object (code " + code_text(o.at("code")) + ")");
    MinerSample out;
    out.make = std::string(kMake);
    out.firmware = std::string(kFirmware);
    auto section = [&](std::string_view key) -> const json::object* {
        const json::value* s = msg->if_contains(key);
        return s ? s->if_object() : nullptr;
    };
    if (const json::object* miner = section("miner")) {
        if (const auto type = text(*miner, "type"); type && !type->empty()) {
            out.model = whatsminer_model_name(*type);
        }
        if (const auto sn = text(*miner, "miner-sn"); sn && !sn->empty())
            out.serial = std::string(*sn);
    }
    if (const json::object* system = section("system")) {
        out.firmware_version = firmware_text(text(*system, "fwversion"));
    }
    if (const json::object* network = section("network")) {
        if (const auto mac = text(*network, "mac")) out.mac = normalize_mac(*mac);
    }
    if (const json::value* errors = msg->if_contains("error-code"); errors && errors->is_array()) {
        for (const json::value& e : errors->get_array()) {
            const json::object* eo = e.if_object();
            if (!eo) continue;
            std::string message;
            if (const auto reason = text(*eo, "reason")) message = std::string(*reason);
            for (const auto& kv : *eo) {
                if (kv.key() != "reason") add_error(out.errors, std::string(kv.key()), message);
            }
        }
    }
    return out;
}

}  // namespace hashwatt::agent::whatsminer
