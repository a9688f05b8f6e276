// Typed field readers over Boost.JSON replies, shared by the miner drivers' parse functions.
// Firmware differs in small ways (whether a quoted number may carry a '%' or a '+', how large an
// integer it sends, which temperatures are sentinels); those differences are parameters or
// separately named functions here, never a silent choice.
#pragma once

#include "agent/transport/cgminer_json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::agent::json_fields {

// ---------------------------------------------------------------------------------------------
// Numbers written as text.

// The whole of `s` as a finite number with an optional leading '+' ("37603.30", "+5"); nullopt
// for "", "-", "nan", surrounding space or trailing text.
std::optional<double> parse_decimal(std::string_view s) noexcept;

// parse_decimal after trimming ASCII whitespace: how most firmware's quoted numbers read
// (" 69.2461").
std::optional<double> parse_trimmed_decimal(std::string_view s) noexcept;

// How a driver reads a number that arrives as a JSON string.
using TextNumberReader = std::optional<double> (*)(std::string_view) noexcept;

// ---------------------------------------------------------------------------------------------
// Members and values.

// The member `key` of `o`; nullptr when `o` is null or has no such member.
inline const boost::json::value* field(const boost::json::object* o,
                                       std::string_view key) noexcept {
    return o ? o->if_contains(key) : nullptr;
}

// The member `key` of `o` when it is an object / an array; nullptr otherwise.
const boost::json::object* object_at(const boost::json::object* o, std::string_view key) noexcept;
const boost::json::array* array_at(const boost::json::object* o, std::string_view key) noexcept;

// The string `v` holds; empty when `v` is null or not a string (callers treat "" as absent).
inline std::string_view text(const boost::json::value* v) noexcept {
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// A finite number from a JSON number or from a string read by `from_text` (firmware writes
// numbers either way, depending on the build); nullopt for null, bool, objects and non-finite.
std::optional<double> number(const boost::json::value* v,
                             TextNumberReader from_text = &parse_trimmed_decimal) noexcept;

// `d` rounded to an integer; nullopt when absent or beyond +-`limit` (a value no miner reports).
std::optional<std::int64_t> rounded_integer(std::optional<double> d, double limit = 9e18) noexcept;

// A JSON integer taken exactly (no trip through double), else a number (or quoted number) rounded;
// nullopt for a uint64 beyond int64 and anything rounded_integer refuses.
std::optional<std::int64_t> exact_integer(const boost::json::value* v) noexcept;

// ---------------------------------------------------------------------------------------------
// Temperatures and hash rates.

// A chip or board temperature worth reporting: sensors send 0 (absent), -273 / -83 (no or dead
// sensor) and implausible highs, so only 0 < c < 200 passes (PROTOCOLS.md §1 item 15).
constexpr bool plausible_temp_c(double c) noexcept { return c > 0 && c < 200; }
inline std::optional<double> plausible_temp_c(std::optional<double> c) noexcept {
    return c && plausible_temp_c(*c) ? c : std::nullopt;
}

// `acc` raised to `c` when `c` is present and higher (no filtering: filter before).
inline void keep_max(std::optional<double>& acc, std::optional<double> c) noexcept {
    if (c && (!acc || *c > *acc)) acc = c;
}

// `acc` raised to the highest plausible reading of a dash-joined sensor string ("78-50-69-70");
// an empty token makes the next value negative ("2--1-20-22" = 2, -1, 20, 22).
void keep_max_dashed_temp_c(std::optional<double>& acc, std::string_view s) noexcept;

// TH/s per unit of a cgminer rate unit ("GH", "TH", "MH", "KH", "PH"; by its first letter, any
// case); an empty or unknown unit is GH (what total_rateideal means without `rate_unit`).
double ths_per_rate_unit(std::string_view unit) noexcept;

// ---------------------------------------------------------------------------------------------
// cgminer envelopes.

// `o` when it is an object whose STATUS (if it has one) is a success; nullptr otherwise.
inline const boost::json::object* usable(const boost::json::object* o) {
    if (!o) return nullptr;
    if (const auto st = cgminer_status(*o); st && !status_ok(*st)) return nullptr;
    return o;
}

// The first element of the array `section` of `reply` (VERSION, SUMMARY, ...) when it is an
// object; nullptr when the section is absent, not an array, empty or holds no object first.
const boost::json::object* first_item(const boost::json::object* reply, std::string_view section);

// `raw` parsed as a cgminer reply; a reply that is not JSON even after repair throws `Error`
// with "<what>: <reason>", so each driver reports the failure as its own parse error.
template <class Error>
boost::json::value parse_cgminer_reply(std::string_view raw, std::string_view what) {
    try {
        return parse_cgminer_json(raw);
    } catch (const CgminerJsonError& e) {
        throw Error(std::string(what) + ": " + e.what());
    }
}

// The array `section` of `reply` (STATS, POOLS, DEVS, ...); nullptr when `reply` is null or has
// no such member, and `Error` "<command>: <section> is not an array" when it is something else.
template <class Error>
const boost::json::array* array_section(const boost::json::object* reply, std::string_view section,
                                        std::string_view command) {
    const boost::json::value* v = field(reply, section);
    if (!v) return nullptr;
    const boost::json::array* a = v->if_array();
    if (!a) throw Error(std::string(command) + ": " + std::string(section) + " is not an array");
    return a;
}

// A separately polled reply: `raw` parsed into `owner` (which keeps it alive), then `usable`;
// nullptr when the command was not polled (`raw` empty) or answered an error STATUS.
template <class Error>
const boost::json::object* parse_usable_reply(boost::json::value& owner,
                                              std::optional<std::string_view> raw,
                                              std::string_view command) {
    if (!raw) return nullptr;
    adopt(owner, parse_cgminer_reply<Error>(*raw, command));
    return usable(owner.if_object());
}

}  // namespace hashwatt::agent::json_fields
