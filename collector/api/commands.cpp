// The command routes: operators create commands, agents long-poll for theirs and report what
// came of them. Every write goes through the single writer; the long poll waits on the
// server's io_context for a wake-up from the create route, never polling the store.
#include "collector/api/commands.hpp"

#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "common/units.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <memory>
#include <set>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::collector {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kDefaultWait = std::chrono::seconds(25);
constexpr auto kMaxWait = std::chrono::seconds(60);
constexpr double kDefaultDeadlineS = 600;
constexpr double kMinDeadlineS = 10;
constexpr double kMaxDeadlineS = 86400;

struct BadRequest {
    std::string message;
    std::string path;
};

Reply bad_request(const BadRequest& e) {
    return json_error(400, e.path.empty() ? e.message : e.path + ": " + e.message, e.path);
}

Reply method_not_allowed(std::string_view allow) {
    Reply r = json_error(405, "method not allowed; use " + std::string(allow));
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

Reply rejected(const CommandRejected& e) {
    unsigned status = 400;
    switch (e.reason()) {
        case CommandRejected::Reason::invalid:
            status = 400;
            break;
        case CommandRejected::Reason::unknown_miner:
        case CommandRejected::Reason::no_match:
        case CommandRejected::Reason::unknown_command:
            status = 404;
            break;
        case CommandRejected::Reason::no_agent:
        case CommandRejected::Reason::already_final:
            status = 409;
            break;
    }
    return json_error(status, e.what(), e.path());
}

Reply queue_full() {
    Reply r = json_error(503, "the store's write queue is full; retry later");
    r.headers.emplace_back("Retry-After", "1");
    return r;
}

// What a write job on the writer thread reports back to the connection's coroutine.
struct WriteOutcome {
    bool queued = false;
    std::exception_ptr error;
};

// Runs `job` on the writer thread and resumes on the caller's executor once it ran (queued,
// error = what it threw) or at once when the queue is full (queued = false).
template <typename CompletionToken>
auto async_write_job(StoreWriter& writer, StoreWriter::WriteJob job, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(WriteOutcome)>(
        [&writer](auto handler, StoreWriter::WriteJob j) {
            using Handler = decltype(handler);
            auto ex = asio::get_associated_executor(handler);
            auto shared = std::make_shared<Handler>(std::move(handler));
            bool accepted = false;
            try {
                accepted =
                    writer.try_submit_write(std::move(j), [shared, ex](std::exception_ptr e) {
                        asio::post(ex, [shared, e]() mutable {
                            std::move (*shared)(WriteOutcome{true, e});
                        });
                    });
            } catch (...) {
                auto e = std::current_exception();  // shut down
                asio::post(ex, [shared, e]() mutable {
                    std::move (*shared)(WriteOutcome{true, e});
                });
                return;
            }
            if (!accepted) {
                asio::post(ex, [shared]() mutable { std::move (*shared)(WriteOutcome{}); });
            }
        },
        token, std::move(job));
}

void write_time(JsonWriter& w, std::string_view k, const std::optional<TimePoint>& t) {
    if (t) w.field(k, format_time(*t));
}

void write_record(JsonWriter& w, const CommandRecord& c) {
    w.begin_object();
    w.field("id", c.command.id);
    w.field("miner_id", c.command.miner_id);
    w.field("agent_id", c.agent_id);
    w.field("type", to_string(c.command.type));
    w.field("power_target_w", c.command.power_target_w);
    write_time(w, "created_at", c.command.created_at);
    write_time(w, "deadline", c.command.deadline);
    w.field("status", to_string(c.status));
    write_time(w, "sent_at", c.sent_at);
    write_time(w, "finished_at", c.finished_at);
    w.field("message", c.message);
    w.field("verified", c.verified_at.has_value());
    write_time(w, "verified_at", c.verified_at);
    if (c.agent_status) {
        w.key("agent_result");
        w.begin_object();
        w.field("status", to_string(*c.agent_status));
        w.field("message", c.agent_message);
        write_time(w, "finished_at", c.agent_finished_at);
        w.end_object();
    }
    w.end_object();
}

std::string records_json(const std::vector<CommandRecord>& v) {
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("commands");
    w.begin_array();
    for (const auto& c : v) write_record(w, c);
    w.end_array();
    w.end_object();
    return out;
}

std::string kind_error(std::string_view want, const json::value& v) {
    return "expected " + std::string(want) + ", got " + std::string(json_kind_name(v));
}

// The body of POST /api/v1/commands. Unknown fields are refused: a misspelt selector or
// deadline must not silently fall back to a default.
CommandRequest decode_request(const json::value& doc) {
    if (!doc.is_object()) throw BadRequest{kind_error("a JSON object", doc), ""};
    const auto& obj = doc.get_object();
    for (const auto& [k, v] : obj) {
        if (k != "type" && k != "power_target_w" && k != "miners" && k != "site" && k != "labels" &&
            k != "deadline_s") {
            throw BadRequest{
                "unknown field (type, power_target_w, miners, site, labels, "
                "deadline_s)",
                std::string(k)};
        }
    }
    CommandRequest r;
    const auto* type = obj.if_contains("type");
    if (type == nullptr || type->is_null()) throw BadRequest{"required field missing", "type"};
    if (!type->is_string()) throw BadRequest{kind_error("a string", *type), "type"};
    const auto parsed = parse_command_type(type->get_string());
    if (!parsed) {
        throw BadRequest{"unknown command type \"" + std::string(type->get_string()) +
                             "\" (sleep, wake, set_power_target, reboot)",
                         "type"};
    }
    r.type = *parsed;

    if (const auto* p = obj.if_contains("power_target_w"); p != nullptr && !p->is_null()) {
        if (!p->is_number()) throw BadRequest{kind_error("a number", *p), "power_target_w"};
        r.power_target_w = p->to_number<double>();
        if (r.type != CommandType::set_power_target) {
            throw BadRequest{"only for set_power_target", "power_target_w"};
        }
        if (!(*r.power_target_w > 0) || !std::isfinite(*r.power_target_w)) {
            throw BadRequest{"must be a number of watts above 0", "power_target_w"};
        }
    } else if (r.type == CommandType::set_power_target) {
        throw BadRequest{"required for set_power_target", "power_target_w"};
    }

    int selectors = 0;
    if (const auto* m = obj.if_contains("miners"); m != nullptr && !m->is_null()) {
        ++selectors;
        if (!m->is_array()) throw BadRequest{kind_error("an array of miner ids", *m), "miners"};
        const auto& arr = m->get_array();
        if (arr.empty()) throw BadRequest{"names no miner", "miners"};
        for (std::size_t i = 0; i < arr.size(); ++i) {
            const std::string path = "miners[" + std::to_string(i) + "]";
            if (!arr[i].is_string()) throw BadRequest{kind_error("a string", arr[i]), path};
            if (arr[i].get_string().empty()) throw BadRequest{"empty miner id", path};
            r.selector.miners.emplace_back(arr[i].get_string());
        }
    }
    if (const auto* s = obj.if_contains("site"); s != nullptr && !s->is_null()) {
        ++selectors;
        if (!s->is_string()) throw BadRequest{kind_error("a string", *s), "site"};
        r.selector.site = std::string(s->get_string());
    }
    if (const auto* l = obj.if_contains("labels"); l != nullptr && !l->is_null()) {
        ++selectors;
        if (!l->is_object()) throw BadRequest{kind_error("an object", *l), "labels"};
        if (l->get_object().empty()) throw BadRequest{"names no label", "labels"};
        for (const auto& [k, v] : l->get_object()) {
            if (!v.is_string()) {
                throw BadRequest{kind_error("a string", v), "labels." + std::string(k)};
            }
            r.selector.labels.emplace(std::string(k), std::string(v.get_string()));
        }
    }
    if (selectors != 1) {
        throw BadRequest{
            "give exactly one of miners, site or labels (got " + std::to_string(selectors) + ")",
            selectors == 0 ? "miners" : ""};
    }

    double deadline_s = kDefaultDeadlineS;
    if (const auto* d = obj.if_contains("deadline_s"); d != nullptr && !d->is_null()) {
        if (!d->is_number()) throw BadRequest{kind_error("a number", *d), "deadline_s"};
        deadline_s = d->to_number<double>();
        if (!(deadline_s >= kMinDeadlineS && deadline_s <= kMaxDeadlineS)) {
            throw BadRequest{"must be between 10 and 86400 seconds", "deadline_s"};
        }
    }
    r.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(deadline_s * 1000));
    return r;
}

// Runs `job` on the writer. nullopt when it ran; else the answer: 503 when the queue is full or
// the store failed (logged as `failure` with the key/value that names what, answered with
// `retry_message`), the refusal's 4xx for a CommandRejected.
asio::awaitable<std::optional<Reply>> run_write(const CommandRoutes& ctx, StoreWriter::WriteJob job,
                                                std::string failure, std::string retry_message,
                                                std::string key = {}, std::string value = {}) {
    const WriteOutcome out =
        co_await async_write_job(ctx.writer, std::move(job), asio::use_awaitable);
    if (!out.queued) co_return queue_full();
    if (!out.error) co_return std::nullopt;
    try {
        std::rethrow_exception(out.error);
    } catch (const CommandRejected& e) {
        co_return rejected(e);
    } catch (const std::exception& e) {
        if (key.empty()) {
            log::error(failure, {{"error", e.what()}});
        } else {
            log::error(failure, {{key, value}, {"error", e.what()}});
        }
        co_return json_error(503, retry_message);
    }
}

asio::awaitable<Reply> create_route(const CommandRoutes& ctx, const std::string& body) {
    CommandRequest request;
    try {
        json::error_code ec;
        json::value doc = json::parse(body, ec);
        if (ec) co_return json_error(400, "malformed JSON: " + ec.message());
        request = decode_request(doc);
    } catch (const BadRequest& e) {
        co_return bad_request(e);
    }
    auto created = std::make_shared<std::vector<CommandRecord>>();
    // A named job, moved in: GCC 12 destroys a temporary in a co_await expression twice.
    StoreWriter::WriteJob job = [request, created](Store& store) {
        *created = store.create_commands(request, now_ms());
    };
    if (auto refused = co_await run_write(ctx, std::move(job), "creating commands failed",
                                          "commands could not be stored; retry later")) {
        co_return std::move(*refused);
    }
    std::set<std::string> agents;
    for (const auto& c : *created) agents.insert(c.agent_id);
    for (const auto& a : agents) ctx.hub.notify(a);
    log::info("commands created",
              {{"type", to_string(request.type)}, {"count", std::to_string(created->size())}});
    co_return json_reply(201, records_json(*created));
}

Reply list_route(const CommandRoutes& ctx, const boost::urls::url_view& url) {
    CommandFilter f;
    for (const auto& p : url.params()) {
        if (p.key == "miner") {
            f.miner_id = std::string(p.value);
        } else if (p.key == "agent") {
            f.agent_id = std::string(p.value);
        } else if (p.key == "status") {
            f.status = parse_command_status(p.value);
            if (!f.status) {
                return json_error(400,
                                  "status: expected queued, sent, succeeded, failed, "
                                  "unsupported or timed_out",
                                  "status");
            }
        } else if (p.key == "limit") {
            try {
                f.limit = parse_limit(p.value);
            } catch (const BadParam& e) {
                return json_error(400, e.name + ": " + e.why, e.name);
            }
        } else {
            return json_error(
                400, p.key + ": unknown query parameter (miner, agent, status, limit)", p.key);
        }
    }
    return json_reply(200, records_json(ctx.store.commands(f)));
}

std::optional<std::chrono::milliseconds> parse_wait(const boost::urls::url_view& url,
                                                    std::string& error) {
    std::chrono::milliseconds wait = kDefaultWait;
    for (const auto& p : url.params()) {
        if (p.key != "wait") {
            error = p.key + ": unknown query parameter (wait)";
            return std::nullopt;
        }
        std::string why;
        auto d = parse_duration(p.value, &why);
        if (!d) {
            error = "wait: expected a duration such as 25s (" + why + ")";
            return std::nullopt;
        }
        if (*d > kMaxWait) {
            error = "wait: at most 60s";
            return std::nullopt;
        }
        wait = *d;
    }
    return wait;
}

asio::awaitable<Reply> long_poll_route(const CommandRoutes& ctx, const std::string& agent_id,
                                       std::chrono::milliseconds wait) {
    const auto until = SteadyClock::now() + wait;
    for (;;) {
        // A stopping server takes nothing: the answer could not be delivered, and a command
        // marked sent but never received would only be settled at its deadline.
        if (ctx.hub.stopped()) co_return json_reply(200, R"({"commands":[]})");
        const std::uint64_t seen = ctx.hub.generation();
        auto taken = std::make_shared<std::vector<Command>>();
        StoreWriter::WriteJob job = [agent_id, taken](Store& store) {
            *taken = store.take_pending(agent_id, now_ms());
        };
        if (auto refused = co_await run_write(ctx, std::move(job), "taking commands failed",
                                              "commands could not be read; retry later", "agent_id",
                                              agent_id)) {
            co_return std::move(*refused);
        }
        if (!taken->empty() || ctx.hub.stopped() || SteadyClock::now() >= until) {
            std::string body;
            JsonWriter w(body);
            w.begin_object();
            w.key("commands");
            w.begin_array();
            for (const auto& c : *taken) write_json(w, c);
            w.end_array();
            w.end_object();
            co_return json_reply(200, std::move(body));
        }
        // Created while the store was being read: look again rather than wait.
        if (ctx.hub.generation() != seen) continue;
        co_await ctx.hub.wait(agent_id, until);
    }
}

asio::awaitable<Reply> result_route(const CommandRoutes& ctx, const Token& caller,
                                    const std::string& id, const std::string& body) {
    const auto existing = ctx.store.command(id);
    if (!existing) co_return json_error(404, "unknown command \"" + id + "\"");
    if (caller.role == Role::agent && caller.agent_id != existing->agent_id) {
        co_return json_error(403, "command \"" + id + "\" belongs to agent \"" +
                                      existing->agent_id + "\", not to \"" + caller.agent_id +
                                      "\"");
    }
    CommandResult result;
    try {
        json::error_code ec;
        json::value doc = json::parse(body, ec);
        if (ec) co_return json_error(400, "malformed JSON: " + ec.message());
        result = command_result_from_json(doc);
    } catch (const DecodeError& e) {
        co_return json_error(400, e.what(), e.path());
    }
    if (result.command_id != id) {
        co_return json_error(400,
                             "command_id: \"" + result.command_id +
                                 "\" is not the command in the path (\"" + id + "\")",
                             "command_id");
    }
    if (result.status == CommandStatus::queued) {
        co_return json_error(400,
                             "status: an agent reports sent, succeeded, failed, unsupported or "
                             "timed_out",
                             "status");
    }
    auto recorded = std::make_shared<CommandRecord>();
    StoreWriter::WriteJob job = [result, recorded](Store& store) {
        const auto now = now_ms();
        *recorded = store.record_result(result, now);
        // The samples may already show it: settle it now rather than at the next batch.
        if (!is_final(recorded->status)) {
            const std::vector<std::string> miner{recorded->command.miner_id};
            store.verify_commands(now, &miner);
            if (auto again = store.command(recorded->command.id)) *recorded = *again;
        }
    };
    if (auto refused =
            co_await run_write(ctx, std::move(job), "recording a command result failed",
                               "the result could not be stored; retry later", "id", id)) {
        co_return std::move(*refused);
    }
    std::string reply;
    JsonWriter w(reply);
    w.begin_object();
    w.key("command");
    write_record(w, *recorded);
    w.end_object();
    co_return json_reply(200, std::move(reply));
}

std::vector<std::string> segments(const boost::urls::url_view& url) {
    std::vector<std::string> seg;
    for (auto s : url.segments()) seg.push_back(std::string(s));
    return seg;
}

}  // namespace

void CommandHub::notify(const std::string& agent_id) {
    ++generation_;
    auto it = waiters_.find(agent_id);
    if (it == waiters_.end()) return;
    for (auto* t : it->second) t->cancel();
}

asio::awaitable<void> CommandHub::wait(const std::string& agent_id, SteadyClock::time_point until) {
    if (stopped_) co_return;
    asio::steady_timer timer(ex_, until);
    auto& list = waiters_[agent_id];
    auto entry = list.insert(list.end(), &timer);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // stop() may have cleared the map meanwhile.
    if (auto it = waiters_.find(agent_id); it != waiters_.end()) {
        it->second.erase(entry);
        if (it->second.empty()) waiters_.erase(it);
    }
}

void CommandHub::stop() {
    stopped_ = true;
    for (auto& [agent, list] : waiters_) {
        for (auto* t : list) t->cancel();
    }
}

bool is_command_route(std::string_view path) {
    return path == "/api/v1/commands" || path.starts_with("/api/v1/commands/") ||
           (path.starts_with("/api/v1/agents/") && path.ends_with("/commands"));
}

asio::awaitable<Reply> handle_commands(const CommandRoutes& ctx, const Token& caller,
                                       http::verb method, const boost::urls::url_view& url,
                                       const std::string& body) {
    const auto seg = segments(url);
    const bool get = method == http::verb::get;
    const bool post = method == http::verb::post;
    try {
        // /api/v1/agents/{agent_id}/commands: the agent's long poll.
        if (seg.size() == 5 && seg[2] == "agents" && seg[4] == "commands" && !seg[3].empty()) {
            if (!get) co_return method_not_allowed("GET");
            if (caller.role == Role::read) {
                co_return json_error(403, "role read may not fetch commands; use an agent token");
            }
            if (caller.role == Role::agent && caller.agent_id != seg[3]) {
                co_return json_error(403, "this token belongs to agent \"" + caller.agent_id +
                                              "\" and may not fetch the commands of \"" + seg[3] +
                                              "\"");
            }
            std::string error;
            const auto wait = parse_wait(url, error);
            if (!wait) co_return json_error(400, error, "wait");
            co_return co_await long_poll_route(ctx, seg[3], *wait);
        }
        if (seg.size() == 3 && seg[2] == "commands") {
            if (post) {
                if (caller.role != Role::admin) {
                    co_return json_error(403, "only role admin may create commands");
                }
                co_return co_await create_route(ctx, body);
            }
            if (!get) co_return method_not_allowed("GET, POST");
            if (caller.role == Role::agent) {
                co_return json_error(403, "role agent may not read; use a read token");
            }
            co_return list_route(ctx, url);
        }
        if (seg.size() == 4 && seg[2] == "commands" && !seg[3].empty()) {
            if (!get) co_return method_not_allowed("GET");
            if (caller.role == Role::agent) {
                co_return json_error(403, "role agent may not read; use a read token");
            }
            auto c = ctx.store.command(seg[3]);
            if (!c) co_return json_error(404, "unknown command \"" + seg[3] + "\"");
            std::string out;
            JsonWriter w(out);
            w.begin_object();
            w.key("command");
            write_record(w, *c);
            w.end_object();
            co_return json_reply(200, std::move(out));
        }
        if (seg.size() == 5 && seg[2] == "commands" && seg[4] == "result" && !seg[3].empty()) {
            if (!post) co_return method_not_allowed("POST");
            if (caller.role == Role::read) {
                co_return json_error(403, "role read may not report results; use an agent token");
            }
            co_return co_await result_route(ctx, caller, seg[3], body);
        }
    } catch (const std::exception& e) {
        log::error("api command route failed",
                   {{"path", std::string(url.path())}, {"error", e.what()}});
        co_return json_error(500, "internal error in the command routes");
    }
    co_return json_error(404, "no such route");
}

}  // namespace hashwatt::collector
