// Vnish web API parsers (agent/drivers/vnish/parse.hpp): /api/v1 summary, info, settings,
// presets and unlock bodies, and the strings read from them. Bad bodies must end in
// VnishParseError.
#include "agent/drivers/vnish/parse.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

using namespace hashwatt;
using namespace hashwatt::agent;

namespace {

template <class F>
void expect_parse_error(F&& f) {
    try {
        f();
    } catch (const VnishParseError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 9);
    if (!in) return 0;
    const std::string_view text = in->rest;
    switch (in->selector) {
        case 0:
        case 1: {  // 0: the summary alone; 1: summary, info, settings
            VnishReplies r;
            if (in->selector == 0) {
                r.summary = text;
            } else {
                const auto p = fuzz::split_parts(text, 3);
                r.summary = p[0].value_or("");
                r.info = p[1];
                r.settings = p[2];
            }
            expect_parse_error([&] {
                const VnishParsed first = parse_vnish(r);
                r.identity = &first.sample;
                (void)parse_vnish(r);
            });
            return 0;
        }
        case 2: {
            const VnishType t = vnish_type(text);
            (void)t;
            (void)vnish_state(text, true);
            (void)vnish_state(text, false);
            return 0;
        }
        case 3:
            (void)vnish_uptime_s(text);
            return 0;
        case 4:
            (void)vnish_version_claims(text);
            return 0;
        case 5:
            expect_parse_error([&] {
                const auto presets = vnish_presets(text);
                (void)vnish_choose_preset(presets, 3000.0);
                (void)vnish_choose_preset(presets, 0.0);
            });
            return 0;
        case 6:
            expect_parse_error([&] { (void)vnish_settings_preset(text); });
            return 0;
        case 7:
            expect_parse_error([&] { (void)vnish_unlock_token(text); });
            return 0;
        default:
            (void)vnish_preset_settings_body(text);
            return 0;
    }
}
