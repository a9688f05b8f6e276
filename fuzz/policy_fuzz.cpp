// Policy loading (policies/rules.hpp read_policy: the [policy] settings, the price source, the
// [[rule]] tables the engine runs, safety), from policy.toml text. A bad file must end in
// config::ConfigError ("file:line:column: key: message"), never in a crash or another
// exception. (fuzz/config_fuzz.cpp reads the same text too, next to agent and collector
// configs; this target needs only the policy library, so it builds in minutes.)
#include "common/config.hpp"
#include "policies/rules.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace hashwatt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const policies::RuleSet rules =
            policies::read_policy(config::Document::parse(text, "policy.toml"));
        (void)policies::summarize(rules);
    } catch (const config::ConfigError&) {
    }
    return 0;
}
