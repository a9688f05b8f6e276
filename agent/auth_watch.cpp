#include "agent/auth_watch.hpp"

#include "agent/poller.hpp"
#include "common/log.hpp"

#include <algorithm>
#include <string>

namespace hashwatt::agent {

bool is_auth_failure(std::string_view message) noexcept { return message.starts_with("auth:"); }

bool refused_credentials(const MinerSample& s) noexcept {
    if (s.error == PollError::auth) return true;
    return std::any_of(s.errors.begin(), s.errors.end(),
                       [](const MinerErrorReport& e) { return e.code == "auth"; });
}

void note_auth_state(PollTarget& t, AuthSource source, bool refused, std::string_view detail) {
    bool& was = source == AuthSource::poll ? t.poll_auth_refused : t.command_auth_refused;
    if (was == refused) return;
    was = refused;
    const std::string family = t.driver ? std::string(t.driver->name()) : t.driver_name;
    const std::string address = t.endpoint.host + ":" + std::to_string(t.endpoint.rpc_port);
    const std::string_view op = source == AuthSource::poll ? "poll" : "command";
    const std::string miner = t.miner_id.empty() ? address : t.miner_id;
    if (refused) {
        log::warn("miner refused the credentials; check password_file", {{"miner", miner},
                                                                         {"address", address},
                                                                         {"family", family},
                                                                         {"operation", op},
                                                                         {"error", detail}});
    } else {
        log::info("miner accepts the credentials again",
                  {{"miner", miner}, {"address", address}, {"family", family}, {"operation", op}});
    }
}

}  // namespace hashwatt::agent
