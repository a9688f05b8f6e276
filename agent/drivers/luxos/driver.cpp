// The LuxOS driver (Luxor's LUXminer on Antminers, RPC on TCP 4028; PROTOCOLS.md §4). What it
// sends:
//   every poll    summary+stats+devs+pools+fans+temps+power+config+events, one connection
//                 (each command on its own connection, in parallel, when the firmware refuses
//                 joins); +version every 5 minutes (identity); +profiles with the identity, or
//                 a separate `profiles` when config names a profile whose Watts are not cached.
//   commands      logon (or `session` when one is already open), the write, logoff: one session
//                 at a time is all LUXminer allows, so it is always closed after use.
// What each command does on the miner is in README.md beside this file.
#include "agent/drivers/driver_support.hpp"
#include "agent/drivers/drivers.hpp"
#include "agent/drivers/luxos/parse.hpp"
#include "common/models.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hashwatt::agent {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kName = "luxos";
// Identity (model, serial, MAC, firmware) changes rarely: re-read every ~10 polls at 30 s.
constexpr auto kIdentityRefresh = std::chrono::minutes(5);

CommandOutcome outcome(CommandStatus status, std::string message) {
    return CommandOutcome{status, std::move(message)};
}

std::string transport_message(std::string_view what, const TransportError& e) {
    return std::string(what) + ": " + std::string(to_string(e.reason)) + ": " + e.detail;
}

std::string status_message(std::string_view what, const luxos::Status& st) {
    return std::string(what) + " refused: Code " + std::to_string(st.code) + " " + st.msg;
}

// Sends the requests at once, one connection each; replies in the order given. (The shared
// helper takes views; `requests` owns the texts.)
asio::awaitable<std::vector<RpcResult>> rpc_all(const DriverContext& ctx, const MinerEndpoint& ep,
                                                const std::vector<std::string>& requests) {
    const std::vector<std::string_view> views(requests.begin(), requests.end());
    co_return co_await rpc_calls_at_once(ctx, ep, views);
}

// A session opened for one command.
struct Session {
    std::string id;
    bool reused = false;  // it was already open (ours from an earlier attempt, or an operator's)
    std::string problem;  // when id is empty: why no session could be had
    bool auth = false;    // the problem is a refusal, not a transport fault
};

class LuxosDriver final : public MinerDriver {
  public:
    std::string_view name() const override { return kName; }

    bool claims(const ProbeResult& probe) const override {
        // Every LUXminer reply's Description says "LUXminer <ver>"; the web UI says "Luxor
        // Firmware" (PROTOCOLS.md §8).
        if (contains_upper(probe.version_reply, "LUXMINER")) return true;
        return probe.http_root_status == 200 &&
               contains_upper(probe.http_root_body, "LUXOR FIRMWARE");
    }

    asio::awaitable<MinerSample> poll(DriverContext& ctx, const MinerEndpoint& ep,
                                      DriverState& state) const override {
        const auto once = [&] { return poll_once(ctx, ep, state); };
        co_return co_await timed_poll(name(), ep, state, once);
    }

    Capabilities capabilities(const MinerSample& identity) const override {
        Capabilities c;
        if (identity.firmware && *identity.firmware != "luxos") {
            c.notes = "not LuxOS firmware";
            return c;
        }
        c.sleep = true;
        c.wake = true;
        c.reboot = true;
        const ModelSpec* model = identity.model ? find_reported_model(*identity.model) : nullptr;
        if (!model) {
            c.notes = "curtail sleep/wakeup, rebootdevice; power targets need a known model";
            return c;
        }
        c.power_target_min_w = model->min_power_w;
        c.power_target_max_w = model->max_power_w;
        c.notes =
            "power target by frequency profile (the highest whose Watts <= target), "
            "ATM paused while it is set";
        return c;
    }

    asio::awaitable<CommandOutcome> execute(DriverContext& ctx, const MinerEndpoint& ep,
                                            DriverState& state, const Command& cmd) const override {
        const auto once = [&] { return execute_once(ctx, ep, state, cmd); };
        co_return co_await guarded_execute("luxos driver: ", once);
    }

  private:
    asio::awaitable<MinerSample> poll_once(DriverContext& ctx, const MinerEndpoint& ep,
                                           DriverState& state) const {
        const TimePoint now = now_ms();
        const bool identity_due = !state.identity || now - state.identity_at >= kIdentityRefresh;
        // The profile table with the identity, and whenever the last one is not known.
        const bool profiles_due = identity_due || state.profile.empty();
        luxos::Replies replies;
        replies.identity = state.identity ? &*state.identity : nullptr;
        replies.known_profile = state.profile;
        if (state.identity) replies.known_profile_w = state.identity->power_limit_w;
        std::optional<luxos::Reading> reading;

        RpcResult joined;
        if (!state.joins_unsupported) {
            std::string commands(luxos::kPollCommands);
            if (profiles_due) commands += "+profiles";
            if (identity_due) commands += "+version";
            const std::string request = luxos::rpc_json(commands);
            joined = co_await rpc_call(ctx, ep, request);
            if (joined.error)
                co_return failed_poll(state, joined.error->reason, joined.error->detail);
            replies.joined = joined.body;
            try {
                reading = luxos::read_luxos(replies);
            } catch (const luxos::JoinRefused&) {
                // One command per connection from now on (kept per miner by the poller).
                state.joins_unsupported = true;
                replies.joined.reset();
            } catch (const luxos::ParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }
        std::vector<RpcResult> sep;
        if (!reading) {
            std::vector<std::string_view> commands{"summary", "stats", "devs",   "pools", "fans",
                                                   "temps",   "power", "config", "events"};
            std::vector<std::optional<std::string_view>*> slots{
                &replies.summary, &replies.stats, &replies.devs,   &replies.pools, &replies.fans,
                &replies.temps,   &replies.power, &replies.config, &replies.events};
            if (profiles_due) {
                commands.push_back("profiles");
                slots.push_back(&replies.profiles);
            }
            if (identity_due) {
                commands.push_back("version");
                slots.push_back(&replies.version);
            }
            std::vector<std::string> requests;
            for (const auto c : commands) requests.push_back(luxos::rpc_json(c));
            sep = co_await rpc_all(ctx, ep, requests);
            // summary and stats are what a sample is made of; the others may fail alone.
            for (std::size_t i = 0; i < 2; ++i) {
                if (const auto& err = sep[i].error) {
                    co_return failed_poll(state, err->reason, err->detail);
                }
            }
            for (std::size_t i = 0; i < sep.size(); ++i) {
                if (!sep[i].error) *slots[i] = sep[i].body;
            }
            try {
                reading = luxos::read_luxos(replies);
            } catch (const luxos::ParseError& e) {
                co_return failed_poll(state, PollError::parse, e.what());
            }
        }
        MinerSample& s = reading->sample;
        if (state.identity && state.identity->mac && s.mac && *s.mac != *state.identity->mac) {
            // Another miner answers at this address now: nothing cached is about it.
            if (!reading->profiles_read) s.power_limit_w.reset();
            state.profile.clear();
            state.identity = luxos::luxos_identity(s);
            state.identity_at = TimePoint{};  // read version and profiles on the next poll
        }
        if (!reading->profiles_read && !reading->active_profile.empty() &&
            reading->active_profile != state.profile) {
            // The profile changed since the table was read (ATM retunes, someone set one): one
            // more request for its Watts. A failure leaves the limit out, not the poll failed.
            const std::string request = luxos::rpc_json("profiles");
            const RpcResult r = co_await rpc_call(ctx, ep, request);
            if (!r.error) {
                try {
                    const auto profiles = luxos::read_profiles(r.body);
                    for (const auto& p : profiles) {
                        if (p.name == reading->active_profile) s.power_limit_w = p.watts;
                    }
                    reading->profiles_read = true;
                } catch (const luxos::ParseError&) {
                    // reported as an absent limit; the next poll asks again
                }
            }
        }
        if (identity_due) {
            state.identity = luxos::luxos_identity(s);
            state.identity_at = now;
        }
        if (reading->profiles_read && state.identity) {
            state.profile = reading->active_profile;
            state.identity->power_limit_w = s.power_limit_w;
        }
        co_return std::move(s);
    }

    asio::awaitable<CommandOutcome> execute_once(DriverContext& ctx, const MinerEndpoint& ep,
                                                 DriverState& state, const Command& cmd) const {
        // Capabilities depend on the model.
        if (auto failed = co_await identify_before_command(*this, ctx, ep, state)) {
            co_return std::move(*failed);
        }
        const Capabilities caps = capabilities(*state.identity);
        switch (cmd.type) {
            case CommandType::sleep:
                if (!caps.sleep) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await with_session(ctx, ep, "curtail", "sleep", "curtail sleep");
            case CommandType::wake:
                if (!caps.wake) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await with_session(ctx, ep, "curtail", "wakeup", "curtail wakeup");
            case CommandType::reboot:
                if (!caps.reboot) co_return outcome(CommandStatus::unsupported, caps.notes);
                co_return co_await with_session(ctx, ep, "rebootdevice", "", "rebootdevice");
            case CommandType::set_power_target:
                co_return co_await set_power_target(ctx, ep, state, caps, cmd.power_target_w);
        }
        co_return outcome(CommandStatus::unsupported, "unknown command");
    }

    // logon; when a session is open already (Code 402), `session` names it and it is used
    // (pyasic does the same). Never throws.
    asio::awaitable<Session> open_session(const DriverContext& ctx, const MinerEndpoint& ep) const {
        Session out;
        const std::string logon = luxos::rpc_json("logon");
        const std::string session = luxos::rpc_json("session");
        // Two rounds: an open session may expire between the 402 and the `session` question.
        for (int attempt = 0; attempt < 2; ++attempt) {
            const RpcResult r = co_await rpc_call(ctx, ep, logon);
            if (r.error) {
                out.problem = transport_message("logon", *r.error);
                co_return out;
            }
            luxos::SessionReply reply;
            try {
                reply = luxos::read_session_reply(r.body, "logon");
            } catch (const luxos::ParseError& e) {
                out.problem = e.what();
                co_return out;
            }
            if (reply.status.ok) {
                out.id = std::move(reply.session_id);
                co_return out;
            }
            if (reply.status.code != luxos::kCodeSessionBusy) {
                out.problem = status_message("logon", reply.status);
                out.auth = true;
                co_return out;
            }
            const RpcResult q = co_await rpc_call(ctx, ep, session);
            if (q.error) {
                out.problem = transport_message("session", *q.error);
                co_return out;
            }
            try {
                luxos::SessionReply open = luxos::read_session_reply(q.body, "session");
                if (open.status.ok && !open.session_id.empty()) {
                    out.id = std::move(open.session_id);
                    out.reused = true;
                    co_return out;
                }
            } catch (const luxos::ParseError& e) {
                out.problem = e.what();
                co_return out;
            }
        }
        out.problem = "logon refused: Code 402 Another session is active, and `session` names none";
        out.auth = true;
        co_return out;
    }

    // Best effort: a failed logoff leaves a session that LUXminer drops after a minute idle.
    asio::awaitable<std::string> close_session(const DriverContext& ctx, const MinerEndpoint& ep,
                                               const std::string& sid) const {
        const std::string logoff = luxos::rpc_json("logoff", sid);
        const RpcResult r = co_await rpc_call(ctx, ep, logoff);
        if (r.error) co_return "; " + transport_message("logoff", *r.error);
        try {
            const luxos::Status st = luxos::read_status(r.body, "logoff");
            if (!st.ok) co_return "; " + status_message("logoff", st);
        } catch (const luxos::ParseError& e) {
            co_return std::string("; ") + e.what();
        }
        co_return std::string();
    }

    // `command` with parameter "<sid>[,<args>]" inside a session of its own.
    asio::awaitable<CommandOutcome> with_session(const DriverContext& ctx, const MinerEndpoint& ep,
                                                 std::string_view command, std::string_view args,
                                                 std::string_view label) const {
        const Session session = co_await open_session(ctx, ep);
        if (session.id.empty()) co_return outcome(CommandStatus::failed, session.problem);
        std::string param = session.id;
        if (!args.empty()) param += "," + std::string(args);
        const std::string request = luxos::rpc_json(command, param);
        const RpcResult r = co_await rpc_call(ctx, ep, request);
        CommandOutcome out = write_outcome(ctx, r, command, label);
        if (session.reused) out.message += " (a session was already open: used it)";
        out.message += co_await close_session(ctx, ep, session.id);
        co_return out;
    }

    static CommandOutcome write_outcome(const DriverContext& ctx, const RpcResult& r,
                                        std::string_view command, std::string_view label) {
        if (r.error) {
            if (command == "rebootdevice") {
                // The miner may go down before it answers: a dropped connection, or a reply
                // deadline that passed after connecting, means the request was delivered.
                const auto connect_ms =
                    std::chrono::duration<double, std::milli>(ctx.transport.connect_timeout)
                        .count();
                if (r.error->reason == PollError::reset ||
                    (r.error->reason == PollError::timeout && r.elapsed_ms > connect_ms)) {
                    return outcome(CommandStatus::succeeded,
                                   "rebootdevice sent; no reply (" +
                                       std::string(to_string(r.error->reason)) +
                                       "), as expected while the miner restarts");
                }
            }
            return outcome(CommandStatus::failed, transport_message(command, *r.error));
        }
        try {
            const luxos::Status st = luxos::read_status(r.body, command);
            if (!st.ok) return outcome(CommandStatus::failed, status_message(command, st));
            return outcome(CommandStatus::succeeded,
                           std::string(label) + " acknowledged (" + st.msg + ")");
        } catch (const luxos::ParseError& e) {
            return outcome(CommandStatus::failed, e.what());
        }
    }

    // The highest profile at or under the target, set with ATM paused around it (ATM owns the
    // profile while enabled and LUXminer refuses profileset then).
    asio::awaitable<CommandOutcome> set_power_target(const DriverContext& ctx,
                                                     const MinerEndpoint& ep, DriverState& state,
                                                     const Capabilities& caps,
                                                     std::optional<double> watts) const {
        if (!caps.power_target_min_w || !caps.power_target_max_w) {
            co_return outcome(CommandStatus::unsupported, caps.notes);
        }
        if (!watts || !(*watts > 0)) {
            co_return outcome(CommandStatus::unsupported,
                              "set_power_target needs power_target_w > 0");
        }
        const double target = *watts;
        if (target < *caps.power_target_min_w || target > *caps.power_target_max_w) {
            co_return outcome(CommandStatus::unsupported,
                              "power target " + std::to_string(std::lround(target)) +
                                  " W outside " +
                                  std::to_string(std::lround(*caps.power_target_min_w)) + ".." +
                                  std::to_string(std::lround(*caps.power_target_max_w)) +
                                  " W (sleep instead to go lower)");
        }
        // Reads first: a target no profile honours is refused before any session is opened.
        luxos::ControlState cs;
        bool joined = !state.joins_unsupported;
        if (joined) {
            const std::string read = luxos::rpc_json("profiles+atm+config");
            const RpcResult r = co_await rpc_call(ctx, ep, read);
            if (r.error) {
                co_return outcome(CommandStatus::failed, transport_message("profiles", *r.error));
            }
            try {
                cs = luxos::read_control_state(r.body);
            } catch (const luxos::JoinRefused&) {
                state.joins_unsupported = true;
                joined = false;
            } catch (const luxos::ParseError& e) {
                co_return outcome(CommandStatus::failed, e.what());
            }
        }
        if (!joined) {
            const std::vector<std::string> requests{
                luxos::rpc_json("profiles"), luxos::rpc_json("atm"), luxos::rpc_json("config")};
            const std::vector<RpcResult> r = co_await rpc_all(ctx, ep, requests);
            for (std::size_t i : {0U, 2U}) {
                if (r[i].error) {
                    co_return outcome(
                        CommandStatus::failed,
                        transport_message(i == 0 ? "profiles" : "config", *r[i].error));
                }
            }
            std::optional<std::string_view> atm;
            if (!r[1].error) atm = r[1].body;
            try {
                cs = luxos::read_control_state(r[0].body, atm, r[2].body);
            } catch (const luxos::ParseError& e) {
                co_return outcome(CommandStatus::failed, e.what());
            }
        }
        const std::optional<luxos::Profile> chosen = luxos::choose_profile(cs.profiles, target);
        if (!chosen) {
            co_return outcome(
                CommandStatus::unsupported,
                "no profile draws " + std::to_string(std::lround(target)) + " W or less");
        }
        const std::string what =
            "profile " + chosen->name + " (" + std::to_string(std::lround(chosen->watts)) + " W)";

        const Session session = co_await open_session(ctx, ep);
        if (session.id.empty()) co_return outcome(CommandStatus::failed, session.problem);
        const bool atm_on = cs.atm_enabled.value_or(false);
        CommandOutcome out;
        bool atm_paused = false;
        if (atm_on) {
            const std::string off = luxos::rpc_json("atmset", session.id + ",enabled=false");
            const RpcResult a = co_await rpc_call(ctx, ep, off);
            out = write_outcome(ctx, a, "atmset", "atmset enabled=false");
            atm_paused = out.status == CommandStatus::succeeded;
        }
        if (!atm_on || atm_paused) {
            const std::string set = luxos::rpc_json("profileset", session.id + "," + chosen->name);
            const RpcResult p = co_await rpc_call(ctx, ep, set);
            out = write_outcome(ctx, p, "profileset", what);
        }
        if (atm_paused) {
            // Re-enabled whatever profileset said: the miner is left as its owner configured it.
            const std::string on = luxos::rpc_json("atmset", session.id + ",enabled=true");
            const RpcResult a = co_await rpc_call(ctx, ep, on);
            const CommandOutcome back = write_outcome(ctx, a, "atmset", "atmset enabled=true");
            if (back.status != CommandStatus::succeeded) {
                out.message += "; ATM not re-enabled: " + back.message;
                if (out.status == CommandStatus::succeeded) out.status = CommandStatus::failed;
            } else {
                out.message += ", ATM paused and re-enabled";
            }
        }
        if (session.reused) out.message += " (a session was already open: used it)";
        out.message += co_await close_session(ctx, ep, session.id);
        co_return out;
    }
};

}  // namespace

const MinerDriver& luxos_driver() {
    static const LuxosDriver d;
    return d;
}

}  // namespace hashwatt::agent
