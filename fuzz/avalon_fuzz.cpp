// Canaan Avalon reply parsers (agent/drivers/avalon/parse.hpp): the RPC replies, the MM ID
// strings inside estats and the ascset replies. Bad replies must end in AvalonParseError.
#include "agent/drivers/avalon/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent;

namespace {

void parse_twice(AvalonReplies replies) {
    MinerSample first;
    try {
        first = parse_avalon(replies);
    } catch (const AvalonParseError&) {
        return;
    }
    replies.identity = &first;
    try {
        (void)parse_avalon(replies);
    } catch (const AvalonParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 11);
    if (!in) return 0;
    const std::string_view text = in->rest;
    AvalonReplies r;
    switch (in->selector) {
        case 0:
            r.joined = text;
            break;
        case 1:
            r.version = text;
            break;
        case 2:
            r.summary = text;
            break;
        case 3:
            r.stats = text;
            break;
        case 4:
            r.pools = text;
            break;
        case 5: {  // joined, version, summary, stats, pools
            const auto p = fuzz::split_parts(text, 5);
            r.joined = p[0];
            r.version = p[1];
            r.summary = p[2];
            r.stats = p[3];
            r.pools = p[4];
            break;
        }
        case 6:
            for (const auto& t : avalon_mm_tokens(text)) (void)avalon_numbers(t.value);
            return 0;
        case 7:
            for (const std::string_view option : {"softoff", "softon", "workmode", "led"}) {
                try {
                    (void)parse_avalon_ascset(text, option);
                } catch (const AvalonParseError&) {
                }
            }
            return 0;
        case 8:
            (void)avalon_ascset_info(text);
            return 0;
        case 9: {
            const auto p = fuzz::split_parts(text, 2);
            (void)avalon_model_name(p[0].value_or(""), p[1].value_or(""));
            return 0;
        }
        default:
            (void)avalon_numbers(text);
            return 0;
    }
    parse_twice(r);
    return 0;
}
