// The collector's schema: forward-only migrations keyed by PRAGMA user_version.
#pragma once

#include "collector/storage/sqlite.hpp"

namespace hashwatt::collector {

// The version a fully migrated database reports in PRAGMA user_version.
int schema_version() noexcept;

// WAL length, in pages, at which it is copied back into the file (64 MiB of 4 KiB pages rather
// than SQLite's 4 MiB: an index page that several batches touch in between is written back
// once instead of once per checkpoint).
inline constexpr int kWalCheckpointPages = 16384;

// Per-connection settings every connection needs: WAL, synchronous=NORMAL, foreign keys, a busy
// timeout (readers and the writer share the file).
void configure_connection(sqlite::Database& db);

// Applies every migration above the file's user_version, each in its own transaction, and
// returns the version reached. Refuses a file from a newer hashwatt (higher user_version).
int migrate(sqlite::Database& db);

}  // namespace hashwatt::collector
