// One simulated miner: identity, physics, faults and the control state its firmware keeps.
#pragma once

#include "common/miner_sample.hpp"
#include "sim/faults.hpp"
#include "sim/models.hpp"
#include "sim/physics.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace hashwatt::sim {

struct SimPool {
    std::string url;
    std::string user;
};

// What the firmware remembers between requests (besides physics).
struct ControlState {
    // Antminer stock: bitmain-work-mode as get_miner_conf.cgi reports it: 0 normal, 1 sleep,
    // 3 low power.
    int antminer_work_mode = 0;
    // Whatsminer: temporary power percentage (set_power_pct) and the power limit in W.
    int whatsminer_power_pct = 100;
    double whatsminer_power_limit_w = 0;
    // Whatsminer write-API token material handed out by the last get_token.
    std::string whatsminer_newsalt;
    std::string whatsminer_time4;
    TimePoint whatsminer_token_issued{};
    // LuxOS: the open session (empty when none), the active profile name, ATM on/off.
    std::string luxos_session;
    TimePoint luxos_session_used{};
    std::string luxos_profile;
    bool luxos_atm_enabled = true;
    // Braiins OS REST and Vnish API: the bearer token issued by the last login (empty = none).
    std::string api_token;
    TimePoint api_token_issued{};
    // Vnish: the active autotune preset (its name is its power in W).
    std::string vnish_preset;
    // Avalon: WORKMODE 0/1/2.
    int avalon_workmode = 1;
};

struct SimMiner {
    std::uint32_t index = 0;
    std::string id;        // "sim-00001"
    std::uint32_t ip = 0;  // IPv4 in host byte order (127.x.y.z)
    std::string ip_text;   // dotted form
    Family family = Family::antminer;
    const ModelSpec* model = nullptr;
    std::string mac;  // "aa:bb:cc:dd:ee:ff"
    std::string serial;
    std::string hostname;
    std::string firmware_version;  // as this family prints it
    // The password the firmware accepts for writes/logins (web root/root for stock Antminer).
    std::string username;
    std::string password;
    std::vector<SimPool> pools;
    MinerPhysics physics;
    FaultSet faults;
    ControlState control;

    SimMiner(const ModelSpec& m, const PhysicsParams& params, std::uint64_t seed, TimePoint boot)
        : model(&m), physics(m, params, seed, boot) {}

    // The credentials check every front-end uses: a password_changed fault makes any
    // password wrong, as it would after someone changed it on the miner.
    bool password_ok(std::string_view given) const {
        return !faults.has(FaultKind::password_changed) && given == password;
    }
    // A wake as every front-end carries it out: a wake_ignored miner acknowledges it and
    // stays as it is (asleep), as firmware that fails to resume its boards does.
    void wake(TimePoint now) {
        if (!faults.has(FaultKind::wake_ignored)) physics.wake(now);
    }
};

}  // namespace hashwatt::sim
