#include "common/miner_sample.hpp"

#include "common/enum_names.hpp"

#include <cctype>

namespace hashwatt {
namespace {

constexpr detail::EnumNames<MinerState, 6> kStates{{
    {MinerState::mining, "mining"},
    {MinerState::sleeping, "sleeping"},
    {MinerState::idle, "idle"},
    {MinerState::booting, "booting"},
    {MinerState::error, "error"},
    {MinerState::offline, "offline"},
}};

constexpr detail::EnumNames<PowerSource, 2> kPowerSources{{
    {PowerSource::measured, "measured"},
    {PowerSource::estimated, "estimated"},
}};

constexpr detail::EnumNames<PollError, 9> kPollErrors{{
    {PollError::timeout, "timeout"},
    {PollError::refused, "refused"},
    {PollError::reset, "reset"},
    {PollError::unreachable, "unreachable"},
    {PollError::auth, "auth"},
    {PollError::parse, "parse"},
    {PollError::too_large, "too_large"},
    {PollError::unsupported, "unsupported"},
    {PollError::internal, "internal"},
}};

}  // namespace

std::string_view to_string(MinerState s) noexcept { return detail::enum_name(kStates, s); }
std::string_view to_string(PowerSource s) noexcept { return detail::enum_name(kPowerSources, s); }
std::string_view to_string(PollError e) noexcept { return detail::enum_name(kPollErrors, e); }

std::optional<MinerState> parse_miner_state(std::string_view s) noexcept {
    return detail::enum_parse(kStates, s);
}
std::optional<PowerSource> parse_power_source(std::string_view s) noexcept {
    return detail::enum_parse(kPowerSources, s);
}
std::optional<PollError> parse_poll_error(std::string_view s) noexcept {
    return detail::enum_parse(kPollErrors, s);
}

std::optional<std::string> normalize_mac(std::string_view mac) {
    std::string hex;
    hex.reserve(12);
    for (char c : mac) {
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        } else if (c != ':' && c != '-' && c != '.') {
            return std::nullopt;
        }
    }
    if (hex.size() != 12) return std::nullopt;
    std::string out;
    out.reserve(17);
    for (std::size_t i = 0; i < 12; i += 2) {
        if (i != 0) out.push_back(':');
        out.append(hex, i, 2);
    }
    return out;
}

MinerSample identity_fields(const MinerSample& s) {
    MinerSample id;
    id.make = s.make;
    id.model = s.model;
    id.firmware = s.firmware;
    id.firmware_version = s.firmware_version;
    id.serial = s.serial;
    id.mac = s.mac;
    return id;
}

std::string make_miner_id(std::string_view configured_id, std::string_view mac,
                          std::string_view host, std::uint16_t port) {
    if (!configured_id.empty()) return std::string(configured_id);
    if (auto m = normalize_mac(mac); m && *m != "00:00:00:00:00:00") return *m;
    std::string id(host);
    id += ':';
    id += std::to_string(port);
    return id;
}

}  // namespace hashwatt
