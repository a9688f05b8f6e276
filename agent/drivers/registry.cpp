// The one explicit list of drivers. Order matters: detection asks each in turn whether the probe
// replies are its firmware's (PROTOCOLS.md §8: Braiins, Whatsminer, LuxOS, Vnish and other
// Antminer-derived firmware before stock Antminer, whose markers they also carry; Avalon after
// them, as in pyasic's order).
#include "agent/drivers/drivers.hpp"

#include <algorithm>

namespace hashwatt::agent {

const std::vector<const MinerDriver*>& all_drivers() {
    static const std::vector<const MinerDriver*> drivers{
        &braiins_driver(), &whatsminer_driver(), &luxos_driver(),
        &vnish_driver(),   &antminer_driver(),   &avalon_driver(),
    };
    return drivers;
}

const MinerDriver* find_driver(std::string_view name) {
    const auto& all = all_drivers();
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&](const MinerDriver* d) { return d->name() == name; });
    return it == all.end() ? nullptr : *it;
}

}  // namespace hashwatt::agent
