// Route patterns for the HTTP metrics' route label. A path's variable segments (miner ids,
// agent ids, command ids) become placeholders so that the label has a fixed, small set of
// values however many miners there are.
#include "collector/api/routes.hpp"

#include <array>
#include <cstddef>

namespace hashwatt::collector {

namespace {

// Splits "/a/b/c" into at most N segments; false when there are more (or the path is not
// absolute).
template <std::size_t N>
bool split(std::string_view path, std::array<std::string_view, N>& seg, std::size_t& n) {
    n = 0;
    if (path.empty() || path.front() != '/') return false;
    path.remove_prefix(1);
    while (!path.empty()) {
        if (n == N) return false;
        const auto slash = path.find('/');
        seg[n++] = path.substr(0, slash);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return true;
}

}  // namespace

std::string_view route_pattern(std::string_view path) {
    constexpr std::string_view unmatched = "unmatched";
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") return path;
    std::array<std::string_view, 5> seg{};
    std::size_t n = 0;
    if (!split(path, seg, n) || n < 3 || seg[0] != "api" || seg[1] != "v1") return unmatched;
    for (std::size_t i = 0; i < n; ++i) {
        if (seg[i].empty()) return unmatched;
    }
    if (n == 3 && seg[2] == "ingest") return "/api/v1/ingest";
    if (n == 3 && seg[2] == "miners") return "/api/v1/miners";
    if (n == 3 && seg[2] == "sites") return "/api/v1/sites";
    if (n == 4 && seg[2] == "miners") return "/api/v1/miners/{id}";
    if (n == 5 && seg[2] == "miners" && seg[4] == "samples") return "/api/v1/miners/{id}/samples";
    if (n == 5 && seg[2] == "agents" && seg[4] == "commands") {
        return "/api/v1/agents/{agent_id}/commands";
    }
    if (n == 3 && seg[2] == "alerts") return "/api/v1/alerts";
    if (n == 4 && seg[2] == "alerts") return "/api/v1/alerts/{fingerprint}";
    if (n == 5 && seg[2] == "alerts" && seg[4] == "ack") return "/api/v1/alerts/{fingerprint}/ack";
    if (n == 5 && seg[2] == "alerts" && seg[4] == "silence") {
        return "/api/v1/alerts/{fingerprint}/silence";
    }
    if (n == 3 && seg[2] == "commands") return "/api/v1/commands";
    if (n == 4 && seg[2] == "commands") return "/api/v1/commands/{id}";
    if (n == 5 && seg[2] == "commands" && seg[4] == "result") return "/api/v1/commands/{id}/result";
    return unmatched;
}

}  // namespace hashwatt::collector
