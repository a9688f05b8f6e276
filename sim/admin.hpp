// The simulator's admin API (loopback HTTP): list miners, read one's TRUE state, inject and
// clear faults. Tests use the true state to check what the agent saw. See docs/simulator.md.
#pragma once

#include "sim/fleet.hpp"
#include "sim/frontend.hpp"

namespace hashwatt::sim {

class SimServer;

HttpResponse handle_admin(Fleet& fleet, SimServer& server, const HttpRequest& req, TimePoint now);

}  // namespace hashwatt::sim
