// One alert's lifecycle: pure, so that every transition is testable without a clock or a store.
#pragma once

#include "collector/alerts/alert.hpp"
#include "collector/alerts/evaluate.hpp"
#include "collector/alerts/rules.hpp"

#include <string>

namespace hashwatt::collector::alerts {

enum class Change { none, pending, firing, resolved, inactive };
std::string_view to_string(Change c) noexcept;

struct Step {
    Alert alert;
    Change change = Change::none;
    // Whether anything in the alert differs (worth saving), transition or not.
    bool updated = false;
};

// The alert one evaluation later. `current` is the stored alert, or a fresh one (state
// inactive, empty fingerprint) for a (rule, subject) never seen: it gets its fingerprint,
// labels and severity here.
//   inactive/resolved + holds -> pending (active_since = eval.since or now), and straight on
//     to firing when `for` has already passed since then;
//   pending + holds -> firing once `for` has passed since active_since;
//   pending + not holds -> inactive (never announced, so nothing to resolve);
//   firing + not holds -> resolved once keep_firing_for has passed since last_true.
// Annotations are filled from eval.values on pending and again on firing, so a firing
// alert keeps the values that made it fire.
Step step(const Alert& current, const Evaluation& eval, TimePoint now, const AlertRule& rule,
          const std::string& subject);

// The same with no values (tests, callers that only have a boolean).
Step step(const Alert& current, bool condition_true, TimePoint now, const AlertRule& rule,
          const std::string& subject);

// What the notifiers are given for a firing or resolved alert.
Notification to_notification(const Alert& a, const std::string& external_url = {});

}  // namespace hashwatt::collector::alerts
