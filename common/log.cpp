#include "common/log.hpp"

#include "common/enum_names.hpp"
#include "common/time.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace hashwatt::log {
namespace {

constexpr detail::EnumNames<Level, 4> kLevels{{
    {Level::debug, "debug"},
    {Level::info, "info"},
    {Level::warn, "warn"},
    {Level::error, "error"},
}};

std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;  // guards g_sink and keeps lines whole when threads log at once
std::function<void(std::string_view)> g_sink;

}  // namespace

std::optional<Level> parse_level(std::string_view s) noexcept {
    if (s == "warning") return Level::warn;
    return detail::enum_parse(kLevels, s);
}
std::string_view to_string(Level l) noexcept { return detail::enum_name(kLevels, l); }

void set_level(Level l) noexcept { g_level.store(l, std::memory_order_relaxed); }
Level level() noexcept { return g_level.load(std::memory_order_relaxed); }

void set_sink(std::function<void(std::string_view)> sink) {
    std::lock_guard lock(g_mutex);
    g_sink = std::move(sink);
}

Field::Field(std::string_view k, double v) : key(k) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    value = buf;
}

void append_value(std::string& out, std::string_view v) {
    bool quote = v.empty();
    for (char c : v) {
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
            quote = true;
            break;
        }
    }
    if (!quote) {
        out += v;
        return;
    }
    out.push_back('"');
    for (char c : v) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

void write(Level l, std::string_view msg, std::initializer_list<Field> fields) {
    std::string line;
    line.reserve(128);
    line += "ts=";
    line += format_time(now_ms());
    line += " level=";
    line += to_string(l);
    line += " msg=";
    append_value(line, msg);
    for (const auto& f : fields) {
        line.push_back(' ');
        line += f.key;
        line.push_back('=');
        append_value(line, f.value);
    }
    line.push_back('\n');
    std::lock_guard lock(g_mutex);
    if (g_sink) {
        g_sink(line);
    } else {
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
}

}  // namespace hashwatt::log
