#include "agent/drivers/bmminer_stats.hpp"

namespace hashwatt::agent {

BmminerStatsBlocks bmminer_stats_blocks(const boost::json::array& stats) noexcept {
    BmminerStatsBlocks b;
    for (const auto& e : stats) {
        const boost::json::object* o = e.if_object();
        if (!o) continue;
        if (!b.version && (o->contains("Type") || o->contains("CompileTime"))) {
            b.version = o;
        } else if (!b.device &&
                   (o->contains("STATS") || o->contains("GHS 5s") || o->contains("Elapsed"))) {
            b.device = o;
        }
    }
    return b;
}

int bmminer_slot(std::string_view key, std::string_view prefix, int max_slot) noexcept {
    if (!key.starts_with(prefix) || key.size() == prefix.size()) return 0;
    int n = 0;
    for (std::size_t i = prefix.size(); i < key.size(); ++i) {
        const char c = key[i];
        if (c < '0' || c > '9' || n > max_slot) return 0;
        n = n * 10 + (c - '0');
    }
    return n >= 1 && n <= max_slot ? n : 0;
}

}  // namespace hashwatt::agent
