// Internal to collector/storage: the Store's two connections, shared by store.cpp and
// commands.cpp.
#pragma once

#include "collector/storage/schema.hpp"
#include "collector/storage/sqlite.hpp"
#include "collector/storage/store.hpp"

#include <mutex>

namespace hashwatt::collector {

struct Store::Impl {
    explicit Impl(const std::string& path) : write_db(path), read_db(migrated(write_db, path)) {
        configure_connection(read_db);
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
};

}  // namespace hashwatt::collector
