// Internal to collector/storage: the Store's two connections, shared by store.cpp and
// commands.cpp.
#pragma once

#include "collector/storage/sample_codec.hpp"
#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::collector {

// Samples are indexed by (observed_at_ms / 300000, miner_id, observed_at_ms) (schema 3: 5-minute
// slots), so one miner's samples in a time range are read slot by slot. slot_range_cte(from, to)
// is a WITH clause naming the table slot(k) of every slot that [from, to) touches; `from` and
// `to` are SQL expressions (parameters). Join it with slot_join(miner).

inline std::string slot_range_cte(std::string_view from, std::string_view to) {
    return "WITH RECURSIVE slot(k) AS (SELECT (" + std::string(from) +
           ") / 300000 UNION ALL SELECT k + 1 FROM slot WHERE k < ((" + std::string(to) +
           ") - 1) / 300000) ";
}

// "FROM slot JOIN samples s ON <the index's slot> AND s.miner_id = <miner>": the slot
// expression is written exactly as the index has it, so the planner uses the index.
inline std::string slot_join(std::string_view miner) {
    // INDEXED BY: with the time index also holding miner_id, the planner may otherwise scan
    // every miner's samples of the range (100 ms for a day of 1,000 miners instead of 1 ms).
    return "FROM slot JOIN samples s INDEXED BY samples_slot_miner_time "
           "ON s.observed_at_ms / 300000 = slot.k AND s.miner_id = " +
           std::string(miner) + " ";
}

// How far ahead of the collector's clock a sample's observed_at may be (agent clocks drift,
// and an NTP step on either host is seconds); past it the batch is refused (InvalidBatch on
// observed_at): a time from a wrong agent clock would otherwise stay the miner's last_seen and
// latest sample until that time came. docs/storage.md, "Ingest".
inline constexpr std::chrono::milliseconds kMaxFutureSkew = std::chrono::minutes{5};

struct Store::Impl {
    explicit Impl(const std::string& file)
        : write_db(file)
        , read_db(migrated(write_db, file))
        , path(file)
        , decompressor([this](std::int64_t id) { return load_dictionary(read_db, id); }) {
        configure_connection(read_db);
        // The newest dictionary is the one new rows use.
        auto q = write_db.prepare(
            "SELECT dict_id, dict FROM sample_dicts ORDER BY dict_id DESC LIMIT 1");
        if (q.step()) compressor.use_dictionary(q.column_int(0), q.column_blob(1));
    }

    static std::string load_dictionary(sqlite::Database& db, std::int64_t id) {
        auto q = db.prepare("SELECT dict FROM sample_dicts WHERE dict_id = ?1");
        q.bind(1, id);
        if (!q.step()) {
            throw CorruptSample("stored sample names dictionary " + std::to_string(id) +
                                ", which sample_dicts does not hold");
        }
        return std::string(q.column_blob(0));
    }

    // Migrates through the write connection before the read connection opens, so that the
    // reader never sees a half-built schema.
    static const std::string& migrated(sqlite::Database& db, const std::string& path) {
        configure_connection(db);
        migrate(db);
        return path;
    }

    std::mutex write_mutex;
    sqlite::Database write_db;
    mutable std::mutex read_mutex;
    mutable sqlite::Database read_db;
    // Opened on the first checkpoint() (StoreWriter's checkpointer thread), used only there.
    std::mutex checkpoint_mutex;
    std::optional<sqlite::Database> checkpoint_db;
    std::atomic<std::int64_t> wal_frames{0};  // set by write_db's WAL hook (watch_wal)
    std::string path;

    // Statements of Store::ingest, prepared on first use (under write_mutex); declared after
    // the connections so that they are finalized first.
    struct IngestStatements {
        std::unique_ptr<sqlite::Statement> mark, upsert, insert, dirty;
    } ingest;

    // rollup_progress.done_until_ms of each level (5m, 1h), as of the last committed rollup
    // run: a sample observed before it is late, and ingest marks its bucket in rollup_dirty.
    // Read and written under write_mutex; nullopt until first read.
    std::optional<std::array<std::int64_t, 2>> rolled_up_until;

    // Compresses the rows ingest writes (under write_mutex).
    SampleCompressor compressor;
    // Until the file has a dictionary: the texts of the first samples stored, to train one on
    // (Store::ingest, after its commit). Under write_mutex.
    std::vector<std::string> training;
    // Decompresses the rows read through read_db (under read_mutex).
    SampleDecompressor decompressor;
};

// The JSON text of a samples row read as `text, sample_zstd, sample_dict` from column `col`.
inline std::string stored_sample_text(const sqlite::Statement& row, int col,
                                      SampleDecompressor& decompressor) {
    if (row.is_null(col + 1)) return row.column_text(col);  // stored before schema 10
    return decompressor.decompress(row.column_blob(col + 1), row.column_opt_int(col + 2));
}

}  // namespace hashwatt::collector
