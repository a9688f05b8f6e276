// Stock Antminer reply parsers (agent/drivers/antminer/parse.hpp): the RPC replies, the web
// CGI bodies and the strings read from them. Bad replies must end in AntminerParseError, never
// in a crash, a hang or another exception.
#include "agent/drivers/antminer/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent;

namespace {

// Parses, then parses again with the first sample as the cached identity (the driver's
// second poll), which takes the paths that fill identity from an earlier poll.
void parse_twice(AntminerReplies replies) {
    MinerSample first;
    try {
        first = parse_antminer(replies);
    } catch (const AntminerParseError&) {
        return;
    }
    replies.identity = &first;
    try {
        MinerSample second = parse_antminer(replies);
        apply_antminer_web_state(second, replies.miner_conf, replies.web_summary);
    } catch (const AntminerParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 14);
    if (!in) return 0;
    const std::string_view text = in->rest;
    AntminerReplies r;
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
        case 5:
            r.system_info = text;
            break;
        case 6:
            r.miner_conf = text;
            break;
        case 7:
            r.web_summary = text;
            break;
        case 8: {  // every reply at once: version, summary, stats, pools, then the web bodies
            const auto p = fuzz::split_parts(text, 8);
            r.joined = p[0];
            r.version = p[1];
            r.summary = p[2];
            r.stats = p[3];
            r.pools = p[4];
            r.system_info = p[5];
            r.miner_conf = p[6];
            r.web_summary = p[7];
            break;
        }
        case 9: {
            const auto p = fuzz::split_parts(text, 2);
            MinerSample s;
            s.state = MinerState::mining;
            apply_antminer_web_state(s, p[0], p[1]);
            return 0;
        }
        case 10:
            (void)antminer_work_mode(text);
            return 0;
        case 11:
            for (const int mode : {0, 1, 3}) {
                try {
                    (void)antminer_set_conf_body(text, mode, mode == 1);
                } catch (const AntminerParseError&) {
                }
            }
            return 0;
        case 12:
            try {
                (void)antminer_set_conf_ok(text);
            } catch (const AntminerParseError&) {
            }
            return 0;
        default: {
            const auto p = fuzz::split_parts(text, 2);
            (void)antminer_model_name(p[0].value_or(""));
            (void)antminer_firmware(p[0].value_or(""), p[1].value_or(""));
            return 0;
        }
    }
    parse_twice(r);
    return 0;
}
