#include "agent/drivers/json_fields.hpp"

#include "agent/drivers/ascii_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace hashwatt::agent::json_fields {

namespace json = boost::json;

std::optional<double> parse_decimal(std::string_view s) noexcept {
    if (s.empty()) return std::nullopt;
    if (s.front() == '+') s.remove_prefix(1);
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::optional<double> parse_trimmed_decimal(std::string_view s) noexcept {
    return parse_decimal(trim_ascii(s));
}

const json::object* object_at(const json::object* o, std::string_view key) noexcept {
    const json::value* v = field(o, key);
    return v ? v->if_object() : nullptr;
}

const json::array* array_at(const json::object* o, std::string_view key) noexcept {
    const json::value* v = field(o, key);
    return v ? v->if_array() : nullptr;
}

std::optional<double> number(const json::value* v, TextNumberReader from_text) noexcept {
    if (!v) return std::nullopt;
    switch (v->kind()) {
        case json::kind::double_: {
            const double d = v->get_double();
            return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
        }
        case json::kind::int64:
            return static_cast<double>(v->get_int64());
        case json::kind::uint64:
            return static_cast<double>(v->get_uint64());
        case json::kind::string:
            return from_text(v->get_string());
        default:
            return std::nullopt;  // null (a bare nan repaired by the transport), bool, containers
    }
}

std::optional<std::int64_t> rounded_integer(std::optional<double> d, double limit) noexcept {
    if (!d || std::fabs(*d) > limit) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(*d));
}

std::optional<std::int64_t> exact_integer(const json::value* v) noexcept {
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) {
        const auto u = v->get_uint64();
        if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    return rounded_integer(number(v));
}

void keep_max_dashed_temp_c(std::optional<double>& acc, std::string_view s) noexcept {
    bool negative = false;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        std::size_t end = s.find('-', pos);
        if (end == std::string_view::npos) end = s.size();
        const std::string_view token = s.substr(pos, end - pos);
        if (token.empty()) {
            negative = true;
        } else {
            if (const auto v = parse_trimmed_decimal(token)) {
                keep_max(acc, plausible_temp_c(std::optional<double>(negative ? -*v : *v)));
            }
            negative = false;
        }
        pos = end + 1;
    }
}

double ths_per_rate_unit(std::string_view unit) noexcept {
    unit = trim_ascii(unit);
    if (unit.empty()) return 1e-3;
    switch (lower_ascii(unit.front())) {
        case 't':
            return 1.0;
        case 'm':
            return 1e-6;
        case 'k':
            return 1e-9;
        case 'p':
            return 1e3;
        default:
            return 1e-3;
    }
}

const json::object* first_item(const json::object* reply, std::string_view section) {
    const json::value* v = field(reply, section);
    if (!v) return nullptr;
    const json::array* a = v->if_array();
    if (!a || a->empty()) return nullptr;
    return a->front().if_object();
}

}  // namespace hashwatt::agent::json_fields
