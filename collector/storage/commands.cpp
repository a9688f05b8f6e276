// The commands table: creation by selector, the agent's pending list, results, and the
// verdict from later samples (docs/storage.md).
#include "collector/storage/store.hpp"
#include "collector/storage/store_impl.hpp"
#include "common/crypto.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>

#include <boost/json.hpp>

namespace hashwatt::collector {

namespace {

using std::chrono::milliseconds;

std::int64_t to_ms(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint from_ms(std::int64_t ms) { return TimePoint{milliseconds{ms}}; }
std::optional<TimePoint> opt_time(const std::optional<std::int64_t>& ms) {
    if (!ms) return std::nullopt;
    return from_ms(*ms);
}

constexpr std::string_view kCommandColumns =
    "id, miner_id, agent_id, type, power_target_w, created_at_ms, deadline_ms, status, "
    "sent_at_ms, finished_at_ms, message, verified_at_ms, agent_status, agent_message, "
    "agent_finished_at_ms";

CommandRecord read_command(const sqlite::Statement& s) {
    CommandRecord r;
    r.command.id = s.column_text(0);
    r.command.miner_id = s.column_text(1);
    r.agent_id = s.column_text(2);
    r.command.type = parse_command_type(s.column_text(3)).value_or(CommandType::sleep);
    r.command.power_target_w = s.column_opt_double(4);
    r.command.created_at = from_ms(s.column_int(5));
    r.command.deadline = from_ms(s.column_int(6));
    r.status = parse_command_status(s.column_text(7)).value_or(CommandStatus::failed);
    r.sent_at = opt_time(s.column_opt_int(8));
    r.finished_at = opt_time(s.column_opt_int(9));
    r.message = s.column_opt_text(10);
    r.verified_at = opt_time(s.column_opt_int(11));
    if (auto a = s.column_opt_text(12)) r.agent_status = parse_command_status(*a);
    r.agent_message = s.column_opt_text(13);
    r.agent_finished_at = opt_time(s.column_opt_int(14));
    return r;
}

std::optional<CommandRecord> command_by_id(sqlite::Database& db, const std::string& id) {
    auto s = db.prepare("SELECT " + std::string(kCommandColumns) + " FROM commands WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_command(s);
}

bool labels_match(const std::string& labels_json, const std::map<std::string, std::string>& want) {
    const auto v = boost::json::parse(labels_json);
    const auto& have = v.as_object();
    for (const auto& [k, val] : want) {
        const auto* h = have.if_contains(k);
        if (h == nullptr || !h->is_string() || h->get_string() != val) return false;
    }
    return true;
}

struct Target {
    std::string miner_id;
    std::optional<std::string> agent_id;
};

std::vector<Target> select_targets(sqlite::Database& db, const CommandSelector& sel) {
    const int given =
        (sel.miners.empty() ? 0 : 1) + (sel.site ? 1 : 0) + (sel.labels.empty() ? 0 : 1);
    if (given != 1) {
        throw CommandRejected(CommandRejected::Reason::invalid,
                              "give exactly one of miners, site or labels");
    }
    std::vector<Target> out;
    if (!sel.miners.empty()) {
        auto s = db.prepare("SELECT agent_id FROM miners WHERE miner_id = ?1");
        std::set<std::string> seen;
        for (std::size_t i = 0; i < sel.miners.size(); ++i) {
            const auto& id = sel.miners[i];
            const std::string path = "miners[" + std::to_string(i) + "]";
            if (id.empty()) {
                throw CommandRejected(CommandRejected::Reason::invalid, "empty miner id", path);
            }
            if (!seen.insert(id).second) continue;  // named twice: one command
            s.reset();
            s.bind(1, id);
            if (!s.step()) {
                throw CommandRejected(CommandRejected::Reason::unknown_miner,
                                      "unknown miner \"" + id + "\"", path);
            }
            out.push_back({id, s.column_opt_text(0)});
        }
        return out;
    }
    auto s =
        db.prepare("SELECT miner_id, agent_id, site, labels_json FROM miners ORDER BY miner_id");
    while (s.step()) {
        if (sel.site && s.column_opt_text(2) != sel.site) continue;
        if (!sel.labels.empty() && !labels_match(s.column_text(3), sel.labels)) continue;
        out.push_back({s.column_text(0), s.column_opt_text(1)});
    }
    if (out.empty()) {
        if (sel.site) {
            throw CommandRejected(CommandRejected::Reason::no_match,
                                  "no miner at site \"" + *sel.site + "\"", "site");
        }
        std::string pairs;
        for (const auto& [k, v] : sel.labels) {
            pairs += (pairs.empty() ? "" : ", ") + k + "=" + v;
        }
        throw CommandRejected(CommandRejected::Reason::no_match,
                              "no miner has all the labels " + pairs, "labels");
    }
    return out;
}

// What the samples say about one open command, for verify_commands.
struct Verdict {
    bool in_effect = false;
    std::optional<MinerSample> last;  // the newest sample looked at
};

// The columns command_took_effect and describe_sample look at: reading them rather than
// decoding sample_json keeps a verification pass over many open commands cheap.
constexpr std::string_view kVerifyColumns =
    "observed_at_ms, up, state, error, hashrate_ths, power_w, power_limit_w, uptime_s";

MinerSample read_verify_columns(const sqlite::Statement& s) {
    MinerSample m;
    m.observed_at = from_ms(s.column_int(0));
    m.up = s.column_int(1) != 0;
    m.state = parse_miner_state(s.column_text(2)).value_or(MinerState::offline);
    if (auto e = s.column_opt_text(3)) m.error = parse_poll_error(*e);
    m.hashrate_ths = s.column_opt_double(4);
    m.power_w = s.column_opt_double(5);
    m.power_limit_w = s.column_opt_double(6);
    m.uptime_s = s.column_opt_int(7);
    return m;
}

Verdict judge(sqlite::Database& db, const CommandRecord& c) {
    Verdict v;
    const std::int64_t sent = to_ms(*c.sent_at);
    MinerSample before;
    {
        // The newest sample of the day before: a miner silent for longer has no "before".
        auto s = db.prepare(slot_range_cte("?2 - 86400000", "?2") + "SELECT " +
                            std::string(kVerifyColumns) + " " + slot_join("?1") +
                            "WHERE s.observed_at_ms < ?2 ORDER BY s.observed_at_ms DESC LIMIT 1");
        s.bind(1, c.command.miner_id).bind(2, sent);
        if (s.step()) before = read_verify_columns(s);
    }
    // Only samples up to the deadline count: a miner that got there later missed it.
    auto s = db.prepare(slot_range_cte("?2", "?3 + 1") + "SELECT " + std::string(kVerifyColumns) +
                        " " + slot_join("?1") +
                        "WHERE s.observed_at_ms >= ?2 AND s.observed_at_ms <= ?3 "
                        "ORDER BY s.observed_at_ms");
    s.bind(1, c.command.miner_id).bind(2, sent).bind(3, to_ms(*c.command.deadline));
    bool saw_restart = false;
    while (s.step()) {
        v.last = read_verify_columns(s);
        if (command_took_effect(c.command, before, *v.last, saw_restart)) {
            v.in_effect = true;
            return v;
        }
    }
    return v;
}

std::string last_seen(const Verdict& v) {
    if (!v.last) return "no sample of the miner since it was sent";
    return "the last sample (" + format_time(v.last->observed_at) + ") shows " +
           describe_sample(*v.last);
}

}  // namespace

bool is_final(CommandStatus s) noexcept {
    return s != CommandStatus::queued && s != CommandStatus::sent;
}

CommandRejected::CommandRejected(Reason reason, const std::string& what, std::string path)
    : std::runtime_error(what), reason_(reason), path_(std::move(path)) {}

std::vector<CommandRecord> Store::create_commands(const CommandRequest& request, TimePoint now) {
    if (request.type == CommandType::set_power_target) {
        if (!request.power_target_w || !(*request.power_target_w > 0)) {
            throw CommandRejected(CommandRejected::Reason::invalid,
                                  "set_power_target needs a power_target_w above 0",
                                  "power_target_w");
        }
    } else if (request.power_target_w) {
        throw CommandRejected(CommandRejected::Reason::invalid,
                              "power_target_w is only for set_power_target", "power_target_w");
    }
    if (request.deadline <= milliseconds::zero()) {
        throw CommandRejected(CommandRejected::Reason::invalid, "deadline must be in the future",
                              "deadline_s");
    }
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    const auto targets = select_targets(db, request.selector);
    for (const auto& t : targets) {
        if (!t.agent_id) {
            throw CommandRejected(CommandRejected::Reason::no_agent,
                                  "miner \"" + t.miner_id +
                                      "\" has not been reported by any agent, so no agent can "
                                      "carry the command",
                                  "miners");
        }
    }
    auto insert = db.prepare(
        "INSERT INTO commands (id, miner_id, agent_id, type, power_target_w, created_at_ms, "
        "deadline_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued')");
    std::vector<CommandRecord> out;
    out.reserve(targets.size());
    for (const auto& t : targets) {
        CommandRecord r;
        r.command.id = crypto::random_token(8);
        r.command.miner_id = t.miner_id;
        r.command.type = request.type;
        r.command.power_target_w = request.power_target_w;
        r.command.created_at = now;
        r.command.deadline = now + request.deadline;
        r.agent_id = *t.agent_id;
        insert.reset();
        insert.bind(1, r.command.id)
            .bind(2, r.command.miner_id)
            .bind(3, r.agent_id)
            .bind(4, to_string(r.command.type))
            .bind(5, r.command.power_target_w)
            .bind(6, to_ms(now))
            .bind(7, to_ms(*r.command.deadline));
        insert.run();
        out.push_back(std::move(r));
    }
    tx.commit();
    return out;
}

std::vector<Command> Store::take_pending(const std::string& agent_id, TimePoint now) {
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    auto s = db.prepare("SELECT " + std::string(kCommandColumns) +
                        " FROM commands WHERE agent_id = ?1 AND status = 'queued' AND "
                        "deadline_ms > ?2 ORDER BY created_at_ms, rowid");
    s.bind(1, agent_id).bind(2, to_ms(now));
    std::vector<Command> out;
    while (s.step()) out.push_back(read_command(s).command);
    if (out.empty()) return out;
    auto mark = db.prepare("UPDATE commands SET status = 'sent', sent_at_ms = ?2 WHERE id = ?1");
    for (const auto& c : out) {
        mark.reset();
        mark.bind(1, c.id).bind(2, to_ms(now));
        mark.run();
    }
    tx.commit();
    return out;
}

CommandRecord Store::record_result(const CommandResult& result, TimePoint now) {
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    sqlite::Transaction tx(db);
    auto found = command_by_id(db, result.command_id);
    if (!found) {
        throw CommandRejected(CommandRejected::Reason::unknown_command,
                              "unknown command \"" + result.command_id + "\"", "command_id");
    }
    CommandRecord& c = *found;
    // A verdict from the samples often lands before the agent's own report (the agent is still
    // posting it). That report is kept for the record; only a second one is refused.
    const bool settled = is_final(c.status);
    if (settled && c.agent_status) {
        throw CommandRejected(
            CommandRejected::Reason::already_final,
            "command \"" + c.command.id + "\" is already " + std::string(to_string(c.status)) +
                " and its agent already reported " + std::string(to_string(*c.agent_status)),
            "status");
    }
    if (result.status == CommandStatus::queued) {
        throw CommandRejected(CommandRejected::Reason::invalid,
                              "an agent cannot report a command queued", "status");
    }
    if (!result.miner_id.empty() && result.miner_id != c.command.miner_id) {
        throw CommandRejected(CommandRejected::Reason::invalid,
                              "command \"" + c.command.id + "\" is for miner \"" +
                                  c.command.miner_id + "\", not \"" + result.miner_id + "\"",
                              "miner_id");
    }
    if (!c.sent_at) c.sent_at = now;  // a result before the long poll marked it: it was sent
    c.agent_status = result.status;
    c.agent_message = result.message;
    c.agent_finished_at = result.finished_at == TimePoint{} ? now : result.finished_at;
    // Once settled, the verdict stands and the agent's word is only recorded next to it.
    if (!settled) {
        if (result.status == CommandStatus::failed || result.status == CommandStatus::unsupported) {
            // The agent's refusal is final: nothing was changed, so no sample can show otherwise.
            c.status = result.status;
            c.finished_at = now;
            c.message = result.message;
        } else {
            c.status = CommandStatus::sent;
        }
    }
    auto s = db.prepare(
        "UPDATE commands SET status = ?2, sent_at_ms = ?3, finished_at_ms = ?4, message = ?5, "
        "agent_status = ?6, agent_message = ?7, agent_finished_at_ms = ?8 WHERE id = ?1");
    s.bind(1, c.command.id)
        .bind(2, to_string(c.status))
        .bind(3, to_ms(*c.sent_at))
        .bind(4, c.finished_at ? std::optional<std::int64_t>(to_ms(*c.finished_at)) : std::nullopt)
        .bind(5, c.message)
        .bind(6, to_string(*c.agent_status))
        .bind(7, c.agent_message)
        .bind(8, to_ms(*c.agent_finished_at));
    s.run();
    tx.commit();
    return c;
}

VerifyResult Store::verify_commands(TimePoint now, const std::vector<std::string>* miner_ids) {
    std::lock_guard lock(impl_->write_mutex);
    auto& db = impl_->write_db;
    std::vector<CommandRecord> open;
    if (miner_ids) {
        // After a batch. Usually no command is open at all: one probe of the status index
        // answers that, instead of one probe per miner in the batch.
        if (db.query_int("SELECT EXISTS (SELECT 1 FROM commands WHERE status IN ('queued', "
                         "'sent'))") == 0) {
            return {};
        }
        // One index probe per miner in it.
        auto s = db.prepare("SELECT " + std::string(kCommandColumns) +
                            " FROM commands WHERE miner_id = ?1 AND status IN ('queued', 'sent') "
                            "ORDER BY created_at_ms, rowid");
        const std::unordered_set<std::string> unique(miner_ids->begin(), miner_ids->end());
        for (const auto& id : unique) {
            s.reset();
            s.bind(1, id);
            while (s.step()) open.push_back(read_command(s));
        }
    } else {
        auto s = db.prepare("SELECT " + std::string(kCommandColumns) +
                            " FROM commands WHERE status IN ('queued', 'sent') ORDER BY rowid");
        while (s.step()) open.push_back(read_command(s));
    }
    VerifyResult result;
    if (open.empty()) return result;
    sqlite::Transaction tx(db);
    auto update = db.prepare(
        "UPDATE commands SET status = ?2, finished_at_ms = ?3, message = ?4, verified_at_ms = ?5 "
        "WHERE id = ?1");
    const auto settle = [&](const CommandRecord& c, CommandStatus status, const std::string& msg,
                            bool verified) {
        update.reset();
        update.bind(1, c.command.id).bind(2, to_string(status)).bind(3, to_ms(now)).bind(4, msg);
        if (verified) {
            update.bind(5, to_ms(now));
        } else {
            update.bind_null(5);
        }
        update.run();
    };
    const auto type = [](const CommandRecord& c) { return std::string(to_string(c.command.type)); };
    for (const auto& c : open) {
        const bool past = now >= *c.command.deadline;
        if (c.status == CommandStatus::queued) {
            if (past) {
                settle(c, CommandStatus::timed_out,
                       "deadline passed before agent \"" + c.agent_id + "\" fetched the command",
                       false);
                ++result.timed_out;
            }
            continue;
        }
        const Verdict v = judge(db, c);
        if (v.in_effect) {
            settle(c, CommandStatus::succeeded,
                   "verified: the sample of " + format_time(v.last->observed_at) + " shows " +
                       describe_sample(*v.last),
                   true);
            ++result.succeeded;
        } else if (past && c.agent_status) {
            std::string msg =
                "deadline passed without the " + type(c) + " taking effect; " + last_seen(v);
            if (c.agent_message) msg += "; the agent said: " + *c.agent_message;
            settle(c, CommandStatus::failed, msg, false);
            ++result.failed;
        } else if (past) {
            settle(
                c, CommandStatus::timed_out,
                "no result from agent \"" + c.agent_id + "\" before the deadline; " + last_seen(v),
                false);
            ++result.timed_out;
        }
    }
    tx.commit();
    return result;
}

std::vector<CommandRecord> Store::commands(const CommandFilter& filter) const {
    std::string sql = "SELECT " + std::string(kCommandColumns) + " FROM commands WHERE 1";
    if (filter.miner_id) sql += " AND miner_id = ?1";
    if (filter.agent_id) sql += " AND agent_id = ?2";
    if (filter.status) sql += " AND status = ?3";
    sql += " ORDER BY created_at_ms DESC, rowid DESC LIMIT ?4";
    std::lock_guard lock(impl_->read_mutex);
    auto s = impl_->read_db.prepare(sql);
    if (filter.miner_id) s.bind(1, *filter.miner_id);
    if (filter.agent_id) s.bind(2, *filter.agent_id);
    if (filter.status) s.bind(3, to_string(*filter.status));
    s.bind(4, static_cast<std::int64_t>(filter.limit));
    std::vector<CommandRecord> out;
    while (s.step()) out.push_back(read_command(s));
    return out;
}

std::optional<CommandRecord> Store::command(const std::string& id) const {
    std::lock_guard lock(impl_->read_mutex);
    return command_by_id(impl_->read_db, id);
}

}  // namespace hashwatt::collector
