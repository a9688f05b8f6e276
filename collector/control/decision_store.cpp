#include "collector/control/decision_store.hpp"

#include "collector/storage/sqlite.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>

namespace hashwatt::collector::control {

namespace {

constexpr std::array<std::pair<DecisionOutcome, std::string_view>, 3> kOutcomes{{
    {DecisionOutcome::commanded, "commanded"},
    {DecisionOutcome::dry_run, "dry_run"},
    {DecisionOutcome::held, "held"},
}};

constexpr std::string_view kColumns =
    "decision_id, at_ms, miner_id, site, target, power_target_w, outcome, rule, reason, "
    "price_per_mwh, break_even_per_mwh, command_id";

std::int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }

DecisionRecord read_row(const sqlite::Statement& st) {
    DecisionRecord d;
    d.decision_id = st.column_int(0);
    d.at = TimePoint{std::chrono::milliseconds(st.column_int(1))};
    d.miner_id = st.column_text(2);
    d.site = st.column_opt_text(3);
    d.target = st.column_text(4);
    d.power_target_w = st.column_opt_double(5);
    const auto outcome = parse_decision_outcome(st.column_view(6));
    if (!outcome) {
        throw std::runtime_error("decisions row " + std::to_string(d.decision_id) +
                                 ": unknown outcome '" + std::string(st.column_view(6)) + "'");
    }
    d.outcome = *outcome;
    d.rule = st.column_text(7);
    d.reason = st.column_text(8);
    d.price_per_mwh = st.column_opt_double(9);
    d.break_even_per_mwh = st.column_opt_double(10);
    d.command_id = st.column_opt_text(11);
    return d;
}

}  // namespace

std::string_view to_string(DecisionOutcome o) noexcept {
    for (const auto& [k, name] : kOutcomes) {
        if (k == o) return name;
    }
    return "unknown";
}

std::optional<DecisionOutcome> parse_decision_outcome(std::string_view s) noexcept {
    for (const auto& [k, name] : kOutcomes) {
        if (name == s) return k;
    }
    return std::nullopt;
}

std::vector<DecisionRecord> record_decisions(Store& store, std::vector<DecisionRecord> records) {
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& d = records[i];
        const auto missing = [&](const char* field) {
            throw std::invalid_argument("records[" + std::to_string(i) + "]." + field + ": empty");
        };
        if (d.miner_id.empty()) missing("miner_id");
        if (d.target.empty()) missing("target");
        if (d.rule.empty()) missing("rule");
        if (d.reason.empty()) missing("reason");
    }
    if (records.empty()) return records;
    store.with_write([&](sqlite::Database& db) {
        sqlite::Transaction tx(db);
        auto st = db.prepare(
            "INSERT INTO decisions (at_ms, miner_id, site, target, power_target_w, outcome, "
            "rule, reason, price_per_mwh, break_even_per_mwh, command_id) VALUES (?1, ?2, ?3, "
            "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
        for (auto& d : records) {
            st.bind(1, ms(d.at))
                .bind(2, d.miner_id)
                .bind(3, d.site)
                .bind(4, d.target)
                .bind(5, d.power_target_w)
                .bind(6, to_string(d.outcome))
                .bind(7, d.rule)
                .bind(8, d.reason)
                .bind(9, d.price_per_mwh)
                .bind(10, d.break_even_per_mwh)
                .bind(11, d.command_id);
            st.run();
            st.reset();
            d.decision_id = db.query_int("SELECT last_insert_rowid()");
        }
        tx.commit();
    });
    return records;
}

std::vector<DecisionRecord> list_decisions(const Store& store, const DecisionFilter& filter) {
    std::vector<DecisionRecord> out;
    store.with_read([&](sqlite::Database& db) {
        auto st = db.prepare(
            "SELECT " + std::string(kColumns) +
            " FROM decisions WHERE (?1 IS NULL OR miner_id = ?1) AND (?2 IS NULL OR site = ?2)"
            " AND (?3 IS NULL OR outcome = ?3) AND (?4 IS NULL OR at_ms >= ?4)"
            " AND (?5 IS NULL OR at_ms < ?5) ORDER BY at_ms DESC, decision_id DESC LIMIT ?6");
        st.bind(1, filter.miner_id).bind(2, filter.site);
        if (filter.outcome) st.bind(3, to_string(*filter.outcome));
        if (filter.from) st.bind(4, ms(*filter.from));
        if (filter.to) st.bind(5, ms(*filter.to));
        st.bind(6, filter.limit > static_cast<std::size_t>(INT64_MAX)
                       ? INT64_MAX
                       : static_cast<std::int64_t>(filter.limit));
        while (st.step()) out.push_back(read_row(st));
    });
    return out;
}

std::vector<DecisionRecord> latest_decisions(const Store& store) {
    std::vector<DecisionRecord> out;
    store.with_read([&](sqlite::Database& db) {
        // decision_id grows with time within a collector; the newest row per miner by it.
        auto st = db.prepare("SELECT " + std::string(kColumns) +
                             " FROM decisions WHERE decision_id IN (SELECT MAX(decision_id) "
                             "FROM decisions GROUP BY miner_id) ORDER BY miner_id");
        while (st.step()) out.push_back(read_row(st));
    });
    return out;
}

}  // namespace hashwatt::collector::control
