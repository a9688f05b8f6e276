#include "sim/cgminer.hpp"

#include <set>

namespace hashwatt::sim {

std::int64_t unix_seconds(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void write_status(JsonWriter& w, char status, int code, std::string_view msg,
                  std::string_view description, TimePoint now) {
    w.key("STATUS");
    w.begin_array();
    w.begin_object();
    w.field("STATUS", std::string_view(&status, 1));
    w.field("When", unix_seconds(now));
    w.field("Code", code);
    w.field("Msg", msg);
    w.field("Description", description);
    w.end_object();
    w.end_array();
}

std::string status_reply(char status, int code, std::string_view msg, std::string_view description,
                         TimePoint now) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    write_status(w, status, code, msg, description, now);
    w.field("id", 1);
    w.end_object();
    return out;
}

std::string invalid_command_reply(std::string_view description, TimePoint now) {
    return status_reply('E', 14, "Invalid command", description, now);
}

std::optional<std::string> join_multi_command(
    std::string_view command, const std::function<std::string(std::string_view)>& one) {
    if (command.find('+') == std::string_view::npos) return std::nullopt;
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    std::set<std::string_view> seen;  // cgminer answers a repeated member once
    std::size_t start = 0;
    while (start <= command.size()) {
        const std::size_t end = std::min(command.find('+', start), command.size());
        const std::string_view part = command.substr(start, end - start);
        if (!part.empty() && seen.insert(part).second) {
            w.key(part);
            w.begin_array();
            w.raw(one(part));
            w.end_array();
        }
        start = end + 1;
    }
    w.field("id", 1);
    w.end_object();
    return out;
}

}  // namespace hashwatt::sim
