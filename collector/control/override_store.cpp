#include "collector/control/override_store.hpp"

#include "collector/storage/sqlite.hpp"
#include "common/json_writer.hpp"

#include <cstdint>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::collector::control {

namespace {

std::int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint at_ms(std::int64_t v) { return TimePoint{std::chrono::milliseconds(v)}; }

std::string miners_json(const std::vector<std::string>& miners) {
    std::string out;
    JsonWriter w(out);
    w.begin_array();
    for (const auto& m : miners) w.value(m);
    w.end_array();
    return out;
}

std::vector<std::string> parse_miners(std::string_view json, const std::string& id) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(json, ec);
    const auto bad = [&] {
        return std::runtime_error("policy_overrides row '" + id +
                                  "': miners_json is not an array of strings");
    };
    if (ec || !v.is_array()) throw bad();
    std::vector<std::string> out;
    for (const auto& m : v.as_array()) {
        if (!m.is_string()) throw bad();
        out.emplace_back(m.as_string());
    }
    return out;
}

}  // namespace

bool OverrideRecord::operator==(const OverrideRecord& o) const {
    const auto& a = value;
    const auto& b = o.value;
    return a.id == b.id && a.target == b.target && a.start == b.start && a.end == b.end &&
           a.priority == b.priority && a.site == b.site && a.miners == b.miners &&
           created_by == o.created_by && created_at == o.created_at;
}

std::optional<policies::PointKind> parse_point_kind(std::string_view s) noexcept {
    using policies::PointKind;
    for (auto k : {PointKind::full, PointKind::reduced, PointKind::sleep}) {
        if (policies::to_string(k) == s) return k;
    }
    return std::nullopt;
}

void save_override(Store& store, const OverrideRecord& r) {
    const auto& o = r.value;
    if (o.id.empty()) throw std::invalid_argument("id: empty");
    if (o.end <= o.start) throw std::invalid_argument("end: not after start");
    if (r.created_by.empty()) throw std::invalid_argument("created_by: empty");
    store.with_write([&](sqlite::Database& db) {
        auto st = db.prepare(
            "INSERT OR REPLACE INTO policy_overrides (id, target, start_ms, end_ms, priority, "
            "site, miners_json, created_by, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
            "?8, ?9)");
        st.bind(1, o.id)
            .bind(2, policies::to_string(o.target))
            .bind(3, ms(o.start))
            .bind(4, ms(o.end))
            .bind(5, o.priority)
            .bind(6, o.site)
            .bind(7, miners_json(o.miners))
            .bind(8, r.created_by)
            .bind(9, ms(r.created_at));
        st.run();
    });
}

bool delete_override(Store& store, const std::string& id) {
    bool found = false;
    store.with_write([&](sqlite::Database& db) {
        auto st = db.prepare("DELETE FROM policy_overrides WHERE id = ?1");
        st.bind(1, id);
        st.run();
        found = db.changes() > 0;
    });
    return found;
}

std::vector<OverrideRecord> load_overrides(const Store& store, TimePoint now) {
    std::vector<OverrideRecord> out;
    store.with_read([&](sqlite::Database& db) {
        auto st = db.prepare(
            "SELECT id, target, start_ms, end_ms, priority, site, miners_json, created_by, "
            "created_at_ms FROM policy_overrides WHERE end_ms > ?1 ORDER BY start_ms, id");
        st.bind(1, ms(now));
        while (st.step()) {
            OverrideRecord r;
            auto& o = r.value;
            o.id = st.column_text(0);
            const auto target = parse_point_kind(st.column_view(1));
            if (!target) {
                throw std::runtime_error("policy_overrides row '" + o.id + "': unknown target '" +
                                         std::string(st.column_view(1)) + "'");
            }
            o.target = *target;
            o.start = at_ms(st.column_int(2));
            o.end = at_ms(st.column_int(3));
            o.priority = static_cast<int>(st.column_int(4));
            o.site = st.column_opt_text(5);
            o.miners = parse_miners(st.column_view(6), o.id);
            r.created_by = st.column_text(7);
            r.created_at = at_ms(st.column_int(8));
            out.push_back(std::move(r));
        }
    });
    return out;
}

std::size_t restore_overrides(const Store& store, PolicyControl& control, TimePoint now) {
    const auto saved = load_overrides(store, now);
    for (const auto& r : saved) control.add_override(r.value);
    return saved.size();
}

}  // namespace hashwatt::collector::control
