// TOML configuration loading: agent.toml (agent/config.hpp), collector.toml
// (collector/config/collector_config.hpp) and policy.toml (policies/rules.hpp read_policy, the
// engine's rules, price source and safety settings). A bad file must end in
// config::ConfigError ("file:line:column: key: message"), never in a crash or another exception.
// Secret files the text names are read as the real loaders read them (they are only read).
#include "agent/config.hpp"
#include "collector/config/collector_config.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "fuzz/fuzz_input.hpp"
#include "policies/rules.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace hashwatt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool quiet = [] {
        log::set_level(log::Level::error);  // permission warnings about secret files
        return true;
    }();
    (void)quiet;
    const auto in = fuzz::split_selector(data, size, 3);
    if (!in) return 0;
    const std::string_view text = in->rest;
    try {
        switch (in->selector) {
            case 0:
                (void)agent::parse_agent_config(text, "agent.toml");
                break;
            case 1:
                (void)collector::parse_collector_config(text, "collector.toml");
                break;
            default: {
                const policies::RuleSet rules =
                    policies::read_policy(config::Document::parse(text, "policy.toml"));
                (void)policies::summarize(rules);
                break;
            }
        }
    } catch (const config::ConfigError&) {
    }
    return 0;
}
