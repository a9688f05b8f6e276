#include "policies/backtest/engine_step.hpp"

namespace hashwatt::policies::backtest {

PolicyStep engine_step(std::shared_ptr<PolicyEngine> engine, const Fleet& fleet) {
    engine->set_explain(false);
    // The inputs are built once and only their actual point changes between intervals.
    auto inputs = std::make_shared<std::vector<MinerInput>>();
    FleetState names{&fleet, {}};
    for (std::uint32_t c = 0; c < fleet.classes.size(); ++c) {
        for (std::size_t n = 0; n < fleet.classes[c].count; ++n) {
            names.miners.push_back({c, 0, 0, true, {}, {}, 0});
        }
    }
    for (std::size_t i = 0; i < names.miners.size(); ++i) {
        const MinerClass& cls = names.class_of(i);
        MinerInput in;
        in.miner_id = names.miner_id(i);
        in.site = cls.site;
        in.points = cls.points;
        inputs->push_back(std::move(in));
    }
    return [engine, inputs](TimePoint now, double price_per_mwh, const FleetState& actual) {
        auto& in = *inputs;
        if (in.size() != actual.miners.size()) {
            throw std::invalid_argument(
                "engine_step: the fleet has " + std::to_string(actual.miners.size()) +
                " miners, the step was built for " + std::to_string(in.size()));
        }
        for (std::size_t i = 0; i < in.size(); ++i) {
            in[i].actual_index = actual.miners[i].actual;
            in[i].actual = in[i].points[in[i].actual_index].kind;
        }
        PriceInput price;
        price.price_per_mwh = price_per_mwh;
        const auto decisions = engine->decide(now, price, in);
        std::vector<std::size_t> targets(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) {
            targets[i] = decisions[i].change ? decisions[i].target_index : actual.miners[i].target;
        }
        return targets;
    };
}

Constraints constraints_of(const RuleSet& rules) {
    Constraints c;
    c.min_on = rules.safety.min_on;
    c.min_off = rules.safety.min_off;
    const double pue = rules.economics.pue > 0 ? rules.economics.pue : 1.0;
    for (const auto& r : rules.rules) {
        if (r.kind == RuleKind::site_cap) c.caps.push_back({r.site, r.cap_kw / pue});
    }
    return c;
}

}  // namespace hashwatt::policies::backtest
