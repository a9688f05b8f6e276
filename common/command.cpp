#include "common/command.hpp"

#include "common/enum_names.hpp"

namespace hashwatt {
namespace {

constexpr detail::EnumNames<CommandType, 4> kTypes{{
    {CommandType::sleep, "sleep"},
    {CommandType::wake, "wake"},
    {CommandType::set_power_target, "set_power_target"},
    {CommandType::reboot, "reboot"},
}};

constexpr detail::EnumNames<CommandStatus, 6> kStatuses{{
    {CommandStatus::queued, "queued"},
    {CommandStatus::sent, "sent"},
    {CommandStatus::succeeded, "succeeded"},
    {CommandStatus::failed, "failed"},
    {CommandStatus::unsupported, "unsupported"},
    {CommandStatus::timed_out, "timed_out"},
}};

}  // namespace

std::string_view to_string(CommandType t) noexcept { return detail::enum_name(kTypes, t); }
std::string_view to_string(CommandStatus s) noexcept { return detail::enum_name(kStatuses, s); }
std::optional<CommandType> parse_command_type(std::string_view s) noexcept {
    return detail::enum_parse(kTypes, s);
}
std::optional<CommandStatus> parse_command_status(std::string_view s) noexcept {
    return detail::enum_parse(kStatuses, s);
}

}  // namespace hashwatt
