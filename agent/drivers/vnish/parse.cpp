// Vnish /api/v1 replies -> MinerSample. Key names, units and quirks are those of the real
// captures in tests/fixtures/vnish/ (PROTOCOLS.md §7, §9).
#include "agent/drivers/vnish/parse.hpp"

#include "agent/drivers/ascii_text.hpp"
#include "agent/drivers/json_fields.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "common/json_writer.hpp"
#include "common/models.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <boost/json.hpp>

namespace hashwatt::agent {

namespace json = boost::json;

namespace {

using json_fields::array_at;
using json_fields::field;
using json_fields::keep_max;
using json_fields::number;
using json_fields::object_at;
using json_fields::plausible_temp_c;

// Vnish counts go through double; beyond 9e15 (about 2^53, where doubles stop holding every
// integer) a value is refused rather than rounded.
std::optional<std::int64_t> integer(const json::value* v) noexcept {
    return json_fields::rounded_integer(number(v), 9e15);
}

std::optional<std::int64_t> parse_int(std::string_view s) noexcept {
    s = trim_ascii(s);
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<std::string_view> string_at(const json::object* o, std::string_view key) noexcept {
    const json::value* v = field(o, key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string_view(v->get_string());
}

// The max of a {min,max} pair, else the highest of the per-sensor readings.
std::optional<double> temp_max(const json::object* chain, std::string_view pair_key,
                               std::string_view sensors_key) noexcept {
    std::optional<double> best = plausible_temp_c(number(field(object_at(chain, pair_key), "max")));
    if (best) return best;
    if (const json::array* sensors = array_at(chain, sensors_key)) {
        for (const auto& s : *sensors) {
            if (s.is_object())
                keep_max(best, plausible_temp_c(number(s.get_object().if_contains("temp"))));
        }
    }
    return best;
}

json::value parse_body(std::string_view what, std::string_view body) {
    try {
        return parse_cgminer_json(body);
    } catch (const CgminerJsonError& e) {
        throw VnishParseError(std::string(what) + ": not JSON (" + e.what() + ")");
    }
}

// Vnish reports failures as {"err":"..."}.
void reject_error_reply(std::string_view what, const json::object& o) {
    if (const auto err = string_at(&o, "err")) {
        throw VnishParseError(std::string(what) +
                              ": the miner answered an error: " + std::string(*err));
    }
}

std::optional<double> preset_watts(std::string_view name) noexcept {
    const auto w = json_fields::parse_trimmed_decimal(name);
    if (!w || *w <= 0) return std::nullopt;
    return w;
}

void read_boards(const json::array& chains, MinerSample& s, const ModelSpec* model, double& rt_ghs,
                 bool& have_rt, double& ideal_ghs, bool& have_ideal) {
    for (const auto& c : chains) {
        if (!c.is_object()) continue;
        const json::object* chain = &c.get_object();
        BoardSample b;
        b.index = static_cast<int>(
            integer(field(chain, "id")).value_or(static_cast<std::int64_t>(s.boards.size()) + 1));
        if (const auto rt = number(field(chain, "hashrate_rt"))) {
            b.hashrate_ths = *rt / 1000.0;
            rt_ghs += *rt;
            have_rt = true;
        }
        if (const auto ideal = number(field(chain, "hashrate_ideal"))) {
            b.expected_hashrate_ths = *ideal / 1000.0;
            ideal_ghs += *ideal;
            have_ideal = true;
        }
        b.chip_temp_max_c = temp_max(chain, "chip_temp", "chip_temp_sens");
        b.board_temp_max_c = temp_max(chain, "pcb_temp", "pcb_temp_sens");
        b.hw_errors = integer(field(chain, "hw_errors"));
        // chip_statuses counts the chips found by colour; red ones are the chips that do not
        // answer (a dead board is all red), so they are not counted as present.
        if (const json::object* st = object_at(chain, "chip_statuses")) {
            const auto grey = integer(field(st, "grey"));
            const auto orange = integer(field(st, "orange"));
            if (grey || orange) b.chips = grey.value_or(0) + orange.value_or(0);
        }
        if (model) b.expected_chips = model->chips_per_board;
        if (const auto state = string_at(object_at(chain, "status"), "state")) {
            b.ok = *state != "failure" && *state != "error" && *state != "disabled";
        }
        s.boards.push_back(std::move(b));
    }
}

void read_pools(const json::array& pools, MinerSample& s) {
    for (const auto& p : pools) {
        if (!p.is_object()) continue;
        const json::object* o = &p.get_object();
        // The developer fee pseudo-pool is the firmware's, not one of the user's pools.
        if (string_at(o, "pool_type") == "DevFee") continue;
        PoolSample ps;
        ps.url = std::string(string_at(o, "url").value_or(""));
        if (const auto u = string_at(o, "user")) ps.user = std::string(*u);
        if (const auto st = string_at(o, "status")) {
            ps.active = *st == "active";
            ps.alive = *st == "active" || *st == "working";
        }
        ps.accepted = integer(field(o, "accepted"));
        ps.rejected = integer(field(o, "rejected"));
        ps.stale = integer(field(o, "stale"));
        s.pools.push_back(std::move(ps));
    }
}

}  // namespace

MinerState vnish_state(std::string_view state, bool hashing) noexcept {
    if (state == "mining") return MinerState::mining;
    if (state == "stopped") return MinerState::sleeping;
    if (state == "initializing" || state == "starting" || state == "restarting") {
        return MinerState::booting;
    }
    if (state == "auto-tuning") return hashing ? MinerState::mining : MinerState::booting;
    if (state == "shutting-down") return MinerState::idle;
    if (state == "failure") return MinerState::error;
    return hashing ? MinerState::mining : MinerState::idle;
}

VnishType vnish_type(std::string_view miner_type) {
    VnishType t;
    std::string_view s = trim_ascii(miner_type);
    const std::size_t open = s.find(" (");
    if (open == std::string_view::npos) {
        t.model = std::string(s);
        return t;
    }
    t.model = std::string(trim_ascii(s.substr(0, open)));
    std::string_view inner = s.substr(open + 2);
    if (const std::size_t close = inner.find(')'); close != std::string_view::npos) {
        inner = inner.substr(0, close);
    }
    inner = trim_ascii(inner);
    if (find_ignore_case(inner, "vnish") == 0) inner = trim_ascii(inner.substr(5));
    if (!inner.empty()) t.firmware_version = std::string(inner);
    return t;
}

std::optional<std::int64_t> vnish_uptime_s(std::string_view text) noexcept {
    // A century bounds every part before it is multiplied (no miner reports more), so a digit
    // run of the text cannot overflow the sum (found by fuzz/vnish_fuzz.cpp).
    constexpr std::int64_t kMaxDays = 36'500;
    std::string_view s = trim_ascii(text);
    if (s.starts_with("up ")) s = trim_ascii(s.substr(3));
    if (s.empty()) return std::nullopt;
    std::int64_t total = 0;
    // "N day(s), " first, if present.
    if (const std::size_t d = s.find(" day"); d != std::string_view::npos) {
        const auto days = parse_int(s.substr(0, d));
        const std::size_t comma = s.find(',', d);
        if (!days || *days < 0 || *days > kMaxDays) return std::nullopt;
        total += *days * 86400;
        if (comma == std::string_view::npos) {
            // "3 days" alone
            const std::string_view rest = trim_ascii(s.substr(d + 4));
            return rest.empty() || rest == "s" ? std::optional<std::int64_t>(total) : std::nullopt;
        }
        s = trim_ascii(s.substr(comma + 1));
    }
    if (const std::size_t m = s.find(" min"); m != std::string_view::npos) {
        const auto minutes = parse_int(s.substr(0, m));
        if (!minutes || *minutes < 0 || *minutes > kMaxDays * 1440) return std::nullopt;
        return total + *minutes * 60;
    }
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto hours = parse_int(s.substr(0, colon));
    const auto minutes = parse_int(s.substr(colon + 1));
    if (!hours || !minutes || *hours < 0 || *hours > kMaxDays * 24 || *minutes < 0 ||
        *minutes > 59) {
        return std::nullopt;
    }
    return total + *hours * 3600 + *minutes * 60;
}

bool vnish_version_claims(std::string_view reply) noexcept {
    const std::size_t at = find_ignore_case(reply, "(vnish ");
    if (at == std::string_view::npos) return false;
    std::string_view version = reply.substr(at + 7);
    std::size_t digits = 0;
    while (digits < version.size() && version[digits] >= '0' && version[digits] <= '9') ++digits;
    if (digits == 0) return false;
    // 3.x is the S9/L3-era Vnish: stock-style RPC and CGI, no /api/v1.
    return version.substr(0, digits) != "3";
}

VnishParsed parse_vnish(const VnishReplies& r) {
    const json::value doc = parse_body("summary", r.summary);
    if (!doc.is_object()) throw VnishParseError("summary: not a JSON object");
    const json::object& top = doc.get_object();
    reject_error_reply("summary", top);
    const json::object* miner = object_at(&top, "miner");
    if (!miner) throw VnishParseError("summary: no \"miner\" object");
    const json::object* system = object_at(&top, "system");

    VnishParsed out;
    MinerSample& s = out.sample;
    s.up = true;
    s.make = "Bitmain";
    s.firmware = "vnish";
    if (const auto type = string_at(miner, "miner_type")) {
        VnishType t = vnish_type(*type);
        if (!t.model.empty()) s.model = std::move(t.model);
        s.firmware_version = std::move(t.firmware_version);
    }
    if (const auto mac = string_at(object_at(system, "network_status"), "mac")) {
        s.mac = normalize_mac(*mac);
    }
    if (const auto up = string_at(system, "uptime")) s.uptime_s = vnish_uptime_s(*up);

    // info: the serial, and the firmware build when miner_type did not carry it.
    if (r.info) {
        try {
            const json::value info = parse_cgminer_json(*r.info);
            if (info.is_object()) {
                const json::object* o = &info.get_object();
                if (const auto serial = string_at(o, "serial");
                    serial && !trim_ascii(*serial).empty()) {
                    s.serial = std::string(trim_ascii(*serial));
                }
                if (!s.firmware_version) {
                    if (const auto v = string_at(o, "fw_version")) s.firmware_version = *v;
                }
                if (!s.model) {
                    if (const auto m = string_at(o, "miner")) s.model = vnish_type(*m).model;
                }
            }
        } catch (const CgminerJsonError&) {
            // identity only: the telemetry stands without it
        }
    }
    // settings: the preset in force is the power limit ("disabled" = stock clocks, no limit).
    bool limit_known = false;
    if (r.settings) {
        try {
            if (const auto preset = vnish_settings_preset(*r.settings)) {
                s.power_limit_w = preset_watts(*preset);
                limit_known = true;
            }
        } catch (const VnishParseError&) {
            // identity only
        }
    }
    if (r.identity) {
        if (!s.serial) s.serial = r.identity->serial;
        if (!s.model) s.model = r.identity->model;
        if (!s.firmware_version) s.firmware_version = r.identity->firmware_version;
        if (!s.mac) s.mac = r.identity->mac;
        if (!limit_known) s.power_limit_w = r.identity->power_limit_w;
    }
    const ModelSpec* model = s.model ? find_reported_model(*s.model) : nullptr;

    // Hash rates. The sample reports the firmware's miner-level figures (hr_realtime,
    // hr_average), as every driver reports the miner's own total rather than a sum of boards;
    // the chains keep their own figures in `boards`. In both captured builds the miner-level
    // rate is exactly 0.7 x the chains' sum (README.md beside this file says what follows).
    double rt_ghs = 0, ideal_ghs = 0;
    bool have_rt = false, have_ideal = false;
    if (const json::array* chains = array_at(miner, "chains")) {
        read_boards(*chains, s, model, rt_ghs, have_rt, ideal_ghs, have_ideal);
    }
    if (const auto hr = number(field(miner, "hr_realtime"))) {
        out.top_level.hashrate_ths = *hr / 1000.0;
    } else if (const auto ths = number(field(miner, "instant_hashrate"))) {
        out.top_level.hashrate_ths = *ths;
    }
    if (const auto hr = number(field(miner, "hr_average"))) {
        out.top_level.hashrate_avg_ths = *hr / 1000.0;
    } else if (const auto ths = number(field(miner, "average_hashrate"))) {
        out.top_level.hashrate_avg_ths = *ths;
    }
    s.hashrate_ths = out.top_level.hashrate_ths;
    s.hashrate_avg_ths = out.top_level.hashrate_avg_ths;
    // A build without the miner-level figure: the chains are all there is.
    if (!s.hashrate_ths && have_rt) s.hashrate_ths = rt_ghs / 1000.0;
    if (have_ideal) {
        s.expected_hashrate_ths = ideal_ghs / 1000.0;
    } else if (const auto nominal = number(field(miner, "hr_nominal"))) {
        s.expected_hashrate_ths = *nominal / 1000.0;
    }

    // Power: 1.2.0-rc3 and later say power_consumption; 1.2.0-beta10 power_usage.
    auto power = number(field(miner, "power_consumption"));
    if (!power) power = number(field(miner, "power_usage"));
    if (power && *power >= 0) {
        s.power_w = *power;
        s.power_source = PowerSource::measured;
    }

    if (const json::array* fans = array_at(object_at(miner, "cooling"), "fans")) {
        for (const auto& f : *fans) {
            if (!f.is_object()) continue;
            if (const auto rpm = integer(f.get_object().if_contains("rpm")); rpm && *rpm >= 0) {
                s.fans_rpm.push_back(*rpm);
            }
        }
    }
    s.hw_errors_total = integer(field(miner, "hw_errors"));
    if (const json::array* pools = array_at(miner, "pools")) read_pools(*pools, s);

    const bool hashing = s.hashrate_ths && *s.hashrate_ths > 0;
    const auto state = string_at(object_at(miner, "miner_status"), "miner_state");
    s.state = vnish_state(state.value_or(""), hashing);
    return out;
}

std::vector<VnishPreset> vnish_presets(std::string_view body) {
    const json::value doc = parse_body("autotune/presets", body);
    if (doc.is_object()) reject_error_reply("autotune/presets", doc.get_object());
    if (!doc.is_array()) throw VnishParseError("autotune/presets: not a JSON array");
    std::vector<VnishPreset> out;
    for (const auto& p : doc.get_array()) {
        if (!p.is_object()) continue;
        const json::object* o = &p.get_object();
        const auto name = string_at(o, "name");
        if (!name) continue;
        const auto watts = preset_watts(*name);
        if (!watts) continue;  // "disabled"
        // A preset that needs a modded PSU could overload the stock one.
        const json::value* modded = field(o, "modded_psu_required");
        if (modded && modded->is_bool() && modded->get_bool()) continue;
        out.push_back({std::string(*name), *watts, string_at(o, "status") == "tuned"});
    }
    std::sort(out.begin(), out.end(),
              [](const VnishPreset& a, const VnishPreset& b) { return a.watts < b.watts; });
    return out;
}

const VnishPreset* vnish_choose_preset(const std::vector<VnishPreset>& presets,
                                       double target_w) noexcept {
    const VnishPreset* best = nullptr;
    for (const auto& p : presets) {
        if (p.watts <= target_w && (!best || p.watts > best->watts)) best = &p;
    }
    return best;
}

std::optional<std::string> vnish_settings_preset(std::string_view body) {
    const json::value doc = parse_body("settings", body);
    if (!doc.is_object()) throw VnishParseError("settings: not a JSON object");
    reject_error_reply("settings", doc.get_object());
    const json::value* p =
        field(object_at(object_at(&doc.get_object(), "miner"), "overclock"), "preset");
    if (!p) return std::nullopt;
    if (p->is_string()) return std::string(p->get_string());
    if (const auto n = integer(p)) return std::to_string(*n);
    return std::nullopt;
}

std::string vnish_unlock_token(std::string_view body) {
    const json::value doc = parse_body("unlock", body);
    if (!doc.is_object()) throw VnishParseError("unlock: not a JSON object");
    reject_error_reply("unlock", doc.get_object());
    const auto token = string_at(&doc.get_object(), "token");
    if (!token || trim_ascii(*token).empty())
        throw VnishParseError("unlock: no token in the reply");
    return std::string(trim_ascii(*token));
}

std::string vnish_preset_settings_body(std::string_view preset) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("miner");
    w.begin_object();
    w.key("overclock");
    w.begin_object();
    w.field("preset", preset);
    w.end_object();
    w.end_object();
    w.end_object();
    return out;
}

}  // namespace hashwatt::agent
