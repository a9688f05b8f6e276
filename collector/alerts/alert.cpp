#include "collector/alerts/alert.hpp"

#include <cstdio>

namespace hashwatt::collector::alerts {

std::string_view to_string(AlertState s) noexcept {
    switch (s) {
        case AlertState::inactive:
            return "inactive";
        case AlertState::pending:
            return "pending";
        case AlertState::firing:
            return "firing";
        case AlertState::resolved:
            return "resolved";
    }
    return "inactive";
}

std::optional<AlertState> parse_alert_state(std::string_view s) noexcept {
    for (auto v :
         {AlertState::inactive, AlertState::pending, AlertState::firing, AlertState::resolved}) {
        if (to_string(v) == s) return v;
    }
    return std::nullopt;
}

std::string_view to_string(Severity s) noexcept {
    switch (s) {
        case Severity::info:
            return "info";
        case Severity::warning:
            return "warning";
        case Severity::critical:
            return "critical";
    }
    return "warning";
}

std::optional<Severity> parse_severity(std::string_view s) noexcept {
    for (auto v : {Severity::info, Severity::warning, Severity::critical}) {
        if (to_string(v) == s) return v;
    }
    return std::nullopt;
}

std::string alert_fingerprint(std::string_view alertname, std::string_view subject) {
    // FNV-1a, 64 bits: fixed by definition, so a fingerprint stays the same across builds and
    // restarts (std::hash promises neither). A NUL separates the parts: ("ab", "c") != ("a", "bc").
    std::uint64_t h = 14695981039346656037ull;
    const auto mix = [&](std::string_view part) {
        for (const char c : part) {
            h ^= static_cast<unsigned char>(c);
            h *= 1099511628211ull;
        }
    };
    mix(alertname);
    mix(std::string_view("\0", 1));
    mix(subject);
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

}  // namespace hashwatt::collector::alerts
