// The collector's schema: forward-only migrations keyed by PRAGMA user_version.
#pragma once

#include "collector/storage/sqlite.hpp"

namespace hashwatt::collector {

// The version a fully migrated database reports in PRAGMA user_version.
int schema_version() noexcept;

// Per-connection settings every connection needs: WAL, synchronous=NORMAL, foreign keys, a busy
// timeout (readers and the writer share the file).
void configure_connection(sqlite::Database& db);

// Applies every migration above the file's user_version, each in its own transaction, and
// returns the version reached. Refuses a file from a newer hashwatt (higher user_version).
int migrate(sqlite::Database& db);

}  // namespace hashwatt::collector
