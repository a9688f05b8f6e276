#include "policies/prices/sources.hpp"

#include "common/time.hpp"
#include "policies/prices/csv_text.hpp"
#include "policies/prices/feed.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace hashwatt::policies::prices {

namespace {

using namespace std::chrono_literals;
using detail::Lines;
using detail::parse_number;
using detail::split_fields;

constexpr std::array<std::string_view, 7> kDays{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string two(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }

// "HH:MM" with 00 <= HH <= 24 (24 only as "24:00"); nullopt otherwise.
std::optional<int> parse_clock(std::string_view s) {
    if (s.size() != 5 || s[2] != ':') return std::nullopt;
    for (int i : {0, 1, 3, 4}) {
        if (!std::isdigit(static_cast<unsigned char>(s[static_cast<std::size_t>(i)]))) {
            return std::nullopt;
        }
    }
    const int h = (s[0] - '0') * 10 + (s[1] - '0');
    const int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
    return h * 60 + m;
}

std::uint8_t parse_days(const config::Table& w) {
    std::vector<std::string> names;
    try {
        if (auto s = w.string("days")) names.push_back(*s);
    } catch (const config::ConfigError&) {
        names = *w.string_array("days");
    }
    if (!w.has("days")) return 0x7f;
    if (names.empty()) w.fail("days", "no days given");
    std::uint8_t mask = 0;
    for (const auto& raw : names) {
        const auto n = lower(raw);
        if (n == "weekdays") {
            mask |= 0x3e;
        } else if (n == "weekends") {
            mask |= 0x41;
        } else if (n == "all" || n == "daily") {
            mask |= 0x7f;
        } else {
            auto it = std::find(kDays.begin(), kDays.end(), n);
            if (it == kDays.end()) {
                w.fail("days", "'" + raw +
                                   "': expected mon, tue, wed, thu, fri, sat, sun, weekdays, "
                                   "weekends or all");
            }
            mask |= static_cast<std::uint8_t>(1u << (it - kDays.begin()));
        }
    }
    return mask;
}

TouWindow read_window(const config::Table& w) {
    TouWindow win;
    win.days = parse_days(w);
    const auto hours = w.string("hours").value_or("00:00-24:00");
    const auto dash = hours.find('-');
    std::optional<int> a, b;
    if (dash != std::string::npos) {
        a = parse_clock(std::string_view(hours).substr(0, dash));
        b = parse_clock(std::string_view(hours).substr(dash + 1));
    }
    if (!a || !b || *a == 1440) {
        w.fail("hours", "'" + hours + "': expected \"HH:MM-HH:MM\" like \"14:00-19:00\"");
    }
    if (*a == *b) w.fail("hours", "'" + hours + "' is empty; use \"00:00-24:00\" for all day");
    win.start_minute = *a;
    win.end_minute = *b == 0 ? 1440 : *b;  // "22:00-00:00" ends at midnight
    if (auto months = w.number_array("months")) {
        if (months->empty()) w.fail("months", "no months given");
        win.months = 0;
        for (double m : *months) {
            if (m != static_cast<int>(m) || m < 1 || m > 12) {
                w.fail("months", "months are 1 (January) to 12 (December)");
            }
            win.months |= static_cast<std::uint16_t>(1u << static_cast<int>(m));
        }
    }
    auto price = w.number("price_per_mwh");
    if (!price) w.fail("price_per_mwh", "required");
    win.price_per_mwh = *price;
    return win;
}

TimeZone read_zone(const config::Table& t, std::string_view key) {
    const auto name = t.required_string(key);
    try {
        return TimeZone::load(name);
    } catch (const std::invalid_argument& e) {
        t.fail(key, e.what());
    }
}

PriceUnit read_unit(const config::Table& t) {
    auto u = t.choice("unit", {"per_mwh", "per_kwh", "cents_per_kwh"});
    if (!u || *u == "per_mwh") return PriceUnit::per_mwh;
    return *u == "per_kwh" ? PriceUnit::per_kwh : PriceUnit::cents_per_kwh;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) throw std::runtime_error(path + ": read failed");
    return buf.str();
}

struct Row {
    PriceInterval interval;
    std::size_t line = 0;
};

[[noreturn]] void fail_at(std::string_view name, std::size_t line, const std::string& what) {
    throw std::runtime_error(std::string(name) + ":" + std::to_string(line) + ": " + what);
}

// The header record of a price CSV, from `lines` (which then stand at the first data line).
std::vector<std::string> read_header(Lines& lines, std::string_view name) {
    std::string_view line;
    std::size_t no = 0;
    if (!lines.next(line, no)) throw std::runtime_error(std::string(name) + ": no prices");
    auto header = split_fields(line);
    if (!header) fail_at(name, no, "header: unterminated quote");
    return std::move(*header);
}

// Sorts and refuses repeats and overlaps with both lines named, so that the user can find them.
PriceSeries build(std::vector<Row> rows, std::string_view name) {
    if (rows.empty()) throw std::runtime_error(std::string(name) + ": no prices");
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.interval.start < b.interval.start;
    });
    std::vector<PriceInterval> out;
    out.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i > 0 && rows[i].interval.start < rows[i - 1].interval.end()) {
            const auto& prev = rows[i - 1];
            const auto later = std::max(rows[i].line, prev.line);
            const auto earlier = std::min(rows[i].line, prev.line);
            fail_at(name, later,
                    rows[i].interval.start == prev.interval.start
                        ? format_time(rows[i].interval.start) + " repeats line " +
                              std::to_string(earlier)
                        : format_time(rows[i].interval.start) + " overlaps the interval of line " +
                              std::to_string(earlier));
        }
        out.push_back(rows[i].interval);
    }
    return PriceSeries(std::move(out));
}

std::size_t column(const std::vector<std::string>& header, std::string_view want,
                   std::string_view name, bool required = true) {
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (lower(header[i]) == lower(want)) return i;
    }
    if (!required) return std::string::npos;
    std::string found;
    for (const auto& h : header) found += (found.empty() ? "" : ", ") + h;
    fail_at(name, 1, "header: no '" + std::string(want) + "' column (found: " + found + ")");
}

struct ParsedStamp {
    LocalTime local;
    std::optional<std::chrono::seconds> offset;  // set when the text carries one
};

// "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]" then optionally "Z" or "+HH:MM"/"-HH:MM".
std::optional<ParsedStamp> parse_stamp(std::string_view s) {
    auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > s.size()) return std::nullopt;
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
         mi = digits(14, 2);
    if (!y || !mo || !d || !h || !mi || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != ' ') || s[13] != ':') {
        return std::nullopt;
    }
    std::size_t i = 16;
    int sec = 0;
    std::chrono::milliseconds frac{0};
    if (i < s.size() && s[i] == ':') {
        auto ss = digits(i + 1, 2);
        if (!ss || *ss > 59) return std::nullopt;
        sec = *ss;
        i += 3;
        if (i < s.size() && s[i] == '.') {
            ++i;
            int scale = 100, n = 0;
            while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
                frac += std::chrono::milliseconds((s[i] - '0') * scale);
                scale /= 10;
                ++i, ++n;
            }
            if (n == 0) return std::nullopt;
        }
    }
    const std::chrono::year_month_day ymd{std::chrono::year{*y},
                                          std::chrono::month{static_cast<unsigned>(*mo)},
                                          std::chrono::day{static_cast<unsigned>(*d)}};
    if (!ymd.ok() || *h > 23 || *mi > 59) return std::nullopt;
    ParsedStamp p;
    p.local = LocalTime{std::chrono::local_days{ymd}.time_since_epoch()} + std::chrono::hours(*h) +
              std::chrono::minutes(*mi) + std::chrono::seconds(sec) + frac;
    if (i == s.size()) return p;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
        p.offset = std::chrono::seconds(0);
        return p;
    }
    if ((s[i] == '+' || s[i] == '-') && i + 6 == s.size() && s[i + 3] == ':') {
        auto oh = digits(i + 1, 2), om = digits(i + 4, 2);
        if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
        const auto off = std::chrono::seconds(*oh * 3600 + *om * 60);
        p.offset = s[i] == '-' ? -off : off;
        return p;
    }
    return std::nullopt;
}

std::string local_text(LocalTime l) {
    const auto day = std::chrono::floor<std::chrono::days>(l);
    const std::chrono::year_month_day ymd{day};
    const auto mins = std::chrono::duration_cast<std::chrono::minutes>(l - day).count();
    return std::to_string(static_cast<int>(ymd.year())) + "-" +
           two(static_cast<int>(unsigned{ymd.month()})) + "-" +
           two(static_cast<int>(unsigned{ymd.day()})) + " " + two(static_cast<int>(mins / 60)) +
           ":" + two(static_cast<int>(mins % 60));
}

// At most 10 names, so that a file with hundreds of nodes gives a readable message.
std::string some_of(const std::set<std::string>& names) {
    std::string list;
    std::size_t shown = 0;
    for (const auto& n : names) {
        if (shown == 10) break;
        list += (shown++ ? ", " : "") + n;
    }
    if (names.size() > shown) list += " and " + std::to_string(names.size() - shown) + " more";
    return list;
}

const TimeZone& chicago() {
    // ERCOT publishes in Central Prevailing Time.
    static const TimeZone z = TimeZone::load("America/Chicago");
    return z;
}

}  // namespace

std::string_view to_string(SourceKind k) noexcept {
    switch (k) {
        case SourceKind::fixed:
            return "fixed";
        case SourceKind::tou:
            return "tou";
        case SourceKind::csv:
            return "csv";
        case SourceKind::ercot:
            return "ercot";
        case SourceKind::http:
            return "http";
    }
    return "unknown";
}

double to_per_mwh(double value, PriceUnit unit) noexcept {
    switch (unit) {
        case PriceUnit::per_mwh:
            return value;
        case PriceUnit::per_kwh:
            return value * 1000;
        case PriceUnit::cents_per_kwh:
            return value * 10;
    }
    return value;
}

PriceSourceConfig read_price_source(const config::Table& t) {
    PriceSourceConfig cfg;
    const auto kind = t.choice("kind", {"fixed", "tou", "csv", "ercot", "http"});
    if (!kind) t.fail("kind", "required: one of fixed, tou, csv, ercot, http");
    cfg.adder_per_mwh = t.number("adder_per_mwh").value_or(0);
    if (auto c = t.string("currency")) {
        if (c->empty()) t.fail("currency", "empty");
        cfg.currency = *c;
    }
    if (*kind == "fixed") {
        cfg.kind = SourceKind::fixed;
        auto p = t.number("price_per_mwh");
        if (!p) t.fail("price_per_mwh", "required for kind = \"fixed\"");
        cfg.source = FixedSource{*p};
    } else if (*kind == "tou") {
        cfg.kind = SourceKind::tou;
        TouSource s;
        if (!t.has("timezone")) t.fail("timezone", "required for kind = \"tou\" (an IANA name)");
        s.zone = read_zone(t, "timezone");
        auto d = t.number("default_per_mwh");
        if (!d) t.fail("default_per_mwh", "required for kind = \"tou\"");
        s.default_per_mwh = *d;
        for (const auto& w : t.tables("window")) s.windows.push_back(read_window(w));
        cfg.source = std::move(s);
    } else if (*kind == "csv") {
        cfg.kind = SourceKind::csv;
        CsvSource s;
        auto p = t.path_value("path");
        if (!p) t.fail("path", "required for kind = \"csv\"");
        s.path = *p;
        s.unit = read_unit(t);
        if (t.has("timezone")) s.zone = read_zone(t, "timezone");
        s.interval = t.duration("interval", 1s, 24h);
        cfg.source = std::move(s);
    } else if (*kind == "ercot") {
        cfg.kind = SourceKind::ercot;
        ErcotSource s;
        auto p = t.path_value("path");
        if (!p) t.fail("path", "required for kind = \"ercot\"");
        s.path = *p;
        auto sp = t.string("settlement_point");
        if (!sp || sp->empty()) t.fail("settlement_point", "required, e.g. \"HB_HOUSTON\"");
        s.settlement_point = *sp;
        s.settlement_point_type = t.string("settlement_point_type");
        cfg.source = std::move(s);
    } else {
        cfg.kind = SourceKind::http;
        HttpSource s;
        auto url = t.string("url");
        if (!url) t.fail("url", "required for kind = \"http\"");
        if (url->rfind("https://", 0) == 0) {
            // The collector's HTTP client speaks plain HTTP (as for the alert notifiers).
            t.fail("url", "'" + *url +
                              "': https is not supported; put a local TLS proxy in front and "
                              "give its http:// URL");
        }
        if (url->rfind("http://", 0) != 0) {
            t.fail("url", "'" + *url + "': expected an http:// URL");
        }
        s.url = *url;
        auto path = t.string("json_path");
        if (!path) t.fail("json_path", "required for kind = \"http\", e.g. \"data[0].price\"");
        try {
            validate_json_path(*path);
        } catch (const std::invalid_argument& e) {
            t.fail("json_path", e.what());
        }
        s.json_path = *path;
        s.unit = read_unit(t);
        s.interval = t.duration("interval", 1s, 24h).value_or(s.interval);
        s.stale_after = t.duration("stale_after", 1s, 7 * 24h).value_or(3 * s.interval);
        if (s.stale_after < s.interval) {
            t.fail("stale_after", "shorter than the poll interval (" + format_duration(s.interval) +
                                      "): every price would go stale before the next poll");
        }
        cfg.source = std::move(s);
    }
    return cfg;
}

double price_at(const PriceSourceConfig& cfg, TimePoint t) {
    if (const auto* f = std::get_if<FixedSource>(&cfg.source)) {
        return f->price_per_mwh + cfg.adder_per_mwh;
    }
    const auto* s = std::get_if<TouSource>(&cfg.source);
    if (!s) {
        throw std::invalid_argument("price_at: a " + std::string(to_string(cfg.kind)) +
                                    " source has no schedule; load its prices");
    }
    using namespace std::chrono;
    const LocalTime local = s->zone.to_local(t);
    const auto day = floor<days>(local);
    const int minute = static_cast<int>(duration_cast<minutes>(local - day).count());
    auto matches_day = [](const TouWindow& w, local_days d) {
        const unsigned wd = weekday{d}.c_encoding();
        const unsigned m = unsigned{year_month_day{d}.month()};
        return (w.days >> wd & 1u) && (w.months >> m & 1u);
    };
    for (const auto& w : s->windows) {
        bool hit = false;
        if (w.start_minute < w.end_minute) {
            hit = minute >= w.start_minute && minute < w.end_minute && matches_day(w, day);
        } else if (minute >= w.start_minute) {
            hit = matches_day(w, day);
        } else if (minute < w.end_minute) {
            hit = matches_day(w, day - days{1});  // the tail of the window started yesterday
        }
        if (hit) return w.price_per_mwh + cfg.adder_per_mwh;
    }
    return s->default_per_mwh + cfg.adder_per_mwh;
}

PriceSeries tou_series(const PriceSourceConfig& cfg, TimePoint from, TimePoint to, Duration step) {
    if (step <= Duration::zero()) throw std::invalid_argument("tou_series: step must be positive");
    if (to <= from) throw std::invalid_argument("tou_series: empty time range");
    const auto n = (to - from + step - Duration(1)) / step;
    if (n > 20'000'000) throw std::invalid_argument("tou_series: over 20 million intervals");
    std::vector<PriceInterval> out;
    out.reserve(static_cast<std::size_t>(n));
    for (TimePoint t = from; t < to; t += step) out.push_back({t, step, price_at(cfg, t)});
    return PriceSeries(std::move(out));
}

PriceSeries with_adder(const PriceSeries& s, double adder_per_mwh) {
    if (adder_per_mwh == 0) return s;
    auto v = s.intervals();
    for (auto& i : v) i.price_per_mwh += adder_per_mwh;
    return PriceSeries(std::move(v));
}

PriceSeries load_prices(const PriceSourceConfig& cfg) {
    if (const auto* c = std::get_if<CsvSource>(&cfg.source)) {
        return with_adder(read_csv_prices(c->path, *c), cfg.adder_per_mwh);
    }
    if (const auto* e = std::get_if<ErcotSource>(&cfg.source)) {
        return with_adder(read_ercot_prices(e->path, *e), cfg.adder_per_mwh);
    }
    throw std::invalid_argument("load_prices: a " + std::string(to_string(cfg.kind)) +
                                " source has no file" +
                                (cfg.kind == SourceKind::http ? "; a feed has no history" : ""));
}

PriceSeries read_csv_prices(const std::string& path, const CsvSource& opts) {
    return parse_csv_prices(read_file(path), path, opts);
}

PriceSeries read_ercot_prices(const std::string& path, const ErcotSource& opts) {
    return parse_ercot_prices(read_file(path), path, opts);
}

PriceSeries read_price_file(const std::string& path, const std::string& settlement_point,
                            const CsvSource& csv) {
    const auto text = read_file(path);
    const auto first_line = std::string_view(text).substr(0, text.find('\n'));
    if (first_line.find("Settlement Point Price") != std::string_view::npos) {
        ErcotSource e;
        e.path = path;
        e.settlement_point = settlement_point;
        return parse_ercot_prices(text, path, e);
    }
    if (!settlement_point.empty()) {
        throw std::runtime_error(path +
                                 ": a settlement point was given but the file is not in "
                                 "ERCOT's settlement point price format");
    }
    return parse_csv_prices(text, path, csv);
}

PriceSeries parse_csv_prices(std::string_view text, std::string_view name, const CsvSource& opts) {
    Lines lines(text);
    std::string_view line;
    std::size_t no = 0;
    const auto header = read_header(lines, name);
    const auto ts_col = column(header, "timestamp", name);
    const auto price_col = column(header, "price", name);
    std::vector<Row> rows;
    std::optional<TimePoint> previous;  // in file order, to place a repeated local hour
    while (lines.next(line, no)) {
        auto f = split_fields(line);
        if (!f) fail_at(name, no, "unterminated quote");
        if (f->size() <= std::max(ts_col, price_col)) {
            fail_at(name, no,
                    "expected " + std::to_string(header.size()) + " fields, got " +
                        std::to_string(f->size()));
        }
        const auto& ts = (*f)[ts_col];
        auto stamp = parse_stamp(ts);
        if (!stamp) {
            fail_at(name, no,
                    "timestamp: '" + ts + "' is not a time like 2025-03-01T00:00:00-06:00");
        }
        TimePoint start;
        if (stamp->offset) {
            start = TimePoint{stamp->local.time_since_epoch() - *stamp->offset};
        } else {
            if (!opts.zone) {
                fail_at(name, no,
                        "timestamp: '" + ts + "' has no UTC offset and no timezone is set");
            }
            auto c = opts.zone->from_local(stamp->local);
            if (c.empty()) {
                fail_at(name, no,
                        "timestamp: " + local_text(stamp->local) + " does not exist in " +
                            opts.zone->name() + " (clocks skip it)");
            }
            // A repeated local hour: the first reading is the earlier instant unless the rows
            // already passed it.
            start = c.front();
            if (c.size() > 1 && previous && *previous >= c.front()) start = c.back();
        }
        const auto& ptext = (*f)[price_col];
        auto price = parse_number(ptext);
        if (!price) fail_at(name, no, "price: not a number ('" + ptext + "')");
        rows.push_back({{start, Duration::zero(), to_per_mwh(*price, opts.unit)}, no});
        previous = start;
    }
    Duration length = opts.interval.value_or(Duration::zero());
    if (!opts.interval) {
        std::vector<TimePoint> starts;
        for (const auto& r : rows) starts.push_back(r.interval.start);
        std::sort(starts.begin(), starts.end());
        for (std::size_t i = 1; i < starts.size(); ++i) {
            const auto gap = starts[i] - starts[i - 1];
            if (gap > Duration::zero() && (length == Duration::zero() || gap < length)) {
                length = gap;
            }
        }
        if (length == Duration::zero()) length = std::chrono::minutes(15);
    }
    for (auto& r : rows) r.interval.length = length;
    return build(std::move(rows), name);
}

PriceSeries parse_ercot_prices(std::string_view text, std::string_view name,
                               const ErcotSource& opts) {
    Lines lines(text);
    std::string_view line;
    std::size_t no = 0;
    const auto header = read_header(lines, name);
    const auto c_date = column(header, "Delivery Date", name);
    const auto c_hour = column(header, "Delivery Hour", name);
    const auto c_interval = column(header, "Delivery Interval", name);
    const auto c_repeat = column(header, "Repeated Hour Flag", name);
    const auto c_point = column(header, "Settlement Point Name", name);
    const auto c_type = column(header, "Settlement Point Type", name, false);
    const auto c_price = column(header, "Settlement Point Price", name);
    const auto needed = std::max({c_date, c_hour, c_interval, c_repeat, c_point, c_price,
                                  c_type == std::string::npos ? 0 : c_type}) +
                        1;

    std::set<std::string> present;
    std::map<std::string, std::size_t> types;  // type of the wanted point -> first line
    std::vector<Row> rows;
    const TimeZone& zone = chicago();
    while (lines.next(line, no)) {
        auto f = split_fields(line);
        if (!f) fail_at(name, no, "unterminated quote");
        if (f->size() < needed) {
            fail_at(name, no,
                    "expected " + std::to_string(header.size()) + " fields, got " +
                        std::to_string(f->size()));
        }
        const auto& point = (*f)[c_point];
        present.insert(point);
        if (!opts.settlement_point.empty() && point != opts.settlement_point) continue;
        const std::string type = c_type == std::string::npos ? "" : (*f)[c_type];
        if (opts.settlement_point_type && type != *opts.settlement_point_type) continue;
        types.emplace(type, no);

        const auto& date = (*f)[c_date];
        int mo = 0, d = 0, y = 0;
        char s1 = 0, s2 = 0;
        std::istringstream ds(date);
        ds >> mo >> s1 >> d >> s2 >> y;
        const std::chrono::year_month_day ymd{std::chrono::year{y},
                                              std::chrono::month{static_cast<unsigned>(mo)},
                                              std::chrono::day{static_cast<unsigned>(d)}};
        if (!ds || !ds.eof() || s1 != '/' || s2 != '/' || !ymd.ok() || y < 1900) {
            fail_at(name, no, "Delivery Date: '" + date + "' is not MM/DD/YYYY");
        }
        auto hour = parse_number((*f)[c_hour]);
        if (!hour || *hour != static_cast<int>(*hour) || *hour < 1 || *hour > 24) {
            fail_at(name, no, "Delivery Hour: '" + (*f)[c_hour] + "' is not an hour-ending 1..24");
        }
        auto interval = parse_number((*f)[c_interval]);
        if (!interval || *interval != static_cast<int>(*interval) || *interval < 1 ||
            *interval > 4) {
            fail_at(name, no, "Delivery Interval: '" + (*f)[c_interval] + "' is not 1..4");
        }
        const auto flag = (*f)[c_repeat];
        if (flag != "Y" && flag != "N" && !flag.empty()) {
            fail_at(name, no, "Repeated Hour Flag: '" + flag + "' is not Y or N");
        }
        auto price = parse_number((*f)[c_price]);
        if (!price) {
            fail_at(name, no, "Settlement Point Price: not a number ('" + (*f)[c_price] + "')");
        }
        // Hour-ending h, interval i: the interval starts (h-1) hours and (i-1) quarters after
        // local midnight.
        const int h = static_cast<int>(*hour);
        const LocalTime local{std::chrono::local_days{ymd}.time_since_epoch() +
                              std::chrono::hours(h - 1) +
                              std::chrono::minutes(15 * (static_cast<int>(*interval) - 1))};
        const auto c = zone.from_local(local);
        const std::string he = "hour-ending " + two(h) + " on " + date;
        if (c.empty()) {
            fail_at(name, no, he + " does not exist in " + zone.name() + " (clocks skip it)");
        }
        if (flag == "Y" && c.size() == 1) {
            fail_at(name, no, "Repeated Hour Flag: Y, but " + he + " is not repeated");
        }
        // The repeated hour's second reading (flag Y) is in standard time, the later instant.
        const TimePoint start = flag == "Y" ? c.back() : c.front();
        rows.push_back({{start, std::chrono::minutes(15), *price}, no});
    }
    if (rows.empty()) {
        const auto list = some_of(present);
        std::string what = opts.settlement_point_type
                               ? "settlement point '" + opts.settlement_point + "' of type '" +
                                     *opts.settlement_point_type + "'"
                               : "settlement point '" + opts.settlement_point + "'";
        throw std::runtime_error(std::string(name) + ": " +
                                 (present.empty() ? std::string("no prices")
                                                  : what + " not in the file; present: " + list));
    }
    if (opts.settlement_point.empty() && present.size() > 1) {
        throw std::runtime_error(std::string(name) +
                                 ": several settlement points; choose one of: " + some_of(present));
    }
    if (types.size() > 1) {
        std::string list;
        for (const auto& [ty, first] : types) list += (list.empty() ? "" : ", ") + ty;
        throw std::runtime_error(std::string(name) + ": settlement point '" +
                                 opts.settlement_point + "' has types " + list +
                                 "; set settlement_point_type to one of them");
    }
    return build(std::move(rows), name);
}

}  // namespace hashwatt::policies::prices
