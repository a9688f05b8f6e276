// LuxOS reply parsers (agent/drivers/luxos/parse.hpp): the poll replies (joined or separate),
// status, session and profile replies and the control state. Bad replies must end in
// luxos::ParseError.
#include "agent/drivers/luxos/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent::luxos;

namespace {

void read_twice(Replies replies) {
    Reading first;
    try {
        first = read_luxos(replies);
    } catch (const ParseError&) {
        return;
    }
    const MinerSample identity = luxos_identity(first.sample);
    replies.identity = &identity;
    replies.known_profile = first.active_profile;
    replies.known_profile_w = 3000.0;
    try {
        (void)parse_luxos(replies);
    } catch (const ParseError&) {
    }
}

template <class F>
void expect_parse_error(F&& f) {
    try {
        f();
    } catch (const ParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 9);
    if (!in) return 0;
    const std::string_view text = in->rest;
    Replies r;
    switch (in->selector) {
        case 0:
            r.joined = text;
            break;
        case 1: {  // a joined reply plus the separately asked ones
            const auto p = fuzz::split_parts(text, 13);
            r.joined = p[0];
            r.version = p[1];
            r.summary = p[2];
            r.stats = p[3];
            r.devs = p[4];
            r.pools = p[5];
            r.fans = p[6];
            r.temps = p[7];
            r.power = p[8];
            r.config = p[9];
            r.profiles = p[10];
            r.events = p[11];
            break;
        }
        case 2:  // one reply in every separate slot
            r.version = r.summary = r.stats = r.devs = r.pools = r.fans = r.temps = r.power =
                r.config = r.profiles = r.events = text;
            break;
        case 3:
            expect_parse_error([&] { (void)read_status(text, "curtail"); });
            return 0;
        case 4:
            expect_parse_error([&] { (void)read_session_reply(text, "logon"); });
            return 0;
        case 5:
            expect_parse_error([&] {
                const auto profiles = read_profiles(text);
                (void)choose_profile(profiles, 3000.0);
            });
            return 0;
        case 6:
            expect_parse_error([&] { (void)read_control_state(text); });
            return 0;
        case 7: {
            const auto p = fuzz::split_parts(text, 3);
            expect_parse_error(
                [&] { (void)read_control_state(p[0].value_or(""), p[1], p[2].value_or("")); });
            return 0;
        }
        default: {
            const auto p = fuzz::split_parts(text, 2);
            (void)rpc_json(p[0].value_or(""), p[1].value_or(""));
            return 0;
        }
    }
    read_twice(r);
    return 0;
}
