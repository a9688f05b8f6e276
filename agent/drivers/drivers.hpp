// Every driver, one folder each. The registry (registry.cpp) lists them in detection order.
#pragma once

#include "agent/drivers/driver.hpp"

namespace hashwatt::agent {

const MinerDriver& antminer_driver();
const MinerDriver& braiins_driver();
const MinerDriver& whatsminer_driver();
const MinerDriver& avalon_driver();
const MinerDriver& luxos_driver();
const MinerDriver& vnish_driver();

}  // namespace hashwatt::agent
