#include "common/json_codec.hpp"

#include "common/json_writer.hpp"
#include "common/time.hpp"

#include <limits>

#include <boost/json.hpp>

namespace hashwatt {

namespace json = boost::json;

DecodeError::DecodeError(std::string path, const std::string& what)
    : std::runtime_error(path.empty() ? what : path + ": " + what), path_(std::move(path)) {}

std::string_view json_kind_name(const json::value& v) {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "a boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            return "a number";
        case json::kind::string:
            return "a string";
        case json::kind::array:
            return "an array";
        case json::kind::object:
            return "an object";
    }
    return "a value";
}

namespace {

// ---- decoding -------------------------------------------------------------------------------

class Reader;

// An element of an array field, named only when an error needs its path: a batch holds
// thousands of boards and pools, and building "samples[7].boards[2]" for each cost more than
// reading it.
struct ElementRef {
    const Reader* owner = nullptr;
    std::string_view key;
    std::size_t index = 0;
    std::string path() const;
};

// Reads the fields of one JSON object, keeping where it is for error messages.
class Reader {
  public:
    // `path` must outlive the Reader.
    Reader(const json::value& v, std::string_view path) : base_(path) { open(v); }
    Reader(const json::value& v, const ElementRef& at) : at_(at) { open(v); }

    std::string path() const { return at_.owner ? at_.path() : std::string(base_); }

    std::string field_path(std::string_view key) const {
        std::string p = path();
        return p.empty() ? std::string(key) : p + "." + std::string(key);
    }

    // Elements in the array field `key` (0 when absent), to reserve room before each().
    std::size_t count(std::string_view key) const {
        const auto* v = find(key);
        return v && v->is_array() ? v->get_array().size() : 0;
    }

    const json::value* find(std::string_view key) const {
        // The encoder writes the keys in the order they are read (leaving absent ones out), so
        // the entry after the last one found is usually the next asked for: one comparison
        // instead of hashing the key and probing, which was most of decoding's cost. Any other
        // order falls back to the lookup; a parsed object holds each key once, so both agree.
        const json::value* v = nullptr;
        if (cursor_ < obj_->size()) {
            const auto& e = obj_->begin()[cursor_];
            if (e.key() == key) {
                ++cursor_;
                v = &e.value();
            }
        }
        if (v == nullptr) v = obj_->if_contains(key);
        return (v && !v->is_null()) ? v : nullptr;
    }

    const json::value& need(std::string_view key) const {
        const auto* v = find(key);
        if (!v) throw DecodeError(field_path(key), "required field missing");
        return *v;
    }

    [[noreturn]] void wrong(std::string_view key, std::string_view expected,
                            const json::value& got) const {
        throw DecodeError(field_path(key), "expected " + std::string(expected) + ", got " +
                                               std::string(json_kind_name(got)));
    }

    std::string str(std::string_view key) const { return as_string(key, need(key)); }
    std::optional<std::string> opt_str(std::string_view key) const {
        const auto* v = find(key);
        return v ? std::optional(as_string(key, *v)) : std::nullopt;
    }
    double num(std::string_view key) const { return as_double(key, need(key)); }
    std::optional<double> opt_num(std::string_view key) const {
        const auto* v = find(key);
        return v ? std::optional(as_double(key, *v)) : std::nullopt;
    }
    std::int64_t integer(std::string_view key) const { return as_int(key, need(key)); }
    std::optional<std::int64_t> opt_int(std::string_view key) const {
        const auto* v = find(key);
        return v ? std::optional(as_int(key, *v)) : std::nullopt;
    }
    bool boolean(std::string_view key) const {
        const auto& v = need(key);
        if (!v.is_bool()) wrong(key, "a boolean", v);
        return v.get_bool();
    }
    std::optional<bool> opt_bool(std::string_view key) const {
        const auto* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_bool()) wrong(key, "a boolean", *v);
        return v->get_bool();
    }
    TimePoint time(std::string_view key) const {
        auto s = str(key);
        auto t = parse_time(s);
        if (!t) {
            throw DecodeError(
                field_path(key),
                "expected an RFC 3339 time like 2026-01-31T12:00:00.000Z, got '" + s + "'");
        }
        return *t;
    }
    std::optional<TimePoint> opt_time(std::string_view key) const {
        if (!find(key)) return std::nullopt;
        return time(key);
    }

    template <typename E, typename Parse>
    E enumerated(std::string_view key, Parse parse, std::string_view allowed) const {
        auto s = str(key);
        auto e = parse(s);
        if (!e) {
            throw DecodeError(field_path(key),
                              "unknown value '" + s + "' (one of " + std::string(allowed) + ")");
        }
        return *e;
    }
    template <typename E, typename Parse>
    std::optional<E> opt_enumerated(std::string_view key, Parse parse,
                                    std::string_view allowed) const {
        if (!find(key)) return std::nullopt;
        return enumerated<E>(key, parse, allowed);
    }

    // Calls fn(element, ElementRef) for each element of an optional array field.
    template <typename Fn>
    void each(std::string_view key, Fn fn) const {
        const auto* v = find(key);
        if (!v) return;
        if (!v->is_array()) wrong(key, "an array", *v);
        std::size_t i = 0;
        for (const auto& e : v->get_array()) {
            fn(e, ElementRef{this, key, i});
            ++i;
        }
    }

  private:
    void open(const json::value& v) {
        if (!v.is_object()) {
            throw DecodeError(
                path(), std::string("expected an object, got ") + std::string(json_kind_name(v)));
        }
        obj_ = &v.get_object();
    }

    std::string as_string(std::string_view key, const json::value& v) const {
        if (!v.is_string()) wrong(key, "a string", v);
        return std::string(v.get_string());
    }
    double as_double(std::string_view key, const json::value& v) const {
        switch (v.kind()) {
            case json::kind::double_:
                return v.get_double();
            case json::kind::int64:
                return static_cast<double>(v.get_int64());
            case json::kind::uint64:
                return static_cast<double>(v.get_uint64());
            default:
                wrong(key, "a number", v);
        }
    }
    std::int64_t as_int(std::string_view key, const json::value& v) const {
        if (v.is_int64()) return v.get_int64();
        if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(
                                                   std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(v.get_uint64());
        }
        wrong(key, "an integer", v);
    }

    const json::object* obj_ = nullptr;
    mutable std::size_t cursor_ = 0;  // see find()
    std::string_view base_;           // the root's path, when not an element
    ElementRef at_;                   // where this object is, when it is an array element
};

std::string ElementRef::path() const {
    return owner->field_path(key) + "[" + std::to_string(index) + "]";
}

constexpr std::string_view kStateNames = "mining, sleeping, idle, booting, error, offline";
constexpr std::string_view kPowerSourceNames = "measured, estimated";
constexpr std::string_view kPollErrorNames =
    "timeout, refused, reset, unreachable, auth, parse, too_large, unsupported, internal";
constexpr std::string_view kCommandTypeNames = "sleep, wake, set_power_target, reboot";
constexpr std::string_view kCommandStatusNames =
    "queued, sent, succeeded, failed, unsupported, timed_out";

json::value parse_text(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) throw DecodeError("", "invalid JSON: " + ec.message());
    return v;
}

}  // namespace

void write_json(JsonWriter& w, const BoardSample& b) {
    w.begin_object();
    w.field("index", b.index);
    w.field("hashrate_ths", b.hashrate_ths);
    w.field("expected_hashrate_ths", b.expected_hashrate_ths);
    w.field("chip_temp_max_c", b.chip_temp_max_c);
    w.field("board_temp_max_c", b.board_temp_max_c);
    w.field("chips", b.chips);
    w.field("expected_chips", b.expected_chips);
    w.field("hw_errors", b.hw_errors);
    w.field("ok", b.ok);
    w.end_object();
}

void write_json(JsonWriter& w, const MinerSample& s) {
    w.begin_object();
    w.field("miner_id", s.miner_id);
    w.field("site", s.site);
    w.field("host", s.host);
    w.field("port", unsigned{s.port});
    w.field("make", s.make);
    w.field("model", s.model);
    w.field("firmware", s.firmware);
    w.field("firmware_version", s.firmware_version);
    w.field("driver", s.driver);
    w.field("serial", s.serial);
    w.field("mac", s.mac);
    w.field("observed_at", format_time(s.observed_at));
    w.field("poll_duration_ms", s.poll_duration_ms);
    w.field("up", s.up);
    w.field("state", to_string(s.state));
    if (s.error) w.field("error", to_string(*s.error));
    w.field("error_message", s.error_message);
    w.field("hashrate_ths", s.hashrate_ths);
    w.field("hashrate_avg_ths", s.hashrate_avg_ths);
    w.field("expected_hashrate_ths", s.expected_hashrate_ths);
    w.field("power_w", s.power_w);
    if (s.power_source) w.field("power_source", to_string(*s.power_source));
    w.field("power_limit_w", s.power_limit_w);
    if (!s.boards.empty()) {
        w.key("boards");
        w.begin_array();
        for (const auto& b : s.boards) write_json(w, b);
        w.end_array();
    }
    if (!s.fans_rpm.empty()) {
        w.key("fans_rpm");
        w.begin_array();
        for (auto f : s.fans_rpm) w.value(f);
        w.end_array();
    }
    w.field("inlet_temp_c", s.inlet_temp_c);
    w.field("outlet_temp_c", s.outlet_temp_c);
    w.field("hw_errors_total", s.hw_errors_total);
    w.field("uptime_s", s.uptime_s);
    if (!s.pools.empty()) {
        w.key("pools");
        w.begin_array();
        for (const auto& p : s.pools) {
            w.begin_object();
            w.field("url", p.url);
            w.field("user", p.user);
            w.field("active", p.active);
            w.field("alive", p.alive);
            w.field("accepted", p.accepted);
            w.field("rejected", p.rejected);
            w.field("stale", p.stale);
            w.end_object();
        }
        w.end_array();
    }
    if (!s.errors.empty()) {
        w.key("errors");
        w.begin_array();
        for (const auto& e : s.errors) {
            w.begin_object();
            w.field("code", e.code);
            w.field("message", e.message);
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
}

MinerSample sample_from_json(const json::value& v, std::string_view path) {
    const Reader r(v, path);
    MinerSample s;
    s.miner_id = r.str("miner_id");
    if (s.miner_id.empty()) throw DecodeError(r.field_path("miner_id"), "must not be empty");
    s.site = r.opt_str("site");
    s.host = r.str("host");
    const auto port = r.integer("port");
    if (port < 0 || port > 65535) {
        throw DecodeError(r.field_path("port"), "out of range 0..65535: " + std::to_string(port));
    }
    s.port = static_cast<std::uint16_t>(port);
    s.make = r.opt_str("make");
    s.model = r.opt_str("model");
    s.firmware = r.opt_str("firmware");
    s.firmware_version = r.opt_str("firmware_version");
    s.driver = r.opt_str("driver");
    s.serial = r.opt_str("serial");
    s.mac = r.opt_str("mac");
    s.observed_at = r.time("observed_at");
    s.poll_duration_ms = r.opt_num("poll_duration_ms");
    s.up = r.boolean("up");
    s.state = r.enumerated<MinerState>("state", parse_miner_state, kStateNames);
    s.error = r.opt_enumerated<PollError>("error", parse_poll_error, kPollErrorNames);
    s.error_message = r.opt_str("error_message");
    s.hashrate_ths = r.opt_num("hashrate_ths");
    s.hashrate_avg_ths = r.opt_num("hashrate_avg_ths");
    s.expected_hashrate_ths = r.opt_num("expected_hashrate_ths");
    s.power_w = r.opt_num("power_w");
    s.power_source =
        r.opt_enumerated<PowerSource>("power_source", parse_power_source, kPowerSourceNames);
    s.power_limit_w = r.opt_num("power_limit_w");
    s.boards.reserve(r.count("boards"));
    r.each("boards", [&](const json::value& e, const ElementRef& p) {
        const Reader b(e, p);
        BoardSample board;
        const auto index = b.integer("index");
        if (index < std::numeric_limits<int>::min() || index > std::numeric_limits<int>::max()) {
            throw DecodeError(b.field_path("index"), "out of range");
        }
        board.index = static_cast<int>(index);
        board.hashrate_ths = b.opt_num("hashrate_ths");
        board.expected_hashrate_ths = b.opt_num("expected_hashrate_ths");
        board.chip_temp_max_c = b.opt_num("chip_temp_max_c");
        board.board_temp_max_c = b.opt_num("board_temp_max_c");
        board.chips = b.opt_int("chips");
        board.expected_chips = b.opt_int("expected_chips");
        board.hw_errors = b.opt_int("hw_errors");
        board.ok = b.opt_bool("ok");
        s.boards.push_back(std::move(board));
    });
    s.fans_rpm.reserve(r.count("fans_rpm"));
    r.each("fans_rpm", [&](const json::value& e, const ElementRef& p) {
        if (e.is_int64()) {
            s.fans_rpm.push_back(e.get_int64());
        } else if (e.is_uint64() &&
                   e.get_uint64() <=
                       static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            s.fans_rpm.push_back(static_cast<std::int64_t>(e.get_uint64()));
        } else {
            throw DecodeError(p.path(),
                              "expected an integer, got " + std::string(json_kind_name(e)));
        }
    });
    s.inlet_temp_c = r.opt_num("inlet_temp_c");
    s.outlet_temp_c = r.opt_num("outlet_temp_c");
    s.hw_errors_total = r.opt_int("hw_errors_total");
    s.uptime_s = r.opt_int("uptime_s");
    s.pools.reserve(r.count("pools"));
    r.each("pools", [&](const json::value& e, const ElementRef& p) {
        const Reader pr(e, p);
        PoolSample pool;
        pool.url = pr.str("url");
        pool.user = pr.opt_str("user");
        pool.active = pr.opt_bool("active");
        pool.alive = pr.opt_bool("alive");
        pool.accepted = pr.opt_int("accepted");
        pool.rejected = pr.opt_int("rejected");
        pool.stale = pr.opt_int("stale");
        s.pools.push_back(std::move(pool));
    });
    r.each("errors", [&](const json::value& e, const ElementRef& p) {
        const Reader er(e, p);
        s.errors.push_back({er.opt_str("code"), er.str("message")});
    });
    return s;
}

void write_json(JsonWriter& w, const Command& c) {
    w.begin_object();
    w.field("id", c.id);
    w.field("miner_id", c.miner_id);
    w.field("type", to_string(c.type));
    w.field("power_target_w", c.power_target_w);
    w.field("created_at", format_time(c.created_at));
    if (c.deadline) w.field("deadline", format_time(*c.deadline));
    w.end_object();
}

Command command_from_json(const json::value& v, std::string_view path) {
    const Reader r(v, path);
    Command c;
    c.id = r.str("id");
    c.miner_id = r.str("miner_id");
    c.type = r.enumerated<CommandType>("type", parse_command_type, kCommandTypeNames);
    c.power_target_w = r.opt_num("power_target_w");
    if (c.type == CommandType::set_power_target && !c.power_target_w) {
        throw DecodeError(r.field_path("power_target_w"), "required for set_power_target");
    }
    if (c.power_target_w && !(*c.power_target_w > 0)) {
        throw DecodeError(r.field_path("power_target_w"), "must be a positive number of watts");
    }
    c.created_at = r.time("created_at");
    c.deadline = r.opt_time("deadline");
    return c;
}

void write_json(JsonWriter& w, const CommandResult& r) {
    w.begin_object();
    w.field("command_id", r.command_id);
    w.field("miner_id", r.miner_id);
    w.field("status", to_string(r.status));
    w.field("message", r.message);
    w.field("finished_at", format_time(r.finished_at));
    w.end_object();
}

CommandResult command_result_from_json(const json::value& v, std::string_view path) {
    const Reader r(v, path);
    CommandResult res;
    res.command_id = r.str("command_id");
    res.miner_id = r.str("miner_id");
    res.status = r.enumerated<CommandStatus>("status", parse_command_status, kCommandStatusNames);
    res.message = r.opt_str("message");
    res.finished_at = r.time("finished_at");
    return res;
}

namespace {

template <typename T>
std::string encode(const T& v) {
    std::string out;
    out.reserve(512);
    JsonWriter w(out);
    write_json(w, v);
    return out;
}

}  // namespace

std::string encode_sample(const MinerSample& s) { return encode(s); }
std::string encode_command(const Command& c) { return encode(c); }
std::string encode_command_result(const CommandResult& r) { return encode(r); }

MinerSample decode_sample(std::string_view text) { return sample_from_json(parse_text(text)); }

}  // namespace hashwatt
