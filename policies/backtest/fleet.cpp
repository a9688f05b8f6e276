#include "policies/backtest/fleet.hpp"

#include "policies/economics.hpp"

#include <algorithm>
#include <set>

namespace hashwatt::policies::backtest {

std::size_t Fleet::miner_count() const noexcept {
    std::size_t n = 0;
    for (const auto& c : classes) n += c.count;
    return n;
}

std::vector<OperatingPoint> points_for_class(const ModelSpec& model, double measured_ths,
                                             double measured_w, bool offer_reduced,
                                             double standby_w) {
    // The engine's own operating points (policies/economics.hpp), so that a backtest offers a
    // class exactly what the live control loop would offer a miner of that model.
    PointOptions o;
    o.power_targets = offer_reduced;
    o.sleep_w = standby_w;
    if (measured_ths <= 0 && measured_w <= 0) return operating_points(model, o);
    const double w = measured_w > 0 ? measured_w : model.nominal_w;
    const double ths = measured_ths > 0 ? measured_ths : hashrate_at_power(model, w);
    return measured_operating_points(ths, w, &model, o);
}

Fleet read_fleet(const config::Document& doc) {
    const auto root = doc.root();
    Fleet fleet;
    if (auto e = root.table("economics")) {
        Economics econ;
        const auto hashprice = e->number("hashprice_per_th_day", 0, 100);
        if (!hashprice) e->fail("hashprice_per_th_day", "required in [economics]");
        econ.hashprice_per_th_day = *hashprice;
        econ.pool_fee = e->number("pool_fee", 0, 0.99).value_or(0);
        econ.pue = e->number("pue", 1, 5).value_or(1);
        fleet.economics = econ;
    }
    const auto miners = root.tables("miners");
    if (miners.empty()) root.fail("miners", "a fleet needs at least one [[miners]] entry");
    std::set<std::string> names;
    for (const auto& t : miners) {
        MinerClass c;
        c.model = t.required_string("model");
        const ModelSpec* spec = find_model(c.model);
        if (!spec) t.fail("model", "unknown model '" + c.model + "' (see common/models.hpp)");
        const auto count = t.integer("count", 1, 10'000'000);
        if (!count) t.fail("count", "required: how many miners of this kind");
        c.count = static_cast<std::size_t>(*count);
        c.site = t.string("site");
        if (c.site && c.site->empty()) t.fail("site", "must not be empty");
        c.name = t.string("name").value_or(std::string(spec->key));
        if (c.name.empty()) t.fail("name", "must not be empty");
        if (!names.insert(c.name).second) {
            if (t.has("name")) t.fail("name", "'" + c.name + "' is used by another [[miners]]");
            // Two unnamed entries of one model: tell their ids apart by position.
            c.name += "." + std::to_string(names.size());
            names.insert(c.name);
        }
        const double ths = t.number("hashrate_ths", 0.001, 100'000).value_or(0);
        const double w = t.number("power_w", 1, 100'000).value_or(0);
        const double standby = t.number("standby_w", 0, 1'000).value_or(15.0);
        if (w > 0 && standby >= w) t.fail("standby_w", "must be below power_w");
        const bool reduced = t.boolean("reduced").value_or(true);
        c.points = points_for_class(*spec, ths, w, reduced, standby);
        if (auto d = t.duration("wake_time", Duration::zero(), std::chrono::hours(24))) {
            c.wake_time = *d;
        }
        if (auto d = t.duration("sleep_time", Duration::zero(), std::chrono::hours(24))) {
            c.sleep_time = *d;
        }
        fleet.classes.push_back(std::move(c));
    }
    doc.finish();
    return fleet;
}

Fleet load_fleet_file(const std::string& path) {
    return read_fleet(config::Document::load_file(path));
}

Fleet parse_fleet(std::string_view text, std::string source_name) {
    return read_fleet(config::Document::parse(text, std::move(source_name)));
}

}  // namespace hashwatt::policies::backtest
