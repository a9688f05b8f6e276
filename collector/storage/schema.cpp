#include "collector/storage/schema.hpp"

#include <array>
#include <string>
#include <string_view>

namespace hashwatt::collector {

namespace {

// Append only: an applied migration is never edited, a change is a new entry. Index i brings
// the file from user_version i to i + 1. docs/storage.md describes the resulting schema.
constexpr std::array<std::string_view, 10> kMigrations = {
    R"sql(
CREATE TABLE miners (
    miner_id TEXT PRIMARY KEY NOT NULL,
    site TEXT,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    make TEXT,
    model TEXT,
    firmware TEXT,
    firmware_version TEXT,
    driver TEXT,
    serial TEXT,
    mac TEXT,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    last_up_ms INTEGER,
    labels_json TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE TABLE samples (
    sample_id INTEGER PRIMARY KEY AUTOINCREMENT,
    miner_id TEXT NOT NULL REFERENCES miners(miner_id),
    observed_at_ms INTEGER NOT NULL,
    up INTEGER NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    hashrate_ths REAL,
    hashrate_avg_ths REAL,
    expected_hashrate_ths REAL,
    power_w REAL,
    power_source TEXT,
    power_limit_w REAL,
    chip_temp_max_c REAL,
    board_temp_max_c REAL,
    inlet_temp_c REAL,
    fans_rpm_json TEXT NOT NULL,
    hw_errors_total INTEGER,
    uptime_s INTEGER,
    boards_json TEXT NOT NULL,
    sample_json TEXT NOT NULL
) STRICT;
-- One miner's range, and the latest per miner (the last entry of each miner's run).
CREATE UNIQUE INDEX samples_miner_time ON samples(miner_id, observed_at_ms);
-- Retention deletes by time across all miners.
CREATE INDEX samples_time ON samples(observed_at_ms);

CREATE TABLE ingest_batches (
    agent_id TEXT NOT NULL,
    batch_seq INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (agent_id, batch_seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX ingest_batches_received ON ingest_batches(received_at_ms);

CREATE TABLE rollups_5m (
    miner_id TEXT NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    hashrate_avg_ths REAL, hashrate_min_ths REAL, hashrate_max_ths REAL,
    power_avg_w REAL, power_min_w REAL, power_max_w REAL,
    chip_temp_avg_c REAL, chip_temp_min_c REAL, chip_temp_max_c REAL,
    up_fraction REAL NOT NULL,
    PRIMARY KEY (miner_id, bucket_start_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollups_5m_time ON rollups_5m(bucket_start_ms);

CREATE TABLE rollups_1h (
    miner_id TEXT NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    hashrate_avg_ths REAL, hashrate_min_ths REAL, hashrate_max_ths REAL,
    power_avg_w REAL, power_min_w REAL, power_max_w REAL,
    chip_temp_avg_c REAL, chip_temp_min_c REAL, chip_temp_max_c REAL,
    up_fraction REAL NOT NULL,
    PRIMARY KEY (miner_id, bucket_start_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX rollups_1h_time ON rollups_1h(bucket_start_ms);

-- How far each rollup level has got: buckets before done_until_ms are rolled up, and samples
-- with sample_id <= last_sample_id have been seen (a later, smaller observed_at_ms is a late
-- sample whose bucket is recomputed).
CREATE TABLE rollup_progress (
    level TEXT PRIMARY KEY NOT NULL,
    done_until_ms INTEGER NOT NULL,
    last_sample_id INTEGER NOT NULL
) STRICT;
)sql",
    // 2: commands for miners, and which agent reaches each miner.
    R"sql(
-- The agent whose newest sample of the miner was ingested last; commands go through it.
ALTER TABLE miners ADD COLUMN agent_id TEXT;

-- One row per command and target miner. status is the collector's verdict (queued, sent,
-- succeeded, failed, unsupported, timed_out); agent_* is what the agent reported, which the
-- collector checks against later samples before calling a command succeeded.
CREATE TABLE commands (
    id TEXT PRIMARY KEY NOT NULL,
    miner_id TEXT NOT NULL REFERENCES miners(miner_id),
    agent_id TEXT NOT NULL,
    type TEXT NOT NULL,
    power_target_w REAL,
    created_at_ms INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    sent_at_ms INTEGER,
    finished_at_ms INTEGER,
    message TEXT,
    verified_at_ms INTEGER,
    agent_status TEXT,
    agent_message TEXT,
    agent_finished_at_ms INTEGER
) STRICT;
-- The long poll: an agent's queued commands; verification: the open ones.
CREATE INDEX commands_agent_status ON commands(agent_id, status);
CREATE INDEX commands_status ON commands(status);
CREATE INDEX commands_miner ON commands(miner_id, created_at_ms);
)sql",
    // 3: ingest cost. Boards and fans were stored twice, as columns and inside sample_json;
    // nothing read the columns, and at ~0.8 KB a row they pushed a sample past half a page.
    // The (miner_id, observed_at_ms) index put each miner's entries on a leaf of its own, so a
    // batch of 500 miners dirtied 500 index pages; keyed by the 5-minute slot first, a slot's
    // entries of many miners share a leaf, and a miner's range is read slot by slot.
    R"sql(
ALTER TABLE samples DROP COLUMN boards_json;
ALTER TABLE samples DROP COLUMN fans_rpm_json;
CREATE UNIQUE INDEX samples_slot_miner_time
    ON samples(observed_at_ms / 300000, miner_id, observed_at_ms);
DROP INDEX samples_miner_time;
)sql",
    // 4: the rollups read every new sample's miner, time, up, hash rate, power and chip
    // temperature in time order; with those in the time index the pass never touches the
    // 2 KB rows. The index is appended to in time order, so ingest pays little for it.
    R"sql(
CREATE INDEX samples_time_rollup
    ON samples(observed_at_ms, miner_id, up, hashrate_ths, power_w, chip_temp_max_c);
DROP INDEX samples_time;
)sql",
    // 5: late samples. Rollups found them by reading every sample since the last run from the
    // table itself (2 KB rows); ingest now names the bucket a late sample falls in. The tail no
    // run has seen yet is carried over.
    R"sql(
CREATE TABLE rollup_dirty (
    level TEXT NOT NULL,
    miner_id TEXT NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    PRIMARY KEY (level, miner_id, bucket_start_ms)
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO rollup_dirty (level, miner_id, bucket_start_ms)
    SELECT p.level, s.miner_id,
           s.observed_at_ms / (CASE p.level WHEN '5m' THEN 300000 ELSE 3600000 END)
               * (CASE p.level WHEN '5m' THEN 300000 ELSE 3600000 END)
    FROM rollup_progress p JOIN samples s
        ON s.sample_id > p.last_sample_id AND s.observed_at_ms < p.done_until_ms;
)sql",
    // 6: alerts (collector/alerts). One row per alert instance, i.e. per rule and subject (a
    // miner, an agent), kept across restarts so that a firing alert is neither lost nor
    // announced twice; its history; and an outbox per notifier, so that a notifier that is
    // down delays a notification rather than losing it.
    R"sql(
CREATE TABLE alerts (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    alertname TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    labels_json TEXT NOT NULL,
    annotations_json TEXT NOT NULL,
    active_since_ms INTEGER,
    fired_at_ms INTEGER,
    resolved_at_ms INTEGER,
    last_true_ms INTEGER,
    updated_at_ms INTEGER NOT NULL,
    acked_by TEXT,
    acked_at_ms INTEGER,
    silenced_until_ms INTEGER
) STRICT;
CREATE INDEX alerts_state ON alerts(state);
CREATE TABLE alert_events (
    event_id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    message TEXT
) STRICT;
CREATE INDEX alert_events_fingerprint ON alert_events(fingerprint, at_ms);
CREATE INDEX alert_events_time ON alert_events(at_ms);
CREATE TABLE alert_outbox (
    notification_id INTEGER PRIMARY KEY,
    notifier TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT
) STRICT;
CREATE INDEX alert_outbox_due ON alert_outbox(notifier, next_attempt_ms);
)sql",
    // 7: outbox ids are never reused. The id is what a webhook receiver deduplicates on, and
    // without AUTOINCREMENT SQLite gave the next notification after a drained queue the id of
    // the last one delivered, which such a receiver would drop. SQLite cannot add
    // AUTOINCREMENT to a table, so it is rebuilt with the rows it holds.
    R"sql(
CREATE TABLE alert_outbox_v7 (
    notification_id INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT
) STRICT;
INSERT INTO alert_outbox_v7 (notification_id, notifier, fingerprint, payload_json,
                             created_at_ms, attempts, next_attempt_ms, last_error)
    SELECT notification_id, notifier, fingerprint, payload_json, created_at_ms, attempts,
           next_attempt_ms, last_error
    FROM alert_outbox;
DROP TABLE alert_outbox;
ALTER TABLE alert_outbox_v7 RENAME TO alert_outbox;
CREATE INDEX alert_outbox_due ON alert_outbox(notifier, next_attempt_ms);
)sql",
    // 8: the power policy's decisions (collector/control): each change the engine made or
    // held, with the rule, price and break-even behind it, for /api/v1/decisions and
    // `hashwatt policy explain`. Rounds that change nothing for a miner are not rows.
    R"sql(
CREATE TABLE decisions (
    decision_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    miner_id TEXT NOT NULL,
    site TEXT,
    target TEXT NOT NULL,
    power_target_w REAL,
    outcome TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    price_per_mwh REAL,
    break_even_per_mwh REAL,
    command_id TEXT
) STRICT;
CREATE INDEX decisions_miner ON decisions(miner_id, at_ms);
CREATE INDEX decisions_time ON decisions(at_ms);
)sql",
    // 9: demand-response and manual overrides added through the API (collector/control/
    // override_store.hpp), so that a restarted collector keeps them until they end.
    R"sql(
CREATE TABLE policy_overrides (
    id TEXT PRIMARY KEY NOT NULL,
    target TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    site TEXT,
    miners_json TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX policy_overrides_end ON policy_overrides(end_ms);
)sql",
    // 10: raw samples compressed (collector/storage/sample_codec.hpp): a new row leaves
    // sample_json empty and holds its text as a zstd frame in sample_zstd, made with the
    // dictionary sample_dicts.dict_id = sample_dict (NULL: none). Rows stored before keep their
    // text, so nothing is rewritten. No foreign key on sample_dict: dictionaries are never
    // deleted, and the check would cost every insert a lookup.
    R"sql(
CREATE TABLE sample_dicts (
    dict_id INTEGER PRIMARY KEY,
    created_at_ms INTEGER NOT NULL,
    trained_on INTEGER NOT NULL,
    dict BLOB NOT NULL
) STRICT;
ALTER TABLE samples ADD COLUMN sample_zstd BLOB;
ALTER TABLE samples ADD COLUMN sample_dict INTEGER;
)sql",
};

}  // namespace

int schema_version() noexcept { return static_cast<int>(kMigrations.size()); }

void configure_connection(sqlite::Database& db) {
    db.busy_timeout_ms(5000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
    // SQLite's default 2 MiB page cache makes every batch re-read index pages it touched a
    // moment ago (a batch touches one leaf per miner); 32 MiB holds the hot part of the
    // indexes of a large fleet.
    db.exec("PRAGMA cache_size=-32768");
    db.exec("PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages));
}

int migrate(sqlite::Database& db) {
    int version = static_cast<int>(db.query_int("PRAGMA user_version"));
    if (version > schema_version()) {
        throw sqlite::Error(0,
                            "database schema version " + std::to_string(version) +
                                " is newer than this hashwatt knows (" +
                                std::to_string(schema_version()) + ")",
                            "PRAGMA user_version");
    }
    while (version < schema_version()) {
        sqlite::Transaction tx(db);
        db.exec(kMigrations[static_cast<std::size_t>(version)]);
        ++version;
        db.exec("PRAGMA user_version=" + std::to_string(version));
        tx.commit();
    }
    return version;
}

}  // namespace hashwatt::collector
