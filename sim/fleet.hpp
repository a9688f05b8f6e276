// A simulated fleet: its configuration (from sim.toml and/or flags) and its miners.
#pragma once

#include "common/units.hpp"
#include "sim/miner.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace hashwatt::sim {

struct MixEntry {
    const ModelSpec* model = nullptr;
    Family family = Family::antminer;
    int count = 0;
};

struct ScheduledFault {
    std::string miner;  // id ("sim-00007") or IP
    FaultKind kind = FaultKind::offline;
    FaultParams params;
    Duration at{};                     // after start
    std::optional<Duration> duration;  // cleared after this long; absent = stays
};

struct FleetConfig {
    int miners = 10;
    std::vector<MixEntry> mix;  // counts sum to `miners` after normalize()
    std::uint64_t seed = 1;
    std::string base_ip = "127.1.0.1";
    std::uint16_t rpc_port = 4028;
    std::uint16_t http_port = 80;  // 0 = pick a free port (shared listener only)
    std::string admin_listen = "127.0.0.1:0";
    PhysicsParams physics;
    std::vector<ScheduledFault> faults;
    // Passwords the simulated firmware accepts (the agent's config must match).
    std::string antminer_web_password = "root";
    std::string whatsminer_password = "admin";
    std::string braiins_password = "root";
    std::string vnish_password = "admin";
};

// Parses "s19pro:40,s21:30,m30s++:20,avalon1246:10" (weights, scaled to `miners`); a model may
// name its firmware: "s19pro@luxos:10". Throws std::invalid_argument with the bad part.
std::vector<MixEntry> parse_mix(std::string_view text);

// The default mix when none is given: the "s19pro:40,s21:30,m30s++:20,avalon1246:10".
std::vector<MixEntry> default_mix();

// Loads sim.toml (strict: unknown keys are errors with their location). Flags given on the
// command line are applied by the caller afterwards.
FleetConfig load_fleet_config(const std::string& path);

// Builds one miner with the identity, credentials and firmware strings of its family.
std::unique_ptr<SimMiner> make_miner(const ModelSpec& model, Family family, std::uint32_t index,
                                     std::uint32_t ip, const FleetConfig& cfg, TimePoint boot);

// Address arithmetic over 127.0.0.0/8 that skips .0 and .255 host parts.
std::optional<std::uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(std::uint32_t ip);

class Fleet {
  public:
    // Throws std::invalid_argument when the addresses would leave 127.0.0.0/8.
    Fleet(FleetConfig cfg, TimePoint start);

    const FleetConfig& config() const noexcept { return cfg_; }
    std::vector<std::unique_ptr<SimMiner>>& miners() noexcept { return miners_; }
    SimMiner* by_ip(std::uint32_t ip) noexcept;
    SimMiner* by_id_or_ip(std::string_view key) noexcept;

  private:
    FleetConfig cfg_;
    std::vector<std::unique_ptr<SimMiner>> miners_;
    std::unordered_map<std::uint32_t, SimMiner*> by_ip_;
};

}  // namespace hashwatt::sim
