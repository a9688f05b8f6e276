#include "agent/drivers/cgminer_pools.hpp"

#include "agent/drivers/json_fields.hpp"

#include <string>

namespace hashwatt::agent {

PoolSample cgminer_pool(const boost::json::object& o, PoolCountReader count) {
    PoolSample p;
    p.url = std::string(json_fields::text(o.if_contains("URL")));
    if (const auto* u = o.if_contains("User"); u && u->is_string()) {
        p.user = std::string(u->get_string());
    }
    if (const auto* st = o.if_contains("Status"); st && st->is_string()) {
        p.alive = st->get_string() == "Alive";
    }
    if (const auto* sa = o.if_contains("Stratum Active"); sa && sa->is_bool()) {
        p.active = sa->get_bool();
    }
    p.accepted = count(o.if_contains("Accepted"));
    p.rejected = count(o.if_contains("Rejected"));
    p.stale = count(o.if_contains("Stale"));
    return p;
}

}  // namespace hashwatt::agent
