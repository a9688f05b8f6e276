#include "policies/rules.hpp"

#include "common/config.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace hashwatt::policies {

namespace {

using std::chrono::minutes;

constexpr std::array<std::pair<RuleKind, std::string_view>, 5> kKinds{{
    {RuleKind::break_even, "break_even"},
    {RuleKind::price_threshold, "price_threshold"},
    {RuleKind::time_of_use, "time_of_use"},
    {RuleKind::site_cap, "site_cap"},
    {RuleKind::override_event, "override"},
}};

// The keys only some kinds take, so that a key on the wrong kind is named as such instead of
// "unknown key".
struct KindKey {
    std::string_view key;
    std::initializer_list<RuleKind> kinds;
};
const std::array<KindKey, 12> kKindKeys{{
    {"margin_pct", {RuleKind::break_even}},
    {"hysteresis_pct", {RuleKind::break_even}},
    {"sleep_above", {RuleKind::price_threshold}},
    {"wake_below", {RuleKind::price_threshold}},
    {"target", {RuleKind::price_threshold, RuleKind::time_of_use, RuleKind::override_event}},
    {"window", {RuleKind::time_of_use}},
    {"utc_offset", {RuleKind::time_of_use}},
    {"timezone", {RuleKind::time_of_use}},
    {"kw", {RuleKind::site_cap}},
    {"start", {RuleKind::override_event}},
    {"end", {RuleKind::override_event}},
    {"miners", {RuleKind::override_event}},
}};

std::string kinds_taking(const KindKey& k) {
    std::string s;
    for (auto kind : k.kinds) {
        if (!s.empty()) s += ", ";
        s += to_string(kind);
    }
    return s;
}

PointKind parse_point(std::string_view s) {
    if (s == "full") return PointKind::full;
    if (s == "reduced") return PointKind::reduced;
    return PointKind::sleep;
}

// "HH:MM" (00:00..24:00) as minutes after midnight.
int read_clock(const config::Table& t, std::string_view key, int min_minute) {
    const auto s = t.required_string(key);
    int h = -1;
    int m = -1;
    char tail = 0;
    if (s.size() != 5 || std::sscanf(s.c_str(), "%2d:%2d%c", &h, &m, &tail) != 2 || s[2] != ':' ||
        h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) {
        t.fail(key, "'" + s + "' is not a time of day HH:MM (00:00 to 24:00)");
    }
    const int minute = h * 60 + m;
    if (minute < min_minute) t.fail(key, "'" + s + "' is out of range");
    return minute;
}

Duration read_offset(const config::Table& t, std::string_view key) {
    const auto s = t.required_string(key);
    int h = -1;
    int m = -1;
    char tail = 0;
    if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' ||
        std::sscanf(s.c_str() + 1, "%2d:%2d%c", &h, &m, &tail) != 2 || h > 14 || m > 59) {
        t.fail(key, "'" + s + "' is not a UTC offset like \"-06:00\" or \"+01:00\"");
    }
    const auto d = minutes(h * 60 + m);
    return s[0] == '-' ? -Duration(d) : Duration(d);
}

TimePoint read_time(const config::Table& t, std::string_view key) {
    const auto s = t.required_string(key);
    auto tp = parse_time(s);
    if (!tp) t.fail(key, "'" + s + "' is not an RFC 3339 time like \"2025-03-04T18:00:00Z\"");
    return *tp;
}

TouWindow read_window(const config::Table& w) {
    TouWindow out;
    static constexpr std::array<std::string_view, 7> kDays{"mon", "tue", "wed", "thu",
                                                           "fri", "sat", "sun"};
    if (auto days = w.string_array("days")) {
        for (const auto& d : *days) {
            auto it = std::find(kDays.begin(), kDays.end(), d);
            if (it == kDays.end()) {
                w.fail("days", "'" + d + "' is not a day (mon, tue, wed, thu, fri, sat, sun)");
            }
            out.weekdays.push_back(static_cast<int>(it - kDays.begin()));
        }
        if (out.weekdays.empty()) w.fail("days", "empty: leave it out to mean every day");
    }
    if (auto months = w.number_array("months")) {
        for (double m : *months) {
            if (m != std::floor(m) || m < 1 || m > 12) {
                w.fail("months", "months are whole numbers 1..12");
            }
            out.months.push_back(static_cast<int>(m));
        }
        if (out.months.empty()) w.fail("months", "empty: leave it out to mean all year");
    }
    out.start_minute = read_clock(w, "start", 0);
    out.end_minute = read_clock(w, "end", 1);
    if (out.start_minute == 1440) w.fail("start", "a window cannot start at 24:00");
    if (out.start_minute == out.end_minute) w.fail("end", "the window is empty (end = start)");
    return out;
}

void read_rule(const config::Table& t, std::size_t n, const RuleSet& set, RuleSet& out) {
    const auto kind_s =
        t.choice("kind", {"break_even", "price_threshold", "time_of_use", "site_cap", "override"});
    if (!kind_s) t.fail("kind", "missing: every rule has a kind");
    Rule r;
    for (const auto& [k, name] : kKinds) {
        if (name == *kind_s) r.kind = k;
    }
    for (const auto& kk : kKindKeys) {
        if (t.has(kk.key) &&
            std::find(kk.kinds.begin(), kk.kinds.end(), r.kind) == kk.kinds.end()) {
            t.fail(kk.key, "only " + kinds_taking(kk) + " rules take " + std::string(kk.key));
        }
    }
    if (auto s = t.string("name")) {
        if (s->empty()) t.fail("name", "empty");
        r.name = *s;
    } else if (r.kind == RuleKind::override_event) {
        t.fail("kind", "an override needs a name (its id)");
    } else {
        r.name = std::string(to_string(r.kind)) + "#" + std::to_string(n + 1);
    }
    for (const auto& other : out.rules) {
        if (other.name == r.name) t.fail("name", "rule " + r.name + " is given twice");
    }
    for (const auto& o : out.overrides) {
        if (o.id == r.name) t.fail("name", "rule " + r.name + " is given twice");
    }
    if (auto s = t.string("site")) {
        if (s->empty()) t.fail("site", "empty: leave it out to mean every site");
        r.site = *s;
    }
    if (auto p = t.integer("priority", -1000, 1000)) r.priority = static_cast<int>(*p);

    switch (r.kind) {
        case RuleKind::break_even:
            r.margin_pct = t.number("margin_pct", -90, 1000).value_or(set.margin_pct);
            r.hysteresis_pct = t.number("hysteresis_pct", 0, 100).value_or(0);
            break;
        case RuleKind::price_threshold: {
            const auto above = t.number("sleep_above", -1e5, 1e6);
            if (!above) t.fail("kind", "a price_threshold rule needs sleep_above (per MWh)");
            r.sleep_above_per_mwh = *above;
            r.wake_below_per_mwh = t.number("wake_below", -1e5, 1e6).value_or(*above);
            if (r.wake_below_per_mwh > r.sleep_above_per_mwh) {
                t.fail("wake_below", "wake_below must not exceed sleep_above (" +
                                         std::to_string(r.sleep_above_per_mwh) + ")");
            }
            r.target = parse_point(t.choice("target", {"sleep", "reduced"}).value_or("sleep"));
            break;
        }
        case RuleKind::time_of_use: {
            r.target = parse_point(t.choice("target", {"sleep", "reduced"}).value_or("sleep"));
            if (t.has("utc_offset") && t.has("timezone")) {
                t.fail("timezone", "give timezone or utc_offset, not both");
            }
            if (t.has("utc_offset")) r.utc_offset = read_offset(t, "utc_offset");
            if (t.has("timezone")) {
                // An IANA zone follows daylight saving time: a 14:00 window stays at 14:00
                // local all year, which a fixed offset cannot do.
                const auto name = t.required_string("timezone");
                try {
                    r.zone = prices::TimeZone::load(name);
                } catch (const std::invalid_argument& e) {
                    t.fail("timezone", e.what());
                }
            }
            for (const auto& w : t.tables("window")) r.windows.push_back(read_window(w));
            if (r.windows.empty()) {
                t.fail("kind", "a time_of_use rule needs at least one [[rule.window]]");
            }
            break;
        }
        case RuleKind::site_cap: {
            const auto kw = t.number("kw", 0, 1e7);
            if (!kw) t.fail("kind", "a site_cap rule needs kw");
            if (!(*kw > 0)) t.fail("kw", "a cap must be above 0 kW");
            r.cap_kw = *kw;
            break;
        }
        case RuleKind::override_event: {
            Override o;
            o.id = r.name;
            o.site = r.site;
            o.priority = r.priority;
            const auto target = t.choice("target", {"full", "reduced", "sleep"});
            if (!target) t.fail("kind", "an override needs a target (full, reduced or sleep)");
            o.target = parse_point(*target);
            o.start = read_time(t, "start");
            o.end = read_time(t, "end");
            if (o.end <= o.start) t.fail("end", "end must be after start");
            if (auto m = t.string_array("miners")) o.miners = *m;
            out.overrides.push_back(std::move(o));
            return;
        }
    }
    out.rules.push_back(std::move(r));
}

}  // namespace

std::string_view to_string(RuleKind k) noexcept {
    for (const auto& [kind, name] : kKinds) {
        if (kind == k) return name;
    }
    return "break_even";
}

std::string_view to_string(StaleAction a) noexcept {
    switch (a) {
        case StaleAction::hold:
            return "hold";
        case StaleAction::mine:
            return "mine";
        case StaleAction::sleep:
            return "sleep";
    }
    return "hold";
}

RuleSet read_policy(const config::Document& doc) {
    RuleSet out;
    const auto root = doc.root();
    if (auto p = root.table("policy")) {
        if (auto d = p->duration("interval", std::chrono::seconds(1), std::chrono::hours(1))) {
            out.interval = *d;
        }
        if (auto b = p->boolean("dry_run")) out.dry_run = *b;
        if (auto b = p->boolean("enabled")) out.kill_switch = !*b;
        if (auto s = p->choice("on_stale", {"hold", "mine", "sleep"})) {
            out.on_stale = *s == "mine"    ? StaleAction::mine
                           : *s == "sleep" ? StaleAction::sleep
                                           : StaleAction::hold;
        }
        if (auto m = p->number("margin_pct", -90, 1000)) out.margin_pct = *m;
    }
    const auto econ = root.table("economics");
    if (!econ) {
        root.fail("economics", "missing: [economics] needs hashprice or [economics.network]");
    }
    const auto fixed = econ->number("hashprice", 0, 10);
    const auto net = econ->table("network");
    if (fixed && net) econ->fail("network", "give hashprice or [economics.network], not both");
    if (fixed) {
        out.economics.hashprice_per_th_day = *fixed;
    } else if (net) {
        NetworkStats n;
        const auto btc = net->number("btc_price", 0, 1e9);
        const auto diff = net->number("difficulty", 0, 1e30);
        if (!btc) net->fail("btc_price", "missing: the BTC price in the policy's currency");
        if (!diff) net->fail("difficulty", "missing: the network difficulty");
        if (!(*diff > 0)) net->fail("difficulty", "must be above 0");
        n.btc_price = *btc;
        n.difficulty = *diff;
        if (auto s = net->number("subsidy_btc", 0, 50)) n.subsidy_btc = *s;
        if (auto f = net->number("fees_btc_per_block", 0, 50)) n.fees_btc_per_block = *f;
        out.economics.hashprice_per_th_day = hashprice_per_th_day(n);
        out.network = n;
    } else {
        econ->fail("hashprice",
                   "missing: give hashprice (per TH/s per day) or "
                   "[economics.network]");
    }
    if (auto f = econ->number("pool_fee", 0, 0.5)) out.economics.pool_fee = *f;
    if (auto p = econ->number("pue", 1, 3)) out.economics.pue = *p;

    if (auto s = root.table("safety")) {
        const auto day = std::chrono::days(1);
        if (auto d = s->duration("for", Duration::zero(), day)) out.safety.for_duration = *d;
        if (auto d = s->duration("min_on", Duration::zero(), day)) out.safety.min_on = *d;
        if (auto d = s->duration("min_off", Duration::zero(), day)) out.safety.min_off = *d;
        if (auto d = s->duration("settle", std::chrono::seconds(1), day)) out.safety.settle = *d;
        if (auto n = s->integer("max_switches_per_day", 0, 1440)) {
            out.safety.max_switches_per_day = static_cast<int>(*n);
        }
        if (auto n = s->integer("max_commands_per_interval", 0, 10'000'000)) {
            out.safety.max_commands_per_interval = static_cast<int>(*n);
        }
        if (auto k = s->number("max_ramp_kw_per_min", 0, 1e7)) out.safety.max_ramp_kw_per_min = *k;
        if (auto f = s->number("max_site_fraction_per_interval", 0, 1)) {
            if (!(*f > 0)) {
                s->fail("max_site_fraction_per_interval",
                        "must be above 0 (1 = no limit): 0 would never command a miner");
            }
            out.safety.max_site_fraction_per_interval = *f;
        }
        if (auto d = s->duration("max_sample_age", std::chrono::seconds(1), day)) {
            out.safety.max_sample_age = *d;
        }
    }

    const auto rules = root.tables("rule");
    for (std::size_t i = 0; i < rules.size(); ++i) read_rule(rules[i], i, out, out);
    if (out.rules.empty() && out.overrides.empty()) {
        root.fail("rule", "no [[rule]]: a policy needs at least one rule");
    }
    std::stable_sort(out.rules.begin(), out.rules.end(), [](const Rule& a, const Rule& b) {
        if (a.kind != b.kind) return a.kind > b.kind;
        return a.priority > b.priority;
    });
    doc.finish();
    if (const auto problems = validate(out); !problems.empty()) {
        // The reader's own checks should have caught it: say where the policy starts.
        root.fail("policy", "invalid policy: " + problems.front());
    }
    return out;
}

std::vector<std::string> validate(const RuleSet& r) {
    std::vector<std::string> out;
    const auto check = [&](bool ok, const std::string& what) {
        if (!ok) out.push_back(what);
    };
    // Written as "in range" tests so that NaN fails them.
    const auto within = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
    const auto day = std::chrono::duration_cast<Duration>(std::chrono::days(1));
    check(r.interval >= std::chrono::seconds(1) && r.interval <= std::chrono::hours(1),
          "policy.interval out of 1s..1h");
    check(within(r.margin_pct, -90, 1000), "policy.margin_pct out of -90..1000");
    check(within(r.economics.hashprice_per_th_day, 0, 1e6), "economics: hashprice out of range");
    check(within(r.economics.pool_fee, 0, 0.5), "economics.pool_fee out of 0..0.5");
    check(within(r.economics.pue, 1, 3), "economics.pue out of 1..3");
    const auto& s = r.safety;
    for (const auto& [name, d] :
         {std::pair{"for", s.for_duration}, {"min_on", s.min_on}, {"min_off", s.min_off}}) {
        check(d >= Duration::zero() && d <= day, std::string("safety.") + name + " out of 0..1d");
    }
    check(s.settle >= std::chrono::seconds(1) && s.settle <= day, "safety.settle out of 1s..1d");
    check(s.max_sample_age >= std::chrono::seconds(1) && s.max_sample_age <= day,
          "safety.max_sample_age out of 1s..1d");
    check(s.max_switches_per_day >= 0 && s.max_switches_per_day <= 1440,
          "safety.max_switches_per_day out of 0..1440");
    check(s.max_commands_per_interval >= 0, "safety.max_commands_per_interval below 0");
    check(within(s.max_ramp_kw_per_min, 0, 1e7), "safety.max_ramp_kw_per_min out of 0..1e7");
    check(s.max_site_fraction_per_interval > 0 && s.max_site_fraction_per_interval <= 1,
          "safety.max_site_fraction_per_interval out of (0, 1]");
    check(!r.rules.empty() || !r.overrides.empty(), "no rule");
    std::vector<std::string> names;
    for (const auto& rule : r.rules) {
        const std::string n = "rule " + rule.name + ": ";
        check(!rule.name.empty(), "a rule without a name");
        check(!rule.site || !rule.site->empty(), n + "empty site");
        check(rule.priority >= -1000 && rule.priority <= 1000, n + "priority out of range");
        names.push_back(rule.name);
        switch (rule.kind) {
            case RuleKind::break_even:
                check(within(rule.margin_pct, -90, 1000), n + "margin_pct out of range");
                check(within(rule.hysteresis_pct, 0, 100), n + "hysteresis_pct out of range");
                break;
            case RuleKind::price_threshold:
                check(within(rule.sleep_above_per_mwh, -1e5, 1e6), n + "sleep_above out of range");
                check(within(rule.wake_below_per_mwh, -1e5, rule.sleep_above_per_mwh),
                      n + "wake_below out of range or above sleep_above");
                check(rule.target != PointKind::full, n + "target full");
                break;
            case RuleKind::time_of_use:
                check(!rule.windows.empty(), n + "no window");
                check(rule.target != PointKind::full, n + "target full");
                for (const auto& w : rule.windows) {
                    check(w.start_minute >= 0 && w.start_minute < 1440 && w.end_minute >= 1 &&
                              w.end_minute <= 1440 && w.start_minute != w.end_minute,
                          n + "a window out of range or empty");
                    for (int d : w.weekdays) check(d >= 0 && d <= 6, n + "a day out of range");
                    for (int m : w.months) check(m >= 1 && m <= 12, n + "a month out of range");
                }
                break;
            case RuleKind::site_cap:
                check(rule.cap_kw > 0 && rule.cap_kw <= 1e7, n + "kw out of range");
                break;
            case RuleKind::override_event:
                check(false, n + "an override among the rules");
                break;
        }
    }
    for (const auto& o : r.overrides) {
        check(!o.id.empty(), "an override without an id");
        check(o.end > o.start, "override " + o.id + ": end not after start");
        check(!o.site || !o.site->empty(), "override " + o.id + ": empty site");
        names.push_back(o.id);
    }
    std::sort(names.begin(), names.end());
    check(std::adjacent_find(names.begin(), names.end()) == names.end(), "a rule name twice");
    return out;
}

RuleSet load_policy_file(const std::string& path) {
    namespace fs = std::filesystem;
    struct Stat {
        std::error_code ec;
        fs::file_time_type mtime{};
        std::uintmax_t size = 0;
        bool operator==(const Stat& o) const {
            return !ec && !o.ec && mtime == o.mtime && size == o.size;
        }
    };
    const auto stat = [&] {
        Stat s;
        s.mtime = fs::last_write_time(path, s.ec);
        if (!s.ec) s.size = fs::file_size(path, s.ec);
        return s;
    };
    const Stat before = stat();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw config::ConfigError({path, 0, 0}, "",
                                  std::string("cannot open: ") + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    in.close();
    const Stat after = stat();
    const std::string body = text.str();
    if (!(before == after) || body.size() != after.size) {
        throw PolicyFileChanging({path, 0, 0}, "",
                                 "changed while being read (" + std::to_string(body.size()) +
                                     " bytes read): write the new policy to another file and "
                                     "rename it over this one");
    }
    return read_policy(config::Document::parse(body, path));
}

std::string summarize(const RuleSet& r) {
    std::string kinds;
    for (const auto& rule : r.rules) {
        if (!kinds.empty()) kinds += ", ";
        kinds += to_string(rule.kind);
    }
    for (std::size_t i = 0; i < r.overrides.size(); ++i) {
        if (!kinds.empty()) kinds += ", ";
        kinds += "override";
    }
    const auto n = r.rules.size() + r.overrides.size();
    char hp[64];
    std::snprintf(hp, sizeof hp, "%.4f", r.economics.hashprice_per_th_day);
    std::string s = std::to_string(n) + (n == 1 ? " rule (" : " rules (") + kinds +
                    "), hashprice " + hp + "/TH/day, interval " + format_duration(r.interval);
    if (r.dry_run) s += ", dry-run";
    if (r.kill_switch) s += ", disabled (kill switch)";
    return s;
}

bool window_contains(const TouWindow& w, Duration utc_offset, TimePoint t) noexcept {
    using namespace std::chrono;
    const auto local = floor<minutes>(t + utc_offset);
    const auto day = floor<days>(local);
    const int minute = static_cast<int>((local - day).count());
    const bool wraps = w.start_minute > w.end_minute;
    bool in = wraps ? (minute >= w.start_minute || minute < w.end_minute)
                    : (minute >= w.start_minute && minute < w.end_minute);
    if (!in) return false;
    // A wrapped window's early-morning part belongs to the day it started on.
    const auto start_day = (wraps && minute < w.end_minute) ? day - days(1) : day;
    if (!w.weekdays.empty()) {
        const int wd = static_cast<int>(weekday(sys_days(start_day)).iso_encoding()) - 1;
        if (std::find(w.weekdays.begin(), w.weekdays.end(), wd) == w.weekdays.end()) return false;
    }
    if (!w.months.empty()) {
        const int m = static_cast<int>(unsigned(year_month_day(sys_days(start_day)).month()));
        if (std::find(w.months.begin(), w.months.end(), m) == w.months.end()) return false;
    }
    return true;
}

}  // namespace hashwatt::policies
