// Strict TOML configuration. Every command that takes a config file loads it through these
// helpers so that errors read the same everywhere:
//
//   agent.toml:12:3: miner[1].pasword_file: unknown key (did you mean 'password_file'?)
//
// Usage: load a Document, read values through Table views (each read marks the key as known),
// then call Document::finish(), which rejects every key nobody asked for.
#pragma once

#include "common/units.hpp"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt::config {

struct Location {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

// A config problem at a place. what() is "file:line:column: key.path: message".
class ConfigError : public std::runtime_error {
  public:
    ConfigError(Location where, std::string key, const std::string& message);
    const Location& where() const noexcept { return where_; }
    const std::string& key() const noexcept { return key_; }

  private:
    Location where_;
    std::string key_;
};

struct DocumentState;  // shared between a Document and its Table views

// A view of one TOML table, with its key path ("", "agent", "miner[2]") for messages.
class Table {
  public:
    const std::string& path() const noexcept { return path_; }
    std::string key_path(std::string_view key) const;
    bool has(std::string_view key) const;

    std::optional<std::string> string(std::string_view key) const;
    std::string required_string(std::string_view key) const;
    // A string that must be one of `allowed`.
    std::optional<std::string> choice(std::string_view key,
                                      std::initializer_list<std::string_view> allowed) const;
    std::optional<std::int64_t> integer(
        std::string_view key, std::int64_t min = std::numeric_limits<std::int64_t>::min(),
        std::int64_t max = std::numeric_limits<std::int64_t>::max()) const;
    // Accepts TOML integers and floats.
    std::optional<double> number(std::string_view key,
                                 double min = -std::numeric_limits<double>::infinity(),
                                 double max = std::numeric_limits<double>::infinity()) const;
    std::optional<bool> boolean(std::string_view key) const;
    std::optional<Duration> duration(std::string_view key, Duration min = Duration::zero(),
                                     Duration max = Duration::max()) const;
    std::optional<std::uint64_t> size(std::string_view key, std::uint64_t min = 0,
                                      std::uint64_t max = UINT64_MAX) const;
    std::optional<std::vector<std::string>> string_array(std::string_view key) const;
    std::optional<std::vector<double>> number_array(std::string_view key) const;

    // A `*_file` secret: reads the named file (relative paths are relative to the config
    // file's folder), strips trailing whitespace, and refuses a file that group or others may
    // access (read_secret_file).
    // Under systemd with LoadCredential= ($CREDENTIALS_DIRECTORY set), a relative path is read
    // from the credentials first, by the name systemd gives a file of a loaded directory:
    // "tokens/read.token" is $CREDENTIALS_DIRECTORY/tokens_read.token (see
    // credential_candidate); so one config works in and out of the unit.
    std::optional<std::string> secret_file(std::string_view key) const;
    // A path value, resolved relative to the config file's folder.
    std::optional<std::string> path_value(std::string_view key) const;

    std::optional<Table> table(std::string_view key) const;
    // An array of tables ([[key]]); empty when the key is absent.
    std::vector<Table> tables(std::string_view key) const;
    // The keys present in this table, in source order (for tables whose keys are data).
    std::vector<std::string> keys() const;

    Location location(std::string_view key) const;  // of the key, else of this table
    [[noreturn]] void fail(std::string_view key, const std::string& message) const;

  private:
    friend class Document;
    Table(std::shared_ptr<DocumentState> doc, const void* table, std::string path);
    const void* node(std::string_view key) const;  // marks the key known; nullptr if absent
    [[noreturn]] void wrong_type(std::string_view key, std::string_view expected) const;

    std::shared_ptr<DocumentState> doc_;
    const void* table_;  // a toml::table, kept opaque so toml++ stays out of this header
    std::string path_;
};

class Document {
  public:
    // Throws ConfigError for unreadable files and TOML syntax errors (with their location).
    static Document load_file(const std::string& path);
    // `source_name` stands for the file name in messages.
    static Document parse(std::string_view text, std::string source_name);

    Table root() const;
    const std::string& file() const noexcept;

    // Rejects every key that no reader asked for, the first in source order, with a
    // "did you mean" suggestion from the keys that were asked for in the same table.
    void finish() const;

  private:
    explicit Document(std::shared_ptr<DocumentState> state) : state_(std::move(state)) {}
    std::shared_ptr<DocumentState> state_;
};

// Reads a secret from a file: trailing whitespace stripped. Refuses (std::runtime_error naming
// the file, its mode and the fix `chmod 600 FILE`) a file that is not regular or that group or
// others may read, write or execute, and any file that cannot be read or is empty.
std::string read_secret_file(const std::string& path);

// Where systemd puts the relative secret path `p` loaded with LoadCredential=: the credentials
// directory `dir` joined with `p`, its '/' turned into '_' ("tokens/a.token" ->
// dir/tokens_a.token). Empty when `dir` is empty or `p` is absolute.
std::string credential_candidate(const std::string& dir, const std::string& p);

}  // namespace hashwatt::config
