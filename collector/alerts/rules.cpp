#include "collector/alerts/rules.hpp"

#include "common/config.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace hashwatt::collector::alerts {

namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::array<std::pair<RuleKind, std::string_view>, 11> kKinds{{
    {RuleKind::offline, "offline"},
    {RuleKind::hashrate_low, "hashrate_low"},
    {RuleKind::chip_temp_high, "chip_temp_high"},
    {RuleKind::board_temp_high, "board_temp_high"},
    {RuleKind::fan_failure, "fan_failure"},
    {RuleKind::board_dead, "board_dead"},
    {RuleKind::reject_rate_high, "reject_rate_high"},
    {RuleKind::power_over_limit, "power_over_limit"},
    {RuleKind::command_failed, "command_failed"},
    {RuleKind::state_unexpected, "state_unexpected"},
    {RuleKind::agent_silent, "agent_silent"},
}};

bool takes_threshold(RuleKind k) {
    return k != RuleKind::board_dead && k != RuleKind::command_failed &&
           k != RuleKind::state_unexpected;
}

AlertRule rule(std::string name, RuleKind kind, double threshold, Duration for_d, Duration keep,
               Severity sev, std::string summary, std::string description) {
    AlertRule r;
    r.name = std::move(name);
    r.kind = kind;
    r.threshold = threshold;
    r.for_duration = for_d;
    r.keep_firing_for = keep;
    r.severity = sev;
    r.summary = std::move(summary);
    r.description = std::move(description);
    return r;
}

// The valid range of a threshold, so that a typo (90 for a fraction) is refused.
std::pair<double, double> threshold_range(RuleKind k) {
    switch (k) {
        case RuleKind::offline:
            return {1, 86400};
        case RuleKind::agent_silent:
            // Below 10 s an agent's normal batch spacing (2 s at least) would count as silence.
            return {10, 86400};
        case RuleKind::hashrate_low:
        case RuleKind::fan_failure:
        case RuleKind::reject_rate_high:
            return {0, 1};
        case RuleKind::chip_temp_high:
        case RuleKind::board_temp_high:
            return {20, 150};
        case RuleKind::power_over_limit:
            return {0.5, 5};
        case RuleKind::board_dead:
        case RuleKind::command_failed:
        case RuleKind::state_unexpected:
            return {0, 0};
    }
    return {0, 0};
}

void read_rule(const config::Table& t, AlertRule& r) {
    if (auto e = t.boolean("enabled")) r.enabled = *e;
    if (auto d = t.duration("for", Duration::zero(), std::chrono::days(7))) r.for_duration = *d;
    if (auto d = t.duration("keep_firing_for", Duration::zero(), std::chrono::days(7))) {
        r.keep_firing_for = *d;
    }
    if (auto s = t.choice("severity", {"info", "warning", "critical"})) {
        r.severity = *parse_severity(*s);
    }
    const auto no_threshold = std::string(to_string(r.kind)) + " takes no threshold";
    if (t.has("threshold")) {
        if (!takes_threshold(r.kind)) t.fail("threshold", no_threshold);
        const auto [lo, hi] = threshold_range(r.kind);
        r.threshold = *t.number("threshold", lo, hi);
    }
    if (auto m = t.table("make_threshold")) {
        if (!takes_threshold(r.kind)) t.fail("make_threshold", no_threshold);
        const auto [lo, hi] = threshold_range(r.kind);
        r.make_thresholds.clear();
        for (const auto& k : m->keys()) r.make_thresholds[k] = *m->number(k, lo, hi);
    }
    if (t.has("expected_boards")) {
        if (r.kind != RuleKind::board_dead) {
            t.fail("expected_boards", "only board_dead rules take expected_boards");
        }
        r.expected_boards = *t.integer("expected_boards", 0, 64);
    }
    if (t.has("window")) {
        if (r.kind != RuleKind::command_failed) {
            t.fail("window", "only command_failed rules take a window");
        }
        r.window = *t.duration("window", std::chrono::minutes(1), std::chrono::days(7));
    }
    if (auto s = t.string("summary")) r.summary = *s;
    if (auto s = t.string("description")) r.description = *s;
    if (auto s = t.string("site")) r.site = *s;
    const auto read_map = [&](std::string_view key, std::map<std::string, std::string>& out) {
        auto m = t.table(key);
        if (!m) return;
        out.clear();
        for (const auto& k : m->keys()) out[k] = *m->string(k);
    };
    read_map("labels", r.labels);
    read_map("selector", r.selector);
    for (const auto& k : {"alertname", "severity", "miner", "site", "agent_id"}) {
        if (r.labels.count(k)) t.fail("labels", std::string("'") + k + "' is set by the engine");
    }
}

}  // namespace

std::string_view to_string(RuleKind k) noexcept {
    for (const auto& [kind, name] : kKinds) {
        if (kind == k) return name;
    }
    return "offline";
}

std::optional<RuleKind> parse_rule_kind(std::string_view s) noexcept {
    for (const auto& [kind, name] : kKinds) {
        if (name == s) return kind;
    }
    return std::nullopt;
}

bool is_agent_rule(RuleKind k) noexcept { return k == RuleKind::agent_silent; }

double threshold_for(const AlertRule& rule, const std::optional<std::string>& make) noexcept {
    if (make) {
        if (auto it = rule.make_thresholds.find(*make); it != rule.make_thresholds.end()) {
            return it->second;
        }
    }
    return rule.threshold;
}

std::vector<AlertRule> default_rules() {
    std::vector<AlertRule> r;
    // Down: no successful poll for 90 s (three polls at the agent's 30 s default) makes it
    // pending, timed from the last successful poll; firing after 5 min, long enough for a
    // reboot (about 3 min on most firmware) to pass without a page. Critical: a down miner
    // earns nothing. keep_firing_for 2 min so a miner that answers one poll and drops again
    // does not resolve and fire anew.
    r.push_back(rule("MinerOffline", RuleKind::offline, 90, minutes(5), minutes(2),
                     Severity::critical, "Miner {miner} is offline",
                     "No successful poll of {miner} ({site}) for {down_for}; last: {error}."));
    // Below 80 % of the expected rate: the 5 s rate swings by several percent and autotuning
    // firmware dips for minutes after a boot, hence 15 min.
    r.push_back(rule("MinerHashrateLow", RuleKind::hashrate_low, 0.8, minutes(15), minutes(10),
                     Severity::warning, "Miner {miner} hashes below {threshold_pct} % of expected",
                     "{miner} ({site}) hashes {hashrate_ths} TH/s of {expected_ths} TH/s "
                     "expected ({ratio_pct} %)."));
    // 90 C: 5 C below the 95 C at which Bitmain-class firmware shuts the miner down itself, so
    // someone can act before it does. Critical: the next step is lost hash rate or a damaged
    // board. Whatsminers report their hottest chip sensor, which reads near 100 C on a healthy
    // M30S (tests/fixtures/whatsminer/m30s_edevs.json: 99.8 C at an 11 C inlet), so MicroBT
    // gets 115 C: above what that capture shows healthy.
    auto chip = rule("MinerChipTempHigh", RuleKind::chip_temp_high, 90, minutes(2), minutes(5),
                     Severity::critical, "Miner {miner} chips at {value} C",
                     "The hottest chip of {miner} ({site}) reads {value} C on board {board} "
                     "(threshold {threshold} C).");
    chip.make_thresholds = {{"MicroBT", 115}};
    r.push_back(std::move(chip));
    // Boards run about 10 C cooler than chips: 80 C on a board sensor means the same trouble.
    // The same M30S capture reads 80 C on a healthy board: MicroBT gets 90 C.
    auto board =
        rule("MinerBoardTempHigh", RuleKind::board_temp_high, 80, minutes(5), minutes(5),
             Severity::warning, "Miner {miner} board at {value} C",
             "Board {board} of {miner} ({site}) reads {value} C (threshold {threshold} C).");
    board.make_thresholds = {{"MicroBT", 90}};
    r.push_back(std::move(board));
    // A fan at 0 rpm or below half its peers' median: chips climb about 30 C within two
    // minutes of a fan stopping, so 2 min and critical.
    r.push_back(rule("MinerFanFailure", RuleKind::fan_failure, 0.5, minutes(2), minutes(5),
                     Severity::critical, "Miner {miner} fan {fan} failing",
                     "Fan {fan} of {miner} ({site}) turns at {value} rpm; its peers' median is "
                     "{median_rpm} rpm."));
    // A board with no hash rate or missing chips while the miner mines: 10 min lets a board
    // that re-initialises after a boot catch up.
    r.push_back(rule("MinerBoardDead", RuleKind::board_dead, 0, minutes(10), minutes(10),
                     Severity::warning, "Miner {miner} has a dead or missing hashboard",
                     "{miner} ({site}): {problem}."));
    // 5 % rejected shares (healthy miners reject well under 1 %) over 30 min: pools reject in
    // bursts around block changes and network hiccups.
    r.push_back(rule("MinerRejectRateHigh", RuleKind::reject_rate_high, 0.05, minutes(30),
                     minutes(15), Severity::warning,
                     "Miner {miner} rejects {value_pct} % of shares",
                     "{miner} ({site}): {rejected} of {shares} shares rejected "
                     "(threshold {threshold_pct} %)."));
    // 10 % over the miner's own power limit: a limit a PDU or contract depends on is not held.
    r.push_back(rule("MinerPowerOverLimit", RuleKind::power_over_limit, 1.1, minutes(10),
                     minutes(5), Severity::warning, "Miner {miner} draws {value} W over its limit",
                     "{miner} ({site}) draws {value} W; its limit is {limit_w} W."));
    // The collector's verdict on the newest finished command (failed: refused, or no sample
    // showed it in effect; timed_out: no outcome by its deadline). The failure is a fact, not
    // a reading that may wobble, so no `for` and no keep_firing_for: it fires at once and
    // resolves as soon as a later command succeeds, or an hour after (someone has looked by
    // then, or the policy has moved on). Warning: the miner still runs as it was.
    auto cmd =
        rule("MinerCommandFailed", RuleKind::command_failed, 0, Duration::zero(), Duration::zero(),
             Severity::warning, "Command {command_type} to {miner} did not take effect",
             "{command_type} command {command_id} for {miner} ({site}) {command_status}: "
             "{message}");
    cmd.window = std::chrono::hours(1);
    r.push_back(std::move(cmd));
    // The state hashwatt last asked for (the newest sleep or wake command the miner's driver
    // supports) against the state it reports: asleep while it should mine loses its revenue,
    // mining while it should sleep runs up the power bill or breaks a curtailment promise.
    // 10 min: a wake from sleep boots the boards (2 to 5 min on Antminers) and a sleep can
    // wait for the firmware's own ramp-down. A miner hashwatt never asked anything of is not
    // judged: its state is the operator's own doing.
    r.push_back(rule("MinerStateUnexpected", RuleKind::state_unexpected, 0, minutes(10), minutes(2),
                     Severity::warning, "Miner {miner} reports {state}, wanted {wanted}",
                     "{miner} ({site}) reports {state}; the last {command_type} command "
                     "({command_id}, {command_status}) wants it {wanted}."));
    // An agent sends a batch at least every poll interval (30 s by default) and every few
    // seconds while its miners answer; 3 min without one is six missed polls: the agent, its
    // host or its link is down, and every miner behind it is unwatched. Critical for that
    // reason. It fires when the threshold passes (no `for` on top) and resolves with the first
    // batch that arrives again.
    r.push_back(rule("AgentSilent", RuleKind::agent_silent, 180, Duration::zero(), Duration::zero(),
                     Severity::critical, "Agent {agent_id} is silent",
                     "No batch from agent {agent_id} for {silent_for}; {miners} miners behind "
                     "it are not watched."));
    return r;
}

AlertsConfig read_alerts_config(const config::Table& alerts) {
    AlertsConfig c;
    if (auto e = alerts.boolean("enabled")) c.enabled = *e;
    if (auto d = alerts.duration("interval", seconds(1), std::chrono::hours(1))) c.interval = *d;
    std::vector<std::string> given;
    for (const auto& t : alerts.tables("rule")) {
        const auto name = t.string("name");
        if (!name || name->empty()) t.fail("name", "missing: every rule has a name");
        if (std::find(given.begin(), given.end(), *name) != given.end()) {
            t.fail("name", "rule " + *name + " is given twice");
        }
        given.push_back(*name);
        AlertRule* existing = nullptr;
        for (auto& r : c.rules) {
            if (r.name == *name) existing = &r;
        }
        std::initializer_list<std::string_view> kinds = {
            "offline",        "hashrate_low",     "chip_temp_high",   "board_temp_high",
            "fan_failure",    "board_dead",       "reject_rate_high", "power_over_limit",
            "command_failed", "state_unexpected", "agent_silent"};
        const auto kind = t.choice("kind", kinds);
        if (existing != nullptr) {
            if (kind && *parse_rule_kind(*kind) != existing->kind) {
                t.fail("kind", "rule " + *name + " exists with kind " +
                                   std::string(to_string(existing->kind)) +
                                   "; give a new name for a rule of another kind");
            }
            read_rule(t, *existing);
            continue;
        }
        if (!kind) t.fail("kind", "missing: a new rule (" + *name + ") needs a kind");
        // A new rule starts from the default of its kind, so only what differs need be given.
        AlertRule r;
        for (const auto& d : default_rules()) {
            if (d.kind == *parse_rule_kind(*kind)) r = d;
        }
        r.name = *name;
        read_rule(t, r);
        c.rules.push_back(std::move(r));
    }
    return c;
}

std::string fill_template(std::string_view text, const std::map<std::string, std::string>& values) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto open = text.find('{', i);
        if (open == std::string_view::npos) break;
        const auto close = text.find('}', open + 1);
        if (close == std::string_view::npos) break;
        out.append(text.substr(i, open - i));
        const auto name = std::string(text.substr(open + 1, close - open - 1));
        if (auto it = values.find(name); it != values.end()) {
            out += it->second;
        } else {
            out.append(text.substr(open, close - open + 1));
        }
        i = close + 1;
    }
    out.append(text.substr(i));
    return out;
}

}  // namespace hashwatt::collector::alerts
