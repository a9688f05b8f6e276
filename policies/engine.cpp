#include "policies/engine.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <array>
#include <bit>
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
enum class Hold : std::uint8_t {
    none,
    for_duration,
    min_on,
    min_off,
    switches,
    commands,
    ramp,
    site_fraction,
    stale_data,
};

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
    bool sticky = false;  // break_even kept the current point (hysteresis)
    bool frozen = false;  // stale or failed data: counts at its point, never commanded
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
            return "safety:switches";
        case Hold::commands:
            return "safety:commands";
        case Hold::ramp:
            return "safety:ramp";
        case Hold::site_fraction:
            return "safety:site_fraction";
        case Hold::stale_data:
            return "safety:stale_data";
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

// fixed2/fixed0 with a small direct-mapped memory: a fleet of a few models has a few
// break-evens, and formatting each of 100,000 reasons afresh is a tenth of a round.
class NumberText {
  public:
    const std::string& operator()(double v, int decimals) {
        const auto bits = std::bit_cast<std::uint64_t>(v);
        auto& e = slots_[((bits * 0x9E3779B97F4A7C15ull) >> 56) ^ static_cast<unsigned>(decimals)];
        if (!e.valid || e.bits != bits || e.decimals != decimals) {
            e.valid = true;
            e.bits = bits;
            e.decimals = decimals;
            e.text = decimals == 0 ? fixed0(v) : fixed2(v);
        }
        return e.text;
    }

  private:
    struct Slot {
        bool valid = false;
        int decimals = 0;
        std::uint64_t bits = 0;
        std::string text;
    };
    std::array<Slot, 256> slots_;
};

// format_time with a memory of the last instant: many miners share a switch time.
class TimeText {
  public:
    const std::string& operator()(TimePoint t) {
        if (!valid_ || t != last_) {
            last_ = t;
            text_ = format_time(t);
            valid_ = true;
        }
        return text_;
    }

  private:
    bool valid_ = false;
    TimePoint last_{};
    std::string text_;
};

// One step of a miner's upper hull of (power, hash rate) in a site-cap fill.
// Sorted by `order`: marginal efficiency (TH/s per added W, as a float: models closer than
// 1e-7 count as equal), highest first, then scope index; one integer compare per step keeps
// the sort of 100,000 miners' steps cheap.
struct Step {
    std::uint64_t order;
    std::uint32_t to;  // point index reached by this step
    double added_w;
    std::uint32_t miner() const noexcept { return static_cast<std::uint32_t>(order); }
};

std::uint64_t step_order(double ths_per_w, std::uint32_t miner) noexcept {
    // A positive float's bits order like its value; inverted so that ascending is best first.
    const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(ths_per_w));
    return (static_cast<std::uint64_t>(~bits) << 32) | miner;
}

// Steps are made in scope order, so a stable sort on the efficiency half of `order` sorts them
// by the whole key: two 16-bit counting passes, linear in the fleet.
void sort_steps(std::vector<Step>& v) {
    if (v.size() < 4096) {
        std::sort(v.begin(), v.end(),
                  [](const Step& a, const Step& b) { return a.order < b.order; });
        return;
    }
    std::vector<Step> tmp(v.size());
    std::vector<std::uint32_t> count(65537);
    for (const int shift : {32, 48}) {
        std::fill(count.begin(), count.end(), 0);
        for (const auto& x : v) ++count[((x.order >> shift) & 0xFFFF) + 1];
        for (std::size_t k = 1; k < count.size(); ++k) count[k] += count[k - 1];
        for (const auto& x : v) tmp[count[(x.order >> shift) & 0xFFFF]++] = x;
        v.swap(tmp);
    }
}

// Precedence order, whoever built the RuleSet: kind, then priority, then as given.
void sort_rules(RuleSet& r) {
    std::stable_sort(r.rules.begin(), r.rules.end(), [](const Rule& a, const Rule& b) {
        if (a.kind != b.kind) return a.kind > b.kind;
        return a.priority > b.priority;
    });
}

}  // namespace

PolicyEngine::PolicyEngine(RuleSet rules) : rules_(std::move(rules)) {
    sort_rules(rules_);
    threshold_on_.assign(rules_.rules.size(), false);
}

void PolicyEngine::set_rules(RuleSet rules) {
    sort_rules(rules);
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

void PolicyEngine::shift_clock(Duration step) {
    for (auto& [id, st] : state_) {
        if (st.last_switch) *st.last_switch += step;
        if (st.has_wish) st.wish_since += step;
    }
    if (last_round_) *last_round_ += step;
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

    // Time-of-use windows depend on the time alone: once per round, not per miner.
    std::vector<char> tou_active(rules_.rules.size(), 0);
    for (std::size_t i = 0; i < rules_.rules.size(); ++i) {
        const auto& r = rules_.rules[i];
        if (r.kind != RuleKind::time_of_use) continue;
        tou_active[i] = std::any_of(r.windows.begin(), r.windows.end(), [&](const TouWindow& tw) {
            const Duration offset =
                r.zone ? std::chrono::duration_cast<Duration>(r.zone->utc_offset(now))
                       : r.utc_offset;
            return window_contains(tw, offset, now);
        });
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
        if (!ramp_budget_kw_ || !last_round_) {
            ramp_budget = ramp_cap;
        } else {
            const double elapsed_min = std::max(
                0.0, std::chrono::duration<double, std::ratio<60>>(now - *last_round_).count());
            ramp_budget = std::min(ramp_cap, *ramp_budget_kw_ + ramp_rate * elapsed_min);
        }
    }
    const std::int64_t today = utc_day(now);

    std::vector<Work> work(fleet.size());
    std::vector<MinerState*> states(fleet.size(), nullptr);
    cache_.resize(fleet.size());

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
        // The fleet usually comes in the same order each round: check the cached entry before
        // hashing the id (map nodes never move, so the pointers stay valid).
        MinerState* sp = nullptr;
        if (cache_[i].first && *cache_[i].first == m.miner_id) {
            sp = cache_[i].second;
        } else {
            auto it = state_.try_emplace(m.miner_id).first;
            sp = &it->second;
            cache_[i] = {&it->first, sp};
        }
        auto& st = *sp;
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
                    if (!tou_active[r]) continue;
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
                // Hysteresis: leaving the current point must gain a share of what the miner
                // earns at full, or a price wandering near a break-even flips it every round.
                if (best != w.current && rule.hysteresis_pct > 0) {
                    const double gain = best_rate - profit_rate(econ, m.points[w.current], eff);
                    const double full_revenue = profit_rate(econ, m.points[0], 0);
                    if (gain < rule.hysteresis_pct / 100 * full_revenue) {
                        best = w.current;
                        w.sticky = true;
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
        // Data too old or a failed poll: what the miner runs at is not known, so nothing is
        // sent to it, not even an obligation (it is counted at its last known point).
        if (m.sample_failed || (m.sampled_at && now - *m.sampled_at > safety.max_sample_age)) {
            w.frozen = true;
            w.target = w.current;
            w.hold = Hold::stale_data;
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
            if (w.source == Source::unreachable || w.source == Source::override_event || w.frozen) {
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
                const double slope = (b.hashrate_ths - a.hashrate_ths) / dw;
                if (!(slope > 0)) break;  // more power for no more hash rate: never worth it
                steps.push_back({step_order(slope, s), static_cast<std::uint32_t>(hull[h]), dw});
            }
        }
        sort_steps(steps);
        std::vector<std::size_t> level(scope.size());
        std::vector<bool> blocked(scope.size(), false);
        for (std::uint32_t s = 0; s < scope.size(); ++s) level[s] = sleep_index(fleet[scope[s]]);
        double budget = cap_w - base_w;
        for (const auto& step : steps) {
            const auto sm = step.miner();
            if (blocked[sm]) continue;
            if (step.added_w > budget) {
                // Its later steps are less efficient and need this one first.
                blocked[sm] = true;
                continue;
            }
            budget -= step.added_w;
            level[sm] = step.to;
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
        if (w.source == Source::invalid || w.source == Source::unreachable || w.frozen) continue;
        if (w.target != w.current) changes.push_back(static_cast<std::uint32_t>(i));
    }
    struct Ranked {
        int rank;
        double j_per_th;  // wake-ups: most efficient first
        std::uint32_t miner;
    };
    std::vector<Ranked> ranked;
    ranked.reserve(changes.size());
    for (const auto i : changes) {
        const auto& w = work[i];
        const auto& pts = fleet[i].points;
        const bool down = pts[w.target].power_w < pts[w.current].power_w;
        int rank = down ? 2 : 3;
        if (w.source == Source::override_event && !w.cap && down) rank = 0;
        if (w.cap && down) rank = 1;
        ranked.push_back({rank, rank == 3 ? joules_per_th(pts[w.target]) : 0.0, i});
    }
    std::sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
        if (a.rank != b.rank) return a.rank < b.rank;
        if (a.j_per_th != b.j_per_th) return a.j_per_th < b.j_per_th;
        return a.miner < b.miner;
    });
    for (std::size_t k = 0; k < ranked.size(); ++k) changes[k] = ranked[k].miner;
    int commands_left = safety.max_commands_per_interval > 0 ? safety.max_commands_per_interval
                                                             : std::numeric_limits<int>::max();
    // The share of each site commanded per round: of every miner known for the site (floor,
    // at least one, so that a small site still moves), the miners without a site as one.
    const double fraction = safety.max_site_fraction_per_interval;
    std::unordered_map<std::string_view, int> site_left;
    if (fraction < 1 && !changes.empty()) {
        for (const auto& m : fleet) ++site_left[m.site ? std::string_view(*m.site) : ""];
        for (auto& [site, n] : site_left) {
            n = std::max(1, static_cast<int>(std::floor(fraction * n + 1e-9)));
        }
    }
    for (const auto i : changes) {
        auto& w = work[i];
        const auto& pts = fleet[i].points;
        if (commands_left <= 0) {
            w.hold = Hold::commands;
            w.target = w.current;
            continue;
        }
        int* left_in_site = nullptr;
        if (!site_left.empty()) {
            left_in_site = &site_left[fleet[i].site ? std::string_view(*fleet[i].site) : ""];
            if (*left_in_site <= 0) {
                w.hold = Hold::site_fraction;
                w.target = w.current;
                continue;
            }
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
        if (left_in_site) --*left_in_site;
        w.change = true;
    }

    // 4. Remember and explain. Reasons are appended piecewise and the per-round parts (the
    // price, stale text) formatted once: a round for 100,000 miners writes 100,000 of them.
    const bool commanding = !rules_.dry_run && !rules_.kill_switch;
    if (ramp_rate > 0 && commanding) ramp_budget_kw_ = ramp_budget;
    last_round_ = now;

    std::vector<Decision> out(fleet.size());
    std::string stale_why = price.price_per_mwh ? "price stale" : "no price";
    if (!price.why.empty()) stale_why += " (" + price.why + ")";
    stale_why += ": on_stale = ";
    stale_why += to_string(rules_.on_stale);
    const std::string p_text = have_price ? fixed2(p) : std::string();
    TimeText until_text;
    NumberText num;
    std::string why;
    // Labels per rule, made once: "break_even", "price_threshold:spikes".
    std::vector<std::string> labels;
    labels.reserve(rules_.rules.size());
    for (const auto& r : rules_.rules) labels.push_back(rule_label(r));
    const auto label = [&](const Rule* r) -> const std::string& {
        return labels[static_cast<std::size_t>(r - rules_.rules.data())];
    };
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

        // The deciding rule.
        switch (w.source) {
            case Source::none:
                d.rule = "default";
                break;
            case Source::unreachable:
                d.rule = "unreachable";
                break;
            case Source::override_event:
                d.rule = "override:" + w.ov->id;
                break;
            case Source::stale:
                d.rule = "stale_price";
                break;
            case Source::time_of_use:
            case Source::threshold:
            case Source::break_even:
                d.rule = label(w.rule);
                break;
            case Source::invalid:
                break;
        }
        if (w.cap) {
            d.rule = label(w.cap);
        } else if (w.hold != Hold::none) {
            // Stale data names itself even when the rules want no change, but only a change
            // it stops is a hold (and a decision row).
            d.held = w.hold != Hold::stale_data || w.wish != w.current;
            d.rule = hold_rule(w.hold);
        }

        if (explain_) {
            // Why the rules want what they want.
            why.clear();
            switch (w.source) {
                case Source::none:
                    why = "no rule applies: full";
                    break;
                case Source::unreachable:
                    why = "not reachable: left at ";
                    why += to_string(m.points[w.current].kind);
                    break;
                case Source::override_event:
                    why.append("override ").append(w.ov->id).append(" until ");
                    why.append(until_text(w.ov->end)).append(": ").append(to_string(w.ov->target));
                    break;
                case Source::stale:
                    why = stale_why;
                    break;
                case Source::time_of_use:
                    why.append("time-of-use window: ").append(to_string(w.rule->target));
                    break;
                case Source::threshold:
                    why.append("price ").append(p_text);
                    if (p > w.rule->sleep_above_per_mwh) {
                        why.append(" > sleep_above ").append(num(w.rule->sleep_above_per_mwh, 2));
                    } else {
                        why.append(" not below wake_below ")
                            .append(num(w.rule->wake_below_per_mwh, 2));
                    }
                    why.append(": ").append(to_string(w.rule->target));
                    break;
                case Source::break_even: {
                    const auto& wp = m.points[w.wish];
                    why.append("price ").append(p_text);
                    if (wp.kind == PointKind::reduced) {
                        why.append(": reduced ").append(num(wp.power_w, 0));
                        why.append(" W earns most (break-even ");
                        why.append(num(break_even_per_mwh(econ, wp), 2));
                    } else {
                        why.append(wp.kind == PointKind::full ? " <= break-even "
                                                              : " > break-even ");
                        why.append(num(break_even_per_mwh(econ, m.points[0]), 2));
                    }
                    if (w.rule->margin_pct != 0) {
                        why.append(" + ").append(num(w.rule->margin_pct, 0)).append("%");
                    }
                    if (wp.kind == PointKind::reduced) why.append(")");
                    if (w.sticky) {
                        why.append("; stays: another point gains under ");
                        why.append(num(w.rule->hysteresis_pct, 0)).append("% of full revenue");
                    }
                    break;
                }
                case Source::invalid:
                    break;
            }

            if (w.cap) {
                auto& r = d.reason;
                r.reserve(why.size() + 80);
                r.append("site cap ").append(num(w.cap->cap_kw, 0)).append(" kW: ");
                r.append(to_string(d.target)).append(" in merit order (");
                r.append(num(joules_per_th(m.points[0]), 2)).append(" J/TH); rules want ");
                r.append(to_string(m.points[w.wish].kind)).append(" (").append(why).append(")");
            } else if (w.hold != Hold::none) {
                const auto* st = states[i];
                auto& r = d.reason;
                r.reserve(why.size() + 80);
                if (w.hold == Hold::stale_data && w.wish == w.current) {
                    r.append("at ").append(to_string(m.points[w.wish].kind)).append(" (");
                    r.append(why).append("); ");
                } else {
                    r.append("wants ").append(to_string(m.points[w.wish].kind)).append(" (");
                    r.append(why).append(") but ");
                }
                switch (w.hold) {
                    case Hold::for_duration:
                        r.append("wanted for ").append(format_duration(now - st->wish_since));
                        r.append(" of ").append(format_duration(safety.for_duration));
                        break;
                    case Hold::min_on:
                        r.append("min_on ").append(format_duration(safety.min_on));
                        r.append(" holds until ")
                            .append(until_text(*st->last_switch + safety.min_on));
                        break;
                    case Hold::min_off:
                        r.append("min_off ").append(format_duration(safety.min_off));
                        r.append(" holds until ")
                            .append(until_text(*st->last_switch + safety.min_off));
                        break;
                    case Hold::switches:
                        r.append(std::to_string(st->switches_today))
                            .append(" switches today (max ");
                        r.append(std::to_string(safety.max_switches_per_day)).append(")");
                        break;
                    case Hold::commands:
                        r.append("max ").append(std::to_string(safety.max_commands_per_interval));
                        r.append(" commands this round");
                        break;
                    case Hold::ramp:
                        r.append("wake-up ramp ").append(num(safety.max_ramp_kw_per_min, 2));
                        r.append(" kW/min used up");
                        break;
                    case Hold::site_fraction:
                        r.append("max_site_fraction_per_interval ");
                        r.append(num(safety.max_site_fraction_per_interval, 2));
                        r.append(" of site ").append(m.site ? *m.site : "(none)");
                        r.append(" commanded this round");
                        break;
                    case Hold::stale_data:
                        if (m.sample_failed) {
                            r.append("its newest poll failed");
                            if (!m.sample_why.empty())
                                r.append(" (").append(m.sample_why).append(")");
                        } else {
                            r.append("its newest sample is ");
                            r.append(format_duration(now - *m.sampled_at));
                            r.append(" old (max_sample_age ");
                            r.append(format_duration(safety.max_sample_age)).append(")");
                        }
                        r.append(": not commanded");
                        break;
                    case Hold::none:
                        break;
                }
            } else {
                d.reason = why;
            }
        }

        if (w.change) {
            if (rules_.kill_switch) {
                d.rule = "kill_switch";
                if (explain_) {
                    d.reason = "kill switch ([policy] enabled = false): would " +
                               std::string(to_string(d.target)) + ": " + d.reason;
                }
                d.target_index = w.current;
                d.target = m.points[w.current].kind;
            } else if (rules_.dry_run) {
                if (explain_) d.reason.insert(0, "dry-run: ");
            } else {
                d.change = true;
                auto* st = states[i];
                st->last_switch = now;
                st->commanded_index = w.target;
                st->has_command = true;
                ++st->switches_today;
            }
        } else if (rules_.dry_run && explain_) {
            d.reason.insert(0, "dry-run: ");
        }
    }
    return out;
}

}  // namespace hashwatt::policies
