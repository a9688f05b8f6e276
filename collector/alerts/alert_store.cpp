#include "collector/alerts/alert_store.hpp"

#include "collector/storage/sqlite.hpp"
#include "common/json_writer.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::collector::alerts {

namespace {

constexpr std::string_view kColumns =
    "fingerprint, alertname, subject, severity, state, labels_json, annotations_json, "
    "active_since_ms, fired_at_ms, resolved_at_ms, last_true_ms, updated_at_ms, acked_by, "
    "acked_at_ms, silenced_until_ms";

std::string map_json(const std::map<std::string, std::string>& m) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    for (const auto& [k, v] : m) w.field(k, v);
    w.end_object();
    return out;
}

std::map<std::string, std::string> json_map(std::string_view text, std::string_view column,
                                            std::string_view fingerprint) {
    std::map<std::string, std::string> m;
    boost::system::error_code ec;
    const auto v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
        throw std::runtime_error("alerts." + std::string(column) + " of alert " +
                                 std::string(fingerprint) + " is not a JSON object");
    }
    for (const auto& [k, val] : v.as_object()) {
        if (val.is_string()) m[std::string(k)] = std::string(val.as_string());
    }
    return m;
}

std::optional<std::int64_t> ms(const std::optional<TimePoint>& t) {
    if (!t) return std::nullopt;
    return t->time_since_epoch().count();
}

std::optional<TimePoint> tp(std::optional<std::int64_t> v) {
    if (!v) return std::nullopt;
    return TimePoint{std::chrono::milliseconds(*v)};
}

Alert read_alert(const sqlite::Statement& st) {
    Alert a;
    a.fingerprint = st.column_text(0);
    a.alertname = st.column_text(1);
    a.subject = st.column_text(2);
    a.severity = parse_severity(st.column_view(3)).value_or(Severity::warning);
    a.state = parse_alert_state(st.column_view(4)).value_or(AlertState::inactive);
    a.labels = json_map(st.column_view(5), "labels_json", a.fingerprint);
    a.annotations = json_map(st.column_view(6), "annotations_json", a.fingerprint);
    a.active_since = tp(st.column_opt_int(7));
    a.fired_at = tp(st.column_opt_int(8));
    a.resolved_at = tp(st.column_opt_int(9));
    a.last_true = tp(st.column_opt_int(10));
    a.updated_at = TimePoint{std::chrono::milliseconds(st.column_int(11))};
    a.acked_by = st.column_opt_text(12);
    a.acked_at = tp(st.column_opt_int(13));
    a.silenced_until = tp(st.column_opt_int(14));
    return a;
}

}  // namespace

std::vector<Alert> load_active_alerts(const Store& store) {
    AlertFilter f;
    f.limit = SIZE_MAX;
    return list_alerts(store, f);
}

void save_alerts(Store& store, const std::vector<AlertWrite>& writes,
                 const std::function<void(sqlite::Database&)>& also) {
    if (writes.empty() && !also) return;
    store.with_write([&](sqlite::Database& db) {
        sqlite::Transaction tx(db);
        auto up = db.prepare("INSERT OR REPLACE INTO alerts (" + std::string(kColumns) +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                             "?14, ?15)");
        auto ev = db.prepare(
            "INSERT INTO alert_events (fingerprint, at_ms, state, message) VALUES (?1, ?2, ?3, "
            "?4)");
        for (const auto& w : writes) {
            const Alert& a = w.alert;
            up.bind(1, a.fingerprint)
                .bind(2, a.alertname)
                .bind(3, a.subject)
                .bind(4, to_string(a.severity))
                .bind(5, to_string(a.state))
                .bind(6, map_json(a.labels))
                .bind(7, map_json(a.annotations))
                .bind(8, ms(a.active_since))
                .bind(9, ms(a.fired_at))
                .bind(10, ms(a.resolved_at))
                .bind(11, ms(a.last_true))
                .bind(12, static_cast<std::int64_t>(a.updated_at.time_since_epoch().count()))
                .bind(13, a.acked_by)
                .bind(14, ms(a.acked_at))
                .bind(15, ms(a.silenced_until));
            up.run();
            up.reset();
            if (w.event_message) {
                ev.bind(1, a.fingerprint)
                    .bind(2, static_cast<std::int64_t>(a.updated_at.time_since_epoch().count()))
                    .bind(3, to_string(a.state))
                    .bind(4, *w.event_message);
                ev.run();
                ev.reset();
            }
        }
        if (also) also(db);
        tx.commit();
    });
}

void save_alert(Store& store, const Alert& alert, std::optional<std::string> event_message) {
    save_alerts(store, {AlertWrite{alert, std::move(event_message)}});
}

std::vector<Alert> list_alerts(const Store& store, const AlertFilter& filter) {
    std::vector<Alert> out;
    std::string sql = "SELECT " + std::string(kColumns) + " FROM alerts WHERE ";
    sql += filter.state ? "state = ?1" : "state != 'inactive'";
    sql +=
        " AND (?2 IS NULL OR subject = ?2) AND (?3 IS NULL OR alertname = ?3)"
        " AND (?4 IS NULL OR fingerprint = ?4)"
        " ORDER BY updated_at_ms DESC, fingerprint LIMIT ?5";
    store.with_read([&](sqlite::Database& db) {
        auto st = db.prepare(sql);
        if (filter.state) st.bind(1, to_string(*filter.state));
        st.bind(2, filter.miner).bind(3, filter.alertname).bind(4, filter.fingerprint);
        st.bind(5, filter.limit > static_cast<std::size_t>(INT64_MAX)
                       ? INT64_MAX
                       : static_cast<std::int64_t>(filter.limit));
        while (st.step()) out.push_back(read_alert(st));
    });
    return out;
}

std::vector<AlertEvent> alert_events(const Store& store, const std::string& fingerprint,
                                     std::size_t limit) {
    std::vector<AlertEvent> out;
    store.with_read([&](sqlite::Database& db) {
        auto st = db.prepare(
            "SELECT event_id, fingerprint, at_ms, state, message FROM alert_events "
            "WHERE fingerprint = ?1 ORDER BY at_ms DESC, event_id DESC LIMIT ?2");
        st.bind(1, fingerprint)
            .bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
        while (st.step()) {
            AlertEvent e;
            e.event_id = st.column_int(0);
            e.fingerprint = st.column_text(1);
            e.at = TimePoint{std::chrono::milliseconds(st.column_int(2))};
            e.state = parse_alert_state(st.column_view(3)).value_or(AlertState::inactive);
            e.message = st.column_opt_text(4);
            out.push_back(std::move(e));
        }
    });
    std::reverse(out.begin(), out.end());
    return out;
}

namespace {

// Columns 0 to 4 of a commands query: id, miner_id, agent_id, type, status.
CommandRecord command_head(const sqlite::Statement& st) {
    CommandRecord c;
    c.command.id = st.column_text(0);
    c.command.miner_id = st.column_text(1);
    c.agent_id = st.column_text(2);
    const auto type = parse_command_type(st.column_view(3));
    const auto status = parse_command_status(st.column_view(4));
    if (!type || !status) {
        throw std::runtime_error("commands row " + c.command.id + ": unknown type or status");
    }
    c.command.type = *type;
    c.status = *status;
    return c;
}

}  // namespace

std::map<std::string, CommandRecord> latest_finished_commands(const Store& store, TimePoint since) {
    std::map<std::string, CommandRecord> out;
    store.with_read([&](sqlite::Database& db) {
        // Oldest first, so that the newest of each miner is the one left in the map.
        auto st = db.prepare(
            "SELECT id, miner_id, agent_id, type, status, finished_at_ms, message, agent_message "
            "FROM commands WHERE status IN ('succeeded', 'failed', 'timed_out') "
            "AND finished_at_ms >= ?1 ORDER BY finished_at_ms, rowid");
        st.bind(1, since.time_since_epoch().count());
        while (st.step()) {
            CommandRecord c = command_head(st);
            c.finished_at = tp(st.column_opt_int(5));
            c.message = st.column_opt_text(6);
            c.agent_message = st.column_opt_text(7);
            out[c.command.miner_id] = std::move(c);
        }
    });
    return out;
}

std::map<std::string, CommandRecord> latest_state_commands(const Store& store) {
    std::map<std::string, CommandRecord> out;
    store.with_read([&](sqlite::Database& db) {
        // SQLite's bare columns with MAX(): each miner's row of its newest created_at. The
        // commands_miner index (miner_id, created_at_ms) serves the grouping.
        auto st = db.prepare(
            "SELECT id, miner_id, agent_id, type, status, MAX(created_at_ms) FROM commands "
            "WHERE type IN ('sleep', 'wake') AND status != 'unsupported' GROUP BY miner_id");
        while (st.step()) {
            CommandRecord c = command_head(st);
            c.command.created_at = TimePoint{std::chrono::milliseconds(st.column_int(5))};
            out[c.command.miner_id] = std::move(c);
        }
    });
    return out;
}

std::map<std::string, TimePoint> agent_last_batches(const Store& store, TimePoint since) {
    std::map<std::string, TimePoint> out;
    store.with_read([&](sqlite::Database& db) {
        auto st = db.prepare(
            "SELECT agent_id, MAX(received_at_ms) FROM ingest_batches WHERE received_at_ms >= ?1 "
            "GROUP BY agent_id");
        st.bind(1, since.time_since_epoch().count());
        while (st.step()) {
            out[st.column_text(0)] = TimePoint{std::chrono::milliseconds(st.column_int(1))};
        }
    });
    return out;
}

}  // namespace hashwatt::collector::alerts
