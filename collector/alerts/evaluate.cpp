#include "collector/alerts/evaluate.hpp"

#include "common/json_writer.hpp"
#include "common/models.hpp"
#include "common/units.hpp"

#include <algorithm>
#include <vector>

namespace hashwatt::collector::alerts {

namespace {

// A rule with its threshold for one miner's make.
struct Scoped {
    const AlertRule& rule;
    double threshold;
};

// Pool counters are since the miner's boot: below this many shares a few rejects after a
// restart would read as a high rate.
constexpr std::int64_t kMinShares = 100;

std::string num(double v, int decimals = 1) { return format_fixed(v, decimals); }

std::optional<double> expected_hashrate(const MinerSample& s) {
    if (s.expected_hashrate_ths && *s.expected_hashrate_ths > 0) return s.expected_hashrate_ths;
    double sum = 0;
    bool any = false;
    for (const auto& b : s.boards) {
        if (b.expected_hashrate_ths) {
            sum += *b.expected_hashrate_ths;
            any = true;
        }
    }
    if (any && sum > 0) return sum;
    return std::nullopt;
}

// The rate to hold against the expected one. Vnish's miner-level figure is 0.7 x its chains'
// on healthy miners (agent/drivers/vnish/README.md, "Which hash rate"), while its expected rate
// is the chains' ideal: the chains' sum is what compares.
std::optional<double> measured_hashrate(const MinerSample& s) {
    if (s.firmware == "vnish") {
        double sum = 0;
        bool any = false;
        for (const auto& b : s.boards) {
            if (b.hashrate_ths) {
                sum += *b.hashrate_ths;
                any = true;
            }
        }
        if (any) return sum;
    }
    return s.hashrate_ths;
}

void hashrate_low(const Scoped& r, const MinerSample& s, Evaluation& e) {
    // error too: firmware that stopped hashing on its own (overheat protection, a failed
    // chain) reports error with a zero rate, and is the failing rig this rule is for.
    const auto hashrate = measured_hashrate(s);
    if ((s.state != MinerState::mining && s.state != MinerState::error) || !hashrate) return;
    auto expected = expected_hashrate(s);
    if (!expected) return;
    // A miner told to run at a lower power target (the power policy's reduced points) hashes
    // less by design; firmware keeps reporting its stock ideal rate. Expected is then the
    // model's curve at the limit, so only a shortfall beyond the throttle counts.
    if (const ModelSpec* m = s.model ? find_reported_model(*s.model) : nullptr;
        m && s.power_limit_w && *s.power_limit_w > 0 && *s.power_limit_w < 0.98 * m->nominal_w) {
        const double at_limit =
            hashrate_at_power(*m, *s.power_limit_w) / hashrate_at_power(*m, m->nominal_w);
        expected = *expected * at_limit;
        e.values["power_limit_w"] = num(*s.power_limit_w, 0);
    }
    const double ratio = *hashrate / *expected;
    e.holds = ratio < r.threshold;
    e.values["value"] = num(*hashrate, 2);
    e.values["hashrate_ths"] = num(*hashrate, 2);
    e.values["expected_ths"] = num(*expected, 2);
    e.values["ratio_pct"] = num(ratio * 100, 0);
}

// The hottest board by `field`, and its index.
template <typename Field>
void temp_high(const Scoped& r, const MinerSample& s, Field field, Evaluation& e) {
    std::optional<double> hottest;
    int board = 0;
    for (const auto& b : s.boards) {
        const auto& t = b.*field;
        if (t && (!hottest || *t > *hottest)) {
            hottest = t;
            board = b.index;
        }
    }
    if (!hottest) return;
    e.holds = *hottest >= r.threshold;
    e.values["value"] = num(*hottest);
    e.values["board"] = std::to_string(board);
}

void fan_failure(const Scoped& r, const MinerSample& s, Evaluation& e) {
    // Sleeping and idle firmware slow or stop fans on purpose; judge them only while mining.
    if (s.state != MinerState::mining || s.fans_rpm.empty()) return;
    // Immersion and hydro miners report no spinning fan at all: nothing to compare.
    if (std::none_of(s.fans_rpm.begin(), s.fans_rpm.end(), [](auto v) { return v > 0; })) return;
    for (std::size_t i = 0; i < s.fans_rpm.size(); ++i) {
        std::vector<std::int64_t> peers;
        for (std::size_t j = 0; j < s.fans_rpm.size(); ++j) {
            if (j != i) peers.push_back(s.fans_rpm[j]);
        }
        double median = 0;
        if (!peers.empty()) {
            std::sort(peers.begin(), peers.end());
            const auto n = peers.size();
            median =
                n % 2
                    ? static_cast<double>(peers[n / 2])
                    : (static_cast<double>(peers[n / 2 - 1]) + static_cast<double>(peers[n / 2])) /
                          2.0;
        }
        const auto rpm = static_cast<double>(s.fans_rpm[i]);
        const bool failed = rpm <= 0 || (median > 0 && rpm < r.threshold * median);
        if (failed) {
            e.holds = true;
            e.values["fan"] = std::to_string(i);
            e.values["value"] = std::to_string(s.fans_rpm[i]);
            e.values["median_rpm"] = num(median, 0);
            return;
        }
    }
}

void board_dead(const Scoped& r, const MinerSample& s, Evaluation& e) {
    if (s.state != MinerState::mining) return;
    std::string problem;
    const bool others_hash = std::any_of(s.boards.begin(), s.boards.end(), [](const auto& b) {
        return b.hashrate_ths && *b.hashrate_ths > 0;
    });
    for (const auto& b : s.boards) {
        const auto idx = std::to_string(b.index);
        if (b.expected_chips && b.chips && *b.chips < *b.expected_chips) {
            problem = "board " + idx + " reports " + std::to_string(*b.chips) + " of " +
                      std::to_string(*b.expected_chips) + " chips";
        } else if (others_hash && b.hashrate_ths && *b.hashrate_ths <= 0) {
            problem = "board " + idx + " hashes nothing while the others hash";
        } else if (b.ok && !*b.ok) {
            problem = "board " + idx + " reports a fault";
        }
        if (!problem.empty()) {
            e.values["board"] = idx;
            break;
        }
    }
    if (problem.empty() && r.rule.expected_boards > 0 &&
        static_cast<std::int64_t>(s.boards.size()) < r.rule.expected_boards) {
        problem = std::to_string(s.boards.size()) + " of " +
                  std::to_string(r.rule.expected_boards) + " boards reported";
    }
    e.holds = !problem.empty();
    if (e.holds) e.values["problem"] = problem;
}

void reject_rate(const Scoped& r, const MinerSample& s, Evaluation& e) {
    if (s.state != MinerState::mining) return;
    std::int64_t accepted = 0, rejected = 0;
    for (const auto& p : s.pools) {
        accepted += p.accepted.value_or(0);
        rejected += p.rejected.value_or(0);
    }
    const auto shares = accepted + rejected;
    if (shares < kMinShares) return;
    const double rate = static_cast<double>(rejected) / static_cast<double>(shares);
    e.holds = rate >= r.threshold;
    e.values["value"] = num(rate, 4);
    e.values["value_pct"] = num(rate * 100, 1);
    e.values["rejected"] = std::to_string(rejected);
    e.values["shares"] = std::to_string(shares);
}

void power_over(const Scoped& r, const MinerSample& s, Evaluation& e) {
    if (!s.power_w || !s.power_limit_w || *s.power_limit_w <= 0) return;
    e.holds = *s.power_w > *s.power_limit_w * r.threshold;
    e.values["value"] = num(*s.power_w, 0);
    e.values["limit_w"] = num(*s.power_limit_w, 0);
}

}  // namespace

bool rule_applies(const AlertRule& rule, const MinerRecord& miner,
                  const MinerSample* latest) noexcept {
    if (rule.site) {
        const auto& site = latest && latest->site ? latest->site : miner.site;
        if (site != rule.site) return false;
    }
    for (const auto& [k, v] : rule.selector) {
        auto it = miner.labels.find(k);
        if (it == miner.labels.end() || it->second != v) return false;
    }
    return true;
}

Evaluation evaluate(const AlertRule& rule, const MinerRecord& miner, const MinerSample* latest,
                    TimePoint now) {
    Evaluation e;
    e.values["miner"] = miner.miner_id;
    const auto& site = latest && latest->site ? latest->site : miner.site;
    e.values["site"] = site.value_or("no site");
    if (miner.agent_id) e.values["agent_id"] = *miner.agent_id;
    // The rule as it applies to this miner's make: the helpers read r.threshold.
    const auto& make = latest && latest->make ? latest->make : miner.make;
    const double threshold = threshold_for(rule, make);
    e.values["threshold"] = num(threshold, threshold < 10 ? 2 : 0);
    e.values["threshold_pct"] = num(threshold * 100, 0);
    const Scoped r{rule, threshold};

    if (rule.kind == RuleKind::offline) {
        const TimePoint up = miner.last_up.value_or(miner.first_seen);
        const auto down_for = now - up;
        const bool failing = latest && !latest->up;
        e.holds = failing || down_for >= std::chrono::duration_cast<Duration>(
                                             std::chrono::duration<double>(threshold));
        if (e.holds) {
            e.since = up;
            e.values["down_for"] =
                format_duration(std::chrono::duration_cast<std::chrono::seconds>(down_for));
            e.values["error"] =
                latest && latest->error
                    ? std::string(to_string(*latest->error)) +
                          (latest->error_message ? ": " + *latest->error_message : std::string())
                    : std::string("no sample since");
        }
        return e;
    }
    // Every other rule reads values that only a miner answering reports; a sleeping miner
    // was put to sleep on purpose (and its fans, power and hash rate are low by design).
    if (latest == nullptr || !latest->up || latest->state == MinerState::sleeping) return e;
    switch (rule.kind) {
        case RuleKind::hashrate_low:
            hashrate_low(r, *latest, e);
            break;
        case RuleKind::chip_temp_high:
            temp_high(r, *latest, &BoardSample::chip_temp_max_c, e);
            break;
        case RuleKind::board_temp_high:
            temp_high(r, *latest, &BoardSample::board_temp_max_c, e);
            break;
        case RuleKind::fan_failure:
            fan_failure(r, *latest, e);
            break;
        case RuleKind::board_dead:
            board_dead(r, *latest, e);
            break;
        case RuleKind::reject_rate_high:
            reject_rate(r, *latest, e);
            break;
        case RuleKind::power_over_limit:
            power_over(r, *latest, e);
            break;
        case RuleKind::offline:
        case RuleKind::command_failed:
        case RuleKind::state_unexpected:
        case RuleKind::agent_silent:
            break;
    }
    return e;
}

Evaluation evaluate_command(const AlertRule& rule, const MinerRecord& miner,
                            const CommandRecord* last, TimePoint now) {
    Evaluation e;
    e.values["miner"] = miner.miner_id;
    e.values["site"] = miner.site.value_or("no site");
    if (miner.agent_id) e.values["agent_id"] = *miner.agent_id;
    if (last == nullptr || !last->finished_at) return e;
    if (last->status != CommandStatus::failed && last->status != CommandStatus::timed_out) {
        return e;
    }
    if (now - *last->finished_at >= rule.window) return e;
    e.holds = true;
    e.since = *last->finished_at;
    e.values["command_type"] = std::string(to_string(last->command.type));
    e.values["command_id"] = last->command.id;
    e.values["command_status"] = std::string(to_string(last->status));
    e.values["message"] = last->message.value_or(last->agent_message.value_or("no message"));
    return e;
}

Evaluation evaluate_state(const MinerRecord& miner, const MinerSample* latest,
                          const CommandRecord* wanted) {
    Evaluation e;
    e.values["miner"] = miner.miner_id;
    const auto& site = latest && latest->site ? latest->site : miner.site;
    e.values["site"] = site.value_or("no site");
    if (miner.agent_id) e.values["agent_id"] = *miner.agent_id;
    if (wanted == nullptr || latest == nullptr || !latest->up) return e;
    const bool want_sleep = wanted->command.type == CommandType::sleep;
    if (!want_sleep && wanted->command.type != CommandType::wake) return e;
    // Not hashing when wanted mining: asleep, idle, or in error (Antminer firmware that
    // failed to resume shows its normal work mode and no hash rate, which reads as error).
    const MinerState st = latest->state;
    e.holds = want_sleep
                  ? st == MinerState::mining
                  : st == MinerState::sleeping || st == MinerState::idle || st == MinerState::error;
    e.values["state"] = std::string(to_string(latest->state));
    e.values["wanted"] = want_sleep ? "sleeping" : "mining";
    e.values["command_type"] = std::string(to_string(wanted->command.type));
    e.values["command_id"] = wanted->command.id;
    e.values["command_status"] = std::string(to_string(wanted->status));
    return e;
}

std::vector<AgentActivity> agent_activity(const std::vector<MinerRecord>& miners,
                                          const std::map<std::string, TimePoint>& last_batches) {
    std::map<std::string, AgentActivity> by_id;
    std::map<std::string, bool> one_site;
    for (const auto& m : miners) {
        if (!m.agent_id) continue;
        auto [it, added] = by_id.try_emplace(*m.agent_id);
        auto& a = it->second;
        if (added) {
            a.agent_id = *m.agent_id;
            a.last_seen = m.last_seen;
            a.site = m.site;
            one_site[a.agent_id] = true;
        }
        ++a.miners;
        a.last_seen = std::max(a.last_seen, m.last_seen);
        if (a.site != m.site) one_site[a.agent_id] = false;
    }
    std::vector<AgentActivity> out;
    for (auto& [id, a] : by_id) {
        if (!one_site[id]) a.site.reset();
        if (auto it = last_batches.find(id); it != last_batches.end()) a.last_batch = it->second;
        out.push_back(std::move(a));
    }
    return out;
}

Evaluation evaluate_agent(const AlertRule& rule, const AgentActivity& agent, TimePoint now) {
    Evaluation e;
    e.values["agent_id"] = agent.agent_id;
    if (agent.site) e.values["site"] = *agent.site;
    e.values["miners"] = std::to_string(agent.miners);
    const double threshold = rule.threshold;
    e.values["threshold"] = num(threshold, 0);
    if (agent.miners == 0) return e;
    const TimePoint heard = agent.last_batch.value_or(agent.last_seen);
    const auto silent_for = now - heard;
    e.holds = silent_for >=
              std::chrono::duration_cast<Duration>(std::chrono::duration<double>(threshold));
    if (e.holds) {
        e.since = heard;
        e.values["silent_for"] =
            format_duration(std::chrono::duration_cast<std::chrono::seconds>(silent_for));
    }
    return e;
}

}  // namespace hashwatt::collector::alerts
