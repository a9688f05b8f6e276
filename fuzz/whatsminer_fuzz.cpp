// Whatsminer (btminer API v2 and v3) reply parsers (agent/drivers/whatsminer/parse.hpp): the
// poll replies, the follow-ups, token and write replies (the encrypted form too). Bad replies
// must end in whatsminer::ParseError or an "unreadable" result, never in a crash or a hang.
#include "agent/drivers/whatsminer/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent::whatsminer;

namespace {

void read_twice(const WhatsminerReplies& replies) {
    WhatsminerReading first;
    try {
        first = read_whatsminer(replies);
    } catch (const ParseError&) {
        return;
    }
    (void)first.wants_status();
    (void)whatsminer_identity(first.sample);
    try {
        WhatsminerReading second = read_whatsminer(replies, &first.sample);
        add_whatsminer_followups(second, replies.status, replies.get_error_code);
    } catch (const ParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 14);
    if (!in) return 0;
    const std::string_view text = in->rest;
    WhatsminerReplies r;
    switch (in->selector) {
        case 0:
            r.joined = text;
            break;
        case 1:
            r.summary = text;
            break;
        case 2: {  // separate replies: summary, devs, pools
            const auto p = fuzz::split_parts(text, 3);
            r.summary = p[0];
            r.devs = p[1];
            r.pools = p[2];
            break;
        }
        case 3: {  // everything: joined, then identity and follow-up replies
            const auto p = fuzz::split_parts(text, 9);
            r.joined = p[0];
            r.summary = p[1];
            r.devs = p[2];
            r.pools = p[3];
            r.devdetails = p[4];
            r.get_version = p[5];
            r.get_miner_info = p[6];
            r.status = p[7];
            r.get_error_code = p[8];
            break;
        }
        case 4: {  // a joined poll plus one identity or follow-up reply
            const auto p = fuzz::split_parts(text, 2);
            r.joined = p[0];
            r.devdetails = p[1];
            r.get_version = p[1];
            r.get_miner_info = p[1];
            r.status = p[1];
            r.get_error_code = p[1];
            break;
        }
        case 5:
            (void)read_token_reply(text);
            return 0;
        case 6: {
            const std::array<std::uint8_t, 32> key{1, 2, 3, 4, 5, 6, 7, 8};
            (void)read_write_reply(text, key);
            return 0;
        }
        case 7:
            (void)looks_like_whatsminer_v3(text);
            return 0;
        case 8:
            try {
                (void)parse_whatsminer_v3_device_info(text);
            } catch (const ParseError&) {
            }
            return 0;
        case 9:
            (void)whatsminer_model_name(text);
            return 0;
        case 10:
            (void)whatsminer_error_message(text);
            return 0;
        default: {  // follow-ups applied to an empty reading: status, get_error_code
            const auto p = fuzz::split_parts(text, 2);
            WhatsminerReading reading;
            try {
                add_whatsminer_followups(reading, p[0], p[1]);
            } catch (const ParseError&) {
            }
            return 0;
        }
    }
    read_twice(r);
    return 0;
}
