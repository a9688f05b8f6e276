// A thin RAII layer over SQLite's C API: a connection, prepared statements with typed binds and
// column reads, and transactions. sqlite3.h stays in sqlite.cpp; the handles are only declared.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace hashwatt::collector::sqlite {

// A failed SQLite call: what() holds SQLite's message and the SQL it came from.
class Error : public std::runtime_error {
  public:
    Error(int code, const std::string& message, std::string sql);
    int code() const noexcept { return code_; }
    const std::string& sql() const noexcept { return sql_; }

  private:
    int code_;
    std::string sql_;
};

class Statement;

class Database {
  public:
    // Opens (creating if needed) the file at `path`; each connection is used by one thread.
    explicit Database(const std::string& path);
    ~Database();
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Runs one or more statements that take no parameters and return no rows worth reading.
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql);
    // The first column of the first row of `sql`, for pragmas and counts.
    std::int64_t query_int(std::string_view sql);
    std::int64_t changes() const noexcept;
    // False in autocommit mode: no BEGIN is open, or SQLite rolled it back after an error.
    bool in_transaction() const noexcept;
    void busy_timeout_ms(int ms);
    // Instead of checkpointing when a commit takes the WAL past its limit (SQLite's default),
    // this connection only records the WAL's length in pages into *frames after each commit,
    // for another thread to act on. `frames` must outlive the connection, or the next call.
    // PRAGMA wal_autocheckpoint restores the default.
    void watch_wal(std::atomic<std::int64_t>* frames);

    sqlite3* handle() const noexcept { return db_; }

  private:
    sqlite3* db_ = nullptr;
};

// A prepared statement. Binds are 1-based like SQLite's; columns 0-based. A nullopt binds NULL,
// and a NULL column reads back as nullopt, so "not reported" survives the round trip.
class Statement {
  public:
    Statement(Database& db, std::string_view sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t v);
    Statement& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
    Statement& bind(int index, double v);
    Statement& bind(int index, bool v) { return bind(index, static_cast<std::int64_t>(v ? 1 : 0)); }
    Statement& bind(int index, std::string_view v);
    Statement& bind(int index, const std::string& v) { return bind(index, std::string_view(v)); }
    Statement& bind(int index, const char* v) { return bind(index, std::string_view(v)); }
    Statement& bind_null(int index);
    // A BLOB (bind(std::string_view) binds TEXT); copied by SQLite, as text is.
    Statement& bind_blob(int index, std::string_view bytes);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& v) {
        return v ? bind(index, *v) : bind_null(index);
    }

    // Advances to the next row: true while a row is available, false when done.
    bool step();
    // Steps a statement that returns no rows.
    void run();
    // Clears bindings and rewinds so the statement can run again.
    void reset();

    bool is_null(int col) const;
    std::int64_t column_int(int col) const;
    double column_double(int col) const;
    std::string column_text(int col) const;
    // The text in SQLite's own buffer: valid until the next step() or reset().
    std::string_view column_view(int col) const;
    // A BLOB column's bytes in SQLite's own buffer: valid until the next step() or reset().
    std::string_view column_blob(int col) const;
    std::optional<std::int64_t> column_opt_int(int col) const;
    std::optional<double> column_opt_double(int col) const;
    std::optional<std::string> column_opt_text(int col) const;

  private:
    void check(int rc) const;

    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE on construction (take the write lock up front rather than fail mid-way on an
// upgrade), ROLLBACK on destruction unless commit() ran.
class Transaction {
  public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

  private:
    Database& db_;
    bool done_ = false;
};

}  // namespace hashwatt::collector::sqlite
