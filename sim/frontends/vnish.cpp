// Vnish (AnthillOS, "xminer-api") on Antminer (PROTOCOLS.md §7): the bundled cgminer answers RPC on
// TCP 4028 like stock bmminer (shared code in antminer.cpp, only the Type string differs), and
// the web API lives under /api/v1 with a bearer token from /api/v1/unlock for every write.
// Reads follow tests/fixtures/vnish/.
#include "common/crypto.hpp"
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
#include <vector>

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

// In both captured Vnish builds the top-level hash rate (hr_realtime, instant_hashrate and the
// averages) is exactly 0.7 x the sum of the chains' hashrate_rt, and the chain figures are the
// ones that match the power drawn. The simulator reproduces that: chains carry the true rate.
constexpr double kTopLevelHashrateFactor = 0.7;
constexpr double kDevfeePercent = 1.8;
constexpr int kPresetCount = 8;
// The build date of the bundled cgminer (1.2.0-rc3 capture), shown by RPC and /summary.
constexpr std::string_view kCompileTime = "Sat Jul 22 16:41:12 UTC 2023";

double ghs(double ths) { return ths * 1000.0; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
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
// Autotune presets: named by their power in W, spanning the model's range, one of them the
// nominal power (the default preset).

std::vector<int> preset_watts(const ModelSpec& model) {
    std::vector<int> out;
    const double lo = model.min_power_w;
    const double hi = std::max(model.max_power_w, lo);
    for (int i = 0; i < kPresetCount; ++i) {
        const double w = lo + (hi - lo) * i / (kPresetCount - 1);
        out.push_back(static_cast<int>(std::lround(w / 10.0) * 10));
    }
    const int nominal = static_cast<int>(std::lround(model.nominal_w));
    auto nearest = std::min_element(out.begin(), out.end(), [&](int a, int b) {
        return std::abs(a - nominal) < std::abs(b - nominal);
    });
    *nearest = nominal;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string default_preset(const ModelSpec& model) {
    return std::to_string(std::lround(model.nominal_w));
}

std::string current_preset(const SimMiner& m) {
    return m.control.vnish_preset.empty() ? default_preset(*m.model) : m.control.vnish_preset;
}

// The watts a preset name stands for; nullopt for a name the preset list does not have.
// "disabled" (stock settings) runs at the nominal power.
std::optional<double> preset_power_w(const ModelSpec& model, std::string_view name) {
    if (name == "disabled") return model.nominal_w;
    for (const int w : preset_watts(model)) {
        if (name == std::to_string(w)) return w;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Reads.

std::string_view miner_state(const SimMiner& m, const Snapshot& s) {
    if (s.state == SimState::booting) return "initializing";
    if (m.physics.commanded_asleep()) return "stopped";
    if (s.state == SimState::protecting) return "failure";
    if (!s.hashing) return "starting";
    return "mining";
}

// Vnish prints uptime the way `uptime` does: " 1:00" (h:mm), "3 days, 18:00".
std::string uptime_text(std::int64_t seconds) {
    seconds = std::max<std::int64_t>(0, seconds);
    const std::int64_t days = seconds / 86400;
    const std::int64_t hours = seconds % 86400 / 3600;
    const std::int64_t minutes = seconds % 3600 / 60;
    std::array<char, 64> buf{};
    if (days > 0) {
        std::snprintf(buf.data(), buf.size(), "%lld days, %2lld:%02lld",
                      static_cast<long long>(days), static_cast<long long>(hours),
                      static_cast<long long>(minutes));
    } else {
        std::snprintf(buf.data(), buf.size(), "%2lld:%02lld", static_cast<long long>(hours),
                      static_cast<long long>(minutes));
    }
    return buf.data();
}

int configured_freq_mhz(const SimMiner& m) {
    const double ratio = std::max(0.1, m.physics.power_target_w() / m.model->nominal_w);
    return static_cast<int>(std::lround(525.0 * std::pow(ratio, 0.6)));
}

// Chain voltage in mV as Vnish prints it (13600 = 13.6 V).
int configured_voltage_mv(const SimMiner& m) {
    const double ratio = std::max(0.1, m.physics.power_target_w() / m.model->nominal_w);
    return static_cast<int>(std::lround(13300.0 * std::pow(ratio, 0.25) / 10.0) * 10);
}

void write_system(JsonWriter& w, const SimMiner& m, const Snapshot& s) {
    w.key("system");
    w.begin_object();
    w.field("os", "GNU/Linux");
    w.field("miner_name", m.id);
    w.field("file_system_version", "");
    w.field("mem_total", 252120);
    w.field("mem_free", 214968);
    w.field("mem_free_percent", 85);
    w.field("mem_buf", 19612);
    w.field("mem_buf_percent", 7);
    w.key("network_status");
    w.begin_object();
    w.field("mac", upper_mac(m.mac));
    w.field("dhcp", true);
    w.field("ip", m.ip_text);
    w.field("netmask", "255.255.255.0");
    w.field("gateway", "127.0.0.1");
    w.key("dns");
    w.begin_array();
    w.value("127.0.0.1");
    w.end_array();
    w.field("hostname", m.hostname);
    w.end_object();
    w.field("uptime", uptime_text(s.uptime_s));
    w.end_object();
}

void write_min_max(JsonWriter& w, std::string_view key, double lo, double hi) {
    w.key(key);
    w.begin_object();
    w.field("min", static_cast<std::int64_t>(std::lround(lo)));
    w.field("max", static_cast<std::int64_t>(std::lround(hi)));
    w.end_object();
}

void write_sensors(JsonWriter& w, std::string_view key, const std::array<double, 4>& t) {
    w.key(key);
    w.begin_array();
    for (const double v : t) {
        w.begin_object();
        w.field("status", "measure");
        w.field("temp", static_cast<std::int64_t>(std::lround(v)));
        w.end_object();
    }
    w.end_array();
}

std::string type_string(const SimMiner& m) {
    return std::string(m.model->name) + " (Vnish " + m.firmware_version + ")";
}

std::string summary_body(const SimMiner& m, const Snapshot& s) {
    double chains_ghs = 0;
    for (const auto& b : s.boards) chains_ghs += ghs(b.hashrate_ths);
    const double hr_realtime = kTopLevelHashrateFactor * chains_ghs;
    const double hr_average = kTopLevelHashrateFactor * ghs(s.hashrate_avg_ths);
    double pcb_lo = 0, pcb_hi = 0, chip_lo = 0, chip_hi = 0;
    bool first = true;
    for (const auto& b : s.boards) {
        for (const double t : b.pcb_temps_c) {
            pcb_lo = first ? t : std::min(pcb_lo, t);
            pcb_hi = first ? t : std::max(pcb_hi, t);
            first = false;
        }
    }
    first = true;
    for (const auto& b : s.boards) {
        for (const double t : b.chip_temps_c) {
            chip_lo = first ? t : std::min(chip_lo, t);
            chip_hi = first ? t : std::max(chip_hi, t);
            first = false;
        }
    }
    const double share_diff = 131072.0;
    const std::string_view state = miner_state(m, s);

    std::string out;
    JsonWriter w(out);
    w.begin_object();
    write_system(w, m, s);
    w.key("miner");
    w.begin_object();
    w.key("miner_status");
    w.begin_object();
    w.field("miner_state", state);
    w.field("miner_state_time", s.elapsed_s);
    w.end_object();
    w.field("miner_type", type_string(m));
    w.field("hardware_version", "uart_trans.1.3");
    w.field("cgminer_version", "4.11.1");
    w.field("compile_time", kCompileTime);
    write_fixed(w, "average_hashrate", hr_average / 1000.0, 6);
    write_fixed(w, "instant_hashrate", hr_realtime / 1000.0, 6);
    write_fixed(w, "hr_realtime", hr_realtime, 3);
    write_fixed(w, "hr_average", hr_average, 3);
    write_min_max(w, "pcb_temp", pcb_lo, pcb_hi);
    write_min_max(w, "chip_temp", chip_lo, chip_hi);
    const auto power = static_cast<std::int64_t>(std::lround(s.power_w));
    w.field("power_consumption", power);
    w.field("power_usage", power);
    // W per GH/s of the reported (top-level) rate, as 1.2.0-rc3 computes it.
    write_fixed(w, "power_efficiency", hr_realtime > 0 ? s.power_w / hr_realtime : 0.0, 9);
    const double diff1 = s.work_ths_s * 1e12 / 4294967296.0;
    write_fixed(w, "hw_errors_percent",
                diff1 > 0 ? static_cast<double>(s.hw_errors) * 100.0 / diff1 : 0.0, 2);
    write_fixed(w, "hr_error", 0, 1);
    w.field("hw_errors", s.hw_errors);
    write_fixed(w, "devfee_percent", kDevfeePercent, 3);
    write_fixed(w, "devfee", hr_realtime * kDevfeePercent / 100.0, 5);

    w.key("pools");
    w.begin_array();
    std::int64_t id = 0;
    for (const auto& p : m.pools) {
        const bool active = id == 0 && !p.url.empty();
        w.begin_object();
        w.field("id", id);
        w.field("url", p.url);
        w.field("pool_type", "UserPool");
        w.field("user", p.user);
        w.field("status", p.url.empty() ? "offline" : active ? "active" : "working");
        w.field("asic_boost", true);
        w.field("diff", active ? suffix_string(share_diff) : "65.5K");
        w.field("accepted", active ? s.accepted : 0);
        w.field("rejected", active ? s.rejected : 0);
        w.field("stale", active ? s.stale : 0);
        write_fixed(w, "ls_diff", active && s.accepted > 0 ? share_diff : 0.0, 1);
        w.field("ls_time", active && s.hashing ? "0:00:11" : "0");
        write_fixed(w, "diffa", active ? static_cast<double>(s.accepted) * share_diff : 0.0, 1);
        w.field("ping", active ? 19 : 0);
        w.end_object();
        ++id;
    }
    // The developer-fee pseudo-pool Vnish lists after the user's pools.
    const auto devfee_shares =
        static_cast<std::int64_t>(static_cast<double>(s.accepted) * kDevfeePercent / 100.0 * 64.0);
    w.begin_object();
    w.field("id", id);
    w.field("url", "DevFee");
    w.field("pool_type", "DevFee");
    w.field("user", "DevFee");
    w.field("status", s.hashing ? "working" : "offline");
    w.field("asic_boost", false);
    w.field("diff", "2.05K");
    w.field("accepted", devfee_shares);
    w.field("rejected", 0);
    w.field("stale", 0);
    write_fixed(w, "ls_diff", devfee_shares > 0 ? 2048.0 : 0.0, 1);
    w.field("ls_time", s.hashing ? "0:00:39" : "0");
    write_fixed(w, "diffa", static_cast<double>(devfee_shares) * 2048.0, 1);
    w.field("ping", 0);
    w.end_object();
    w.end_array();

    w.key("cooling");
    w.begin_object();
    w.field("fan_num", static_cast<std::int64_t>(s.fans_rpm.size()));
    w.key("fans");
    w.begin_array();
    for (std::size_t i = 0; i < s.fans_rpm.size(); ++i) {
        w.begin_object();
        w.field("id", static_cast<std::int64_t>(i));
        w.field("rpm", s.fans_rpm[i]);
        w.end_object();
    }
    w.end_array();
    w.key("settings");
    w.begin_object();
    w.key("mode");
    w.begin_object();
    w.field("name", "auto");
    w.end_object();
    w.end_object();
    w.field("fan_duty", s.fan_pwm_pct);
    w.end_object();

    w.key("chains");
    w.begin_array();
    const int freq = configured_freq_mhz(m);
    const int volt = configured_voltage_mv(m);
    for (const auto& b : s.boards) {
        const double rt = ghs(b.hashrate_ths);
        const double ideal = ghs(b.ideal_ths);
        w.begin_object();
        w.field("id", static_cast<std::int64_t>(&b - s.boards.data()) + 1);
        write_fixed(w, "frequency", b.alive ? freq : 0, 1);
        w.field("voltage", b.alive ? volt : 0);
        w.field("power_consumption", static_cast<std::int64_t>(std::lround(b.power_w)));
        write_fixed(w, "hashrate_ideal", ideal, 1);
        write_fixed(w, "hashrate_rt", rt, 3);
        write_fixed(w, "hashrate_percentage", ideal > 0 ? rt * 100.0 / ideal : 0.0, 2);
        write_fixed(w, "hr_error", 0, 1);
        w.field("hw_errors", b.hw_errors);
        write_sensors(w, "pcb_temp_sens", b.pcb_temps_c);
        write_sensors(w, "chip_temp_sens", b.chip_temps_c);
        write_min_max(w, "pcb_temp", *std::min_element(b.pcb_temps_c.begin(), b.pcb_temps_c.end()),
                      b.board_temp_max_c);
        write_min_max(w, "chip_temp",
                      *std::min_element(b.chip_temps_c.begin(), b.chip_temps_c.end()),
                      b.chip_temp_max_c);
        w.key("chip_statuses");
        w.begin_object();
        w.field("red", b.alive ? 0 : b.expected_chips);
        w.field("orange", 0);
        w.field("grey", b.chips);
        w.end_object();
        w.key("status");
        w.begin_object();
        w.field("state", b.alive ? state : std::string_view("failure"));
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.field("found_blocks", 0);
    w.field("best_share",
            static_cast<std::int64_t>(
                share_diff *
                (s.accepted > 0 ? 40.0 + 5.0 * std::sqrt(static_cast<double>(s.accepted)) : 0.0)));
    w.end_object();
    w.end_object();
    return out;
}

std::string info_body(const SimMiner& m, const Snapshot& s) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("miner", m.model->name);
    w.field("model", m.model->key);
    w.field("fw_name", "Vnish");
    w.field("fw_version", m.firmware_version);
    w.field("build_uuid", crypto::md5_hex(m.firmware_version).substr(0, 32));
    w.field("build_name", "vnishnet");
    w.field("platform", "xil");
    w.field("install_type", "nand");
    w.field("build_time", "2023-07-22 16:41:12+00:00");
    w.field("algorithm", "sha256d");
    w.field("hr_measure", "GH/s");
    write_system(w, m, s);
    w.field("serial", m.serial);
    w.end_object();
    return out;
}

std::string status_body(const SimMiner& m, const Snapshot& s, bool unlocked) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("miner_state", miner_state(m, s));
    w.field("miner_state_time", s.elapsed_s);
    w.field("find_miner", false);
    w.field("restart_required", false);
    w.field("reboot_required", false);
    w.field("unlocked", unlocked);
    w.end_object();
    return out;
}

std::string presets_body(const SimMiner& m) {
    const std::string current = current_preset(m);
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    const auto preset = [&](std::string_view name, std::string_view pretty) {
        w.begin_object();
        w.field("name", name);
        w.field("pretty", pretty);
        w.field("status", name == current ? "tuned" : "untuned");
        w.field("modded_psu_required", false);
        w.end_object();
    };
    preset("disabled", "Disabled");
    for (const int watts : preset_watts(*m.model)) {
        const double ths = hashrate_at_power(*m.model, watts);
        preset(std::to_string(watts),
               std::to_string(watts) + " watt ~ " + std::to_string(std::lround(ths)) + " Th");
    }
    w.end_array();
    return out;
}

std::string settings_body(const SimMiner& m) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("miner");
    w.begin_object();
    w.key("cooling");
    w.begin_object();
    w.key("mode");
    w.begin_object();
    w.field("name", "auto");
    w.field("param", 60);
    w.end_object();
    w.end_object();
    w.key("devfee");
    w.begin_object();
    w.field("region", "auto");
    w.end_object();
    w.key("misc");
    w.begin_object();
    w.field("asic_boost", false);
    w.field("restart_hashrate", 0);
    w.field("restart_temp", 85);
    w.field("disable_restart_unbalanced", false);
    w.field("disable_chain_break_protection", false);
    w.field("max_restart_attempts", 0);
    w.field("bitmain_disable_volt_comp", false);
    w.field("quick_start", false);
    w.field("higher_volt_offset", 100);
    w.field("tuner_bad_chip_hr_threshold", 50);
    w.end_object();
    w.key("overclock");
    w.begin_object();
    w.field("modded_psu", false);
    w.field("preset", current_preset(m));
    w.key("globals");
    w.begin_object();
    w.field("volt", configured_voltage_mv(m) / 10);
    w.field("freq", configured_freq_mhz(m));
    w.end_object();
    w.key("chains");
    w.begin_array();
    for (int b = 0; b < m.model->boards; ++b) {
        w.begin_object();
        w.field("freq", 0);
        w.key("chips");
        w.begin_array();
        for (int c = 0; c < m.model->chips_per_board; ++c) w.value(0);
        w.end_array();
        w.field("disabled", false);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    w.key("pools");
    w.begin_array();
    for (const auto& p : m.pools) {
        w.begin_object();
        w.field("url", p.url);
        w.field("user", p.user);
        w.field("pass", "");
        w.end_object();
    }
    w.end_array();
    w.key("hotel_fee");
    w.begin_object();
    w.field("enable", false);
    w.key("pool");
    w.begin_object();
    w.field("url", "stratum.slushpool.com:3333");
    w.field("worker", "ahx.hotelfee");
    write_fixed(w, "percent", 1.0, 1);
    w.end_object();
    w.end_object();
    w.end_object();  // miner
    w.key("ui");
    w.begin_object();
    w.field("theme", "auto");
    w.field("dark_side_pane", false);
    w.field("disable_animation", false);
    w.field("locale", "en");
    w.field("timezone", "GMT");
    w.key("consts");
    w.begin_object();
    w.key("cooling");
    w.begin_object();
    w.field("min_fan_pwm", 10);
    w.field("min_target_temp", 20);
    w.field("max_target_temp", 100);
    w.end_object();
    w.key("overclock");
    w.begin_object();
    w.field("max_voltage", 1535);
    w.field("min_voltage", 1200);
    w.field("default_voltage", 1340);
    w.field("max_freq", 1000);
    w.field("min_freq", 50);
    w.field("default_freq", 600);
    w.field("warn_freq", 750);
    w.field("max_voltage_stock_psu", 1500);
    w.end_object();
    w.key("timezones");
    w.begin_array();
    for (int off = -11; off <= 12; ++off) {
        std::string name = "GMT";
        std::string pretty = "GMT";
        if (off != 0) {
            const char sign = off < 0 ? '-' : '+';
            const int a = std::abs(off);
            name += sign + std::to_string(a);
            pretty += sign + std::string(a < 10 ? "0" : "") + std::to_string(a);
        }
        w.begin_array();
        w.value(name);
        w.value(pretty);
        w.end_array();
    }
    w.end_array();
    w.end_object();  // consts
    w.end_object();  // ui
    w.key("regional");
    w.begin_object();
    w.key("timezone");
    w.begin_object();
    w.field("current", "GMT");
    w.end_object();
    w.end_object();
    w.key("network");
    w.begin_object();
    w.field("hostname", m.hostname);
    w.field("dhcp", true);
    w.field("ipaddress", m.ip_text);
    w.field("netmask", "255.255.255.0");
    w.field("gateway", "127.0.0.1");
    w.key("dnsservers");
    w.begin_array();
    w.value("127.0.0.1");
    w.end_array();
    w.end_object();
    w.key("ssh");
    w.begin_object();
    w.field("enabled", true);
    w.field("port", 22);
    w.end_object();
    for (const std::string_view k : {"password", "layout", "boot"}) {
        w.key(k);
        w.null();
    }
    w.end_object();
    return out;
}

// ---------------------------------------------------------------------------------------------
// Requests.

HttpResponse json_response(std::string body, unsigned status = 200) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
}

// Vnish reports failures as {"err":"..."}.
HttpResponse error_response(unsigned status, std::string_view message) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("err", message);
    w.end_object();
    return json_response(std::move(out), status);
}

// Control endpoints answer 200 with an empty body.
HttpResponse empty_ok() {
    HttpResponse r;
    r.content_type = "text/plain";
    return r;
}

// The bearer token from `Authorization: Bearer <token>` (pyasic sends the bare token: accepted).
// A password_changed fault revokes it too: a changed password ends the sessions issued under the
// old one, and the fault promises that every credential the agent knows is rejected.
bool token_ok(const SimMiner& m, const HttpRequest& req) {
    if (m.faults.has(FaultKind::password_changed)) return false;
    std::string_view a = trim(req.authorization);
    if (a.size() > 7 && (a.substr(0, 7) == "Bearer " || a.substr(0, 7) == "bearer ")) {
        a = trim(a.substr(7));
    }
    return !m.control.api_token.empty() && !a.empty() &&
           crypto::constant_time_equal(a, m.control.api_token);
}

std::optional<boost::json::object> parse_object(std::string_view body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.get_object());
}

HttpResponse unlock(SimMiner& m, const HttpRequest& req, TimePoint now) {
    const auto o = parse_object(req.body);
    if (!o) return error_response(400, "Invalid request body");
    const auto* pw = o->if_contains("pw");
    if (!pw || !pw->is_string()) return error_response(400, "Invalid request body");
    if (!m.password_ok(std::string_view(pw->get_string()))) {
        return error_response(403, "Wrong password");
    }
    m.control.api_token = crypto::random_token(16);
    m.control.api_token_issued = now;
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("token", m.control.api_token);
    w.end_object();
    return json_response(std::move(out));
}

// POST /api/v1/settings: a partial settings document; the simulator applies
// miner.overclock.preset (the power target) and miner.pools.
HttpResponse post_settings(SimMiner& m, const HttpRequest& req, TimePoint now) {
    const auto o = parse_object(req.body);
    if (!o) return error_response(400, "Invalid request body");
    std::optional<std::string> preset;
    std::optional<std::vector<SimPool>> pools;
    if (const auto* miner = o->if_contains("miner")) {
        if (!miner->is_object()) return error_response(400, "Invalid settings");
        if (const auto* oc = miner->get_object().if_contains("overclock")) {
            if (!oc->is_object()) return error_response(400, "Invalid settings");
            if (const auto* p = oc->get_object().if_contains("preset")) {
                if (p->is_string()) {
                    preset = std::string(p->get_string());
                } else if (p->is_int64()) {
                    preset = std::to_string(p->get_int64());
                } else if (p->is_uint64()) {
                    preset = std::to_string(p->get_uint64());
                } else {
                    return error_response(400, "Invalid preset");
                }
                if (!preset_power_w(*m.model, *preset)) {
                    return error_response(400, "Unknown preset " + *preset);
                }
            }
        }
        if (const auto* p = miner->get_object().if_contains("pools")) {
            if (!p->is_array()) return error_response(400, "Invalid pools");
            pools.emplace();
            for (const auto& e : p->get_array()) {
                if (!e.is_object()) return error_response(400, "Invalid pools");
                const auto* url = e.get_object().if_contains("url");
                const auto* user = e.get_object().if_contains("user");
                if (!url || !url->is_string() || !user || !user->is_string()) {
                    return error_response(400, "Invalid pools");
                }
                pools->push_back({std::string(url->get_string()), std::string(user->get_string())});
            }
        }
    }
    if (pools) m.pools = std::move(*pools);
    if (preset) {
        m.control.vnish_preset = *preset;
        m.physics.set_power_target(now, *preset_power_w(*m.model, *preset));
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("restart_required", false);
    w.field("reboot_required", false);
    w.end_object();
    return json_response(std::move(out));
}

HttpResponse vnish_http(SimMiner& m, const HttpRequest& req, TimePoint now) {
    const std::string_view path = req.path;
    if (path == "/" || path == "/index.html") {
        HttpResponse r;
        r.content_type = "text/html";
        r.body =
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>AnthillOS</title></head><body><div id=\"app\"></div></body></html>\n";
        return r;
    }
    constexpr std::string_view kPrefix = "/api/v1/";
    if (!path.starts_with(kPrefix)) return error_response(404, "Not found");
    const std::string_view route = path.substr(kPrefix.size());
    const bool get = req.method == "GET";
    const bool post = req.method == "POST";

    if (get) {
        const Snapshot s = m.physics.snapshot(now, m.faults);
        if (route == "summary") return json_response(summary_body(m, s));
        if (route == "info") return json_response(info_body(m, s));
        if (route == "status") return json_response(status_body(m, s, token_ok(m, req)));
        if (route == "settings") return json_response(settings_body(m));
        if (route == "autotune/presets") return json_response(presets_body(m));
    }
    if (post && route == "unlock") return unlock(m, req, now);

    const bool write = route == "settings" || route == "mining/stop" || route == "mining/start" ||
                       route == "mining/pause" || route == "mining/resume" ||
                       route == "mining/restart" || route == "system/reboot";
    if (!write) return error_response(404, "Not found");
    if (!post) return error_response(405, "Method not allowed");
    if (!token_ok(m, req)) return error_response(401, "Unauthorized");

    if (route == "settings") return post_settings(m, req, now);
    if (route == "mining/stop" || route == "mining/pause") {
        // A sleep_ignored miner acknowledges but keeps hashing.
        if (!m.faults.has(FaultKind::sleep_ignored)) m.physics.sleep(now);
        return empty_ok();
    }
    if (route == "mining/start" || route == "mining/resume" || route == "mining/restart") {
        m.wake(now);
        return empty_ok();
    }
    // system/reboot: tokens live in memory and do not survive it.
    m.physics.reboot(now);
    m.control.api_token.clear();
    return json_response("{}");
}

class VnishFrontend final : public Frontend {
  public:
    RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const override {
        return bmminer_rpc(m, req, now, type_string(m), kCompileTime);
    }

    HttpResponse http(SimMiner& m, const HttpRequest& req, TimePoint now) const override {
        try {
            return vnish_http(m, req, now);
        } catch (const std::exception&) {
            return error_response(500, "Internal server error");
        }
    }

    bool has_http() const override { return true; }
};

}  // namespace

const Frontend& vnish_frontend() {
    static const VnishFrontend f;
    return f;
}

}  // namespace hashwatt::sim
