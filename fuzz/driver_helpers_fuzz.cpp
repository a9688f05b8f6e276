// The helpers the miner parsers share (agent/drivers/): bmminer_stats (STATS layout, slot
// keys), cgminer_pools (POOLS entries) and json_fields (quoted numbers, dashed sensor strings,
// rate units, sections). Input JSON goes through parse_cgminer_json first, as in the drivers.
#include "agent/drivers/bmminer_stats.hpp"
#include "agent/drivers/cgminer_pools.hpp"
#include "agent/drivers/json_fields.hpp"
#include "agent/transport/cgminer_json.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <boost/json/value.hpp>

using namespace hashwatt;
using namespace hashwatt::agent;
namespace json = boost::json;

namespace {

struct HelperError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Every number reader on every member of `o`, as the parsers read the fields they know.
void read_fields(const json::object& o) {
    for (const auto& kv : o) {
        const json::value* v = &kv.value();
        (void)json_fields::number(v);
        (void)json_fields::number(v, &json_fields::parse_decimal);
        (void)json_fields::exact_integer(v);
        (void)json_fields::rounded_integer(json_fields::number(v), 1e6);
        (void)json_fields::plausible_temp_c(json_fields::number(v));
        const std::string_view t = json_fields::text(v);
        std::optional<double> acc;
        json_fields::keep_max_dashed_temp_c(acc, t);
        (void)json_fields::ths_per_rate_unit(t);
        (void)bmminer_slot(kv.key(), "chain_acn", 16);
        (void)bmminer_slot(kv.key(), "fan", 8);
    }
}

void read_reply(std::string_view text) {
    json::value reply;
    try {
        adopt(reply, json_fields::parse_cgminer_reply<HelperError>(text, "stats"));
    } catch (const HelperError&) {
        return;
    }
    const json::object* o = reply.if_object();
    (void)json_fields::usable(o);
    for (const std::string_view section : {"STATS", "POOLS", "SUMMARY", "DEVS"}) {
        const json::array* a = nullptr;
        try {
            a = json_fields::array_section<HelperError>(o, section, "stats");
        } catch (const HelperError&) {
            continue;
        }
        if (!a) continue;
        (void)json_fields::first_item(o, section);
        const BmminerStatsBlocks blocks = bmminer_stats_blocks(*a);
        if (blocks.version) read_fields(*blocks.version);
        if (blocks.device) read_fields(*blocks.device);
        for (const auto& e : *a) {
            if (const json::object* item = e.if_object()) {
                (void)cgminer_pool(*item, &json_fields::exact_integer);
                read_fields(*item);
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 4);
    if (!in) return 0;
    const std::string_view text = in->rest;
    switch (in->selector) {
        case 0:
            read_reply(text);
            return 0;
        case 1:
            (void)json_fields::parse_decimal(text);
            (void)json_fields::parse_trimmed_decimal(text);
            return 0;
        case 2: {
            std::optional<double> acc;
            json_fields::keep_max_dashed_temp_c(acc, text);
            return 0;
        }
        default:
            (void)json_fields::ths_per_rate_unit(text);
            (void)bmminer_slot(text, "chain_acn", 16);
            (void)bmminer_slot(text, "temp2_", 4);
            return 0;
    }
}
