#include "policies/backtest/backtest.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace hashwatt::policies::backtest {

namespace {

using std::chrono::duration;

// The series on its uniform grid.
struct Grid {
    std::size_t n = 0;
    Duration length{};
    double hours = 0;  // of one interval
    const std::vector<PriceInterval>* intervals = nullptr;

    double price(std::size_t t) const { return (*intervals)[t].price_per_mwh; }
    TimePoint start(std::size_t t) const { return (*intervals)[t].start; }
    std::int64_t day(std::size_t t) const {
        return std::chrono::floor<std::chrono::days>(start(t)).time_since_epoch().count();
    }
};

Grid grid_of(const PriceSeries& prices) {
    Grid g;
    g.intervals = &prices.intervals();
    g.n = prices.intervals().size();
    g.length = prices.intervals().front().length;
    g.hours = duration<double, std::ratio<3600>>(g.length).count();
    return g;
}

// Whole intervals a duration spans, rounded up (a dwell), or as a fraction (a response time).
std::uint32_t intervals_up(Duration d, Duration len) {
    return static_cast<std::uint32_t>((d.count() + len.count() - 1) / len.count());
}
double intervals_frac(Duration d, Duration len) {
    return static_cast<double>(d.count()) / static_cast<double>(len.count());
}

// One class's constants on the grid. A miner's state is (target point p, the point q a
// sleep-down left, k = intervals since the last wake/sleep command, capped at K where every
// dwell has passed and every response has finished).
struct ClassModel {
    std::uint32_t points = 0;  // including sleep (last)
    std::uint32_t sleep = 0;
    std::uint32_t n_on = 0, n_off = 0, cap_k = 0;
    double wake = 0, fall = 0;        // response times in intervals
    std::vector<double> w_kw, rev_h;  // per point: draw, revenue per hour
};

ClassModel model_of(const MinerClass& c, const Economics& e, const Constraints& k, Duration len) {
    ClassModel m;
    m.points = static_cast<std::uint32_t>(c.points.size());
    m.sleep = m.points - 1;
    m.n_on = intervals_up(k.min_on, len);
    m.n_off = intervals_up(k.min_off, len);
    m.wake = intervals_frac(c.wake_time, len);
    m.fall = intervals_frac(c.sleep_time, len);
    m.cap_k = std::max(
        {m.n_on, m.n_off, intervals_up(c.wake_time, len), intervals_up(c.sleep_time, len)});
    for (const auto& p : c.points) {
        m.w_kw.push_back(p.power_w / 1000.0);
        m.rev_h.push_back(e.hashprice_per_th_day * p.hashrate_ths * (1 - e.pool_fee) / 24.0);
    }
    return m;
}

// A miner's interval average in a state: the one place the response model lives, used by the
// replay, the baselines and the optimum alike.
struct Mix {
    double w_kw = 0;
    double rev_h = 0;
    double full_share = 0;  // of the interval spent hashing at full
};

Mix mix_of(const ClassModel& m, std::uint32_t p, std::uint32_t q, std::uint32_t k) {
    Mix x;
    if (p != m.sleep) {
        const double f = std::clamp(m.wake - k, 0.0, 1.0);  // still waking: draws, no hash
        x.w_kw = m.w_kw[p];
        x.rev_h = (1 - f) * m.rev_h[p];
        x.full_share = p == 0 ? 1 - f : 0;
    } else {
        const double g = std::clamp(m.fall - k, 0.0, 1.0);  // still running at q
        x.w_kw = g * m.w_kw[q] + (1 - g) * m.w_kw[m.sleep];
        x.rev_h = g * m.rev_h[q];
        x.full_share = q == 0 ? g : 0;
    }
    return x;
}

// Accumulates `count` miners at `x` over interval t into a run.
struct Accountant {
    const Grid& g;
    const Economics& e;
    Run& run;

    void add(std::size_t t, const Mix& x, double count) {
        const double mwh = x.w_kw * count * e.pue * g.hours / 1000.0;
        const double revenue = x.rev_h * count * g.hours;
        const double cost = mwh * g.price(t);
        run.power_kw[t] += x.w_kw * count;
        run.profit[t] += revenue - cost;
        run.curtailed_share[t] += static_cast<float>((1 - x.full_share) * count);
        run.totals.energy_mwh += mwh;
        run.totals.revenue += revenue;
        run.totals.cost += cost;
        run.totals.curtailed_miner_hours += (1 - x.full_share) * count * g.hours;
    }
};

Run empty_run(std::size_t n) {
    Run r;
    r.power_kw.assign(n, 0);
    r.profit.assign(n, 0);
    r.curtailed_share.assign(n, 0);
    return r;
}

void finish(Run& r, std::size_t miners) {
    r.totals.profit = r.totals.revenue - r.totals.cost;
    if (miners > 0) {
        r.totals.switches_per_miner =
            static_cast<double>(r.totals.switches) / static_cast<double>(miners);
        for (auto& s : r.curtailed_share) s /= static_cast<float>(miners);
    }
}

bool covers(const SiteCap& cap, const MinerClass& c) { return !cap.site || cap.site == c.site; }

// Switches per UTC day, for the max-per-miner-day figure.
struct DayCounter {
    std::int64_t day = std::numeric_limits<std::int64_t>::min();
    std::uint32_t today = 0;
    void add(std::int64_t d, std::uint32_t& max_seen) {
        if (d != day) {
            day = d;
            today = 0;
        }
        max_seen = std::max(max_seen, ++today);
    }
};

}  // namespace

double Result::hours() const noexcept {
    double h = 0;
    for (const auto& i : intervals) h += duration<double, std::ratio<3600>>(i.length).count();
    return h;
}

std::string FleetState::miner_id(std::size_t i) const {
    // Miners are laid out class by class, so the number within the class is the distance to
    // the class's first miner.
    const auto c = miners[i].class_index;
    std::size_t first = 0;
    for (std::uint32_t j = 0; j < c; ++j) first += fleet->classes[j].count;
    return fleet->classes[c].name + "-" + std::to_string(i - first + 1);
}

void check_inputs(const PriceSeries& prices, const Fleet& fleet) {
    if (prices.empty()) throw std::invalid_argument("the price series is empty");
    const auto& v = prices.intervals();
    for (std::size_t i = 1; i < v.size(); ++i) {
        if (v[i].length != v[0].length) {
            throw std::invalid_argument(
                "price interval at " + format_time(v[i].start) + " is " +
                format_duration(v[i].length) + " long, the series' first is " +
                format_duration(v[0].length) + " (a backtest needs one interval length)");
        }
        if (v[i].start != v[i - 1].end()) {
            throw std::invalid_argument("no price from " + format_time(v[i - 1].end()) + " to " +
                                        format_time(v[i].start) +
                                        " (a backtest needs a series without gaps)");
        }
    }
    if (fleet.classes.empty()) throw std::invalid_argument("the fleet has no miners");
    for (const auto& c : fleet.classes) {
        if (c.points.size() < 2 || c.points.back().kind != PointKind::sleep) {
            throw std::invalid_argument("miner class '" + c.name +
                                        "' needs a full and a sleep point");
        }
    }
}

Run always_on(const PriceSeries& prices, const Fleet& fleet, const Economics& economics) {
    check_inputs(prices, fleet);
    const Grid g = grid_of(prices);
    Run run = empty_run(g.n);
    Accountant acc{g, economics, run};
    for (const auto& c : fleet.classes) {
        const ClassModel m = model_of(c, economics, Constraints{}, g.length);
        const Mix x = mix_of(m, 0, 0, m.cap_k);
        for (std::size_t t = 0; t < g.n; ++t) acc.add(t, x, static_cast<double>(c.count));
    }
    finish(run, fleet.miner_count());
    return run;
}

Run replay(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
           const Constraints& constraints, const PolicyStep& step, ReplayStats* stats) {
    check_inputs(prices, fleet);
    const Grid g = grid_of(prices);
    std::vector<ClassModel> models;
    for (const auto& c : fleet.classes)
        models.push_back(model_of(c, economics, constraints, g.length));

    struct Sim {
        std::uint32_t p = 0, q = 0, k = 0;
        DayCounter day;
    };
    FleetState state;
    state.fleet = &fleet;
    std::vector<Sim> sims;
    for (std::uint32_t ci = 0; ci < fleet.classes.size(); ++ci) {
        for (std::size_t j = 0; j < fleet.classes[ci].count; ++j) {
            SimulatedMiner s;
            s.class_index = ci;
            state.miners.push_back(s);
            sims.push_back({0, 0, models[ci].cap_k, {}});
        }
    }
    // Which miners each cap covers, to check the policy kept to it.
    std::vector<std::vector<bool>> cap_covers;
    for (const auto& cap : constraints.caps) {
        std::vector<bool> cov;
        for (const auto& c : fleet.classes) cov.push_back(covers(cap, c));
        cap_covers.push_back(std::move(cov));
    }

    Run run = empty_run(g.n);
    Accountant acc{g, economics, run};
    ReplayStats local;
    std::vector<double> cap_kw(constraints.caps.size());
    for (std::size_t t = 0; t < g.n; ++t) {
        const TimePoint now = g.start(t);
        // What each miner observably does now: a response under way shows the old state.
        for (std::size_t i = 0; i < sims.size(); ++i) {
            const Sim& s = sims[i];
            const ClassModel& m = models[state.miners[i].class_index];
            SimulatedMiner& ms = state.miners[i];
            ms.target = s.p;
            if (s.p != m.sleep) {
                const bool done = s.k + 1 >= m.wake;
                ms.actual = done ? s.p : m.sleep;
                ms.hashing = done;
            } else {
                const bool done = s.k + 1 >= m.fall;
                ms.actual = done ? m.sleep : s.q;
                ms.hashing = !done;
            }
        }
        const std::vector<std::size_t> want = step(now, g.price(t), state);
        if (!want.empty() && want.size() != sims.size()) {
            throw std::invalid_argument("policy step at " + format_time(now) + " returned " +
                                        std::to_string(want.size()) + " targets for " +
                                        std::to_string(sims.size()) + " miners");
        }
        std::fill(cap_kw.begin(), cap_kw.end(), 0.0);
        for (std::size_t i = 0; i < sims.size(); ++i) {
            Sim& s = sims[i];
            SimulatedMiner& ms = state.miners[i];
            const ClassModel& m = models[ms.class_index];
            const std::uint32_t next_k = std::min(s.k + 1, m.cap_k);
            std::uint32_t k = next_k;
            if (!want.empty() && want[i] != s.p) {
                if (want[i] >= m.points) {
                    throw std::invalid_argument("policy step at " + format_time(now) +
                                                " asked miner " + state.miner_id(i) +
                                                " for point " + std::to_string(want[i]) + " of " +
                                                std::to_string(m.points));
                }
                const auto d = static_cast<std::uint32_t>(want[i]);
                const bool on_off = (s.p == m.sleep) != (d == m.sleep);
                const std::uint32_t dwell = s.p == m.sleep ? m.n_off : m.n_on;
                if (on_off && s.k + 1 < dwell) {
                    ++local.held_by_dwell;
                } else {
                    if (on_off) {
                        k = 0;
                        ms.on_off_at = now;
                        if (d == m.sleep) s.q = s.p;
                    }
                    s.p = d;
                    ms.switched_at = now;
                    ++ms.switches;
                    ++run.totals.switches;
                    s.day.add(g.day(t), run.totals.max_switches_per_miner_day);
                }
            }
            s.k = k;
            const Mix x = mix_of(m, s.p, s.q, s.k);
            acc.add(t, x, 1.0);
            for (std::size_t c = 0; c < cap_kw.size(); ++c) {
                if (cap_covers[c][ms.class_index]) cap_kw[c] += x.w_kw;
            }
        }
        for (std::size_t c = 0; c < cap_kw.size(); ++c) {
            if (cap_kw[c] > constraints.caps[c].kw * (1 + 1e-9)) {
                ++local.cap_exceeded_intervals;
                break;
            }
        }
    }
    finish(run, sims.size());
    if (stats) *stats = local;
    return run;
}

namespace {

// The per-interval greedy fill of one cap in merit order, on steady-state rates: every covered
// miner starts asleep, then hull steps (sleep -> reduced -> full, or straight to full where the
// reduced point is not on the upper hull of profit vs kW) are taken by profit per kW while they
// earn and fit. Returns the multiplier (currency per kWh) and, if `shares` is given, the
// fractional fill per class (shares[c][p]: share of class c's miners at point p).
struct Step {
    std::size_t cls;
    std::uint32_t from, to;
    double kw;     // for the whole class
    double slope;  // profit per kWh
};

double greedy_fill(const Grid& g, std::size_t t, const Economics& e,
                   const std::vector<ClassModel>& models, const Fleet& fleet, const SiteCap& cap,
                   std::vector<Step>& steps, std::vector<std::vector<double>>* shares) {
    steps.clear();
    const double price_kwh = e.pue * g.price(t) / 1000.0;
    double room = cap.kw;
    for (std::size_t c = 0; c < models.size(); ++c) {
        if (!covers(cap, fleet.classes[c])) continue;
        const ClassModel& m = models[c];
        const double n = static_cast<double>(fleet.classes[c].count);
        room -= n * m.w_kw[m.sleep];
        if (shares) {
            auto& sh = (*shares)[c];
            std::fill(sh.begin(), sh.end(), 0.0);
            sh[m.sleep] = 1;
        }
        auto rate = [&](std::uint32_t p) { return m.rev_h[p] - m.w_kw[p] * price_kwh; };
        std::uint32_t at = m.sleep;
        for (;;) {
            std::uint32_t best = at;
            double best_slope = 0;
            for (std::uint32_t p = 0; p < m.sleep; ++p) {
                const double dw = m.w_kw[p] - m.w_kw[at];
                if (dw <= 0) continue;
                const double s = (rate(p) - rate(at)) / dw;
                if (s > best_slope) {
                    best_slope = s;
                    best = p;
                }
            }
            if (best == at) break;
            steps.push_back({c, at, best, n * (m.w_kw[best] - m.w_kw[at]), best_slope});
            at = best;
        }
    }
    if (room < 0) return 0;  // even all asleep exceeds it: no schedule keeps to it
    // Each class's steps are already in falling slope order (upper hull), so a stable sort by
    // slope keeps them in sequence.
    std::stable_sort(steps.begin(), steps.end(),
                     [](const Step& a, const Step& b) { return a.slope > b.slope; });
    for (const Step& s : steps) {
        const double x = std::min(1.0, room / s.kw);
        if (shares && x > 0) {
            auto& sh = (*shares)[s.cls];
            sh[s.from] -= x;
            sh[s.to] += x;
        }
        room -= x * s.kw;
        if (x < 1) return s.slope;
    }
    return 0;
}

// The best schedule of one class at price + lambda: a forward DP over (p, q, k) with
// back-pointers; returns its value and the state index per interval.
constexpr int kSubgradientSteps = 12;

struct ClassPlan {
    double value = 0;
    std::vector<std::uint16_t> state;  // per interval
};

struct StateSpace {
    // Running states (p < sleep, k): p * (K+1) + k; asleep (q < sleep, k): R + q * (K+1) + k.
    std::uint32_t kk = 0, run_states = 0, size = 0;
    std::vector<Mix> mix;
    std::vector<std::uint32_t> point;               // target point of a state
    std::vector<std::vector<std::uint16_t>> preds;  // who may precede a state
    std::uint16_t start = 0;                        // (full, K)

    explicit StateSpace(const ClassModel& m) {
        kk = m.cap_k + 1;
        run_states = m.sleep * kk;
        size = 2 * run_states;
        if (size > std::numeric_limits<std::uint16_t>::max()) {
            throw std::invalid_argument("dwell and response times too long for the interval");
        }
        mix.resize(size);
        point.resize(size);
        preds.resize(size);
        for (std::uint32_t p = 0; p < m.sleep; ++p) {
            for (std::uint32_t k = 0; k < kk; ++k) {
                mix[p * kk + k] = mix_of(m, p, 0, k);
                point[p * kk + k] = p;
                mix[run_states + p * kk + k] = mix_of(m, m.sleep, p, k);
                point[run_states + p * kk + k] = m.sleep;
            }
        }
        start = static_cast<std::uint16_t>(m.cap_k);
        auto link = [&](std::uint32_t from, std::uint32_t to) {
            preds[to].push_back(static_cast<std::uint16_t>(from));
        };
        for (std::uint32_t p = 0; p < m.sleep; ++p) {
            for (std::uint32_t k = 0; k < kk; ++k) {
                const std::uint32_t nk = std::min(k + 1, m.cap_k);
                // Running: stay first (ties keep the fewer switches), then other hashing points.
                link(p * kk + k, p * kk + nk);
                for (std::uint32_t p2 = 0; p2 < m.sleep; ++p2) {
                    if (p2 != p) link(p * kk + k, p2 * kk + nk);
                }
                if (k + 1 >= m.n_on) link(p * kk + k, run_states + p * kk);
                // Asleep, left from p.
                link(run_states + p * kk + k, run_states + p * kk + nk);
                if (k + 1 >= m.n_off) {
                    for (std::uint32_t p2 = 0; p2 < m.sleep; ++p2) {
                        link(run_states + p * kk + k, p2 * kk);
                    }
                }
            }
        }
    }
};

ClassPlan plan_class(const Grid& g, const Economics& e, const StateSpace& sp,
                     const std::vector<double>& lambda) {
    constexpr double kNone = -std::numeric_limits<double>::infinity();
    std::vector<double> v(sp.size, kNone), next(sp.size);
    v[sp.start] = 0;  // before the first interval: at full, free to switch
    // Back-pointers are the DP's memory: T * states * 2 bytes.
    constexpr std::size_t kMaxBackPointers = std::size_t{1} << 29;  // 1 GiB
    if (g.n * sp.size > kMaxBackPointers) {
        throw std::invalid_argument(
            "the optimum would need " + std::to_string(g.n * sp.size * 2 >> 20) + " MiB for " +
            std::to_string(g.n) + " intervals of " + std::to_string(sp.size) +
            " states (long min on/off or response times for the interval length); use a "
            "coarser price interval or a shorter series");
    }
    std::vector<std::uint16_t> back(g.n * sp.size);
    for (std::size_t t = 0; t < g.n; ++t) {
        const double price_kwh = e.pue * g.price(t) / 1000.0 + (lambda.empty() ? 0 : lambda[t]);
        for (std::uint32_t s = 0; s < sp.size; ++s) {
            double best = kNone;
            std::uint16_t arg = 0;
            for (const std::uint16_t from : sp.preds[s]) {
                if (v[from] > best) {
                    best = v[from];
                    arg = from;
                }
            }
            back[t * sp.size + s] = arg;
            next[s] = best == kNone
                          ? kNone
                          : best + (sp.mix[s].rev_h - sp.mix[s].w_kw * price_kwh) * g.hours;
        }
        v.swap(next);
    }
    ClassPlan plan;
    std::uint16_t s = 0;
    plan.value = kNone;
    for (std::uint32_t i = 0; i < sp.size; ++i) {
        if (v[i] > plan.value) {
            plan.value = v[i];
            s = static_cast<std::uint16_t>(i);
        }
    }
    plan.state.resize(g.n);
    for (std::size_t t = g.n; t-- > 0;) {
        plan.state[t] = s;
        s = back[t * sp.size + s];
    }
    return plan;
}

}  // namespace

Run optimum(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
            const Constraints& constraints, OptimumInfo* info) {
    check_inputs(prices, fleet);
    const Grid g = grid_of(prices);
    const std::size_t nc = fleet.classes.size();
    std::vector<ClassModel> models;
    bool instant = true;  // no dwell and no response times: the per-interval fill is exact
    for (const auto& c : fleet.classes) {
        models.push_back(model_of(c, economics, constraints, g.length));
        instant = instant && models.back().cap_k == 0;
    }
    // Caps that cover disjoint classes are filled independently and exactly; overlapping ones
    // still give a valid bound, just not a tight one.
    std::vector<int> covered(nc, 0);
    for (const auto& cap : constraints.caps) {
        for (std::size_t c = 0; c < nc; ++c) covered[c] += covers(cap, fleet.classes[c]);
    }
    const bool disjoint = std::all_of(covered.begin(), covered.end(), [](int n) { return n <= 1; });

    // Multipliers per cap and interval, first from the greedy fill of each interval.
    const std::size_t ncap = constraints.caps.size();
    std::vector<std::vector<double>> cap_lambda(ncap, std::vector<double>(g.n, 0));
    bool binding = false;
    const bool lp_primal = instant && disjoint && ncap > 0;
    std::vector<std::vector<std::vector<double>>> lp_shares;  // [t][c][p] when lp_primal
    {
        std::vector<Step> steps;
        std::vector<std::vector<double>> shares(nc);
        for (std::size_t c = 0; c < nc; ++c) shares[c].assign(models[c].points, 0);
        if (lp_primal) lp_shares.resize(g.n);
        for (std::size_t t = 0; t < g.n; ++t) {
            for (std::size_t k = 0; k < ncap; ++k) {
                const double l = greedy_fill(g, t, economics, models, fleet, constraints.caps[k],
                                             steps, lp_primal ? &shares : nullptr);
                if (l > 0) binding = true;
                cap_lambda[k][t] = l;
            }
            if (lp_primal) lp_shares[t] = shares;
        }
    }
    std::vector<StateSpace> spaces;
    for (const auto& m : models) spaces.emplace_back(m);

    // The Lagrangian at given multipliers: each class's plan at price + its caps' lambdas.
    struct Relaxed {
        double bound = 0;
        std::vector<std::vector<double>> lambda;  // per class, empty when no cap covers it
        std::vector<double> cap_term;             // per interval: sum of lambda * kW * hours
        std::vector<ClassPlan> plans;
    };
    auto relax = [&](const std::vector<std::vector<double>>& lam) {
        Relaxed r;
        r.lambda.resize(nc);
        r.cap_term.assign(g.n, 0);
        for (std::size_t k = 0; k < ncap; ++k) {
            for (std::size_t t = 0; t < g.n; ++t) {
                r.cap_term[t] += lam[k][t] * constraints.caps[k].kw * g.hours;
            }
            for (std::size_t c = 0; c < nc; ++c) {
                if (!covers(constraints.caps[k], fleet.classes[c])) continue;
                if (r.lambda[c].empty()) r.lambda[c].assign(g.n, 0);
                for (std::size_t t = 0; t < g.n; ++t) r.lambda[c][t] += lam[k][t];
            }
        }
        for (double x : r.cap_term) r.bound += x;
        for (std::size_t c = 0; c < nc; ++c) {
            r.plans.push_back(plan_class(g, economics, spaces[c], r.lambda[c]));
            r.bound += static_cast<double>(fleet.classes[c].count) * r.plans.back().value;
        }
        return r;
    };
    // Whether a relaxed schedule draws more than a cap allows somewhere.
    auto overdraws = [&](const Relaxed& r) {
        for (std::size_t k = 0; k < ncap; ++k) {
            for (std::size_t t = 0; t < g.n; ++t) {
                double draw = 0;
                for (std::size_t c = 0; c < nc; ++c) {
                    if (!covers(constraints.caps[k], fleet.classes[c])) continue;
                    draw += static_cast<double>(fleet.classes[c].count) *
                            spaces[c].mix[r.plans[c].state[t]].w_kw;
                }
                if (draw > constraints.caps[k].kw * (1 + 1e-9)) return true;
            }
        }
        return false;
    };
    Relaxed best = relax(cap_lambda);
    // Without dwell or response times the greedy fill is the answer; otherwise the DP schedules
    // may still overdraw (a miner held on by min_on through a spike), even where the fill had
    // room (lambda 0).
    bool over = !lp_primal && ncap > 0 && overdraws(best);
    if (!lp_primal && (binding || over)) {
        // The greedy multipliers ignore dwell and response times; a few projected subgradient
        // steps (lambda += step * overdraw / cap) tighten the bound. Every iterate is a valid
        // bound, so the lowest one is kept.
        double scale = 0;
        std::size_t positive = 0;
        for (const auto& v : cap_lambda) {
            for (double l : v) {
                if (l > 0) {
                    scale += l;
                    ++positive;
                }
            }
        }
        if (positive > 0) {
            scale /= static_cast<double>(positive);
        } else {
            // No interval's fill was tight: start from the fleet's break-even per kWh.
            for (const auto& m : models) scale = std::max(scale, m.rev_h[0] / m.w_kw[0]);
            scale *= 0.1;
        }
        std::vector<std::vector<double>> lam = cap_lambda;
        Relaxed current = best;
        for (int it = 0; it < kSubgradientSteps; ++it) {
            const double alpha = scale / (1.0 + it);
            for (std::size_t k = 0; k < ncap; ++k) {
                const SiteCap& cap = constraints.caps[k];
                for (std::size_t t = 0; t < g.n; ++t) {
                    double draw = 0;
                    for (std::size_t c = 0; c < nc; ++c) {
                        if (!covers(cap, fleet.classes[c])) continue;
                        draw += static_cast<double>(fleet.classes[c].count) *
                                spaces[c].mix[current.plans[c].state[t]].w_kw;
                    }
                    lam[k][t] = std::max(0.0, lam[k][t] + alpha * (draw - cap.kw) / cap.kw);
                }
            }
            current = relax(lam);
            if (current.bound < best.bound) best = current;
        }
        over = overdraws(best);
    }
    bool relaxed = false;  // some multiplier is in use
    for (const auto& v : best.lambda) {
        relaxed = relaxed || std::any_of(v.begin(), v.end(), [](double l) { return l > 0; });
    }
    const auto& lambda = best.lambda;
    const auto& cap_term = best.cap_term;

    Run run = empty_run(g.n);
    Accountant acc{g, economics, run};
    std::vector<double> penalty(g.n, 0);  // sum over classes of lambda * kW * hours
    auto add = [&](std::size_t c, std::size_t t, const Mix& x, double n) {
        acc.add(t, x, n);
        if (!lambda[c].empty()) penalty[t] += n * lambda[c][t] * x.w_kw * g.hours;
    };
    const double bound = best.bound;
    for (std::size_t c = 0; c < nc; ++c) {
        const ClassModel& m = models[c];
        const double n = static_cast<double>(fleet.classes[c].count);
        const StateSpace& sp = spaces[c];
        const ClassPlan& plan = best.plans[c];
        if (lp_primal && !lambda[c].empty()) {
            // The fractional fill itself: shares of the class at each point, steady state.
            std::vector<double> prev(m.points, 0);
            prev[0] = 1;
            for (std::size_t t = 0; t < g.n; ++t) {
                const auto& sh = lp_shares[t][c];
                Mix x;
                double moved = 0;
                for (std::uint32_t p = 0; p < m.points; ++p) {
                    x.w_kw += sh[p] * m.w_kw[p];
                    x.rev_h += sh[p] * m.rev_h[p];
                    moved += std::abs(sh[p] - prev[p]);
                }
                x.full_share = sh[0];
                add(c, t, x, n);
                run.totals.switches += static_cast<std::uint64_t>(std::llround(moved / 2 * n));
                prev = sh;
            }
            continue;
        }
        std::uint32_t max_day = 0;
        DayCounter day;
        std::uint32_t last_point = 0;
        for (std::size_t t = 0; t < g.n; ++t) {
            const std::uint16_t s = plan.state[t];
            add(c, t, sp.mix[s], n);
            if (sp.point[s] != last_point) {
                run.totals.switches += fleet.classes[c].count;
                day.add(g.day(t), max_day);
                last_point = sp.point[s];
            }
        }
        run.totals.max_switches_per_miner_day =
            std::max(run.totals.max_switches_per_miner_day, max_day);
    }
    finish(run, fleet.miner_count());
    OptimumInfo local;
    // Exact: the LP fill, or a schedule that keeps to every cap with no multiplier in use (then
    // it is the unconstrained optimum and feasible). Otherwise the profit is the bound.
    local.exact = lp_primal || (!relaxed && !over);
    if (relaxed) {
        local.cap_credit = bound - run.totals.profit;
        run.totals.profit = bound;
        // Per interval, the bound is the schedule's profit plus lambda * (cap - draw) * hours.
        for (std::size_t t = 0; t < g.n; ++t) run.profit[t] += cap_term[t] - penalty[t];
    }
    if (info) *info = local;
    return run;
}

Result run_backtest(const PriceSeries& prices, const Fleet& fleet, const Economics& economics,
                    const Constraints& constraints, const PolicyStep& step) {
    Result r;
    r.intervals = prices.intervals();
    r.miners = fleet.miner_count();
    r.always_on = always_on(prices, fleet, economics);
    ReplayStats stats;
    r.policy = replay(prices, fleet, economics, constraints, step, &stats);
    r.held_by_dwell = stats.held_by_dwell;
    r.cap_exceeded_intervals = stats.cap_exceeded_intervals;
    OptimumInfo info;
    r.optimum = optimum(prices, fleet, economics, constraints, &info);
    r.optimum_exact = info.exact;
    r.optimum_cap_credit = info.cap_credit;
    const double gain = r.optimum.totals.profit - r.always_on.totals.profit;
    // Below a cent the optimum gains nothing worth a ratio.
    r.capture_ratio = gain > 1e-2 ? (r.policy.totals.profit - r.always_on.totals.profit) / gain
                                  : std::numeric_limits<double>::quiet_NaN();
    return r;
}

PolicyStep threshold_policy(double sleep_above_per_mwh, double wake_below_per_mwh) {
    return [=](TimePoint, double price, const FleetState& fleet) {
        std::vector<std::size_t> want(fleet.miners.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            const SimulatedMiner& m = fleet.miners[i];
            const std::size_t sleep = fleet.class_of(i).sleep_index();
            if (price > sleep_above_per_mwh) {
                want[i] = sleep;
            } else if (price < wake_below_per_mwh) {
                want[i] = 0;
            } else {
                want[i] = m.target;  // between the levels: keep what was commanded
            }
        }
        return want;
    };
}

}  // namespace hashwatt::policies::backtest
