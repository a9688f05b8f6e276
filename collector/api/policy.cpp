// The power policy's routes: what the control loop reports (status, last decisions), the
// decisions table, overrides added through the API (saved in the store, then handed to the
// loop) and a miner's explanation in words. docs/api.md, "Power policy".
#include "collector/api/routes.hpp"
#include "collector/control/decision_store.hpp"
#include "collector/control/override_store.hpp"
#include "collector/control/policy_control.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/params_view.hpp>

namespace hashwatt::collector {

namespace urls = boost::urls;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxIdChars = 64;
constexpr std::size_t kMaxNameChars = 200;  // site, miner ids, by
constexpr std::size_t kMaxOverrideMiners = 100000;
constexpr Duration kMaxOverrideLength = std::chrono::hours(24 * 31);
constexpr int kMaxPriority = 1000;
// How far back a miner's decisions are read to find when its current target began.
constexpr std::size_t kExplainHistory = 1000;

Reply no_policy() {
    return json_error(503,
                      "no power policy runs on this collector (see [policy] in "
                      "docs/configuration.md)");
}

Reply method_not_allowed(std::string_view allow) {
    Reply r = json_error(405, "method not allowed; use " + std::string(allow));
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

void write_price(JsonWriter& w, const policies::PriceInput& p) {
    w.key("price");
    w.begin_object();
    w.key("price_per_mwh");
    p.price_per_mwh ? w.value(*p.price_per_mwh) : w.null();
    w.field("stale", p.stale);
    if (!p.why.empty()) w.field("why", p.why);
    w.end_object();
}

void write_number_or_null(JsonWriter& w, std::string_view k, double v) {
    w.key(k);
    std::isfinite(v) ? w.value(v) : w.null();
}

Reply status_route(const control::PolicyControl& c) {
    const auto s = c.status();
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("running", s.running);
    w.field("policy_file", s.policy_file);
    w.field("price_source", s.price_source);
    w.field("dry_run", s.dry_run);
    w.field("kill_switch", s.kill_switch);
    w.key("last_round");
    s.last_round ? w.value(format_time(*s.last_round)) : w.null();
    write_price(w, s.last_price);
    w.field("miners", static_cast<std::uint64_t>(s.miners));
    w.field("changes_last_round", static_cast<std::uint64_t>(s.changes_last_round));
    w.field("held_last_round", static_cast<std::uint64_t>(s.held_last_round));
    w.key("last_error");
    s.last_error ? w.value(*s.last_error) : w.null();
    w.end_object();
    return json_reply(200, std::move(out));
}

void write_decision(JsonWriter& w, const control::DecisionRecord& d) {
    w.begin_object();
    w.field("decision_id", d.decision_id);
    w.field("at", format_time(d.at));
    w.field("miner", d.miner_id);
    w.field("site", d.site);
    w.field("target", d.target);
    w.field("power_target_w", d.power_target_w);
    w.field("outcome", control::to_string(d.outcome));
    w.field("rule", d.rule);
    w.field("reason", d.reason);
    w.field("price_per_mwh", d.price_per_mwh);
    w.field("break_even_per_mwh", d.break_even_per_mwh);
    w.field("command_id", d.command_id);
    w.end_object();
}

TimePoint time_param(std::string_view name, std::string_view v) {
    const auto t = parse_time(v);
    if (!t) throw BadParam{std::string(name), "expected an RFC 3339 time (2026-11-25T14:05:00Z)"};
    return *t;
}

Reply decisions_route(const Store& store, const urls::url_view& url) {
    control::DecisionFilter f;
    f.limit = 100;
    for (const auto& p : url.params()) {
        if (p.key.empty() && p.value.empty()) continue;
        if (p.key == "miner") {
            f.miner_id = p.value;
        } else if (p.key == "site") {
            f.site = p.value;
        } else if (p.key == "outcome") {
            f.outcome = control::parse_decision_outcome(p.value);
            if (!f.outcome) throw BadParam{"outcome", "expected commanded, dry_run or held"};
        } else if (p.key == "from") {
            f.from = time_param("from", p.value);
        } else if (p.key == "to") {
            f.to = time_param("to", p.value);
        } else if (p.key == "limit") {
            f.limit = parse_limit(p.value);
        } else {
            throw BadParam{p.key,
                           "unknown query parameter (miner, site, outcome, from, to, limit)"};
        }
    }
    if (f.from && f.to && *f.to <= *f.from) throw BadParam{"to", "must be after from"};
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("decisions");
    w.begin_array();
    for (const auto& d : control::list_decisions(store, f)) write_decision(w, d);
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

// What GET lists: the loop's overrides (the policy file's and the added ones) and those saved
// in the store that have not ended (a scheduled one may not have started yet).
struct ListedOverride {
    policies::Override value;
    std::optional<control::OverrideRecord> saved;
};

void write_override(JsonWriter& w, const ListedOverride& l, TimePoint now) {
    const auto& o = l.value;
    w.begin_object();
    w.field("id", o.id);
    w.field("target", policies::to_string(o.target));
    w.field("start", format_time(o.start));
    w.field("end", format_time(o.end));
    w.field("priority", o.priority);
    w.field("site", o.site);
    w.key("miners");
    w.begin_array();
    for (const auto& m : o.miners) w.value(m);
    w.end_array();
    w.field("active", o.start <= now && now < o.end);
    w.field("source", l.saved ? "api" : "policy");
    if (l.saved) {
        w.field("created_by", l.saved->created_by);
        w.field("created_at", format_time(l.saved->created_at));
    }
    w.end_object();
}

Reply overrides_route(const Store& store, const control::PolicyControl& c, TimePoint now) {
    std::vector<ListedOverride> all;
    std::set<std::string> ids;
    for (auto& r : control::load_overrides(store, now)) {
        ids.insert(r.value.id);
        all.push_back({r.value, r});
    }
    for (auto& o : c.overrides(now)) {
        if (o.end <= now || ids.contains(o.id)) continue;
        ids.insert(o.id);
        all.push_back({std::move(o), std::nullopt});
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return std::tie(a.value.start, a.value.id) < std::tie(b.value.start, b.value.id);
    });
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("overrides");
    w.begin_array();
    for (const auto& l : all) write_override(w, l, now);
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

std::string required_string(const boost::json::object& o, std::string_view name,
                            std::size_t max_chars, std::string_view what) {
    const auto* v = o.if_contains(name);
    if (v == nullptr || v->is_null())
        throw BadParam{std::string(name), "required: " + std::string(what)};
    if (!v->is_string()) throw BadParam{std::string(name), "expected a string"};
    std::string s(v->as_string());
    if (s.empty()) throw BadParam{std::string(name), "must not be empty"};
    if (s.size() > max_chars) {
        throw BadParam{std::string(name),
                       "longer than " + std::to_string(max_chars) + " characters"};
    }
    return s;
}

std::optional<std::string> optional_string(const boost::json::object& o, std::string_view name,
                                           std::size_t max_chars) {
    const auto* v = o.if_contains(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return required_string(o, name, max_chars, "");
}

// Ids go in URLs (DELETE .../{id}) and in rule names ("override:ID"): a plain alphabet.
bool plain_id(std::string_view id) {
    return std::all_of(id.begin(), id.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '-' || ch == '_' || ch == '.';
    });
}

control::OverrideRecord parse_override(const std::string& body, TimePoint now) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) throw BadParam{"body", "not JSON: " + ec.message()};
    if (!v.is_object()) throw BadParam{"body", "expected a JSON object"};
    const auto& o = v.as_object();
    for (const auto& [k, unused] : o) {
        static constexpr std::string_view kKnown[] = {"id",       "target", "start",  "end",
                                                      "priority", "site",   "miners", "by"};
        if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
            throw BadParam{std::string(k),
                           "unknown field (id, target, start, end, priority, "
                           "site, miners, by)"};
        }
    }
    control::OverrideRecord r;
    auto& ov = r.value;
    ov.id = required_string(o, "id", kMaxIdChars, "a name such as \"dr-7\"");
    if (!plain_id(ov.id)) throw BadParam{"id", "only letters, digits, '-', '_' and '.'"};
    const auto target = required_string(o, "target", 16, "sleep, reduced or full");
    const auto kind = control::parse_point_kind(target);
    if (!kind) throw BadParam{"target", "expected sleep, reduced or full"};
    ov.target = *kind;
    const auto start = optional_string(o, "start", 64);
    ov.start = start ? time_param("start", *start) : now;
    ov.end = time_param("end", required_string(o, "end", 64, "an RFC 3339 time"));
    if (ov.end <= ov.start) throw BadParam{"end", "must be after start"};
    if (ov.end <= now) throw BadParam{"end", "already past"};
    if (ov.end - ov.start > kMaxOverrideLength) {
        throw BadParam{"end", "an override lasts at most 31 days"};
    }
    if (const auto* p = o.if_contains("priority"); p != nullptr && !p->is_null()) {
        if (!p->is_int64() || p->as_int64() < -kMaxPriority || p->as_int64() > kMaxPriority) {
            throw BadParam{"priority", "expected an integer -1000..1000"};
        }
        ov.priority = static_cast<int>(p->as_int64());
    }
    ov.site = optional_string(o, "site", kMaxNameChars);
    if (const auto* m = o.if_contains("miners"); m != nullptr && !m->is_null()) {
        if (!m->is_array()) throw BadParam{"miners", "expected an array of miner ids"};
        if (m->as_array().size() > kMaxOverrideMiners) {
            throw BadParam{"miners", "more than 100000 miners"};
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < m->as_array().size(); ++i) {
            const auto& e = m->as_array()[i];
            const std::string where = "miners[" + std::to_string(i) + "]";
            if (!e.is_string() || e.as_string().empty()) {
                throw BadParam{where, "expected a non-empty miner id"};
            }
            std::string id(e.as_string());
            if (id.size() > kMaxNameChars) throw BadParam{where, "longer than 200 characters"};
            if (!seen.insert(id).second) throw BadParam{where, "duplicate miner \"" + id + "\""};
            ov.miners.push_back(std::move(id));
        }
    }
    r.created_by = optional_string(o, "by", kMaxNameChars).value_or("admin");
    r.created_at = now;
    return r;
}

Reply add_override_route(Store& store, control::PolicyControl& c, const std::string& body,
                         TimePoint now) {
    auto r = parse_override(body, now);
    control::save_override(store, r);
    try {
        c.add_override(r.value);
    } catch (...) {
        // Not in force, so not kept either: a restart must not bring it in.
        control::delete_override(store, r.value.id);
        throw;
    }
    log::info("policy override added through the API",
              {{"id", r.value.id},
               {"target", std::string(policies::to_string(r.value.target))},
               {"start", format_time(r.value.start)},
               {"end", format_time(r.value.end)},
               {"by", r.created_by}});
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("override");
    write_override(w, {r.value, r}, now);
    w.end_object();
    return json_reply(201, std::move(out));
}

Reply delete_override_route(Store& store, control::PolicyControl& c, const std::string& id,
                            TimePoint now) {
    const bool saved = control::delete_override(store, id);
    const bool removed = c.remove_override(id);
    if (!saved && !removed) {
        for (const auto& o : c.overrides(now)) {
            if (o.id == id) {
                return json_error(409, "override \"" + id +
                                           "\" comes from the policy file; edit the file to "
                                           "remove it");
            }
        }
        return json_error(404, "unknown override \"" + id + "\"");
    }
    log::info("policy override removed through the API", {{"id", id}});
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("deleted", id);
    w.end_object();
    return json_reply(200, std::move(out));
}

std::string clock_text(TimePoint t, TimePoint now) {
    const auto s = format_time(t);  // YYYY-MM-DDTHH:MM:SS.mmmZ
    const bool same_day = s.substr(0, 10) == format_time(now).substr(0, 10);
    return (same_day ? "" : s.substr(0, 10) + " ") + s.substr(11, 5) + " UTC";
}

std::string state_text(policies::PointKind k, std::optional<double> power_w) {
    switch (k) {
        case policies::PointKind::sleep:
            return "sleeping";
        case policies::PointKind::reduced:
            return power_w ? "running reduced at " + format_fixed(*power_w, 0) + " W"
                           : "running reduced";
        case policies::PointKind::full:
            break;
    }
    return "running at full power";
}

Reply explanation_route(const Store& store, const control::PolicyControl* c,
                        const std::string& miner, TimePoint now) {
    control::DecisionFilter f;
    f.miner_id = miner;
    f.limit = kExplainHistory;
    const auto rows = control::list_decisions(store, f);
    std::optional<policies::Decision> last;
    if (c != nullptr) {
        for (auto& d : c->last_decisions()) {
            if (d.miner_id == miner) {
                last = std::move(d);
                break;
            }
        }
    }
    // The newest row that moved (or, in dry-run, would have moved) the miner: held rows are
    // changes that did not happen.
    const auto moved = std::find_if(rows.begin(), rows.end(), [](const auto& d) {
        return d.outcome != control::DecisionOutcome::held;
    });
    if (!last && moved == rows.end()) {
        if (!store.miner(miner) && rows.empty())
            return json_error(404, "unknown miner \"" + miner + "\"");
        return json_error(404, "no policy decision for miner \"" + miner + "\" yet");
    }
    std::string target = last ? std::string(policies::to_string(last->target)) : moved->target;
    // Since when: the oldest of the newest run of rows that moved it to this same target.
    std::optional<TimePoint> since;
    std::optional<double> power_w;
    for (auto it = moved; it != rows.end(); ++it) {
        if (it->outcome == control::DecisionOutcome::held) continue;
        if (it->target != target) break;
        since = it->at;
        if (!power_w) power_w = it->power_target_w;
    }
    const auto kind = control::parse_point_kind(target).value_or(policies::PointKind::full);
    std::string rule;
    std::string reason;
    bool held = false;
    if (last) {
        rule = last->rule;
        reason = last->reason;
        held = last->held;
    } else {
        rule = moved->rule;
        reason = moved->reason;
    }
    std::string text = state_text(kind, power_w);
    if (since) text += " since " + clock_text(*since, now);
    if (held) {
        text += "; a change is held back: " + reason + " (rule " + rule + ")";
    } else {
        text += (reason.empty() ? "" : " because " + reason) + " (rule " + rule + ")";
    }
    if (last && moved != rows.end() && moved->outcome == control::DecisionOutcome::dry_run &&
        moved->target == target) {
        text += "; dry-run: nothing was commanded";
    }

    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("miner", miner);
    w.field("target", target);
    w.field("power_target_w", power_w);
    if (since) w.field("since", format_time(*since));
    w.field("rule", rule);
    w.field("reason", reason);
    w.field("held", held);
    if (last) {
        write_number_or_null(w, "price_per_mwh", last->price_per_mwh);
        write_number_or_null(w, "break_even_per_mwh", last->break_even_per_mwh);
    }
    w.field("text", text);
    w.key("decision");
    rows.empty() ? w.null() : write_decision(w, rows.front());
    w.end_object();
    return json_reply(200, std::move(out));
}

// /api/v1/miners/{id}/explanation -> id; empty when the path is not that route.
std::string explanation_miner(const urls::url_view& url) {
    std::vector<std::string> seg;
    for (auto s : url.segments()) seg.push_back(std::string(s));
    if (seg.size() == 5 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "miners" &&
        seg[4] == "explanation") {
        return seg[3];
    }
    return {};
}

}  // namespace

bool is_policy_route(std::string_view path) {
    if (path == "/api/v1/policy" || path == "/api/v1/decisions" ||
        path == "/api/v1/policy/overrides") {
        return true;
    }
    constexpr std::string_view overrides = "/api/v1/policy/overrides/";
    if (path.starts_with(overrides)) {
        const auto id = path.substr(overrides.size());
        return !id.empty() && id.find('/') == std::string_view::npos;
    }
    constexpr std::string_view miners = "/api/v1/miners/";
    constexpr std::string_view tail = "/explanation";
    if (path.starts_with(miners) && path.ends_with(tail)) {
        const auto id = path.substr(miners.size(), path.size() - miners.size() - tail.size());
        return !id.empty() && id.find('/') == std::string_view::npos;
    }
    return false;
}

Reply handle_policy(control::PolicyControl* control, Store& store, const Token& caller,
                    http::verb method, const urls::url_view& url, const std::string& body,
                    TimePoint now) {
    const std::string path = url.path();
    if (caller.role == Role::agent) {
        return json_error(403,
                          "role agent may not use the policy routes; use a read or admin "
                          "token");
    }
    const bool overrides_list = path == "/api/v1/policy/overrides";
    const bool override_one = !overrides_list && path.starts_with("/api/v1/policy/overrides/");
    if (overrides_list && method != http::verb::get && method != http::verb::post) {
        return method_not_allowed("GET, POST");
    }
    if (override_one && method != http::verb::delete_) return method_not_allowed("DELETE");
    if (!overrides_list && !override_one && method != http::verb::get) {
        return method_not_allowed("GET");
    }
    if (method != http::verb::get && caller.role != Role::admin) {
        return json_error(403, "role " + std::string(to_string(caller.role)) +
                                   " may not change overrides; use an admin token");
    }
    try {
        if (path == "/api/v1/decisions") return decisions_route(store, url);
        if (const auto miner = explanation_miner(url); !miner.empty()) {
            return explanation_route(store, control, miner, now);
        }
        if (control == nullptr) return no_policy();
        if (path == "/api/v1/policy") return status_route(*control);
        if (overrides_list) {
            return method == http::verb::get ? overrides_route(store, *control, now)
                                             : add_override_route(store, *control, body, now);
        }
        std::string id;
        for (auto s : url.segments()) id = std::string(s);  // the last segment, decoded
        return delete_override_route(store, *control, id, now);
    } catch (const BadParam& e) {
        return json_error(400, e.name + ": " + e.why, e.name);
    }
}

}  // namespace hashwatt::collector
