// Reading the JSON that cgminer-family daemons (bmminer, BOSminer, LUXminer, btminer, Avalon
// cgminer) send on TCP 4028. Their replies are built by string concatenation and are often not
// valid JSON (the faults handled here are those seen in real captures, tests/fixtures/). These
// functions are pure: bytes in, values out.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace hashwatt::agent {

// Repairs the known firmware faults so that a strict JSON parser accepts the text. One linear
// pass; the only allocation is the result (a plain copy when nothing needed repair).
//
// - Everything from the first NUL byte on is dropped (cgminer ends each reply with one NUL).
// - Outside string literals:
//     `}{` -> `},{` (bmminer/Hiveon `stats`), also with whitespace between;
//     a string followed by a string -> a comma between (btminer `""temp0`);
//     `[,` -> `[`; `,}` -> `}` and `,]` -> `]` (whitespace between allowed);
//     the bare tokens nan, inf, infinity in any letter case, optionally signed with `-` or `+`,
//     -> `null` (Avalon `"MHS av":nan`).
//   Whitespace, including raw newlines, tabs and CRs, is left as it is.
// - Inside string literals (backslash escapes honoured, so `\"` does not end a string):
//     `\'` -> `'` (btminer); raw control characters -> `\n`, `\r`, `\t` or `\u00XX`.
//   Nothing else inside a string is changed: `"a}{b"` and `"x nan"` come out as they went in.
// Text that is not JSON at all stays not JSON; bytes after the first value are kept (repaired
// like the rest) and left for the parser to ignore.
std::string repair_cgminer_json(std::string_view raw);

// No JSON value could be read from a reply.
class CgminerJsonError : public std::runtime_error {
  public:
    CgminerJsonError(const std::string& what, std::size_t offset);
    // Byte offset of the fault in the *repaired* text (the same as in the raw text when no
    // repair applied before that point).
    std::size_t offset() const noexcept { return offset_; }

  private:
    std::size_t offset_;
};

// Parses the first complete JSON value of the text repair_cgminer_json would give and ignores
// whatever follows it (S9k `version` replies end in `}"}`). Throws CgminerJsonError when the text
// holds no complete value (empty, truncated, or a syntax error inside the first value).
// Every repair fixes something strict JSON rejects, so the raw bytes (up to a NUL) are parsed
// first, in place; only when that fails is the text repaired and parsed again. Text whose first
// value is valid JSON therefore costs one parse and no copy.
//
// Memory: the value keeps its elements in one arena (a Boost.JSON monotonic_resource) that it
// owns through a shared storage_ptr, so it stays valid after the call. Copies of the value or of
// its parts share that arena and keep it alive; it is freed as a whole when the last of them goes
// (memory released by changing them is not reused before). The arena is not thread-safe: do not
// copy or change the value and its copies from two threads at once. Initialise a variable from
// the result (`json::value v = parse_cgminer_json(..)`, or return it): assigning it to an
// existing value that has other storage (`json::value v; v = parse_cgminer_json(..)`) copies
// every element into that storage.
//
// Duplicate keys in an object: the LAST occurrence wins. This is what Boost.JSON 1.81 does by
// itself (the later value replaces the earlier one, which keeps its position in the object), so
// no normalisation is needed; the unit tests pin it in case a Boost upgrade changes it.
// Strings with invalid UTF-8 are accepted as they are (a miner's pool user name should not make
// the whole reply unreadable). Nesting is limited to Boost.JSON's default depth of 32.
boost::json::value parse_cgminer_json(std::string_view raw);

// Puts `parsed` in `target`'s place together with its arena. Plain assignment between values
// on different storage copies every element into the target's (heap) storage, which would undo
// the arena's saving for callers that declare the value before parsing into it.
inline void adopt(boost::json::value& target, boost::json::value&& parsed) noexcept {
    std::destroy_at(&target);
    std::construct_at(&target, std::move(parsed));
}

// The sub-reply for `command` in a multi-command reply such as
// `{"summary":[{"STATUS":[...],"SUMMARY":[...],"id":1}],"stats":[{...}],"id":1}`, where each
// sub-reply is wrapped in a one-element array (an unwrapped object is accepted too). nullptr when
// `reply` is not an object, has no such key, or the value there is not (an array starting with)
// an object. `command` is matched exactly, as it was sent ("summary", not "SUMMARY").
const boost::json::object* multi_section(const boost::json::value& reply, std::string_view command);

// The status envelope of a reply.
struct CgminerStatus {
    char code = '\0';         // 'S' success, 'I' info, 'W' warning, 'E' error, 'F' fatal
    int number = 0;           // "Code"; 0 when the reply has none
    std::string msg;          // "Msg"; empty when absent or (Whatsminer flat form) an object
    std::string description;  // "Description", usually the daemon and its version
};

// Reads either the standard envelope
//   "STATUS":[{"STATUS":"S","When":..,"Code":11,"Msg":"Summary","Description":"cgminer 1.0.0"}]
// or Whatsminer's flat one, where the envelope fields sit beside the payload:
//   "STATUS":"S","When":..,"Code":131,"Msg":{...},"Description":"whatsminer v1.3"
// nullopt when there is no STATUS or its letter is missing. A Code sent as a string of digits is
// read too. For a multi-command reply, pass the sub-reply (multi_section).
std::optional<CgminerStatus> cgminer_status(const boost::json::value& reply);
std::optional<CgminerStatus> cgminer_status(const boost::json::object& reply);

// 'S' and 'I' are success (Avalon `ascset` answers a successful set with 'I').
inline bool status_ok(const CgminerStatus& s) noexcept { return s.code == 'S' || s.code == 'I'; }

}  // namespace hashwatt::agent
