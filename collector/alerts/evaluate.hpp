// Rule conditions: pure functions of a rule, a miner's record and latest sample (or its newest
// finished command, or an agent's activity), and the time.
#pragma once

#include "collector/alerts/rules.hpp"
#include "collector/storage/store.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hashwatt::collector::alerts {

struct Evaluation {
    bool holds = false;
    // When the condition began, if the data says (offline: the last successful poll); else
    // the lifecycle counts `for` from the first evaluation that found it true.
    std::optional<TimePoint> since;
    // For the templates: always miner and site (and agent_id when known); when the condition
    // holds, the values that made it true (value, threshold and the kind's own names).
    std::map<std::string, std::string> values;
};

// Whether `rule` covers this miner: its site and selector labels.
bool rule_applies(const AlertRule& rule, const MinerRecord& miner,
                  const MinerSample* latest) noexcept;

// The condition of `rule` for one miner at `now`. `latest` is its newest sample (nullptr when
// it has none). A sleeping miner is healthy for every rule but offline; a miner not answering
// is judged only by offline (the others need values it does not report).
// Rules of kinds command_failed, state_unexpected and agent_silent never hold here (see below).
Evaluation evaluate(const AlertRule& rule, const MinerRecord& miner, const MinerSample* latest,
                    TimePoint now);

// command_failed for one miner. `last` is its newest command that finished succeeded, failed
// or timed_out (unsupported says nothing about whether the miner obeys, so it is left out),
// nullptr when there is none. Holds when `last` failed or timed out less than rule.window
// before `now`; since = its finished_at. Values: command_type, command_id, command_status,
// message (the collector's, else the agent's).
Evaluation evaluate_command(const AlertRule& rule, const MinerRecord& miner,
                            const CommandRecord* last, TimePoint now);

// state_unexpected for one miner. `wanted` is its newest sleep or wake command
// (latest_state_commands), nullptr when hashwatt never asked for a state: then it does not
// hold. Holds while the newest sample, a successful poll, says mining when the command was a
// sleep, or sleeping, idle or error (up, not hashing) when it was a wake; booting is on its
// way, offline the offline rule's business. The lifecycle counts `for` from the first evaluation
// that finds it, which gives a fresh command that long to take. Values: state, wanted,
// command_type, command_id, command_status.
Evaluation evaluate_state(const MinerRecord& miner, const MinerSample* latest,
                          const CommandRecord* wanted);

// What agent_silent knows of one agent: the miners whose newest sample it sent.
struct AgentActivity {
    std::string agent_id;
    std::optional<TimePoint> last_batch;  // newest ingest_batches.received_at
    TimePoint last_seen{};                // newest last_seen of its miners
    std::size_t miners = 0;
    std::optional<std::string> site;  // when all its miners are at one site
};

// The agents of `miners` (by MinerRecord::agent_id; miners with none are left out), with
// `last_batch` from `last_batches` (agent id -> newest batch received).
std::vector<AgentActivity> agent_activity(const std::vector<MinerRecord>& miners,
                                          const std::map<std::string, TimePoint>& last_batches);

// agent_silent for one agent: holds while it has miners and nothing came from it for
// `threshold` seconds, counted from its last batch (from its miners' last_seen when retention
// has removed its batch records); since = that time. Values: agent_id, miners, silent_for, and
// site when known.
Evaluation evaluate_agent(const AlertRule& rule, const AgentActivity& agent, TimePoint now);

}  // namespace hashwatt::collector::alerts
