// The simulator reads the shared model table (common/models.hpp) under its own names.
#pragma once

#include "common/models.hpp"

namespace hashwatt::sim {

using Family = FirmwareFamily;
using hashwatt::all_models;
using hashwatt::find_model;
using hashwatt::hashrate_at_power;
using hashwatt::ModelSpec;
using hashwatt::parse_family;
using hashwatt::to_string;

}  // namespace hashwatt::sim
