#include "policies/engine.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace hashwatt::policies {

namespace {

using std::chrono::minutes;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Where a miner's wish came from, so that its reason is written once, at the end.
enum class Source : std::uint8_t {
    none,  // no rule applies: full
    break_even,
    threshold,
    time_of_use,
    stale,
    override_event,
    invalid,
    unreachable,
};

// What safety limit held a wanted change.
enum class Hold : std::uint8_t { none, for_duration, min_on, min_off, switches, commands, ramp };

struct Work {
    std::size_t current = 0;  // what the miner runs at (or was just commanded to)
    std::size_t wish = 0;     // what the rules want
    std::size_t target = 0;   // after safety and caps
    Source source = Source::none;
    Hold hold = Hold::none;
    const Rule* rule = nullptr;    // the deciding rule (break_even, threshold, tou)
    const Override* ov = nullptr;  // the deciding override
    const Rule* cap = nullptr;     // the cap that cut it, if one did
    bool change = false;
};

std::string fixed2(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 2);
    return std::string(buf, r.ptr);
}

std::string fixed0(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 0);
    return std::string(buf, r.ptr);
}

std::size_t sleep_index(const MinerInput& m) { return m.points.size() - 1; }

// The miner's point for a target kind: reduced is its lowest reduced point (the most
// efficient), or sleep when it has none.
std::size_t index_of(const MinerInput& m, PointKind k) {
    if (k == PointKind::full) return 0;
    if (k == PointKind::reduced) {
        for (std::size_t i = m.points.size(); i-- > 0;) {
            if (m.points[i].kind == PointKind::reduced) return i;
        }
    }
    return sleep_index(m);
}

bool in_scope(const std::optional<std::string>& scope, const MinerInput& m) {
    return !scope || (m.site && *m.site == *scope);
}

bool runs(const OperatingPoint& p) { return p.kind != PointKind::sleep; }

// Profit per hour of a point at a price: the quantity break_even maximises.
double profit_rate(const Economics& e, const OperatingPoint& p, double price) {
    return e.hashprice_per_th_day * p.hashrate_ths * (1 - e.pool_fee) / 24 -
           p.power_w * e.pue / 1e6 * price;
}

std::int64_t utc_day(TimePoint t) {
    return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
}

std::string_view hold_rule(Hold h) {
    switch (h) {
        case Hold::for_duration:
            return "safety:for";
        case Hold::min_on:
            return "safety:min_on";
        case Hold::min_off:
            return "safety:min_off";
        case Hold::switches:
            return "safety:max_switches_per_day";
        case Hold::commands:
            return "safety:max_commands_per_interval";
        case Hold::ramp:
            return "safety:max_ramp_kw_per_min";
        case Hold::none:
            break;
    }
    return "";
}

std::string rule_label(const Rule& r) {
    const auto kind = std::string(to_string(r.kind));
    // Unnamed rules are "<kind>#<n>": the kind alone says enough.
    if (r.name.starts_with(kind + "#")) return kind;
    return kind + ":" + r.name;
}

// One step of a miner's upper hull of (power, hash rate) in a site-cap fill.
struct Step {
    double ths_per_w;     // marginal efficiency: the merit order
    std::uint32_t miner;  // index into the cap's scope
    std::uint32_t to;     // point index reached by this step
    double added_w;
};

}  // namespace

PolicyEngine::PolicyEngine(RuleSet rules) : rules_(std::move(rules)) {
    threshold_on_.assign(rules_.rules.size(), false);
}

void PolicyEngine::set_rules(RuleSet rules) {
    // Keep an engaged price threshold engaged across a reload when the rule is still there.
    std::vector<bool> on(rules.rules.size(), false);
    for (std::size_t i = 0; i < rules.rules.size(); ++i) {
        for (std::size_t j = 0; j < rules_.rules.size(); ++j) {
            if (rules_.rules[j].name == rules.rules[i].name && threshold_on_[j]) on[i] = true;
        }
    }
    rules_ = std::move(rules);
    threshold_on_ = std::move(on);
}

void PolicyEngine::add_override(Override o) {
    remove_override(o.id);
    added_.push_back(std::move(o));
}

bool PolicyEngine::remove_override(const std::string& id) {
    const auto n = std::erase_if(added_, [&](const Override& o) { return o.id == id; });
    return n > 0;
}

std::vector<Override> PolicyEngine::active_overrides(TimePoint now) const {
    std::vector<Override> out;
    for (const auto* list : {&rules_.overrides, &added_}) {
        for (const auto& o : *list) {
            if (o.start <= now && now < o.end) out.push_back(o);
        }
    }
    return out;
}

std::vector<Decision> PolicyEngine::decide(TimePoint now, const PriceInput& price,
                                           std::span<const MinerInput> fleet) {
    const auto& safety = rules_.safety;
    const auto& econ = rules_.economics;
    std::erase_if(added_, [&](const Override& o) { return o.end <= now; });

    const bool have_price =
        price.price_per_mwh && !price.stale && std::isfinite(*price.price_per_mwh);
    const double p = have_price ? *price.price_per_mwh : kNaN;

    // Price thresholds are fleet-wide state: engaged above sleep_above until below wake_below.
    if (have_price) {
        for (std::size_t i = 0; i < rules_.rules.size(); ++i) {
            const auto& r = rules_.rules[i];
            if (r.kind != RuleKind::price_threshold) continue;
            if (threshold_on_[i] && p < r.wake_below_per_mwh) threshold_on_[i] = false;
            if (!threshold_on_[i] && p > r.sleep_above_per_mwh) threshold_on_[i] = true;
        }
    }

    // The active overrides, best first: priority, then file before added, then order given.
    std::vector<const Override*> overrides;
    for (const auto* list : {&rules_.overrides, &added_}) {
        for (const auto& o : *list) {
            if (o.start <= now && now < o.end) overrides.push_back(&o);
        }
    }
    std::stable_sort(overrides.begin(), overrides.end(), [](const Override* a, const Override* b) {
        return a->priority > b->priority;
    });

    // The wake-up ramp is a token bucket: it refills at max_ramp_kw_per_min and holds at most
    // one round's worth (at least a minute's).
    const double ramp_rate = safety.max_ramp_kw_per_min;
    double ramp_budget = 0;
    double ramp_cap = 0;
    if (ramp_rate > 0) {
        const double round_min =
            std::max(1.0, std::chrono::duration<double, std::ratio<60>>(rules_.interval).count());
        ramp_cap = ramp_rate * round_min;
        if (ramp_budget_kw_ < 0 || !last_round_) {
            ramp_budget = ramp_cap;
        } else {
            const double elapsed_min = std::max(
                0.0, std::chrono::duration<double, std::ratio<60>>(now - *last_round_).count());
            ramp_budget = std::min(ramp_cap, ramp_budget_kw_ + ramp_rate * elapsed_min);
        }
    }
    const std::int64_t today = utc_day(now);

    std::vector<Work> work(fleet.size());
    std::vector<MinerState*> states(fleet.size(), nullptr);
    state_.reserve(state_.size() + fleet.size());

    // 1. Wishes, and whether safety lets each miner move to its wish.
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        const auto& m = fleet[i];
        auto& w = work[i];
        if (m.points.empty() || m.actual_index >= m.points.size()) {
            w.source = Source::invalid;
            continue;
        }
        if (!m.reachable) {
            w.source = Source::unreachable;
            w.current = w.wish = w.target = m.actual_index;
            continue;
        }
        auto& st = state_[m.miner_id];
        states[i] = &st;
        if (st.switch_day != today) {
            st.switch_day = today;
            st.switches_today = 0;
        }
        // A command still settling counts as done, so it is not sent again every round.
        w.current = m.actual_index;
        if (st.has_command && st.commanded_index < m.points.size() &&
            st.commanded_index != m.actual_index && st.last_switch &&
            now - *st.last_switch < safety.settle) {
            w.current = st.commanded_index;
        }

        const Override* ov = nullptr;
        for (const auto* o : overrides) {
            if (!in_scope(o->site, m)) continue;
            if (!o->miners.empty() &&
                std::find(o->miners.begin(), o->miners.end(), m.miner_id) == o->miners.end()) {
                continue;
            }
            ov = o;
            break;
        }
        if (ov) {
            w.source = Source::override_event;
            w.ov = ov;
            w.wish = index_of(m, ov->target);
        } else {
            w.source = Source::none;
            w.wish = 0;
            for (std::size_t r = 0; r < rules_.rules.size(); ++r) {
                const auto& rule = rules_.rules[r];
                if (rule.kind == RuleKind::site_cap || !in_scope(rule.site, m)) continue;
                if (rule.kind == RuleKind::time_of_use) {
                    const bool in = std::any_of(
                        rule.windows.begin(), rule.windows.end(), [&](const TouWindow& tw) {
                            return window_contains(tw, rule.utc_offset, now);
                        });
                    if (!in) continue;
                    w.source = Source::time_of_use;
                    w.rule = &rule;
                    w.wish = index_of(m, rule.target);
                    break;
                }
                // A price rule without a fresh price: the configured fallback instead.
                if (!have_price) {
                    w.source = Source::stale;
                    w.rule = &rule;
                    w.wish = rules_.on_stale == StaleAction::hold   ? w.current
                             : rules_.on_stale == StaleAction::mine ? 0
                                                                    : sleep_index(m);
                    break;
                }
                if (rule.kind == RuleKind::price_threshold) {
                    if (!threshold_on_[r]) continue;
                    w.source = Source::threshold;
                    w.rule = &rule;
                    w.wish = index_of(m, rule.target);
                    break;
                }
                // break_even: of the points, the one that earns most at the price less the
                // margin (a positive margin keeps miners on a little past break-even).
                const double eff = p > 0 ? p / (1 + rule.margin_pct / 100) : p;
                std::size_t best = 0;
                double best_rate = -std::numeric_limits<double>::infinity();
                for (std::size_t k = 0; k < m.points.size(); ++k) {
                    const double rate = profit_rate(econ, m.points[k], eff);
                    if (rate > best_rate) {
                        best_rate = rate;
                        best = k;
                    }
                }
                w.source = Source::break_even;
                w.rule = &rule;
                w.wish = best;
                break;
            }
        }
        if (!st.has_wish || st.wish_index != w.wish) {
            st.has_wish = true;
            st.wish_index = w.wish;
            st.wish_since = now;
        }

        w.target = w.wish;
        if (w.wish != w.current && w.source != Source::override_event) {
            const bool from_runs = runs(m.points[w.current]);
            const bool to_runs = runs(m.points[w.wish]);
            if (now - st.wish_since < safety.for_duration) {
                w.hold = Hold::for_duration;
            } else if (st.last_switch && from_runs && !to_runs &&
                       now - *st.last_switch < safety.min_on) {
                w.hold = Hold::min_on;
            } else if (st.last_switch && !from_runs && to_runs &&
                       now - *st.last_switch < safety.min_off) {
                w.hold = Hold::min_off;
            } else if (safety.max_switches_per_day > 0 &&
                       st.switches_today >= safety.max_switches_per_day) {
                w.hold = Hold::switches;
            }
            if (w.hold != Hold::none) w.target = w.current;
        }
    }

    // 2. Site caps: start every flexible miner asleep, then add hull steps in merit order
    // (most TH/s per added W first) while the cap allows. A miner can only be cut below what
    // step 1 left it at; overridden and unreachable miners count at their point.
    for (const auto& cap : rules_.rules) {
        if (cap.kind != RuleKind::site_cap) continue;
        const double pue = econ.pue;
        const double cap_w = cap.cap_kw * 1000 / pue;  // in miner watts
        std::vector<std::uint32_t> scope;
        double total_w = 0;
        double fixed_w = 0;
        for (std::size_t i = 0; i < fleet.size(); ++i) {
            const auto& w = work[i];
            if (w.source == Source::invalid || !in_scope(cap.site, fleet[i])) continue;
            const double pw = fleet[i].points[w.target].power_w;
            total_w += pw;
            if (w.source == Source::unreachable || w.source == Source::override_event) {
                fixed_w += pw;
            } else {
                scope.push_back(static_cast<std::uint32_t>(i));
            }
        }
        if (total_w <= cap_w) continue;

        std::vector<Step> steps;
        steps.reserve(scope.size() * 3);
        double base_w = fixed_w;
        std::vector<std::size_t> hull;
        for (std::uint32_t s = 0; s < scope.size(); ++s) {
            const auto& m = fleet[scope[s]];
            const std::size_t top = work[scope[s]].target;
            const std::size_t bottom = sleep_index(m);
            base_w += m.points[bottom].power_w;
            // Upper concave hull of (W, TH/s) from sleep up to `top`, power increasing.
            hull.clear();
            hull.push_back(bottom);
            for (std::size_t k = bottom; k-- > top;) {
                const auto& pk = m.points[k];
                if (pk.power_w <= m.points[hull.back()].power_w) continue;
                while (hull.size() >= 2) {
                    const auto& a = m.points[hull[hull.size() - 2]];
                    const auto& b = m.points[hull.back()];
                    const double cross =
                        (b.power_w - a.power_w) * (pk.hashrate_ths - a.hashrate_ths) -
                        (b.hashrate_ths - a.hashrate_ths) * (pk.power_w - a.power_w);
                    if (cross < 0) break;
                    hull.pop_back();
                }
                hull.push_back(k);
            }
            for (std::size_t h = 1; h < hull.size(); ++h) {
                const auto& a = m.points[hull[h - 1]];
                const auto& b = m.points[hull[h]];
                const double dw = b.power_w - a.power_w;
                steps.push_back({(b.hashrate_ths - a.hashrate_ths) / dw, s,
                                 static_cast<std::uint32_t>(hull[h]), dw});
            }
        }
        std::sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) {
            if (a.ths_per_w != b.ths_per_w) return a.ths_per_w > b.ths_per_w;
            return a.miner < b.miner;
        });
        std::vector<std::size_t> level(scope.size());
        std::vector<bool> blocked(scope.size(), false);
        for (std::uint32_t s = 0; s < scope.size(); ++s) level[s] = sleep_index(fleet[scope[s]]);
        double budget = cap_w - base_w;
        for (const auto& step : steps) {
            if (blocked[step.miner]) continue;
            if (step.added_w > budget) {
                // Its later steps are less efficient and need this one first.
                blocked[step.miner] = true;
                continue;
            }
            budget -= step.added_w;
            level[step.miner] = step.to;
        }
        for (std::uint32_t s = 0; s < scope.size(); ++s) {
            auto& w = work[scope[s]];
            if (level[s] != w.target) {
                w.target = level[s];
                w.cap = &cap;
                w.hold = Hold::none;  // a cap is an obligation: no safety hold keeps a miner up
            }
        }
    }

    // 3. The round's command budget and the wake-up ramp: overrides, then cap cuts, then other
    // power reductions, then wake-ups, most efficient first.
    std::vector<std::uint32_t> changes;
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        const auto& w = work[i];
        if (w.source == Source::invalid || w.source == Source::unreachable) continue;
        if (w.target != w.current) changes.push_back(static_cast<std::uint32_t>(i));
    }
    const auto rank = [&](std::uint32_t i) {
        const auto& w = work[i];
        const auto& pts = fleet[i].points;
        const bool down = pts[w.target].power_w < pts[w.current].power_w;
        if (w.source == Source::override_event && !w.cap) return down ? 0 : 3;
        if (w.cap && down) return 1;
        return down ? 2 : 3;
    };
    std::stable_sort(changes.begin(), changes.end(), [&](std::uint32_t a, std::uint32_t b) {
        const int ra = rank(a);
        const int rb = rank(b);
        if (ra != rb) return ra < rb;
        if (ra == 3) {
            return joules_per_th(fleet[a].points[work[a].target]) <
                   joules_per_th(fleet[b].points[work[b].target]);
        }
        return false;
    });
    int commands_left = safety.max_commands_per_interval > 0 ? safety.max_commands_per_interval
                                                             : std::numeric_limits<int>::max();
    for (const auto i : changes) {
        auto& w = work[i];
        const auto& pts = fleet[i].points;
        if (commands_left <= 0) {
            w.hold = Hold::commands;
            w.target = w.current;
            continue;
        }
        const double added_kw = (pts[w.target].power_w - pts[w.current].power_w) * econ.pue / 1000;
        if (ramp_rate > 0 && added_kw > 0) {
            // A full bucket lets one wake through even when it alone is larger than the bucket.
            if (added_kw > ramp_budget && ramp_budget < ramp_cap) {
                w.hold = Hold::ramp;
                w.target = w.current;
                continue;
            }
            ramp_budget -= added_kw;
        }
        --commands_left;
        w.change = true;
    }

    // 4. Remember and explain.
    const bool commanding = !rules_.dry_run && !rules_.kill_switch;
    if (ramp_rate > 0 && commanding) ramp_budget_kw_ = ramp_budget;
    last_round_ = now;

    std::vector<Decision> out(fleet.size());
    const std::string stale_why =
        price.why.empty()
            ? std::string(price.price_per_mwh ? "price stale" : "no price")
            : std::string(price.price_per_mwh ? "price stale (" : "no price (") + price.why + ")";
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        const auto& m = fleet[i];
        const auto& w = work[i];
        auto& d = out[i];
        d.miner_id = m.miner_id;
        d.price_per_mwh = p;
        if (w.source == Source::invalid) {
            d.rule = "invalid";
            d.reason = m.points.empty() ? "no operating points" : "actual_index out of range";
            d.target_index = m.points.empty() ? 0 : std::min(m.actual_index, m.points.size() - 1);
            d.target = m.points.empty() ? PointKind::full : m.points[d.target_index].kind;
            d.break_even_per_mwh = kNaN;
            continue;
        }
        d.target_index = w.target;
        d.target = m.points[w.target].kind;
        const auto& tp = m.points[w.target];
        d.break_even_per_mwh = break_even_per_mwh(econ, runs(tp) ? tp : m.points[0]);

        // Why the rules want what they want.
        std::string why;
        switch (w.source) {
            case Source::none:
                d.rule = "default";
                why = "no rule applies: full";
                break;
            case Source::unreachable:
                d.rule = "unreachable";
                why = "not reachable: left at " + std::string(to_string(m.points[w.current].kind));
                break;
            case Source::override_event:
                d.rule = "override:" + w.ov->id;
                why = "override " + w.ov->id + " until " + format_time(w.ov->end) + ": " +
                      std::string(to_string(w.ov->target));
                break;
            case Source::stale:
                d.rule = "stale_price";
                why = stale_why + ": on_stale = " + std::string(to_string(rules_.on_stale));
                break;
            case Source::time_of_use:
                d.rule = rule_label(*w.rule);
                why = "time-of-use window: " + std::string(to_string(w.rule->target));
                break;
            case Source::threshold:
                d.rule = rule_label(*w.rule);
                why = p > w.rule->sleep_above_per_mwh
                          ? "price " + fixed2(p) + " > sleep_above " +
                                fixed2(w.rule->sleep_above_per_mwh)
                          : "price " + fixed2(p) + " not below wake_below " +
                                fixed2(w.rule->wake_below_per_mwh);
                why += ": " + std::string(to_string(w.rule->target));
                break;
            case Source::break_even: {
                d.rule = rule_label(*w.rule);
                const double be = break_even_per_mwh(econ, m.points[0]);
                const auto margin = w.rule->margin_pct != 0
                                        ? " + " + fixed0(w.rule->margin_pct) + "%"
                                        : std::string();
                const auto& wp = m.points[w.wish];
                if (wp.kind == PointKind::full) {
                    why = "price " + fixed2(p) + " <= break-even " + fixed2(be) + margin;
                } else if (wp.kind == PointKind::sleep) {
                    why = "price " + fixed2(p) + " > break-even " + fixed2(be) + margin;
                } else {
                    why = "price " + fixed2(p) + ": reduced " + fixed0(wp.power_w) +
                          " W earns most (break-even " + fixed2(break_even_per_mwh(econ, wp)) +
                          margin + ")";
                }
                break;
            }
            case Source::invalid:
                break;
        }

        if (w.cap) {
            d.rule = rule_label(*w.cap);
            d.reason = "site cap " + fixed0(w.cap->cap_kw) +
                       " kW: " + std::string(to_string(d.target)) + " in merit order (" +
                       fixed2(joules_per_th(m.points[0])) + " J/TH); rules want " +
                       std::string(to_string(m.points[w.wish].kind)) + " (" + why + ")";
        } else if (w.hold != Hold::none) {
            d.held = true;
            d.rule = std::string(hold_rule(w.hold));
            const auto* st = states[i];
            std::string limit;
            switch (w.hold) {
                case Hold::for_duration:
                    limit = "wanted for " + format_duration(now - st->wish_since) + " of " +
                            format_duration(safety.for_duration);
                    break;
                case Hold::min_on:
                    limit = "min_on " + format_duration(safety.min_on) + " holds until " +
                            format_time(*st->last_switch + safety.min_on);
                    break;
                case Hold::min_off:
                    limit = "min_off " + format_duration(safety.min_off) + " holds until " +
                            format_time(*st->last_switch + safety.min_off);
                    break;
                case Hold::switches:
                    limit = std::to_string(st->switches_today) + " switches today (max " +
                            std::to_string(safety.max_switches_per_day) + ")";
                    break;
                case Hold::commands:
                    limit = "max " + std::to_string(safety.max_commands_per_interval) +
                            " commands this round";
                    break;
                case Hold::ramp:
                    limit =
                        "wake-up ramp " + fixed2(safety.max_ramp_kw_per_min) + " kW/min used up";
                    break;
                case Hold::none:
                    break;
            }
            d.reason = "wants " + std::string(to_string(m.points[w.wish].kind)) + " (" + why +
                       ") but " + limit;
        } else {
            d.reason = std::move(why);
        }

        if (w.change) {
            if (rules_.kill_switch) {
                d.rule = "kill_switch";
                d.reason = "kill switch ([policy] enabled = false): would " +
                           std::string(to_string(d.target)) + ": " + d.reason;
                d.target_index = w.current;
                d.target = m.points[w.current].kind;
            } else if (rules_.dry_run) {
                d.reason = "dry-run: " + d.reason;
            } else {
                d.change = true;
                auto* st = states[i];
                st->last_switch = now;
                st->commanded_index = w.target;
                st->has_command = true;
                ++st->switches_today;
            }
        } else if (rules_.dry_run) {
            d.reason = "dry-run: " + d.reason;
        }
    }
    return out;
}

}  // namespace hashwatt::policies
