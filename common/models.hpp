// The model table: what each miner model is (boards, chips, fans, nominal TH/s and W). The
// simulator builds miners from it; the agent estimates power from it when the firmware reports
// none. Figures are the manufacturers' nominal specifications.
#pragma once

#include <span>
#include <string_view>

namespace hashwatt {

// A firmware family: decides which protocols a miner speaks.
enum class FirmwareFamily { antminer, whatsminer, luxos, braiins, avalon, vnish };

std::string_view to_string(FirmwareFamily f) noexcept;
bool parse_family(std::string_view s, FirmwareFamily& out) noexcept;

struct ModelSpec {
    std::string_view key;           // as written in --mix and configs: "s19pro"
    std::string_view name;          // as the firmware reports it: "Antminer S19 Pro"
    std::string_view make;          // "Bitmain", "MicroBT", "Canaan"
    FirmwareFamily default_family;  // the make's own firmware
    int boards;
    int chips_per_board;
    int fans;
    int first_board_index;  // S9 numbers its chains 6..8
    int first_fan_slot;     // S9 reports its two fans in fan5/fan6
    double nominal_ths;
    double nominal_w;
    double min_power_w;  // lowest power target the firmware accepts
    double max_power_w;  // highest
    bool legacy_s9;      // bmminer of the S9 era: `}{` in stats, string hashrates
};

std::span<const ModelSpec> all_models() noexcept;
// nullptr when unknown. Keys are matched case-insensitively, ignoring '-', '_' and ' '.
const ModelSpec* find_model(std::string_view key) noexcept;

// The model named by what a firmware reports ("Antminer S19 Pro", "Bitmain Antminer S19XP",
// "M30S++V10", "AvalonMiner 1246-81"), or nullptr. Hardware sub-revisions are not told apart.
const ModelSpec* find_reported_model(std::string_view reported) noexcept;

// Hash rate at a power target: concave (hash rate ~ power^0.75), so a lower target is more
// efficient (J/TH falls). The simulator's physics and the agent's estimates share it.
double hashrate_at_power(const ModelSpec& m, double watts) noexcept;

// Power a model draws at a hash rate, from the same concave curve the simulator uses
// (hash rate ~ power^0.75): the estimate the agent reports, marked `estimated`, when the firmware
// reports no power. A miner that is not hashing draws `idle_w`.
double estimated_power_w(const ModelSpec& m, double hashrate_ths, double idle_w = 25.0) noexcept;

}  // namespace hashwatt
