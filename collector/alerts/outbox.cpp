#include "collector/alerts/outbox.hpp"

#include "collector/storage/store.hpp"
#include "common/json_writer.hpp"
#include "common/time.hpp"

#include <stdexcept>

#include <boost/json.hpp>

namespace hashwatt::collector::alerts {

namespace json = boost::json;

namespace {

std::int64_t to_ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint from_ms(std::int64_t ms) { return TimePoint{std::chrono::milliseconds{ms}}; }

void write_map(JsonWriter& w, std::string_view key, const std::map<std::string, std::string>& m) {
    w.key(key);
    w.begin_object();
    for (const auto& [k, v] : m) w.field(k, v);
    w.end_object();
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
    throw std::invalid_argument("notification: " + path + ": " + why);
}

const json::value* member(const json::object& o, std::string_view key) {
    const auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

std::string text(const json::object& o, std::string_view key, bool required) {
    const auto* v = member(o, key);
    if (!v) {
        if (required) bad(std::string(key), "missing");
        return {};
    }
    if (!v->is_string()) bad(std::string(key), "expected a string");
    return std::string(v->get_string());
}

TimePoint time_field(const json::object& o, std::string_view key) {
    const auto s = text(o, key, true);
    const auto t = parse_time(s);
    if (!t) bad(std::string(key), "expected an RFC 3339 time, got '" + s + "'");
    return *t;
}

std::map<std::string, std::string> map_field(const json::object& o, std::string_view key) {
    std::map<std::string, std::string> m;
    const auto* v = member(o, key);
    if (!v) return m;
    if (!v->is_object()) bad(std::string(key), "expected an object");
    for (const auto& kv : v->get_object()) {
        if (!kv.value().is_string()) {
            bad(std::string(key) + "." + std::string(kv.key()), "expected a string");
        }
        m.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
    return m;
}

}  // namespace

std::string encode_notification(const Notification& n) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("fingerprint", n.fingerprint);
    write_map(w, "labels", n.labels);
    write_map(w, "annotations", n.annotations);
    w.field("starts_at", format_time(n.starts_at));
    if (n.ends_at) w.field("ends_at", format_time(*n.ends_at));
    w.field("generator_url", n.generator_url);
    w.field("resolved", n.resolved);
    w.end_object();
    return out;
}

Notification decode_notification(std::string_view text_in) {
    boost::system::error_code ec;
    const json::value v = json::parse(text_in, ec);
    if (ec) bad("(document)", "not JSON: " + ec.message());
    if (!v.is_object()) bad("(document)", "expected an object");
    const auto& o = v.get_object();
    Notification n;
    n.fingerprint = text(o, "fingerprint", true);
    n.labels = map_field(o, "labels");
    n.annotations = map_field(o, "annotations");
    n.starts_at = time_field(o, "starts_at");
    if (member(o, "ends_at")) n.ends_at = time_field(o, "ends_at");
    n.generator_url = text(o, "generator_url", false);
    if (const auto* r = member(o, "resolved")) {
        if (!r->is_bool()) bad("resolved", "expected true or false");
        n.resolved = r->get_bool();
    }
    return n;
}

Duration retry_delay(int attempts, Duration retry_min, Duration retry_max) noexcept {
    if (retry_min <= Duration::zero()) retry_min = Duration(1);
    if (retry_max < retry_min) retry_max = retry_min;
    Duration d = retry_min;
    for (int i = 1; i < attempts && d < retry_max; ++i) d *= 2;
    return d < retry_max ? d : retry_max;
}

Outbox::Outbox(Store& store) : store_(store) {}

std::int64_t Outbox::enqueue(std::string_view notifier, const Notification& n, TimePoint now) {
    std::int64_t id = 0;
    store_.with_write([&](sqlite::Database& db) { id = enqueue(db, notifier, n, now); });
    return id;
}

std::int64_t Outbox::enqueue(sqlite::Database& db, std::string_view notifier, const Notification& n,
                             TimePoint now) {
    const std::string payload = encode_notification(n);
    auto s = db.prepare(
        "INSERT INTO alert_outbox (notifier, fingerprint, payload_json, created_at_ms, "
        "next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?4)");
    s.bind(1, notifier).bind(2, n.fingerprint).bind(3, payload).bind(4, to_ms(now)).run();
    return db.query_int("SELECT last_insert_rowid()");
}

std::vector<OutboxItem> Outbox::due(std::string_view notifier, TimePoint now,
                                    std::size_t limit) const {
    std::vector<OutboxItem> items;
    if (limit == 0) return items;
    store_.with_read([&](sqlite::Database& db) {
        auto s = db.prepare(
            "SELECT notification_id, attempts, created_at_ms, last_error, payload_json, "
            "next_attempt_ms FROM alert_outbox WHERE notifier = ?1 "
            "ORDER BY notification_id LIMIT ?2");
        s.bind(1, notifier).bind(2, static_cast<std::int64_t>(limit));
        while (s.step()) {
            if (items.empty() && s.column_int(5) > to_ms(now)) return;  // the head is not due
            OutboxItem item;
            item.id = s.column_int(0);
            item.attempts = static_cast<int>(s.column_int(1));
            item.created_at = from_ms(s.column_int(2));
            item.last_error = s.column_opt_text(3);
            try {
                item.notification = decode_notification(s.column_view(4));
            } catch (const std::invalid_argument& e) {
                // Only this version writes the table, so a bad row is a defect: say which.
                throw std::runtime_error("alert_outbox row " + std::to_string(item.id) + ": " +
                                         e.what());
            }
            items.push_back(std::move(item));
        }
    });
    return items;
}

std::optional<TimePoint> Outbox::next_attempt(std::string_view notifier) const {
    std::optional<TimePoint> t;
    store_.with_read([&](sqlite::Database& db) {
        auto s = db.prepare(
            "SELECT next_attempt_ms FROM alert_outbox WHERE notifier = ?1 "
            "ORDER BY notification_id LIMIT 1");
        s.bind(1, notifier);
        if (s.step()) t = from_ms(s.column_int(0));
    });
    return t;
}

void Outbox::delivered(std::int64_t id) {
    store_.with_write([&](sqlite::Database& db) {
        db.prepare("DELETE FROM alert_outbox WHERE notification_id = ?1").bind(1, id).run();
    });
}

void Outbox::failed(std::int64_t id, TimePoint next_attempt, std::string_view error) {
    store_.with_write([&](sqlite::Database& db) {
        db.prepare(
              "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_ms = ?2, "
              "last_error = ?3 WHERE notification_id = ?1")
            .bind(1, id)
            .bind(2, to_ms(next_attempt))
            .bind(3, error)
            .run();
    });
}

std::int64_t Outbox::pending_count(std::string_view notifier) const {
    std::int64_t n = 0;
    store_.with_read([&](sqlite::Database& db) {
        auto s = db.prepare("SELECT count(*) FROM alert_outbox WHERE notifier = ?1");
        s.bind(1, notifier);
        if (s.step()) n = s.column_int(0);
    });
    return n;
}

}  // namespace hashwatt::collector::alerts
