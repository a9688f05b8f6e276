// Reading the sample `hashwatt poll --json` prints, for the end-to-end suites. An absent (or
// null) field reads as a value no check expects (`kAbsent`, NaN, "<absent>"), so a missing field
// fails the comparison that names it instead of throwing out of the test case.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace hashwatt::test {

// What `integer` and `ths_3dp` read for a field that is absent or not a number.
inline constexpr std::int64_t kAbsent = std::numeric_limits<std::int64_t>::min();

// The field is present and not null.
inline bool has(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && !v->is_null();
}

// A string field's text; any other value as compact JSON ("true", "4028").
inline std::string str(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || v->is_null()) return "<absent>";
    return v->is_string() ? std::string(v->get_string()) : boost::json::serialize(*v);
}

// A number field as a double; NaN when absent or not a number.
inline double num(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : std::nan("");
}

// An integer field; kAbsent when absent or not an integer.
inline std::int64_t integer(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && (v->is_int64() || v->is_uint64()) ? v->to_number<std::int64_t>() : kAbsent;
}

// A TH/s figure to 3 decimals, as an integer count of GH/s so the comparison is exact:
// 110.56689 -> 110567; kAbsent when absent.
inline std::int64_t ths_3dp(const boost::json::object& o, std::string_view key) {
    const double v = num(o, key);
    return std::isnan(v) ? kAbsent : std::llround(v * 1000);
}

// A boolean field that is present and true.
inline bool flag(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_bool() && v->get_bool();
}

// The value at `key` as compact JSON, for whole-value comparisons with readable failure
// messages: fans_rpm -> "[6000,5880,5040,5040]".
inline std::string text(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v ? boost::json::serialize(*v) : "<absent>";
}

// The array at `key`; the test case stops if it is missing.
inline const boost::json::array& array_of(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    REQUIRE_MESSAGE((v && v->is_array()), key << " missing or not an array");
    return v->get_array();
}

// The miner-level maximum of a per-board temperature (the wire format has no overall field);
// NaN when no board reports it.
inline double max_over_boards(const boost::json::object& s, std::string_view key) {
    double best = std::nan("");
    for (const auto& b : array_of(s, "boards")) {
        const double t = num(b.as_object(), key);
        if (!std::isnan(t) && (std::isnan(best) || t > best)) best = t;
    }
    return best;
}

}  // namespace hashwatt::test
