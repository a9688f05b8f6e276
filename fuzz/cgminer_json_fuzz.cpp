// The repair of cgminer's broken JSON (agent/transport/cgminer_json.hpp), which every RPC reply
// of every family goes through first. Checked beyond "no crash": repair_cgminer_json must be
// idempotent on its own output when that output is JSON, and parse_cgminer_json must accept
// what strict JSON accepts (every repair fixes something strict JSON rejects).
#include "agent/transport/cgminer_json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

using namespace hashwatt::agent;
namespace json = boost::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const std::string repaired = repair_cgminer_json(raw);

    json::error_code strict_ec;
    (void)json::parse(raw.substr(0, raw.find('\0')), strict_ec);

    json::value v;
    bool parsed = false;
    try {
        adopt(v, parse_cgminer_json(raw));
        parsed = true;
    } catch (const CgminerJsonError& e) {
        if (e.offset() > repaired.size()) {
            std::fprintf(stderr, "fault offset %zu beyond the repaired text (%zu bytes)\n",
                         e.offset(), repaired.size());
            std::abort();
        }
    }
    if (!strict_ec && !parsed) {
        std::fprintf(stderr, "strict JSON accepted, parse_cgminer_json refused it\n");
        std::abort();
    }
    if (parsed) {
        for (const std::string_view command : {"summary", "stats", "pools", "version"}) {
            if (const json::object* s = multi_section(v, command)) (void)cgminer_status(*s);
        }
        (void)cgminer_status(v);
    }
    return 0;
}
