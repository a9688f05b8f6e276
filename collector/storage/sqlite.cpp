#include "collector/storage/sqlite.hpp"

#include <mutex>
#include <utility>

#include <sqlite3.h>

namespace hashwatt::collector::sqlite {

namespace {

std::string describe(int code, const std::string& message, const std::string& sql) {
    std::string out = "sqlite: " + message + " (" + sqlite3_errstr(code) + ")";
    if (!sql.empty()) out += " in: " + sql;
    return out;
}

// SQLite keeps memory statistics by default, taking a process-wide mutex on every allocation;
// nothing here reads them, and on the ingest path the lock and unlock were 5 % of the CPU.
// Only possible before SQLite initializes, which its first open does.
void configure_library() {
    static std::once_flag once;
    std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Error::Error(int code, const std::string& message, std::string sql)
    : std::runtime_error(describe(code, message, sql)), code_(code), sql_(std::move(sql)) {}

Database::Database(const std::string& path) {
    configure_library();
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = db_ ? sqlite3_errmsg(db_) : "cannot open " + path;
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw Error(rc, message + " (" + path + ")", {});
    }
    sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() {
    if (db_) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        if (db_) sqlite3_close_v2(db_);
        db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
}

void Database::exec(std::string_view sql) {
    const std::string text(sql);
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string m = message ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        throw Error(rc, m, text);
    }
}

Statement Database::prepare(std::string_view sql) { return Statement(*this, sql); }

void Database::watch_wal(std::atomic<std::int64_t>* frames) {
    sqlite3_wal_hook(
        db_,
        [](void* arg, sqlite3*, const char*, int pages) {
            static_cast<std::atomic<std::int64_t>*>(arg)->store(pages, std::memory_order_relaxed);
            return SQLITE_OK;
        },
        frames);
}

std::int64_t Database::query_int(std::string_view sql) {
    Statement s(*this, sql);
    if (!s.step()) throw Error(SQLITE_MISUSE, "query returned no row", std::string(sql));
    return s.column_int(0);
}

std::int64_t Database::changes() const noexcept { return sqlite3_changes64(db_); }

bool Database::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

void Database::busy_timeout_ms(int ms) { sqlite3_busy_timeout(db_, ms); }

Statement::Statement(Database& db, std::string_view sql) : db_(db.handle()) {
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw Error(rc, sqlite3_errmsg(db_), std::string(sql));
}

Statement::~Statement() {
    if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

void Statement::check(int rc) const {
    if (rc != SQLITE_OK) throw Error(rc, sqlite3_errmsg(db_), sqlite3_sql(stmt_));
}

Statement& Statement::bind(int index, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, index, v));
    return *this;
}

Statement& Statement::bind(int index, double v) {
    check(sqlite3_bind_double(stmt_, index, v));
    return *this;
}

Statement& Statement::bind(int index, std::string_view v) {
    check(sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
    check(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
    return *this;
}

Statement& Statement::bind_null(int index) {
    check(sqlite3_bind_null(stmt_, index));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(rc, sqlite3_errmsg(db_), sqlite3_sql(stmt_));
}

void Statement::run() {
    while (step()) {
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::int64_t Statement::column_int(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::column_double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::column_text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string();
}

std::string_view Statement::column_view(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string_view();
}

std::string_view Statement::column_blob(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string_view();
}

std::optional<std::int64_t> Statement::column_opt_int(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_int(col);
}

std::optional<double> Statement::column_opt_double(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_double(col);
}

std::optional<std::string> Statement::column_opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return column_text(col);
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (...) {
            // A failed statement may already have rolled back; nothing more to undo.
        }
    }
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace hashwatt::collector::sqlite
