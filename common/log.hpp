// Structured logging: one logfmt line per event on stderr,
//   ts=2026-11-25T09:07:50.123Z level=warn msg="poll failed" miner=aa:bb:.. reason=timeout
// Values that need it are quoted and escaped, so every line splits unambiguously.
#pragma once

#include <concepts>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<Level> parse_level(std::string_view s) noexcept;
std::string_view to_string(Level l) noexcept;

void set_level(Level l) noexcept;
Level level() noexcept;
inline bool enabled(Level l) noexcept { return l >= level(); }

// Replaces stderr as the destination (tests capture lines this way). Pass nullptr to restore.
void set_sink(std::function<void(std::string_view line)> sink);

struct Field {
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
    template <std::integral T>
    Field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, double v);

    std::string_view key;
    std::string value;
};

void write(Level l, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::debug)) write(Level::debug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::info)) write(Level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::warn)) write(Level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
    if (enabled(Level::error)) write(Level::error, msg, f);
}

// Appends `v` to `out` in logfmt form: bare when safe, else double-quoted with escapes.
void append_value(std::string& out, std::string_view v);

}  // namespace hashwatt::log
