// The alert routes: the alerts table as the engine left it (collector/alerts/alert_store.hpp),
// and the acknowledge and silence writes, which go through the engine (it holds the alerts).
#include "collector/alerts/alert_store.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/api/routes.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "common/units.hpp"

#include <charconv>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/params_view.hpp>

namespace hashwatt::collector {

namespace urls = boost::urls;

namespace {

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
    if (a.acked_by) w.field("acked_by", *a.acked_by);
    write_opt_time(w, "acked_at", a.acked_at);
    write_opt_time(w, "silenced_until", a.silenced_until);
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
            f.limit = parse_limit(p.value);
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

constexpr std::size_t kMaxByChars = 100;
constexpr std::size_t kMaxCommentChars = 1000;
constexpr Duration kMinSilence = std::chrono::minutes(1);
constexpr Duration kMaxSilence = std::chrono::hours(24 * 30);

// The body's object; an empty body is an empty object (every field of these routes is
// optional but "for").
boost::json::object body_object(const std::string& body) {
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return {};
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) throw BadParam{"body", "not JSON: " + ec.message()};
    if (!v.is_object()) throw BadParam{"body", "expected a JSON object"};
    return std::move(v.as_object());
}

std::optional<std::string> string_field(const boost::json::object& o, std::string_view name,
                                        std::size_t max_chars) {
    const auto* v = o.if_contains(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_string()) throw BadParam{std::string(name), "expected a string"};
    std::string s(v->as_string());
    if (s.size() > max_chars) {
        throw BadParam{std::string(name),
                       "longer than " + std::to_string(max_chars) + " characters"};
    }
    return s;
}

void only_fields(const boost::json::object& o, std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : o) {
        bool ok = false;
        for (auto n : known) ok = ok || k == n;
        if (!ok) throw BadParam{std::string(k), "unknown field"};
    }
}

Reply alert_reply(const alerts::Alert& a) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("alert");
    w.begin_object();
    write_alert(w, a);
    w.end_object();
    w.end_object();
    return json_reply(200, std::move(out));
}

std::string who(const boost::json::object& o) {
    auto by = string_field(o, "by", kMaxByChars);
    if (by && by->empty()) throw BadParam{"by", "must not be empty"};
    return by.value_or("admin");
}

}  // namespace

bool is_alert_action_route(std::string_view path) {
    constexpr std::string_view prefix = "/api/v1/alerts/";
    if (!path.starts_with(prefix)) return false;
    path.remove_prefix(prefix.size());
    const auto slash = path.find('/');
    if (slash == 0 || slash == std::string_view::npos) return false;
    const auto action = path.substr(slash + 1);
    return action == "ack" || action == "silence";
}

Reply handle_alert_action(alerts::AlertEngine* engine, const Token& caller,
                          boost::beast::http::verb method, std::string_view path,
                          const std::string& body) {
    namespace http = boost::beast::http;
    path.remove_prefix(std::string_view("/api/v1/alerts/").size());
    const auto slash = path.find('/');
    const std::string fingerprint(path.substr(0, slash));
    const auto action = path.substr(slash + 1);
    const bool silence = action == "silence";
    const bool allowed = method == http::verb::post || (silence && method == http::verb::delete_);
    if (!allowed) {
        Reply r = json_error(405, silence ? "method not allowed; use POST or DELETE"
                                          : "method not allowed; use POST");
        r.headers.emplace_back("Allow", silence ? "POST, DELETE" : "POST");
        return r;
    }
    if (caller.role != Role::admin) {
        return json_error(403, "role " + std::string(to_string(caller.role)) +
                                   " may not change alerts; use an admin token");
    }
    if (engine == nullptr) return json_error(503, "alerts are not enabled on this collector");
    const auto unknown = [&] { return json_error(404, "unknown alert \"" + fingerprint + "\""); };
    const TimePoint now = now_ms();
    try {
        const auto o = body_object(body);
        std::optional<alerts::Alert> a;
        if (!silence) {
            only_fields(o, {"by", "comment"});
            const auto by = who(o);
            a = engine->acknowledge(fingerprint, by, string_field(o, "comment", kMaxCommentChars),
                                    now);
        } else if (method == http::verb::delete_) {
            only_fields(o, {"by"});
            a = engine->silence(fingerprint, std::nullopt, who(o), now);
        } else {
            only_fields(o, {"for", "by"});
            const auto text = string_field(o, "for", 32);
            if (!text) throw BadParam{"for", "required: a duration such as \"2h\" (1m..30d)"};
            std::string why;
            const auto d = parse_duration(*text, &why);
            if (!d) throw BadParam{"for", "not a duration (" + why + ")"};
            if (*d < kMinSilence || *d > kMaxSilence) {
                throw BadParam{"for", "must be between 1m and 30d"};
            }
            a = engine->silence(fingerprint, now + *d, who(o), now);
        }
        if (!a) return unknown();
        log::info("alert changed through the API",
                  {{"fingerprint", fingerprint},
                   {"action", method == http::verb::delete_ ? "unsilence" : std::string(action)}});
        return alert_reply(*a);
    } catch (const BadParam& e) {
        return json_error(400, e.name + ": " + e.why, e.name);
    }
}

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
