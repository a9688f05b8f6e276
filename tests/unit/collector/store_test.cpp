#include "collector/storage/store.hpp"

#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store_impl.hpp"
#include "collector/storage/writer.hpp"
#include "tests/support/process.hpp"

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::collector;
using namespace std::chrono;

namespace {

// 2026-11-25T09:00:00Z: on a whole hour, so bucket arithmetic in the tests is plain.
constexpr std::int64_t kT0Ms = 1795597200000;
static_assert(kT0Ms % 3600000 == 0);

TimePoint at_ms(std::int64_t ms) { return TimePoint{milliseconds{ms}}; }
TimePoint t0_plus(milliseconds d) { return at_ms(kT0Ms) + d; }

MinerSample make_sample(const std::string& id, TimePoint at, std::optional<double> hashrate_ths,
                        std::optional<double> power_w, std::optional<double> chip_temp_c,
                        bool up = true) {
    MinerSample s;
    s.miner_id = id;
    s.host = "10.0.0.7";
    s.port = 4028;
    s.make = "Bitmain";
    s.model = "Antminer S19";
    s.driver = "antminer";
    s.observed_at = at;
    s.up = up;
    s.state = up ? MinerState::mining : MinerState::offline;
    if (!up) s.error = PollError::timeout;
    s.hashrate_ths = hashrate_ths;
    s.power_w = power_w;
    if (power_w) s.power_source = PowerSource::measured;
    if (chip_temp_c) {
        BoardSample cooler;
        cooler.index = 0;
        cooler.chip_temp_max_c = *chip_temp_c - 5;
        BoardSample hotter;
        hotter.index = 1;
        hotter.chip_temp_max_c = *chip_temp_c;
        s.boards = {cooler, hotter};
    }
    return s;
}

IngestBatch make_batch(const std::string& agent, std::int64_t seq, std::vector<MinerSample> v) {
    return IngestBatch{agent, "north", seq, std::move(v), {}};
}

StoreWriterOptions writer_options(std::size_t capacity) {
    StoreWriterOptions o;
    o.queue_capacity = capacity;
    o.maintenance_interval = std::nullopt;  // the tests drive rollups and retention themselves
    return o;
}

std::int64_t count(const std::string& path, const std::string& sql) {
    sqlite::Database db(path);
    return db.query_int(sql);
}

// Rollup rows of `table` (bucket `step_ms`) that differ from SQL's own GROUP BY over the raw
// samples observed before `until_ms`, plus buckets one side has and the other lacks.
std::int64_t rollups_differing(sqlite::Database& db, const std::string& table, std::int64_t step_ms,
                               std::int64_t until_ms) {
    const std::string expected =
        "SELECT miner_id, observed_at_ms / " + std::to_string(step_ms) + " * " +
        std::to_string(step_ms) +
        " AS b, count(*) AS n, avg(power_w) AS pa, min(power_w) AS pl, max(power_w) AS ph, "
        "avg(up) AS u FROM samples WHERE observed_at_ms < " +
        std::to_string(until_ms) + " GROUP BY miner_id, b";
    const auto differing = db.query_int(
        "WITH e AS (" + expected + ") SELECT count(*) FROM e LEFT JOIN " + table +
        " r ON r.miner_id = e.miner_id AND r.bucket_start_ms = e.b WHERE r.miner_id IS NULL "
        "OR r.sample_count != e.n OR abs(r.up_fraction - e.u) > 1e-9 "
        "OR NOT (r.power_avg_w IS e.pa OR abs(r.power_avg_w - e.pa) < 1e-9) "
        "OR r.power_min_w IS NOT e.pl OR r.power_max_w IS NOT e.ph");
    const auto extra = db.query_int("SELECT count(*) FROM " + table + " WHERE bucket_start_ms < " +
                                    std::to_string(until_ms) +
                                    " AND (miner_id, bucket_start_ms) "
                                    "NOT IN (SELECT miner_id, b FROM (" +
                                    expected + "))");
    return differing + extra;
}

}  // namespace

TEST_CASE("a new file is migrated, and re-opening it keeps data and version") {
    test::TempDir dir;
    const std::string path = dir.path() + "/hashwatt.db";
    {
        Store store(path);
        CHECK(store.schema_version() == collector::schema_version());
        CHECK(store.schema_version() == 10);
        store.ingest(make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100.5, 3250, 70)}));
    }
    sqlite::Database raw(path);
    CHECK(raw.query_int("PRAGMA user_version") == 10);
    auto mode = raw.prepare("PRAGMA journal_mode");
    REQUIRE(mode.step());
    CHECK(mode.column_text(0) == "wal");
    // Migrating an up-to-date file is a no-op.
    CHECK(migrate(raw) == 10);

    Store again(path);
    CHECK(again.schema_version() == 10);
    CHECK(again.miners().size() == 1);
    CHECK(again.integrity_check() == "ok");
}

TEST_CASE("a file from a newer schema is refused") {
    test::TempDir dir;
    const std::string path = dir.path() + "/future.db";
    {
        sqlite::Database db(path);
        db.exec("PRAGMA user_version=99");
    }
    CHECK_THROWS_AS(Store{path}, sqlite::Error);
}

TEST_CASE("sqlite errors carry the message and the statement") {
    test::TempDir dir;
    sqlite::Database db(dir.path() + "/e.db");
    try {
        db.exec("SELEC 1");
        FAIL("no error");
    } catch (const sqlite::Error& e) {
        CHECK(std::string(e.what()).find("syntax error") != std::string::npos);
        CHECK(e.sql() == "SELEC 1");
    }
}

TEST_CASE("an ingested batch reads back with the same values, absent stays absent") {
    test::TempDir dir;
    Store store(dir.path() + "/s.db");
    auto full = make_sample("m1", t0_plus(0s), 104.123, 3250.5, 71.25);
    full.hashrate_avg_ths = 103.9;
    full.expected_hashrate_ths = 110;
    full.fans_rpm = {5400, 5460};
    full.inlet_temp_c = 24.5;
    full.hw_errors_total = 17;
    full.uptime_s = 86400;
    full.serial = "SN123";
    full.mac = "aa:bb:cc:dd:ee:ff";
    PoolSample pool;
    pool.url = "stratum+tcp://pool:3333";
    pool.accepted = 12;
    full.pools.push_back(pool);
    auto down = make_sample("m1", t0_plus(30s), std::nullopt, std::nullopt, std::nullopt, false);
    down.make.reset();  // a failed poll does not know the make: the miners row keeps it

    const auto r = store.ingest(make_batch("a1", 7, {full, down}));
    CHECK(r.stored == 2);
    CHECK_FALSE(r.duplicate);

    const auto back = store.samples("m1", t0_plus(0s), t0_plus(1min));
    REQUIRE(back.size() == 2);
    auto expected_full = full;
    expected_full.site = "north";  // filled in from the batch
    CHECK(back[0] == expected_full);
    CHECK(back[0].hashrate_ths == 104.123);
    CHECK(back[0].boards.at(1).chip_temp_max_c == 71.25);
    // The second row's JSON starts from nothing, not from the first row's buffers.
    auto expected_down = down;
    expected_down.site = "north";
    CHECK(back[1] == expected_down);
    CHECK_FALSE(back[1].hashrate_ths.has_value());
    CHECK_FALSE(back[1].power_w.has_value());
    CHECK(back[1].error == PollError::timeout);

    // The queryable columns hold the same values, and NULL (not 0) where nothing was reported.
    sqlite::Database raw(dir.path() + "/s.db");
    auto q = raw.prepare(
        "SELECT hashrate_ths, power_w, chip_temp_max_c, board_temp_max_c, inlet_temp_c, "
        "hw_errors_total, state, error, uptime_s FROM samples ORDER BY observed_at_ms");
    REQUIRE(q.step());
    CHECK(q.column_double(0) == 104.123);
    CHECK(q.column_double(1) == 3250.5);
    CHECK(q.column_double(2) == 71.25);
    CHECK(q.is_null(3));
    CHECK(q.column_double(4) == 24.5);
    CHECK(q.column_int(5) == 17);
    CHECK(q.column_text(6) == "mining");
    CHECK(q.is_null(7));
    CHECK(q.column_int(8) == 86400);
    REQUIRE(q.step());
    CHECK(q.is_null(0));
    CHECK(q.is_null(1));
    CHECK(q.is_null(2));
    CHECK(q.is_null(4));
    CHECK(q.column_text(6) == "offline");
    CHECK(q.column_text(7) == "timeout");
    CHECK(q.is_null(8));

    const auto m = store.miner("m1");
    REQUIRE(m.has_value());
    CHECK(m->make == "Bitmain");
    CHECK(m->site == "north");
    CHECK(m->serial == "SN123");
    CHECK(m->port == 4028);
    CHECK(m->first_seen == t0_plus(0s));
    CHECK(m->last_seen == t0_plus(30s));
    CHECK(m->last_up == t0_plus(0s));
    CHECK(m->labels.empty());
    CHECK_FALSE(store.miner("nope").has_value());

    store.set_labels("m1", {{"rack", "r7"}, {"row", "3"}});
    CHECK(store.miner("m1")->labels ==
          std::map<std::string, std::string>{{"rack", "r7"}, {"row", "3"}});
    CHECK_THROWS_AS(store.set_labels("nope", {}), std::out_of_range);

    const auto latest = store.latest_samples();
    REQUIRE(latest.size() == 1);
    CHECK(latest[0].observed_at == t0_plus(30s));
}

TEST_CASE("an older batch arriving late does not roll the miner's identity back") {
    test::TempDir dir;
    Store store(dir.path() + "/s.db");
    auto newer = make_sample("m1", t0_plus(10min), 100, 3000, 70);
    newer.firmware_version = "2.0";
    auto older = make_sample("m1", t0_plus(5min), 100, 3000, 70);
    older.firmware_version = "1.0";
    older.serial = "SN9";
    store.ingest(make_batch("a1", 2, {newer}));
    store.ingest(make_batch("a1", 1, {older}));
    const auto m = store.miner("m1");
    REQUIRE(m.has_value());
    CHECK(m->firmware_version == "2.0");
    CHECK(m->serial == "SN9");  // a gap is filled from the older sample
    CHECK(m->first_seen == t0_plus(5min));
    CHECK(m->last_seen == t0_plus(10min));
}

TEST_CASE("a repeated (agent_id, batch_seq) is acknowledged and stores nothing") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    const auto batch = make_batch("a1", 42,
                                  {make_sample("m1", t0_plus(0s), 100, 3000, 70),
                                   make_sample("m2", t0_plus(0s), 90, 2900, 65)});
    CHECK(store.ingest(batch).stored == 2);
    auto retry = batch;
    retry.samples.push_back(make_sample("m3", t0_plus(0s), 1, 1, 1));
    const auto r = store.ingest(retry);
    CHECK(r.duplicate);
    CHECK(r.stored == 0);
    CHECK(count(path, "SELECT count(*) FROM samples") == 2);
    CHECK(count(path, "SELECT count(*) FROM miners") == 2);
    CHECK(count(path, "SELECT samples FROM ingest_batches WHERE agent_id='a1' AND batch_seq=42") ==
          2);
    // The same sequence number from another agent is another batch.
    CHECK(store.ingest(make_batch("a2", 42, {make_sample("m9", t0_plus(0s), 1, 1, 1)})).stored ==
          1);
}

TEST_CASE("a batch with one bad sample stores nothing and names the sample") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    auto bad = make_sample("", t0_plus(1s), 100, 3000, 70);
    const auto batch = make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70), bad});
    try {
        store.ingest(batch);
        FAIL("accepted");
    } catch (const InvalidBatch& e) {
        CHECK(e.sample_index() == std::optional<std::size_t>{1});
        CHECK(e.field() == "miner_id");
        CHECK(std::string(e.what()) == "samples[1].miner_id: empty");
    }
    CHECK(count(path, "SELECT count(*) FROM samples") == 0);
    CHECK(count(path, "SELECT count(*) FROM miners") == 0);
    // Not recorded as seen either: the corrected batch under the same seq is stored.
    CHECK(count(path, "SELECT count(*) FROM ingest_batches") == 0);
    CHECK(
        store.ingest(make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70)})).stored ==
        1);
    CHECK_THROWS_AS(store.ingest(make_batch("", 2, {})), InvalidBatch);
}

TEST_CASE("a sample too far ahead of the collector's clock is refused with the batch") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    static_assert(kMaxFutureSkew == minutes(5));
    const TimePoint received = t0_plus(1h);
    // Up to 5 minutes ahead is clock drift and is stored.
    CHECK(store
              .ingest(make_batch("a1", 1, {make_sample("m1", received + 4min, 100, 3000, 70)}),
                      received)
              .stored == 1);
    try {
        store.ingest(make_batch("a1", 2,
                                {make_sample("m1", received + 5s, 100, 3000, 70),
                                 make_sample("m2", received + 6min, 100, 3000, 70)}),
                     received);
        FAIL("accepted");
    } catch (const InvalidBatch& e) {
        CHECK(e.sample_index() == std::optional<std::size_t>{1});
        CHECK(e.field() == "observed_at");
        CHECK(std::string(e.what()) ==
              "samples[1].observed_at: 2026-11-25T10:06:00.000Z is 6 min ahead of the "
              "collector's clock (2026-11-25T10:00:00.000Z; at most 5 min allowed): check the "
              "agent host's clock (NTP)");
    }
    // Nothing of it: not the good sample, not m2, not the batch number.
    CHECK(count(path, "SELECT count(*) FROM samples") == 1);
    CHECK(count(path, "SELECT count(*) FROM miners") == 1);
    CHECK(count(path, "SELECT count(*) FROM ingest_batches WHERE batch_seq = 2") == 0);
    CHECK(store.miner("m1")->last_seen == received + 4min);
    // The grouped path (the writer's) refuses it alone.
    const auto far = make_batch("a1", 3, {make_sample("m3", received + 1h, 1, 1, 1)});
    const auto near = make_batch("a1", 4, {make_sample("m3", received, 1, 1, 1)});
    const std::vector<const IngestBatch*> group{&far, &near};
    const auto out = store.ingest_group(group, received);
    CHECK(out[0].error != nullptr);
    CHECK(out[1].error == nullptr);
    CHECK(out[1].result.stored == 1);
    // Judged against received_at, not the samples' neighbours: the same sample an hour later
    // is fine.
    CHECK(store.ingest(far, received + 1h).stored == 1);
}

TEST_CASE("rollups stay exact when an agent's clock steps back and then forward") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    // The collector's clock runs on at 40 s a tick; the agent's samples follow its own clock,
    // which steps back 25 min at tick 60 (samples land in buckets rolled up already, and in
    // the same buckets as earlier samples) and forward 27 min at tick 120 (a gap, then
    // samples 2 min ahead of the collector's time). Rollups run every 7 ticks.
    std::int64_t seq = 0;
    milliseconds agent_offset = 0s;
    for (int tick = 0; tick < 200; ++tick) {
        if (tick == 60) agent_offset = -25min;
        if (tick == 120) agent_offset = 2min;  // forward 27 min: within the skew bound
        const TimePoint collector_now = t0_plus(seconds(tick * 40 + 30));
        std::vector<MinerSample> batch;
        for (int m = 0; m < 3; ++m) {
            // An odd millisecond per tick: a stepped-back sample never repeats an earlier time.
            const auto at =
                t0_plus(seconds(tick * 40 + m * 3)) + agent_offset + milliseconds(tick % 997 + 1);
            const bool up = (tick + m) % 9 != 0;
            batch.push_back(make_sample(
                "m" + std::to_string(m), at, up ? 100.0 : 0.0,
                up ? std::optional<double>(3000 + (tick * 7 + m) % 300) : std::nullopt, 60, up));
        }
        const auto r = store.ingest(make_batch("a1", ++seq, std::move(batch)), collector_now);
        CHECK(r.stored == 3);
        if (tick % 7 == 6) store.run_rollups(collector_now);
    }
    const std::int64_t end_ms = kT0Ms + 200 * 40 * 1000 + 15 * 60 * 1000 + 3600 * 1000;
    store.run_rollups(at_ms(end_ms));
    sqlite::Database db(path);
    CHECK(rollups_differing(db, "rollups_5m", 300000, end_ms / 300000 * 300000) == 0);
    CHECK(rollups_differing(db, "rollups_1h", 3600000, end_ms / 3600000 * 3600000) == 0);
    CHECK(db.query_int("SELECT count(*) FROM rollup_dirty") == 0);
    CHECK(db.query_int("SELECT count(*) FROM samples") == 600);
}

TEST_CASE("rollups give the exact avg/min/max of known samples, incrementally") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    // Bucket [T0, T0+5m): three samples, one down (no hashrate, no power, no temp).
    // Bucket [T0+5m, T0+10m): one sample. Bucket [T0+10m, ...): incomplete at `now`.
    store.ingest(make_batch(
        "a1", 1,
        {make_sample("m1", t0_plus(0s), 100, 3000, 70),
         make_sample("m1", t0_plus(60s), 110, 3300, 80),
         make_sample("m1", t0_plus(120s), std::nullopt, std::nullopt, std::nullopt, false),
         make_sample("m1", t0_plus(6min), 90, 2700, 60),
         make_sample("m1", t0_plus(11min), 50, 1000, 40)}));
    const auto now = t0_plus(12min);
    const auto r = store.run_rollups(now);
    CHECK(r.buckets_5m == 2);
    CHECK(r.buckets_1h == 0);  // the hour is not complete

    const auto s = store.rollup("m1", t0_plus(0s), t0_plus(15min), Resolution::five_minutes);
    CHECK(s.resolution == Resolution::five_minutes);
    REQUIRE(s.points.size() == 2);
    const auto& b = s.points[0];
    CHECK(b.bucket_start == t0_plus(0s));
    CHECK(b.sample_count == 3);
    CHECK(b.hashrate_avg_ths == 105.0);
    CHECK(b.hashrate_min_ths == 100.0);
    CHECK(b.hashrate_max_ths == 110.0);
    CHECK(b.power_avg_w == 3150.0);
    CHECK(b.power_min_w == 3000.0);
    CHECK(b.power_max_w == 3300.0);
    CHECK(b.chip_temp_avg_c == 75.0);
    CHECK(b.chip_temp_min_c == 70.0);
    CHECK(b.chip_temp_max_c == 80.0);
    CHECK(b.up_fraction == doctest::Approx(2.0 / 3.0));
    CHECK(s.points[1].bucket_start == t0_plus(5min));
    CHECK(s.points[1].sample_count == 1);
    CHECK(s.points[1].hashrate_avg_ths == 90.0);
    CHECK(s.points[1].up_fraction == 1.0);

    // Idempotent: nothing new, nothing written.
    const auto again = store.run_rollups(now);
    CHECK(again.buckets_5m == 0);
    CHECK(again.buckets_1h == 0);

    // A late sample into a rolled-up bucket recomputes that bucket only.
    store.ingest(make_batch("a1", 2, {make_sample("m1", t0_plus(4min), 120, 3600, 90)}));
    CHECK(store.run_rollups(now).buckets_5m == 1);
    const auto late = store.rollup("m1", t0_plus(0s), t0_plus(5min), Resolution::five_minutes);
    REQUIRE(late.points.size() == 1);
    CHECK(late.points[0].sample_count == 4);
    CHECK(late.points[0].hashrate_max_ths == 120.0);
    CHECK(late.points[0].hashrate_avg_ths == doctest::Approx(110.0));
    CHECK(late.points[0].up_fraction == 0.75);

    // Past the hour: the 10-15 min bucket and the hour bucket complete.
    const auto hour = store.run_rollups(t0_plus(61min));
    CHECK(hour.buckets_5m == 1);
    CHECK(hour.buckets_1h == 1);
    const auto h = store.rollup("m1", t0_plus(0s), t0_plus(1h), Resolution::one_hour);
    REQUIRE(h.points.size() == 1);
    CHECK(h.points[0].sample_count == 6);
    CHECK(h.points[0].hashrate_min_ths == 50.0);
    CHECK(h.points[0].hashrate_max_ths == 120.0);
    CHECK(h.points[0].hashrate_avg_ths == doctest::Approx((100 + 110 + 120 + 90 + 50) / 5.0));
    CHECK(h.points[0].power_max_w == 3600.0);
    CHECK(h.points[0].up_fraction == doctest::Approx(5.0 / 6.0));
    CHECK(count(path, "SELECT count(*) FROM rollups_5m") == 3);
}

TEST_CASE("late samples are found after a restart and across the schema 5 migration") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    {
        Store store(path);
        store.ingest(make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70)}));
        CHECK(store.run_rollups(t0_plus(2h)).buckets_5m == 1);
    }
    {
        // A new Store knows nothing yet of how far rollups got: it reads it from the file.
        Store store(path);
        store.ingest(make_batch("a1", 2, {make_sample("m1", t0_plus(1min), 200, 3000, 70)}));
        const auto r = store.run_rollups(t0_plus(2h));
        CHECK(r.buckets_5m == 1);
        CHECK(r.buckets_1h == 1);
        CHECK(store.rollup("m1", t0_plus(0s), t0_plus(5min), Resolution::five_minutes)
                  .points.at(0)
                  .hashrate_avg_ths == 150.0);
        CHECK(count(path, "SELECT count(*) FROM rollup_dirty") == 0);
    }
    {
        // A schema 4 file holding a late sample that no run has seen yet (a sample_id past
        // last_sample_id): the migration lists its buckets.
        sqlite::Database raw(path);
        // What migrations 5 to 10 add, gone again (7 only rebuilds the outbox).
        raw.exec(
            "DROP TABLE rollup_dirty; DROP TABLE alerts; DROP TABLE alert_events; "
            "DROP TABLE alert_outbox; DROP TABLE decisions; DROP TABLE policy_overrides; "
            "DROP TABLE sample_dicts; ALTER TABLE samples DROP COLUMN sample_zstd; "
            "ALTER TABLE samples DROP COLUMN sample_dict");
        raw.exec(
            "INSERT INTO samples (miner_id, observed_at_ms, up, state, hashrate_ths, sample_json) "
            "VALUES ('m1', " +
            std::to_string(kT0Ms + 120000) + ", 1, 'mining', 300, '{}')");
        raw.exec("PRAGMA user_version=4");
    }
    Store store(path);
    CHECK(store.schema_version() == 10);
    CHECK(count(path, "SELECT count(*) FROM rollup_dirty") == 2);  // its 5 min and 1 h buckets
    const auto r = store.run_rollups(t0_plus(2h));
    CHECK(r.buckets_5m == 1);
    CHECK(r.buckets_1h == 1);
    CHECK(store.rollup("m1", t0_plus(0s), t0_plus(1h), Resolution::one_hour)
              .points.at(0)
              .hashrate_avg_ths == 200.0);
    CHECK(store.run_rollups(t0_plus(2h)).buckets_5m == 0);
}

TEST_CASE("migration 7 keeps queued notifications and stops outbox ids from being reused") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    { Store store(path); }
    {
        // The outbox as schema 6 made it (ids reusable), holding two queued rows.
        sqlite::Database raw(path);
        raw.exec(
            "DROP TABLE alert_outbox; "
            "CREATE TABLE alert_outbox (notification_id INTEGER PRIMARY KEY, notifier TEXT NOT "
            "NULL, fingerprint TEXT NOT NULL, payload_json TEXT NOT NULL, created_at_ms INTEGER "
            "NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL, "
            "last_error TEXT) STRICT; "
            "INSERT INTO alert_outbox VALUES (4, 'hook', 'fp1', '{}', 1, 2, 5, 'HTTP 503'), "
            "(9, 'hook', 'fp2', '{}', 3, 0, 3, NULL); "
            "DROP TABLE decisions; DROP TABLE policy_overrides; DROP TABLE sample_dicts; "
            "ALTER TABLE samples DROP COLUMN sample_zstd; "
            "ALTER TABLE samples DROP COLUMN sample_dict; PRAGMA user_version=6");
    }
    Store store(path);
    CHECK(store.schema_version() == 10);
    CHECK(store.integrity_check() == "ok");
    sqlite::Database raw(path);
    CHECK(count(path, "SELECT count(*) FROM alert_outbox") == 2);
    CHECK(count(path,
                "SELECT attempts FROM alert_outbox WHERE notification_id = 4 AND "
                "last_error = 'HTTP 503' AND fingerprint = 'fp1'") == 2);
    // The newest row delivered, the next id still comes after it.
    raw.exec("DELETE FROM alert_outbox WHERE notification_id = 9");
    raw.exec(
        "INSERT INTO alert_outbox (notifier, fingerprint, payload_json, created_at_ms, "
        "next_attempt_ms) VALUES ('hook', 'fp3', '{}', 4, 4)");
    CHECK(raw.query_int("SELECT last_insert_rowid()") == 10);
    CHECK(count(path,
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                "name = 'alert_outbox_due'") == 1);
}

TEST_CASE("rollups agree with SQL's own GROUP BY over the same samples, in several runs") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    // Five miners over three hours, every 40 s, with gaps in every field and some polls down;
    // deterministic, so a failure reproduces.
    std::uint32_t seed = 12345;
    const auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) % 1000; };
    std::int64_t seq = 0;
    for (int tick = 0; tick < 270; ++tick) {
        std::vector<MinerSample> batch;
        for (int m = 0; m < 5; ++m) {
            const auto at = t0_plus(seconds(tick * 40 + m * 3));
            const bool up = next() > 100;
            const auto value = [&](double base) {
                return up && next() > 150 ? std::optional<double>(base + next() / 10.0)
                                          : std::nullopt;
            };
            // m4 reports no hash rate for the first hour: buckets with no value at all.
            const auto hashrate = m == 4 && tick < 90 ? std::nullopt : value(100);
            batch.push_back(
                make_sample("m" + std::to_string(m), at, hashrate, value(3000), value(60), up));
        }
        store.ingest(make_batch("a1", ++seq, std::move(batch)));
        // Runs now and then, as the writer's maintenance would, mid-way through buckets.
        if (tick % 37 == 36) store.run_rollups(t0_plus(seconds(tick * 40)));
    }
    store.run_rollups(t0_plus(4h));

    sqlite::Database db(path);
    for (const auto& [table, step_ms] :
         {std::pair<std::string, std::int64_t>{"rollups_5m", 300000}, {"rollups_1h", 3600000}}) {
        CAPTURE(table);
        const std::string expected =
            "SELECT miner_id, observed_at_ms / " + std::to_string(step_ms) + " * " +
            std::to_string(step_ms) +
            " AS b, count(*) AS n, avg(hashrate_ths) AS ha, min(hashrate_ths) AS hl, "
            "max(hashrate_ths) AS hh, avg(power_w) AS pa, min(power_w) AS pl, max(power_w) AS ph, "
            "avg(chip_temp_max_c) AS ca, min(chip_temp_max_c) AS cl, max(chip_temp_max_c) AS ch, "
            "avg(up) AS u FROM samples WHERE observed_at_ms < " +
            std::to_string(kT0Ms + 3 * 3600000) + " GROUP BY miner_id, b";
        // Every bucket, with each column equal to SQL's within rounding (or both NULL).
        const auto differing = db.query_int(
            "WITH e AS (" + expected + ") SELECT count(*) FROM e LEFT JOIN " + table +
            " r ON r.miner_id = e.miner_id AND r.bucket_start_ms = e.b WHERE r.miner_id IS NULL "
            "OR r.sample_count != e.n OR abs(r.up_fraction - e.u) > 1e-9 "
            "OR NOT (r.hashrate_avg_ths IS e.ha OR abs(r.hashrate_avg_ths - e.ha) < 1e-9) "
            "OR r.hashrate_min_ths IS NOT e.hl OR r.hashrate_max_ths IS NOT e.hh "
            "OR NOT (r.power_avg_w IS e.pa OR abs(r.power_avg_w - e.pa) < 1e-9) "
            "OR r.power_min_w IS NOT e.pl OR r.power_max_w IS NOT e.ph "
            "OR NOT (r.chip_temp_avg_c IS e.ca OR abs(r.chip_temp_avg_c - e.ca) < 1e-9) "
            "OR r.chip_temp_min_c IS NOT e.cl OR r.chip_temp_max_c IS NOT e.ch");
        CHECK(differing == 0);
        CHECK(db.query_int("SELECT count(*) FROM (" + expected + ")") ==
              db.query_int("SELECT count(*) FROM " + table));
        CHECK(db.query_int("SELECT count(*) FROM " + table + " WHERE hashrate_avg_ths IS NULL") >
              0);
    }
    CHECK(db.query_int("SELECT count(*) FROM rollups_1h") == 15);
}

TEST_CASE("one rollup run handles new buckets and late samples of several miners together") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    store.ingest(make_batch("a1", 1,
                            {make_sample("m1", t0_plus(0s), 100, 3000, 70),
                             make_sample("m2", t0_plus(1min), 50, 1500, 60)}));
    CHECK(store.run_rollups(t0_plus(5min)).buckets_5m == 2);

    // m1 gets a late sample in the rolled-up bucket; both get a sample in the next one.
    store.ingest(make_batch("a1", 2,
                            {make_sample("m1", t0_plus(2min), 120, 3600, 90),
                             make_sample("m1", t0_plus(6min), 80, 2400, 65),
                             make_sample("m2", t0_plus(7min), 40, 1200, 55)}));
    CHECK(store.run_rollups(t0_plus(10min)).buckets_5m == 3);
    const auto m1 = store.rollup("m1", t0_plus(0s), t0_plus(10min), Resolution::five_minutes);
    REQUIRE(m1.points.size() == 2);
    CHECK(m1.points[0].sample_count == 2);
    CHECK(m1.points[0].hashrate_avg_ths == 110.0);
    CHECK(m1.points[1].sample_count == 1);
    CHECK(m1.points[1].hashrate_max_ths == 80.0);
    const auto m2 = store.rollup("m2", t0_plus(0s), t0_plus(10min), Resolution::five_minutes);
    REQUIRE(m2.points.size() == 2);
    CHECK(m2.points[0].sample_count == 1);
    CHECK(m2.points[0].hashrate_avg_ths == 50.0);
    CHECK(m2.points[1].power_min_w == 1200.0);
    // Each (miner, bucket) has one row.
    CHECK(count(path, "SELECT count(*) FROM rollups_5m") == 4);
}

TEST_CASE("the series resolution follows the range") {
    CHECK(Store::resolution_for(1h) == Resolution::raw);
    CHECK(Store::resolution_for(6h) == Resolution::raw);
    CHECK(Store::resolution_for(7h) == Resolution::five_minutes);
    CHECK(Store::resolution_for(days{7}) == Resolution::five_minutes);
    CHECK(Store::resolution_for(days{8}) == Resolution::one_hour);

    test::TempDir dir;
    Store store(dir.path() + "/s.db");
    store.ingest(make_batch("a1", 1,
                            {make_sample("m1", t0_plus(0s), 100, 3000, 70),
                             make_sample("m1", t0_plus(60s), 110, 3300, 80)}));
    const auto raw = store.rollup("m1", t0_plus(0s), t0_plus(1h));
    CHECK(raw.resolution == Resolution::raw);
    REQUIRE(raw.points.size() == 2);
    CHECK(raw.points[1].hashrate_avg_ths == 110.0);
    CHECK(raw.points[1].hashrate_min_ths == 110.0);
    CHECK(raw.points[1].chip_temp_max_c == 80.0);
    CHECK(raw.points[1].sample_count == 1);
    store.run_rollups(t0_plus(2h));
    const auto week = store.rollup("m1", t0_plus(0s), t0_plus(days{2}));
    CHECK(week.resolution == Resolution::five_minutes);
    REQUIRE(week.points.size() == 1);
    CHECK(week.points[0].sample_count == 2);
    // A bucket that starts before `from` but overlaps it is part of the series.
    CHECK(store.rollup("m1", t0_plus(2min), t0_plus(days{2})).points.size() == 1);
}

TEST_CASE("retention deletes only what is past its horizon") {
    test::TempDir dir;
    const std::string path = dir.path() + "/s.db";
    Store store(path);
    const auto now = t0_plus(days{30});
    // Samples at T0 (30 days old), T0+15d (15 days old), T0+20d (10 days old).
    store.ingest(make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70)}), t0_plus(0s));
    store.ingest(make_batch("a1", 2, {make_sample("m1", t0_plus(days{15}), 100, 3000, 70)}),
                 t0_plus(days{15}));
    store.ingest(make_batch("a1", 3, {make_sample("m1", t0_plus(days{20}), 100, 3000, 70)}),
                 t0_plus(days{20}));
    store.run_rollups(now);
    CHECK(count(path, "SELECT count(*) FROM rollups_5m") == 3);
    CHECK(count(path, "SELECT count(*) FROM rollups_1h") == 3);

    RetentionHorizons h;  // defaults: raw 14 days, 5 min one year, 1 h forever
    CHECK(h.raw == milliseconds{days{14}});
    CHECK(h.rollup_5m == milliseconds{days{365}});
    CHECK_FALSE(h.rollup_1h.has_value());
    const auto r = store.apply_retention(now, h);
    CHECK(r.samples_deleted == 2);
    CHECK(r.batches_deleted == 2);
    CHECK(r.rollups_5m_deleted == 0);
    CHECK(r.rollups_1h_deleted == 0);
    CHECK(count(path, "SELECT count(*) FROM samples") == 1);
    CHECK(count(path, "SELECT min(observed_at_ms) FROM samples") == kT0Ms + 20LL * 86400000);
    CHECK(count(path, "SELECT batch_seq FROM ingest_batches") == 3);
    // Idempotent.
    CHECK(store.apply_retention(now, h).samples_deleted == 0);

    // Short rollup horizons: a bucket goes only once all of it is past the horizon. The
    // T0+20d 5 min bucket ends 10 days minus 5 minutes before `now`.
    const auto bucket_end_age = milliseconds{days{10} - 5min};
    RetentionHorizons tight{
        .raw = std::nullopt, .rollup_5m = bucket_end_age + 1ms, .rollup_1h = days{20}};
    const auto t = store.apply_retention(now, tight);
    CHECK(t.rollups_5m_deleted == 2);  // T0 and T0+15d; T0+20d is 1 ms short of its horizon
    CHECK(t.rollups_1h_deleted == 1);  // T0 only; the T0+15d hour is 15 days old
    CHECK(count(path, "SELECT count(*) FROM rollups_5m") == 1);
    CHECK(count(path, "SELECT count(*) FROM rollups_1h") == 2);
    tight.rollup_5m = bucket_end_age;
    CHECK(store.apply_retention(now, tight).rollups_5m_deleted == 1);
    CHECK(count(path, "SELECT count(*) FROM rollups_5m") == 0);
    CHECK(store.miners().size() == 1);  // the miners table is never pruned
    CHECK(store.integrity_check() == "ok");
}

TEST_CASE("the writer thread stores many batches from several threads exactly once") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    constexpr int kThreads = 4;
    constexpr int kBatches = 50;
    std::atomic<int> stored{0};
    std::atomic<int> duplicates{0};
    {
        StoreWriter writer(store, writer_options(8));
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                const std::string agent = "agent-" + std::to_string(t);
                for (int b = 0; b < kBatches; ++b) {
                    std::vector<MinerSample> v;
                    for (int m = 0; m < 3; ++m) {
                        v.push_back(make_sample(agent + "-m" + std::to_string(m),
                                                t0_plus(seconds{30 * b}), 100 + b, 3000, 70));
                    }
                    const auto batch = make_batch(agent, b, v);
                    stored += static_cast<int>(writer.submit(batch).get().stored);
                    // Every batch is sent twice, as an agent retrying after a lost reply.
                    if (writer.submit(batch).get().duplicate) ++duplicates;
                }
            });
        }
        for (auto& th : threads) th.join();
    }
    CHECK(stored == kThreads * kBatches * 3);
    CHECK(duplicates == kThreads * kBatches);
    CHECK(count(path, "SELECT count(*) FROM samples") == kThreads * kBatches * 3);
    CHECK(count(path, "SELECT count(*) FROM ingest_batches") == kThreads * kBatches);
    CHECK(count(path, "SELECT count(*) FROM miners") == kThreads * 3);
    CHECK(store.integrity_check() == "ok");
}

TEST_CASE("the writer's checkpointer keeps the WAL bounded while batches keep coming") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    auto o = writer_options(8);
    o.checkpoint_poll = 5ms;
    o.checkpoint_after_pages = 64;  // 256 KiB: many cycles in a short test
    const auto wal_bytes = [&] {
        std::error_code ec;
        const auto n = std::filesystem::file_size(path + "-wal", ec);
        return ec ? std::uintmax_t{0} : n;
    };
    std::uintmax_t wal_max = 0;
    int restarts = 0;  // the WAL's length seen falling: a checkpoint restarted it
    std::int64_t last_frames = 0;
    constexpr int kBatches = 600;
    {
        StoreWriter writer(store, o);
        // No pause between batches: a checkpoint that waited for a quiet moment would never
        // restart the log.
        for (int b = 0; b < kBatches; ++b) {
            std::vector<MinerSample> v;
            for (int m = 0; m < 20; ++m) {
                v.push_back(make_sample("m" + std::to_string(m), t0_plus(seconds{30 * b}), 100 + b,
                                        3000, 70));
            }
            CHECK(writer.submit(make_batch("a1", b, std::move(v))).get().stored == 20);
            const auto frames = store.wal_frames();
            if (frames < last_frames) ++restarts;
            last_frames = frames;
            wal_max = std::max(wal_max, wal_bytes());
        }
    }
    INFO("WAL at most " << wal_max << " bytes; restarted " << restarts << " times");
    CHECK(restarts >= 3);
    // Far below what 600 batches of 20 samples (~25 MB) would grow it to unchecked.
    CHECK(wal_max < 8u * 1024 * 1024);
    CHECK(count(path, "SELECT count(*) FROM samples") == kBatches * 20);
    CHECK(store.integrity_check() == "ok");
}

TEST_CASE("the writer bounds the WAL itself when the checkpointer does not run") {
    // A checkpointer that never gets to run (here: it looks once an hour) stands for one
    // starved of CPU: the writer restarts the log once it passes kWalBackstopFactor times
    // checkpoint_after_pages.
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    auto o = writer_options(8);
    o.checkpoint_poll = std::chrono::hours{1};
    o.checkpoint_after_pages = 64;
    std::int64_t frames_max = 0;
    constexpr int kBatches = 300;
    {
        StoreWriter writer(store, o);
        for (int b = 0; b < kBatches; ++b) {
            std::vector<MinerSample> v;
            for (int m = 0; m < 20; ++m) {
                v.push_back(make_sample("m" + std::to_string(m), t0_plus(seconds{30 * b}), 100 + b,
                                        3000, 70));
            }
            CHECK(writer.submit(make_batch("a1", b, std::move(v))).get().stored == 20);
            frames_max = std::max(frames_max, store.wal_frames());
        }
    }
    INFO("WAL at most " << frames_max << " frames");
    // One batch past the limit at most: the check comes before each batch.
    CHECK(frames_max < (kWalBackstopFactor + 1) * o.checkpoint_after_pages);
    CHECK(frames_max >= kWalBackstopFactor * o.checkpoint_after_pages);
    CHECK(count(path, "SELECT count(*) FROM samples") == kBatches * 20);
}

TEST_CASE("shutdown drains the queue; a bad batch fails only its own future") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    std::vector<std::future<IngestResult>> futures;
    std::future<IngestResult> bad;
    {
        StoreWriter writer(store, writer_options(1000));
        for (int b = 0; b < 200; ++b) {
            futures.push_back(writer.submit(
                make_batch("a1", b, {make_sample("m1", t0_plus(seconds{b}), 100, 3000, 70)})));
        }
        bad = writer.submit(make_batch("a1", 999, {make_sample("", t0_plus(0s), 1, 1, 1)}));
        writer.shutdown();  // returns only once all 201 are done
        CHECK(writer.queued() == 0);
        CHECK_THROWS_AS(writer.submit(make_batch("a1", 1000, {})), std::runtime_error);
        CHECK(count(path, "SELECT count(*) FROM samples") == 200);
    }
    for (auto& f : futures) {
        REQUIRE(f.wait_for(0s) == std::future_status::ready);
        CHECK(f.get().stored == 1);
    }
    CHECK_THROWS_AS(bad.get(), InvalidBatch);
}

TEST_CASE("try_submit refuses when the queue is full") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    StoreWriter writer(store, writer_options(1));
    const auto batch = [](std::int64_t seq) {
        return make_batch("a1", seq, {make_sample("m1", t0_plus(seconds{seq}), 100, 3000, 70)});
    };
    std::optional<std::future<IngestResult>> first, second;
    {
        // Another connection holding the write lock stalls the writer inside its first commit
        // (it waits on the busy timeout), so the one-slot queue stays full.
        sqlite::Database blocker(path);
        blocker.exec("BEGIN IMMEDIATE");
        first = writer.try_submit(batch(1));
        REQUIRE(first.has_value());
        REQUIRE(test::wait_until([&] { return writer.queued() == 0; }, 5s));
        second = writer.try_submit(batch(2));
        REQUIRE(second.has_value());
        CHECK(writer.queued() == 1);
        CHECK_FALSE(writer.try_submit(batch(3)).has_value());
        blocker.exec("ROLLBACK");
    }
    CHECK(first->get().stored == 1);
    CHECK(second->get().stored == 1);
    writer.shutdown();
    CHECK(count(path, "SELECT count(*) FROM samples") == 2);
}

TEST_CASE("a callback submission is called on commit and on refusal") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    std::mutex m;
    std::vector<std::pair<std::size_t, bool>> calls;  // (stored, failed)
    {
        StoreWriter writer(store, writer_options(16));
        const auto record = [&](const IngestResult& r, std::exception_ptr e) {
            std::lock_guard lock(m);
            calls.emplace_back(r.stored, e != nullptr);
        };
        CHECK(writer.try_submit(
            make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70)}), record));
        CHECK(writer.try_submit(make_batch("a1", 2, {make_sample("", t0_plus(1s), 1, 1, 1)}),
                                record));
        CHECK(writer.try_submit(
            make_batch("a1", 1, {make_sample("m1", t0_plus(0s), 100, 3000, 70)}), record));
    }  // the destructor drains
    REQUIRE(calls.size() == 3);
    CHECK(calls[0] == std::pair<std::size_t, bool>{1, false});
    CHECK(calls[1] == std::pair<std::size_t, bool>{0, true});
    CHECK(calls[2] == std::pair<std::size_t, bool>{0, false});  // the duplicate
    CHECK(count(path, "SELECT count(*) FROM samples") == 1);
}

TEST_CASE("the writer runs rollups and retention on its own thread when idle") {
    test::TempDir dir;
    const std::string path = dir.path() + "/w.db";
    Store store(path);
    StoreWriterOptions o;
    o.maintenance_interval = 10ms;
    // Samples far in the past: the raw horizon removes them, the 5 min rollup keeps them.
    o.horizons.raw = days{1};
    o.horizons.rollup_5m = std::nullopt;
    StoreWriter writer(store, o);
    const auto old = at_ms(kT0Ms - 3650LL * 86400000);  // ten years before T0
    CHECK(writer
              .submit(make_batch("a1", 1,
                                 {make_sample("m1", old, 100, 3000, 70),
                                  make_sample("m1", old + 1min, 120, 3000, 70)}))
              .get()
              .stored == 2);
    CHECK(test::wait_until([&] { return count(path, "SELECT count(*) FROM samples") == 0; }, 10s));
    writer.shutdown();
    const auto s = store.rollup("m1", old, old + 5min, Resolution::five_minutes);
    REQUIRE(s.points.size() == 1);
    CHECK(s.points[0].sample_count == 2);
    CHECK(s.points[0].hashrate_avg_ths == 110.0);
}

TEST_CASE("a miner's samples are read through the slot index, across slot boundaries") {
    test::TempDir dir;
    Store store(dir.path() + "/s.db");
    // 30 s apart over 20 minutes: four 5-minute slots, and another miner interleaved.
    std::vector<MinerSample> mine, other;
    for (int i = 0; i < 40; ++i) {
        mine.push_back(make_sample("m1", t0_plus(std::chrono::seconds(30 * i)), 100, 3000, 70));
        other.push_back(make_sample("m2", t0_plus(std::chrono::seconds(30 * i + 1)), 90, 2900, 65));
    }
    store.ingest(make_batch("a1", 1, mine));
    store.ingest(make_batch("a1", 2, other));
    // A range that starts and ends inside slots.
    const auto back = store.samples("m1", t0_plus(95s), t0_plus(17min));
    REQUIRE(back.size() == 30);  // 120 s .. 990 s, every 30 s
    CHECK(back.front().observed_at == t0_plus(120s));
    CHECK(back.back().observed_at == t0_plus(1020s - 30s));
    for (const auto& s : back) CHECK(s.miner_id == "m1");
    CHECK(store.samples("m1", TimePoint{}, t0_plus(24h)).size() == 40);
    const auto raw = store.rollup("m1", t0_plus(0s), t0_plus(20min), Resolution::raw);
    CHECK(raw.points.size() == 40);
    // The same sample under another batch number is still one row.
    CHECK(store.ingest(make_batch("a1", 3, {mine[5]})).stored == 0);

    sqlite::Database db(dir.path() + "/s.db");
    // The fragments Store's queries are built from (the planner would rather scan the time
    // index, which also holds miner_id: every miner's samples of the range).
    auto plan =
        db.prepare("EXPLAIN QUERY PLAN " + slot_range_cte("?2", "?3") + "SELECT s.sample_json " +
                   slot_join("?1") + "WHERE s.observed_at_ms >= ?2 AND s.observed_at_ms < ?3");
    std::string details;
    while (plan.step()) details += plan.column_text(3) + "\n";
    CHECK(details.find("USING INDEX samples_slot_miner_time") != std::string::npos);
}
