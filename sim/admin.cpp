#include "sim/admin.hpp"

#include "common/json_writer.hpp"
#include "sim/server.hpp"

#include <boost/json.hpp>

namespace hashwatt::sim {
namespace {

HttpResponse json_response(unsigned status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

HttpResponse error(unsigned status, std::string_view message) {
    std::string body;
    JsonWriter w(body);
    w.begin_object();
    w.field("error", message);
    w.end_object();
    return json_response(status, std::move(body));
}

void write_faults(JsonWriter& w, const SimMiner& m) {
    w.key("faults");
    w.begin_array();
    for (int k = 0; k < kFaultKindCount; ++k) {
        const auto kind = static_cast<FaultKind>(k);
        if (m.faults.has(kind)) w.value(to_string(kind));
    }
    w.end_array();
}

// The state a sample should agree with, straight from the physics.
void write_truth(JsonWriter& w, const SimMiner& m, TimePoint now, bool detail) {
    const Snapshot s = m.physics.snapshot(now, m.faults);
    w.begin_object();
    w.field("id", m.id);
    w.field("ip", m.ip_text);
    w.field("family", to_string(m.family));
    w.field("model", m.model->name);
    w.field("make", m.model->make);
    w.field("mac", m.mac);
    w.field("state", to_string(s.state));
    w.field("hashing", s.hashing);
    w.field("power_w", s.power_w);
    w.field("power_target_w", s.power_target_w);
    w.field("hashrate_ths", s.hashrate_ths);
    w.field("hashrate_1m_ths", s.hashrate_1m_ths);
    w.field("hashrate_avg_ths", s.hashrate_avg_ths);
    w.field("expected_hashrate_ths", s.expected_ths);
    write_faults(w, m);
    if (detail) {
        w.field("serial", m.serial);
        w.field("hostname", m.hostname);
        w.field("firmware_version", m.firmware_version);
        w.field("chip_temp_max_c", s.chip_temp_max_c);
        w.field("board_temp_max_c", s.board_temp_max_c);
        w.field("ambient_c", s.ambient_c);
        w.field("fan_pwm_pct", s.fan_pwm_pct);
        w.key("fans_rpm");
        w.begin_array();
        for (auto f : s.fans_rpm) w.value(f);
        w.end_array();
        w.key("boards");
        w.begin_array();
        for (const auto& b : s.boards) {
            w.begin_object();
            w.field("index", b.index);
            w.field("alive", b.alive);
            w.field("hashrate_ths", b.hashrate_ths);
            w.field("chips", b.chips);
            w.field("expected_chips", b.expected_chips);
            w.field("chip_temp_max_c", b.chip_temp_max_c);
            w.field("board_temp_max_c", b.board_temp_max_c);
            w.field("hw_errors", b.hw_errors);
            w.end_object();
        }
        w.end_array();
        w.field("uptime_s", s.uptime_s);
        w.field("elapsed_s", s.elapsed_s);
        w.field("accepted", s.accepted);
        w.field("rejected", s.rejected);
        w.field("hw_errors", s.hw_errors);
        w.key("control");
        w.begin_object();
        w.field("antminer_work_mode", m.control.antminer_work_mode);
        w.field("whatsminer_power_pct", m.control.whatsminer_power_pct);
        w.field("whatsminer_power_limit_w", m.control.whatsminer_power_limit_w);
        w.field("luxos_session_open", !m.control.luxos_session.empty());
        w.field("luxos_profile", m.control.luxos_profile);
        w.field("luxos_atm_enabled", m.control.luxos_atm_enabled);
        w.field("vnish_preset", m.control.vnish_preset);
        w.field("avalon_workmode", m.control.avalon_workmode);
        w.end_object();
    }
    w.end_object();
}

// Splits "/api/v1/miners/sim-00001/faults/hung" into its segments.
std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start < path.size()) {
        const auto end = std::min(path.find('/', start), path.size());
        if (end > start) out.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

HttpResponse inject_fault(SimServer& server, SimMiner& m, std::string_view body) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object())
        return error(400, "body must be a JSON object like {\"kind\":\"hung\"}");
    const auto& o = v.get_object();
    const auto* kind_v = o.if_contains("kind");
    if (!kind_v || !kind_v->is_string()) return error(400, "kind: required string");
    const auto kind = parse_fault_kind(kind_v->get_string());
    if (!kind) return error(400, "kind: unknown fault '" + std::string(kind_v->get_string()) + "'");
    FaultParams p;
    if (const auto* d = o.if_contains("delay")) {
        if (!d->is_string()) return error(400, "delay: expected a duration string like \"5s\"");
        std::string err;
        auto dur = parse_duration(d->get_string(), &err);
        if (!dur) return error(400, "delay: " + err);
        p.delay = *dur;
    }
    if (const auto* i = o.if_contains("index")) {
        if (!i->is_int64() || i->get_int64() < 0 || i->get_int64() > 16) {
            return error(400, "index: expected an integer 0..16");
        }
        p.index = static_cast<int>(i->get_int64());
    }
    if (const auto* r = o.if_contains("ratio")) {
        if (!r->is_number()) return error(400, "ratio: expected a number");
        const double ratio = r->to_number<double>();
        if (!ratio_valid(*kind, ratio)) {
            return error(400, "ratio: " + std::to_string(ratio) + " is out of range for " +
                                  std::string(to_string(*kind)) +
                                  " (rejects 0..1, power_overdraw 1..3, hashrate_drop 0..1)");
        }
        p.ratio = ratio;
    }
    server.inject(m, *kind, p);
    return json_response(200, "{\"ok\":true}");
}

}  // namespace

HttpResponse handle_admin(Fleet& fleet, SimServer& server, const HttpRequest& req, TimePoint now) {
    const auto seg = segments(req.path);
    if (seg.size() < 3 || seg[0] != "api" || seg[1] != "v1") return error(404, "no such route");

    if (seg.size() == 3 && seg[2] == "fleet" && req.method == "GET") {
        double power = 0, hashrate = 0;
        int mining = 0, sleeping = 0, other = 0;
        for (const auto& m : fleet.miners()) {
            const Snapshot s = m->physics.snapshot(now, m->faults);
            power += s.power_w;
            hashrate += s.hashrate_ths;
            (s.state == SimState::mining     ? mining
             : s.state == SimState::sleeping ? sleeping
                                             : other)++;
        }
        std::string body;
        JsonWriter w(body);
        w.begin_object();
        w.field("miners", static_cast<std::int64_t>(fleet.miners().size()));
        w.field("mining", mining);
        w.field("sleeping", sleeping);
        w.field("other", other);
        w.field("power_w", power);
        w.field("hashrate_ths", hashrate);
        w.end_object();
        return json_response(200, std::move(body));
    }
    if (seg[2] != "miners") return error(404, "no such route");
    if (seg.size() == 3) {
        if (req.method != "GET") return error(405, "use GET");
        std::string body;
        body.reserve(fleet.miners().size() * 256);
        JsonWriter w(body);
        w.begin_array();
        for (const auto& m : fleet.miners()) write_truth(w, *m, now, false);
        w.end_array();
        return json_response(200, std::move(body));
    }
    SimMiner* m = fleet.by_id_or_ip(seg[3]);
    if (!m) return error(404, "no miner '" + std::string(seg[3]) + "'");
    if (seg.size() == 4) {
        if (req.method != "GET") return error(405, "use GET");
        std::string body;
        JsonWriter w(body);
        write_truth(w, *m, now, true);
        return json_response(200, std::move(body));
    }
    if (seg[4] != "faults" || seg.size() > 6) return error(404, "no such route");
    if (req.method == "POST" && seg.size() == 5) return inject_fault(server, *m, req.body);
    if (req.method == "DELETE") {
        std::optional<FaultKind> kind;
        if (seg.size() == 6) {
            kind = parse_fault_kind(seg[5]);
            if (!kind) return error(400, "unknown fault '" + std::string(seg[5]) + "'");
        }
        server.clear(*m, kind);
        return json_response(200, "{\"ok\":true}");
    }
    return error(405, "use POST to inject, DELETE to clear");
}

}  // namespace hashwatt::sim
