#include "collector/alerts/lifecycle.hpp"

namespace hashwatt::collector::alerts {

std::string_view to_string(Change c) noexcept {
    switch (c) {
        case Change::none:
            return "none";
        case Change::pending:
            return "pending";
        case Change::firing:
            return "firing";
        case Change::resolved:
            return "resolved";
        case Change::inactive:
            return "inactive";
    }
    return "none";
}

namespace {

void fill(Alert& a, const Evaluation& eval, const AlertRule& rule) {
    a.annotations["summary"] = fill_template(rule.summary, eval.values);
    a.annotations["description"] = fill_template(rule.description, eval.values);
}

}  // namespace

Step step(const Alert& current, const Evaluation& eval, TimePoint now, const AlertRule& rule,
          const std::string& subject) {
    Step s{current, Change::none, false};
    Alert& a = s.alert;
    a.alertname = rule.name;
    a.subject = subject;
    a.fingerprint = alert_fingerprint(rule.name, subject);
    a.severity = rule.severity;
    // Labels follow the rule and the miner as they are now (a tuned severity, a new site).
    std::map<std::string, std::string> labels = rule.labels;
    labels["alertname"] = rule.name;
    labels["severity"] = std::string(to_string(rule.severity));
    labels[is_agent_rule(rule.kind) ? "agent_id" : "miner"] = subject;
    for (const auto* k : {"site", "agent_id"}) {
        if (auto it = eval.values.find(k); it != eval.values.end()) labels[k] = it->second;
    }
    a.labels = std::move(labels);

    const auto fire = [&] {
        a.state = AlertState::firing;
        a.fired_at = now;
        a.resolved_at.reset();
        fill(a, eval, rule);
        s.change = Change::firing;
    };

    switch (current.state) {
        case AlertState::inactive:
        case AlertState::resolved:
            if (!eval.holds) break;
            a.state = AlertState::pending;
            a.active_since = std::min(eval.since.value_or(now), now);
            a.last_true = now;
            a.fired_at.reset();
            fill(a, eval, rule);
            s.change = Change::pending;
            if (now - *a.active_since >= rule.for_duration) fire();
            break;
        case AlertState::pending:
            if (!eval.holds) {
                a.state = AlertState::inactive;
                a.active_since.reset();
                s.change = Change::inactive;
                break;
            }
            a.last_true = now;
            if (!a.active_since) a.active_since = now;
            if (now - *a.active_since >= rule.for_duration) fire();
            break;
        case AlertState::firing:
            if (eval.holds) {
                a.last_true = now;
                break;
            }
            if (now - a.last_true.value_or(now) >= rule.keep_firing_for) {
                a.state = AlertState::resolved;
                a.resolved_at = now;
                a.active_since.reset();
                s.change = Change::resolved;
            }
            break;
    }
    s.updated = s.alert != current;
    if (s.updated) a.updated_at = now;
    return s;
}

Step step(const Alert& current, bool condition_true, TimePoint now, const AlertRule& rule,
          const std::string& subject) {
    Evaluation e;
    e.holds = condition_true;
    return step(current, e, now, rule, subject);
}

Notification to_notification(const Alert& a, const std::string& external_url) {
    Notification n;
    n.fingerprint = a.fingerprint;
    n.labels = a.labels;
    n.annotations = a.annotations;
    n.starts_at = a.fired_at.value_or(a.active_since.value_or(a.updated_at));
    n.resolved = a.state == AlertState::resolved;
    if (n.resolved) n.ends_at = a.resolved_at;
    if (!external_url.empty())
        n.generator_url = external_url + "/api/v1/alerts?fingerprint=" + a.fingerprint;
    return n;
}

}  // namespace hashwatt::collector::alerts
