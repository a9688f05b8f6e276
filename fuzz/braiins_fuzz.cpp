// Braiins OS reply parsers (agent/drivers/braiins/parse.hpp): BOSminer's RPC replies and the
// REST bodies of Braiins OS 25.07+. Bad replies must end in BraiinsParseError.
#include "agent/drivers/braiins/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent;

namespace {

void parse_twice(BraiinsReplies replies) {
    MinerSample first;
    try {
        first = parse_braiins(replies);
    } catch (const BraiinsParseError&) {
        return;
    }
    replies.identity = &first;
    try {
        (void)parse_braiins(replies);
    } catch (const BraiinsParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 10);
    if (!in) return 0;
    const std::string_view text = in->rest;
    BraiinsReplies r;
    switch (in->selector) {
        case 0:
            r.joined = text;
            break;
        case 1: {  // an RPC summary plus one more RPC reply in every slot
            const auto p = fuzz::split_parts(text, 2);
            r.summary = p[0];
            r.version = r.devs = r.temps = r.fans = r.pools = r.tunerstatus = r.devdetails = p[1];
            break;
        }
        case 2: {  // separate RPC replies
            const auto p = fuzz::split_parts(text, 9);
            r.joined = p[0];
            r.version = p[1];
            r.summary = p[2];
            r.devs = p[3];
            r.temps = p[4];
            r.fans = p[5];
            r.pools = p[6];
            r.tunerstatus = p[7];
            r.devdetails = p[8];
            break;
        }
        case 3: {  // REST bodies: details, stats, hashboards, cooling, configuration, pools
            const auto p = fuzz::split_parts(text, 6);
            r.details = p[0];
            r.stats = p[1];
            r.hashboards = p[2];
            r.cooling = p[3];
            r.configuration = p[4];
            r.rest_pools = p[5];
            break;
        }
        case 4:  // one REST body in every slot
            r.details = r.stats = r.hashboards = r.cooling = r.configuration = r.rest_pools = text;
            break;
        case 5:
            (void)braiins_miner_status(text);
            return 0;
        case 6:
            (void)braiins_has_rest(text);
            return 0;
        case 7:
            (void)braiins_power_constraints(text);
            return 0;
        case 8:
            (void)braiins_login_token(text);
            return 0;
        default:
            (void)braiins_model_name(text);
            return 0;
    }
    parse_twice(r);
    return 0;
}
