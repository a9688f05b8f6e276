// The alert routes: the alerts table as the engine left it (collector/alerts/alert_store.hpp).
#include "collector/alerts/alert_store.hpp"
#include "collector/api/routes.hpp"
#include "common/json_writer.hpp"
#include "common/time.hpp"

#include <charconv>

#include <boost/url/params_view.hpp>

namespace hashwatt::collector {

namespace urls = boost::urls;

namespace {

struct BadParam {
    std::string name;
    std::string why;
};

void write_map(JsonWriter& w, std::string_view k, const std::map<std::string, std::string>& m) {
    w.key(k);
    w.begin_object();
    for (const auto& [key, v] : m) w.field(key, v);
    w.end_object();
}

void write_opt_time(JsonWriter& w, std::string_view k, const std::optional<TimePoint>& t) {
    if (t) w.field(k, format_time(*t));
}

void write_alert(JsonWriter& w, const alerts::Alert& a) {
    w.field("fingerprint", a.fingerprint);
    w.field("alertname", a.alertname);
    w.field("miner", a.subject);
    w.field("severity", alerts::to_string(a.severity));
    w.field("state", alerts::to_string(a.state));
    write_map(w, "labels", a.labels);
    write_map(w, "annotations", a.annotations);
    write_opt_time(w, "active_since", a.active_since);
    write_opt_time(w, "fired_at", a.fired_at);
    write_opt_time(w, "resolved_at", a.resolved_at);
    write_opt_time(w, "last_true", a.last_true);
    w.field("updated_at", format_time(a.updated_at));
}

Reply list_route(const Store& store, const urls::url_view& url) {
    alerts::AlertFilter f;
    for (const auto& p : url.params()) {
        if (p.key.empty() && p.value.empty()) continue;  // "?" alone, or "a=1&&b=2"
        if (p.key == "state") {
            f.state = alerts::parse_alert_state(p.value);
            if (!f.state || *f.state == alerts::AlertState::inactive) {
                throw BadParam{"state", "expected firing, pending or resolved"};
            }
        } else if (p.key == "miner") {
            f.miner = p.value;
        } else if (p.key == "alertname") {
            f.alertname = p.value;
        } else if (p.key == "fingerprint") {
            f.fingerprint = p.value;
        } else if (p.key == "limit") {
            std::size_t n = 0;
            const auto* end = p.value.data() + p.value.size();
            auto [ptr, ec] = std::from_chars(p.value.data(), end, n);
            if (p.value.empty() || ec != std::errc{} || ptr != end || n < 1 || n > 1000) {
                throw BadParam{"limit", "expected an integer 1..1000"};
            }
            f.limit = n;
        } else {
            throw BadParam{p.key,
                           "unknown query parameter (state, miner, alertname, fingerprint, limit)"};
        }
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("alerts");
    w.begin_array();
    for (const auto& a : alerts::list_alerts(store, f)) {
        w.begin_object();
        write_alert(w, a);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

Reply one_route(const Store& store, const std::string& fingerprint) {
    alerts::AlertFilter f;
    f.fingerprint = fingerprint;
    f.limit = 1;
    auto found = alerts::list_alerts(store, f);
    if (found.empty()) return json_error(404, "unknown alert \"" + fingerprint + "\"");
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("alert");
    w.begin_object();
    write_alert(w, found.front());
    w.end_object();
    w.key("events");
    w.begin_array();
    for (const auto& e : alerts::alert_events(store, fingerprint)) {
        w.begin_object();
        w.field("at", format_time(e.at));
        w.field("state", alerts::to_string(e.state));
        w.field("message", e.message);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

}  // namespace

std::optional<Reply> handle_alerts(const Store& store, const urls::url_view& url) {
    std::vector<std::string> seg;
    for (auto s : url.segments()) seg.push_back(std::string(s));
    if (seg.size() < 3 || seg[0] != "api" || seg[1] != "v1" || seg[2] != "alerts") {
        return std::nullopt;
    }
    try {
        if (seg.size() == 3) return list_route(store, url);
        if (seg.size() == 4 && !seg[3].empty()) return one_route(store, seg[3]);
    } catch (const BadParam& e) {
        return json_error(400, e.name + ": " + e.why, e.name);
    }
    return std::nullopt;
}

}  // namespace hashwatt::collector
