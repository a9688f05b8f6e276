#include "policies/backtest/report.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

#include <boost/json/serialize.hpp>

namespace hashwatt::policies::backtest {

namespace json = boost::json;

namespace {

json::object totals_json(const Totals& t) {
    json::object o;
    o["energy_mwh"] = t.energy_mwh;
    o["revenue"] = t.revenue;
    o["cost"] = t.cost;
    o["profit"] = t.profit;
    o["curtailed_miner_hours"] = t.curtailed_miner_hours;
    o["switches"] = t.switches;
    o["switches_per_miner"] = t.switches_per_miner;
    o["max_switches_per_miner_day"] = t.max_switches_per_miner_day;
    return o;
}

std::string num(double v, int decimals = 2) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

struct Line {
    std::string name;
    std::string color;
    std::vector<double> values;  // per bucket
};

// Buckets of consecutive intervals, so that a year of 5-minute data draws as ~1500 points.
struct Buckets {
    std::size_t n = 0, per = 1, count = 0;
    Buckets(std::size_t intervals, std::size_t max_points) : n(intervals) {
        per = std::max<std::size_t>(1, (n + max_points - 1) / max_points);
        count = (n + per - 1) / per;
    }
    std::vector<double> mean(const std::vector<double>& v) const {
        std::vector<double> out(count, 0);
        for (std::size_t b = 0; b < count; ++b) {
            const std::size_t lo = b * per, hi = std::min(n, lo + per);
            double s = 0;
            for (std::size_t i = lo; i < hi; ++i) s += v[i];
            out[b] = s / static_cast<double>(hi - lo);
        }
        return out;
    }
    std::vector<double> last(const std::vector<double>& v) const {
        std::vector<double> out(count, 0);
        for (std::size_t b = 0; b < count; ++b) out[b] = v[std::min(n, (b + 1) * per) - 1];
        return out;
    }
};

std::vector<double> cumulative(const std::vector<double>& v) {
    std::vector<double> out(v.size());
    double s = 0;
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = s += v[i];
    return out;
}

// One chart: lines over buckets, optional shaded buckets (true = shade), labelled axes.
void chart(std::ostream& out, const std::string& title, const std::string& unit,
           const std::vector<Line>& lines, const std::vector<bool>& shade, const Result& r) {
    constexpr double kW = 960, kH = 260, kLeft = 80, kRight = 16, kTop = 28, kBottom = 36;
    const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
    double lo = 0, hi = 0;
    bool first = true;
    for (const auto& l : lines) {
        for (double v : l.values) {
            if (!std::isfinite(v)) continue;
            lo = first ? v : std::min(lo, v);
            hi = first ? v : std::max(hi, v);
            first = false;
        }
    }
    if (hi - lo < 1e-9) {
        lo -= 1;
        hi += 1;
    }
    const std::size_t nb = lines.empty() ? 0 : lines.front().values.size();
    auto x = [&](double b) { return kLeft + (nb > 1 ? b / static_cast<double>(nb - 1) : 0) * pw; };
    auto y = [&](double v) { return kTop + (hi - v) / (hi - lo) * ph; };
    out << "<h2>" << escape(title) << "</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
        << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 " << kW << ' ' << kH
        << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    out << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
        << "\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n";
    // Shaded runs, merged so a long curtailment is one rectangle.
    const double bw = nb > 1 ? pw / static_cast<double>(nb - 1) : pw;
    for (std::size_t b = 0; b < shade.size();) {
        if (!shade[b]) {
            ++b;
            continue;
        }
        std::size_t e = b;
        while (e < shade.size() && shade[e]) ++e;
        out << "<rect x=\"" << num(std::max(kLeft, x(static_cast<double>(b)) - bw / 2), 1)
            << "\" y=\"" << kTop << "\" width=\"" << num(static_cast<double>(e - b) * bw, 1)
            << "\" height=\"" << ph << "\" fill=\"#f4b6b6\" fill-opacity=\"0.6\"/>\n";
        b = e;
    }
    if (lo < 0 && hi > 0) {
        out << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << num(y(0), 1)
            << "\" y2=\"" << num(y(0), 1) << "\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n";
    }
    for (const double v : {lo, (lo + hi) / 2, hi}) {
        out << "<text x=\"" << kLeft - 6 << "\" y=\"" << num(y(v) + 4, 1)
            << "\" text-anchor=\"end\">" << num(v, std::abs(hi - lo) < 10 ? 2 : 0) << "</text>\n";
    }
    out << "<text x=\"" << 12 << "\" y=\"" << kTop - 10 << "\">" << escape(unit) << "</text>\n";
    if (!r.intervals.empty()) {
        const std::string from = format_time(r.intervals.front().start).substr(0, 16);
        const std::string to = format_time(r.intervals.back().end()).substr(0, 16);
        out << "<text x=\"" << kLeft << "\" y=\"" << kH - 12 << "\">" << from << "Z</text>\n"
            << "<text x=\"" << kLeft + pw << "\" y=\"" << kH - 12 << "\" text-anchor=\"end\">" << to
            << "Z</text>\n";
    }
    double legend_x = kLeft + 10;
    for (const auto& l : lines) {
        out << "<polyline fill=\"none\" stroke=\"" << l.color
            << "\" stroke-width=\"1.3\" points=\"";
        for (std::size_t b = 0; b < l.values.size(); ++b) {
            out << num(x(static_cast<double>(b)), 1) << ',' << num(y(l.values[b]), 1) << ' ';
        }
        out << "\"/>\n";
        out << "<rect x=\"" << legend_x << "\" y=\"" << kTop - 20
            << "\" width=\"10\" height=\"10\" fill=\"" << l.color << "\"/><text x=\""
            << legend_x + 14 << "\" y=\"" << kTop - 11 << "\">" << escape(l.name) << "</text>\n";
        legend_x += 20 + 7 * static_cast<double>(l.name.size()) + 20;
    }
    if (!shade.empty()) {
        out << "<rect x=\"" << legend_x << "\" y=\"" << kTop - 20
            << "\" width=\"10\" height=\"10\" fill=\"#f4b6b6\"/><text x=\"" << legend_x + 14
            << "\" y=\"" << kTop - 11 << "\">policy curtailed</text>\n";
    }
    out << "</svg>\n";
}

}  // namespace

json::object to_json(const Result& r) {
    json::object o;
    o["intervals"] = r.intervals.size();
    o["hours"] = r.hours();
    o["miners"] = r.miners;
    o["interval_s"] = r.intervals.empty()
                          ? 0.0
                          : std::chrono::duration<double>(r.intervals.front().length).count();
    o["always_on"] = totals_json(r.always_on.totals);
    auto policy = totals_json(r.policy.totals);
    policy["held_by_dwell"] = r.held_by_dwell;
    policy["cap_exceeded_intervals"] = r.cap_exceeded_intervals;
    o["policy"] = std::move(policy);
    auto opt = totals_json(r.optimum.totals);
    opt["exact"] = r.optimum_exact;
    opt["cap_credit"] = r.optimum_cap_credit;
    o["optimum"] = std::move(opt);
    if (std::isfinite(r.capture_ratio)) {
        o["capture_ratio"] = r.capture_ratio;
    } else {
        o["capture_ratio"] = nullptr;
    }
    return o;
}

std::string to_json_text(const Result& r) { return json::serialize(to_json(r)); }

void write_csv(const Result& r, std::ostream& out) {
    out << "time,price_per_mwh,always_on_kw,policy_kw,optimum_kw,policy_curtailed_share,"
           "always_on_cumulative_profit,policy_cumulative_profit,optimum_cumulative_profit\n";
    double ca = 0, cp = 0, co = 0;
    for (std::size_t i = 0; i < r.intervals.size(); ++i) {
        ca += r.always_on.profit[i];
        cp += r.policy.profit[i];
        co += r.optimum.profit[i];
        out << format_time(r.intervals[i].start) << ',' << num(r.intervals[i].price_per_mwh) << ','
            << num(r.always_on.power_kw[i], 3) << ',' << num(r.policy.power_kw[i], 3) << ','
            << num(r.optimum.power_kw[i], 3) << ',' << num(r.policy.curtailed_share[i], 4) << ','
            << num(ca, 4) << ',' << num(cp, 4) << ',' << num(co, 4) << '\n';
    }
}

void write_html(const Result& r, std::ostream& out, const std::string& title) {
    const std::size_t n = r.intervals.size();
    const Buckets b(n, 1500);
    std::vector<double> price(n), curtailed(n);
    for (std::size_t i = 0; i < n; ++i) {
        price[i] = r.intervals[i].price_per_mwh;
        curtailed[i] = r.policy.curtailed_share[i];
    }
    const auto curtailed_b = b.mean(curtailed);
    std::vector<bool> shade(curtailed_b.size());
    for (std::size_t i = 0; i < shade.size(); ++i) shade[i] = curtailed_b[i] > 0.005;

    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
        << escape(title)
        << "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;"
           "text-align:right}th:first-child,td:first-child{text-align:left}</style></head><body>\n";
    out << "<h1>" << escape(title) << "</h1>\n<p>" << n << " intervals, " << num(r.hours(), 1)
        << " hours, " << r.miners << " miners";
    if (n > 0) {
        out << ", " << format_time(r.intervals.front().start) << " to "
            << format_time(r.intervals.back().end());
    }
    out << ". Capture ratio (policy gain over always-on / optimum gain): "
        << (std::isfinite(r.capture_ratio) ? num(100 * r.capture_ratio, 1) + " %" : "n/a")
        << ".</p>\n<table><tr><th></th><th>energy MWh</th><th>revenue</th><th>cost</th>"
           "<th>profit</th><th>curtailed miner-hours</th><th>switches</th>"
           "<th>max switches/miner/day</th></tr>\n";
    const std::pair<const char*, const Totals*> rows[] = {{"always on", &r.always_on.totals},
                                                          {"policy", &r.policy.totals},
                                                          {"optimum", &r.optimum.totals}};
    for (const auto& [name, t] : rows) {
        out << "<tr><td>" << name << "</td><td>" << num(t->energy_mwh, 3) << "</td><td>"
            << num(t->revenue) << "</td><td>" << num(t->cost) << "</td><td>" << num(t->profit)
            << "</td><td>" << num(t->curtailed_miner_hours, 1) << "</td><td>" << t->switches
            << "</td><td>" << t->max_switches_per_miner_day << "</td></tr>\n";
    }
    out << "</table>\n";
    if (!r.optimum_exact) {
        out << "<p>The optimum is an upper bound (site cap with dwell or response times); "
            << num(r.optimum_cap_credit) << " of its profit is the cap multipliers' credit.</p>\n";
    }
    if (r.held_by_dwell > 0 || r.cap_exceeded_intervals > 0) {
        out << "<p>The replay held " << r.held_by_dwell
            << " policy commands that broke min on/off; the policy exceeded a site cap in "
            << r.cap_exceeded_intervals << " intervals.</p>\n";
    }
    chart(out, "Price, with the policy's curtailed periods", "per MWh",
          {{"price", "#1f77b4", b.mean(price)}}, shade, r);
    chart(out, "Fleet power", "kW",
          {{"always on", "#7f7f7f", b.mean(r.always_on.power_kw)},
           {"policy", "#d62728", b.mean(r.policy.power_kw)},
           {"optimum", "#2ca02c", b.mean(r.optimum.power_kw)}},
          {}, r);
    chart(out, "Cumulative profit", "currency",
          {{"always on", "#7f7f7f", b.last(cumulative(r.always_on.profit))},
           {"policy", "#d62728", b.last(cumulative(r.policy.profit))},
           {"optimum", "#2ca02c", b.last(cumulative(r.optimum.profit))}},
          {}, r);
    out << "</body></html>\n";
}

}  // namespace hashwatt::policies::backtest
