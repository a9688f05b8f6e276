#include "common/models.hpp"

#include <array>
#include <cctype>
#include <cmath>
#include <string>

namespace hashwatt {
namespace {

using F = FirmwareFamily;

// key, name, make, family, boards, chips/board, fans, first board, first fan slot, TH/s, W,
// min W, max W, legacy S9
constexpr std::array kModels{
    ModelSpec{"s9", "Antminer S9", "Bitmain", F::antminer, 3, 63, 2, 6, 5, 13.5, 1323, 900, 1500,
              true},
    ModelSpec{"s19", "Antminer S19", "Bitmain", F::antminer, 3, 76, 4, 1, 1, 95, 3250, 2200, 3600,
              false},
    ModelSpec{"s19jpro", "Antminer S19j Pro", "Bitmain", F::antminer, 3, 126, 4, 1, 1, 104, 3068,
              2000, 3400, false},
    ModelSpec{"s19pro", "Antminer S19 Pro", "Bitmain", F::antminer, 3, 114, 4, 1, 1, 110, 3250,
              2200, 3600, false},
    ModelSpec{"s19kpro", "Antminer S19k Pro", "Bitmain", F::antminer, 3, 77, 4, 1, 1, 120, 2760,
              1000, 3100, false},
    ModelSpec{"s19xp", "Antminer S19 XP", "Bitmain", F::antminer, 3, 110, 4, 1, 1, 140, 3010, 1800,
              3500, false},
    ModelSpec{"s21", "Antminer S21", "Bitmain", F::antminer, 3, 108, 4, 1, 1, 200, 3500, 2200, 3900,
              false},
    ModelSpec{"s21xp", "Antminer S21 XP", "Bitmain", F::antminer, 3, 91, 4, 1, 1, 270, 3645, 2400,
              4000, false},
    ModelSpec{"m30s++", "M30S++", "MicroBT", F::whatsminer, 3, 117, 2, 0, 1, 112, 3472, 2200, 3600,
              false},
    ModelSpec{"m50", "M50", "MicroBT", F::whatsminer, 3, 105, 2, 0, 1, 118, 3306, 2200, 3600,
              false},
    ModelSpec{"m60", "M60", "MicroBT", F::whatsminer, 3, 111, 2, 0, 1, 172, 3422, 2300, 3800,
              false},
    ModelSpec{"avalon1246", "AvalonMiner 1246", "Canaan", F::avalon, 3, 120, 4, 0, 1, 90, 3420,
              2500, 3500, false},
    ModelSpec{"avalon1366", "AvalonMiner 1366", "Canaan", F::avalon, 3, 120, 4, 0, 1, 130, 3250,
              2400, 3400, false},
};

std::string normalize(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '-' || c == '_' || c == ' ') continue;
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    return out;
}

constexpr std::array<std::pair<FirmwareFamily, std::string_view>, 6> kFamilies{{
    {F::antminer, "antminer"},
    {F::whatsminer, "whatsminer"},
    {F::luxos, "luxos"},
    {F::braiins, "braiins"},
    {F::avalon, "avalon"},
    {F::vnish, "vnish"},
}};

}  // namespace

std::string_view to_string(FirmwareFamily f) noexcept {
    for (const auto& [fam, name] : kFamilies) {
        if (fam == f) return name;
    }
    return "unknown";
}

bool parse_family(std::string_view s, FirmwareFamily& out) noexcept {
    for (const auto& [fam, name] : kFamilies) {
        if (name == s) {
            out = fam;
            return true;
        }
    }
    return false;
}

std::span<const ModelSpec> all_models() noexcept { return kModels; }

const ModelSpec* find_model(std::string_view key) noexcept {
    const std::string k = normalize(key);
    for (const auto& m : kModels) {
        std::string name = normalize(m.name);
        // Also accept the name without its make prefix: "S19 Pro", "1246".
        for (std::string_view prefix : {"antminer", "avalonminer"}) {
            if (name.starts_with(prefix) && k == name.substr(prefix.size())) return &m;
        }
        if (normalize(m.key) == k || name == k) return &m;
    }
    return nullptr;
}

const ModelSpec* find_reported_model(std::string_view reported) noexcept {
    std::string name(reported.substr(0, reported.find(" (")));  // "(vnish 1.2.0)" suffixes
    name = name.substr(0, name.find('\n'));                     // "Antminer S9\nV1.3.58"
    for (std::string_view prefix : {"Bitmain ", "MicroBT ", "Canaan "}) {
        if (name.starts_with(prefix)) name.erase(0, prefix.size());
    }
    if (const auto* m = find_model(name)) return m;
    std::string k = normalize(name);
    // Avalon "1246-81": the suffix after the dash is a revision.
    if (const auto dash = name.rfind('-');
        dash != std::string::npos && k.starts_with("avalonminer")) {
        if (const auto* m = find_model(name.substr(0, dash))) return m;
    }
    // Whatsminer "M30S++V10", "M50VH60": drop the hardware revision after the model.
    if (!k.empty() && k[0] == 'm') {
        for (std::size_t cut = k.size(); cut > 1; --cut) {
            if (k[cut - 1] == 'v') {
                if (const auto* m = find_model(k.substr(0, cut - 1))) return m;
            }
        }
    }
    return nullptr;
}

namespace {
constexpr double kPowerExponent = 0.75;  // halving power keeps ~59% of the hash rate
}  // namespace

double hashrate_at_power(const ModelSpec& m, double watts) noexcept {
    if (!(watts > 0)) return 0;
    return m.nominal_ths * std::pow(watts / m.nominal_w, kPowerExponent);
}

double estimated_power_w(const ModelSpec& m, double hashrate_ths, double idle_w) noexcept {
    if (!(hashrate_ths > 0)) return idle_w;
    return m.nominal_w * std::pow(hashrate_ths / m.nominal_ths, 1.0 / kPowerExponent);
}

}  // namespace hashwatt
