#include "common/config.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include <toml++/toml.h>

namespace hashwatt::config {

struct DocumentState {
    std::string file;
    toml::table root;
    std::set<std::string, std::less<>> known;  // full key paths some reader asked for
    std::map<std::string, std::set<std::string>, std::less<>> asked;  // table path -> keys
};

namespace {

const toml::table& as_table(const void* p) { return *static_cast<const toml::table*>(p); }

Location to_location(const std::string& file, const toml::source_region& r) {
    return {file, r.begin.line, r.begin.column};
}

std::string join_path(std::string_view base, std::string_view key) {
    if (base.empty()) return std::string(key);
    std::string out(base);
    out += '.';
    out += key;
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t prev = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cur = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
            prev = cur;
        }
    }
    return row[b.size()];
}

std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date/time";
        default:
            return "a value";
    }
}

std::string resolve_relative(const std::string& config_file, const std::string& p) {
    std::filesystem::path path(p);
    if (path.is_absolute() || config_file.empty() || config_file.front() == '<') return p;
    return (std::filesystem::path(config_file).parent_path() / path).lexically_normal().string();
}

std::string mode_octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

}  // namespace

ConfigError::ConfigError(Location where, std::string key, const std::string& message)
    : std::runtime_error(where.file + ":" + std::to_string(where.line) + ":" +
                         std::to_string(where.column) + ": " + (key.empty() ? "" : key + ": ") +
                         message)
    , where_(std::move(where))
    , key_(std::move(key)) {}

// ---- Table ----------------------------------------------------------------------------------

Table::Table(std::shared_ptr<DocumentState> doc, const void* table, std::string path)
    : doc_(std::move(doc)), table_(table), path_(std::move(path)) {}

std::string Table::key_path(std::string_view key) const { return join_path(path_, key); }

bool Table::has(std::string_view key) const { return as_table(table_).contains(key); }

const void* Table::node(std::string_view key) const {
    doc_->asked[path_].insert(std::string(key));
    const toml::node* n = as_table(table_).get(key);
    if (n) doc_->known.insert(key_path(key));
    return n;
}

Location Table::location(std::string_view key) const {
    const auto& t = as_table(table_);
    if (auto it = t.find(key); it != t.end()) return to_location(doc_->file, it->first.source());
    const auto& src = t.source();
    if (src.begin.line == 0) return {doc_->file, 1, 1};
    return to_location(doc_->file, src);
}

void Table::fail(std::string_view key, const std::string& message) const {
    // Point at the value when there is one: that is what the user has to fix.
    Location where = location(key);
    if (const toml::node* n = as_table(table_).get(key); n && n->source().begin.line != 0) {
        where = to_location(doc_->file, n->source());
    }
    throw ConfigError(std::move(where), key_path(key), message);
}

void Table::wrong_type(std::string_view key, std::string_view expected) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    fail(key, "expected " + std::string(expected) + ", got " + std::string(type_name(*n)));
}

std::optional<std::string> Table::string(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_string()) wrong_type(key, "a string");
    return std::string(n->as_string()->get());
}

std::string Table::required_string(std::string_view key) const {
    auto v = string(key);
    if (!v) {
        throw ConfigError(location(key), key_path(key), "required key missing");
    }
    return *v;
}

std::optional<std::string> Table::choice(std::string_view key,
                                         std::initializer_list<std::string_view> allowed) const {
    auto v = string(key);
    if (!v) return v;
    for (auto a : allowed) {
        if (a == *v) return v;
    }
    std::string list;
    for (auto a : allowed) {
        if (!list.empty()) list += ", ";
        list += a;
    }
    fail(key, "'" + *v + "' is not one of: " + list);
}

std::optional<std::int64_t> Table::integer(std::string_view key, std::int64_t min,
                                           std::int64_t max) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_integer()) wrong_type(key, "an integer");
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
        fail(key, "value " + std::to_string(v) + " out of range " + std::to_string(min) + ".." +
                      std::to_string(max));
    }
    return v;
}

std::optional<double> Table::number(std::string_view key, double min, double max) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    double v = 0;
    if (n->is_integer()) {
        v = static_cast<double>(n->as_integer()->get());
    } else if (n->is_floating_point()) {
        v = n->as_floating_point()->get();
    } else {
        wrong_type(key, "a number");
    }
    if (!(v >= min && v <= max)) {
        std::ostringstream msg;
        msg << "value " << v << " out of range " << min << ".." << max;
        fail(key, msg.str());
    }
    return v;
}

std::optional<bool> Table::boolean(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_boolean()) wrong_type(key, "a boolean (true or false)");
    return n->as_boolean()->get();
}

std::optional<Duration> Table::duration(std::string_view key, Duration min, Duration max) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_string()) wrong_type(key, "a duration string like \"30s\", \"5m\" or \"1h\"");
    std::string err;
    auto d = parse_duration(n->as_string()->get(), &err);
    if (!d) fail(key, err);
    if (*d < min || *d > max) {
        fail(key, "duration " + format_duration(*d) + " out of range " + format_duration(min) +
                      ".." + (max == Duration::max() ? std::string("") : format_duration(max)));
    }
    return d;
}

std::optional<std::uint64_t> Table::size(std::string_view key, std::uint64_t min,
                                         std::uint64_t max) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_string()) wrong_type(key, "a size string like \"64MiB\"");
    std::string err;
    auto s = parse_size(n->as_string()->get(), &err);
    if (!s) fail(key, err);
    if (*s < min || *s > max) {
        fail(key, "size " + std::to_string(*s) + " bytes out of range " + std::to_string(min) +
                      ".." + std::to_string(max));
    }
    return s;
}

std::optional<std::vector<std::string>> Table::string_array(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_array()) wrong_type(key, "an array of strings");
    std::vector<std::string> out;
    for (const auto& e : *n->as_array()) {
        if (!e.is_string()) {
            throw ConfigError(to_location(doc_->file, e.source()),
                              key_path(key) + "[" + std::to_string(out.size()) + "]",
                              "expected a string, got " + std::string(type_name(e)));
        }
        out.emplace_back(e.as_string()->get());
    }
    return out;
}

std::optional<std::vector<double>> Table::number_array(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_array()) wrong_type(key, "an array of numbers");
    std::vector<double> out;
    for (const auto& e : *n->as_array()) {
        if (e.is_integer()) {
            out.push_back(static_cast<double>(e.as_integer()->get()));
        } else if (e.is_floating_point()) {
            out.push_back(e.as_floating_point()->get());
        } else {
            throw ConfigError(to_location(doc_->file, e.source()),
                              key_path(key) + "[" + std::to_string(out.size()) + "]",
                              "expected a number, got " + std::string(type_name(e)));
        }
    }
    return out;
}

std::optional<std::string> Table::path_value(std::string_view key) const {
    auto v = string(key);
    if (!v) return v;
    if (v->empty()) fail(key, "empty path");
    return resolve_relative(doc_->file, *v);
}

namespace {
std::string read_secret(const std::string& path, bool check_mode);
}

std::optional<std::string> Table::secret_file(std::string_view key) const {
    auto p = path_value(key);
    if (!p) return p;
    try {
        const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
        const auto candidate = credential_candidate(creds ? creds : "", *string(key));
        std::error_code ec;
        if (!candidate.empty() && std::filesystem::is_regular_file(candidate, ec)) {
            // systemd's credentials directory is the unit's alone; it may grant the service
            // user read access with an ACL, whose mask then shows as group bits (0440).
            return read_secret(candidate, false);
        }
        return read_secret_file(*p);
    } catch (const std::exception& e) {
        fail(key, e.what());
    }
}

std::optional<Table> Table::table(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return std::nullopt;
    if (!n->is_table()) wrong_type(key, "a table");
    return Table(doc_, n->as_table(), key_path(key));
}

std::vector<Table> Table::tables(std::string_view key) const {
    const auto* n = static_cast<const toml::node*>(node(key));
    if (!n) return {};
    if (!n->is_array() || !n->as_array()->is_array_of_tables()) {
        wrong_type(key, "an array of tables ([[" + key_path(key) + "]])");
    }
    std::vector<Table> out;
    std::size_t i = 0;
    for (const auto& e : *n->as_array()) {
        out.push_back(Table(doc_, e.as_table(), key_path(key) + "[" + std::to_string(i) + "]"));
        ++i;
    }
    return out;
}

std::vector<std::string> Table::keys() const {
    std::vector<std::pair<toml::source_position, std::string>> keyed;
    for (const auto& [k, v] : as_table(table_))
        keyed.emplace_back(k.source().begin, std::string(k.str()));
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
        return std::pair(a.first.line, a.first.column) < std::pair(b.first.line, b.first.column);
    });
    std::vector<std::string> out;
    for (auto& [pos, k] : keyed) out.push_back(std::move(k));
    return out;
}

// ---- Document -------------------------------------------------------------------------------

Document Document::parse(std::string_view text, std::string source_name) {
    auto state = std::make_shared<DocumentState>();
    state->file = std::move(source_name);
    try {
        state->root = toml::parse(text, state->file);
    } catch (const toml::parse_error& e) {
        throw ConfigError(to_location(state->file, e.source()), "",
                          "TOML syntax error: " + std::string(e.description()));
    }
    return Document(std::move(state));
}

Document Document::load_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError({path, 0, 0}, "", std::string("cannot open: ") + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str(), path);
}

Table Document::root() const { return Table(state_, &state_->root, ""); }

const std::string& Document::file() const noexcept { return state_->file; }

void Document::finish() const {
    struct Unknown {
        toml::source_position pos;
        std::string path;
        std::string table_path;
        std::string key;
    };
    std::vector<Unknown> unknown;

    // Walks tables the readers entered; a key nobody asked for is unknown. Values read whole
    // (arrays of strings, say) are not entered.
    auto walk = [&](auto&& self, const toml::table& t, const std::string& path) -> void {
        for (const auto& [k, v] : t) {
            const std::string p = join_path(path, k.str());
            if (!state_->known.contains(p)) {
                unknown.push_back({k.source().begin, p, path, std::string(k.str())});
                continue;
            }
            if (const auto* sub = v.as_table()) {
                self(self, *sub, p);
            } else if (const auto* arr = v.as_array(); arr && arr->is_array_of_tables()) {
                std::size_t i = 0;
                for (const auto& e : *arr) {
                    self(self, *e.as_table(), p + "[" + std::to_string(i) + "]");
                    ++i;
                }
            }
        }
    };
    walk(walk, state_->root, "");
    if (unknown.empty()) return;

    const auto first =
        std::min_element(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) {
            return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
        });
    std::string message = "unknown key";
    if (auto it = state_->asked.find(first->table_path); it != state_->asked.end()) {
        std::string best;
        std::size_t best_d = 3;  // suggest only close matches
        for (const auto& candidate : it->second) {
            const auto d = edit_distance(first->key, candidate);
            if (d < best_d) {
                best_d = d;
                best = candidate;
            }
        }
        if (!best.empty()) message += " (did you mean '" + best + "'?)";
    }
    if (unknown.size() > 1) message += " (and " + std::to_string(unknown.size() - 1) + " more)";
    throw ConfigError({state_->file, first->pos.line, first->pos.column}, first->path, message);
}

std::string credential_candidate(const std::string& dir, const std::string& p) {
    if (dir.empty() || p.empty() || p.front() == '/') return {};
    std::string name = p;
    while (name.rfind("./", 0) == 0) name.erase(0, 2);
    for (auto& c : name) {
        if (c == '/') c = '_';
    }
    return dir + "/" + name;
}

std::string read_secret_file(const std::string& path) { return read_secret(path, true); }

namespace {

std::string read_secret(const std::string& path, bool check_mode) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw std::runtime_error("cannot read secret file '" + path + "': " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw std::runtime_error("secret file '" + path + "' is not a regular file (mode " +
                                 mode_octal(st.st_mode) +
                                 "); point it at a file holding the secret");
    }
    // A secret is a token, a password or a PEM key: kilobytes. A path pointed at a log or a
    // device-sized file by mistake is an error, not a read of all of it into memory.
    constexpr off_t kMaxSecretBytes = 1024 * 1024;
    if (st.st_size > kMaxSecretBytes) {
        throw std::runtime_error("secret file '" + path + "' is " + std::to_string(st.st_size) +
                                 " bytes; a secret file holds at most 1 MiB");
    }
    // Refused, not warned about: a token another local user can read is a token they have, and
    // a warning in a log nobody reads protects nothing. Checked before the read, so a refused
    // secret never enters memory.
    if (check_mode && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw std::runtime_error("secret file '" + path + "' has mode " + mode_octal(st.st_mode) +
                                 ": group or others may access it; run `chmod 600 " + path + "`");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read secret file '" + path + "': " + std::strerror(errno));
    }
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() &&
           (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
        s.pop_back();
    }
    if (s.empty()) throw std::runtime_error("secret file '" + path + "' is empty");
    return s;
}

}  // namespace

}  // namespace hashwatt::config
