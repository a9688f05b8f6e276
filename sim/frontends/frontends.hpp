// The front-end of each firmware family (one file each in this folder).
#pragma once

#include "sim/frontend.hpp"

namespace hashwatt::sim {

const Frontend& antminer_frontend();
const Frontend& whatsminer_frontend();
const Frontend& luxos_frontend();
const Frontend& braiins_frontend();
const Frontend& avalon_frontend();
const Frontend& vnish_frontend();

}  // namespace hashwatt::sim
