// Helpers for front-ends that speak cgminer's JSON RPC: the STATUS envelope, error replies and
// multi-command joining, written the way cgminer's api.c writes them.
#pragma once

#include "common/json_writer.hpp"
#include "common/miner_sample.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::sim {

std::int64_t unix_seconds(TimePoint t);

// Writes the key and value
// `"STATUS":[{"STATUS":"S","When":..,"Code":..,"Msg":..,"Description":..}]` into an open object.
void write_status(JsonWriter& w, char status, int code, std::string_view msg,
                  std::string_view description, TimePoint now);

// A complete reply with only a STATUS section (errors, acknowledgements):
// {"STATUS":[...],"id":1}
std::string status_reply(char status, int code, std::string_view msg, std::string_view description,
                         TimePoint now);

// cgminer's "Invalid command" (code 14) reply.
std::string invalid_command_reply(std::string_view description, TimePoint now);

// Joins a multi-command "a+b+c" the way cgminer does: {"a":[<reply a>],"b":[<reply b>],"id":1}.
// `one` answers a single command with its full reply text. Returns nullopt when `command` has
// no '+'.
std::optional<std::string> join_multi_command(
    std::string_view command, const std::function<std::string(std::string_view)>& one);

}  // namespace hashwatt::sim
