#include "bench/cost_growth.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include <boost/json/array.hpp>

namespace hashwatt::bench {

namespace {

// The value at `n` miners: the measured one if `n` was measured, else linear through the two
// nearest measured sizes (extrapolated past the ends); with a single point, proportional to the
// fleet. Never below zero.
Cell at(std::vector<Point> pts, double n) {
    Cell c;
    if (pts.empty()) return c;
    std::sort(pts.begin(), pts.end(),
              [](const Point& a, const Point& b) { return a.miners < b.miners; });
    c.known = true;
    for (const auto& p : pts) {
        if (p.miners == n) {
            c.value = p.value;
            c.measured = true;
            return c;
        }
    }
    if (pts.size() == 1) {
        c.value = pts[0].value * n / pts[0].miners;
        return c;
    }
    std::size_t hi = 1;
    while (hi + 1 < pts.size() && pts[hi].miners < n) ++hi;
    const Point& a = pts[hi - 1];
    const Point& b = pts[hi];
    const double slope = (b.value - a.value) / (b.miners - a.miners);
    c.value = std::max(0.0, a.value + slope * (n - a.miners));
    return c;
}

// The largest fleet with f(n) <= limit (f grows with n), between 1 and 1e9 miners.
double largest_within(const std::function<double(double)>& f, double limit) {
    if (f(1) > limit) return 0;
    double lo = 1, hi = 1e9;
    if (f(hi) <= limit) return hi;
    for (int i = 0; i < 100 && hi - lo > 1; ++i) {
        const double mid = std::sqrt(lo * hi) > lo + 1 ? std::sqrt(lo * hi) : (lo + hi) / 2;
        (f(mid) <= limit ? lo : hi) = mid;
    }
    return std::floor(lo);
}

std::vector<Point> times_fleet(const std::vector<Point>& per_miner, double factor) {
    std::vector<Point> out;
    for (const auto& p : per_miner) out.push_back({p.miners, p.value * p.miners * factor});
    return out;
}

std::vector<Point> scaled(const std::vector<Point>& pts, double factor) {
    std::vector<Point> out;
    for (const auto& p : pts) out.push_back({p.miners, p.value * factor});
    return out;
}

Limit make_limit(std::string who, std::vector<std::pair<std::string, double>> bounds) {
    Limit l;
    l.who = std::move(who);
    l.bounds = std::move(bounds);
    l.miners = -1;
    for (const auto& [name, n] : l.bounds) {
        if (l.miners < 0 || n < l.miners) {
            l.miners = n;
            l.binding = name;
        }
    }
    if (l.miners < 0) l.miners = 0;
    return l;
}

std::string fmt(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string cell_text(const Cell& c, int decimals) {
    if (!c.known) return "n/a";
    return fmt(c.value, decimals) + (c.measured ? " m" : " d");
}

std::string miners_text(double n) {
    // Built forwards: GCC 12 warns (-Wrestrict) on std::string::insert here.
    const std::string digits = fmt(n, 0);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

boost::json::object cell_json(const Cell& c) {
    if (!c.known) return {{"value", nullptr}, {"source", "unknown"}};
    return {{"value", c.value}, {"source", c.measured ? "measured" : "derived"}};
}

}  // namespace

CostGrowth cost_growth(const CostInputs& in, const std::vector<double>& sizes) {
    CostGrowth cg;
    cg.inputs = in;
    // Agent CPU: CPU per poll times the polls of one interval, in cores.
    const auto agent_cores = times_fleet(in.agent_cpu_per_poll_us, 1e-6 / in.poll_interval_s);
    const auto scrape_mb = scaled(in.scrape_bytes, 1e-6);
    // A scrape's cost per scrape interval, charged as CPU (an upper bound: the time is the wall
    // clock until the client read the last byte, and the client shared the machine).
    const auto scrape_cores = scaled(in.scrape_ms, 1e-3 / in.scrape_interval_s);
    const auto collector_cores = [&](double n) {
        Cell c = at(scrape_cores, n);
        c.known = c.known || in.ingest_cpu_per_sample_us > 0;
        c.measured = false;
        c.value += in.ingest_cpu_per_sample_us * 1e-6 * n / in.poll_interval_s;
        c.value += in.alert_us_per_miner * 1e-6 * n / in.alert_interval_s;
        return c;
    };
    const double samples_per_day = 86400.0 / in.poll_interval_s;
    const auto disk_gb = [&](double n) {
        Cell c;
        c.known = in.store_bytes_per_sample > 0;
        c.value = in.store_bytes_per_sample * n * samples_per_day / 1e9;
        return c;
    };
    for (double n : sizes) {
        CostRow r;
        r.miners = n;
        r.agent_cpu_cores = at(agent_cores, n);
        r.agent_rss_mib = at(in.agent_rss_mib, n);
        r.collector_cpu_cores = collector_cores(n);
        r.collector_rss_mib = at(in.collector_peak_rss_mib, n);
        r.disk_gb_per_day = disk_gb(n);
        r.scrape_mb = at(scrape_mb, n);
        cg.rows.push_back(r);
    }

    // Agent: one event-loop thread (one core at most), a round within the interval, memory.
    std::vector<std::pair<std::string, double>> agent;
    if (!agent_cores.empty())
        agent.emplace_back("CPU (one event-loop thread: 1 core)",
                           largest_within([&](double n) { return at(agent_cores, n).value; }, 1.0));
    if (!in.agent_round_wall_s.empty())
        agent.emplace_back(
            "round wall time within the poll interval",
            largest_within([&](double n) { return at(in.agent_round_wall_s, n).value; },
                           in.poll_interval_s));
    if (!in.agent_rss_mib.empty() && in.machine_ram_mib > 0)
        agent.emplace_back("memory (all of the RAM)",
                           largest_within([&](double n) { return at(in.agent_rss_mib, n).value; },
                                          in.machine_ram_mib));
    cg.agent = make_limit("agent", std::move(agent));

    std::vector<std::pair<std::string, double>> collector;
    if (in.ingest_samples_per_s > 0)
        collector.emplace_back("ingest (the store writer is one thread; measured samples/s)",
                               std::floor(in.ingest_samples_per_s * in.poll_interval_s));
    if (in.ingest_cpu_per_sample_us > 0 && in.machine_cores > 0)
        collector.emplace_back("CPU (ingest + scrapes + alerts on all cores)",
                               largest_within([&](double n) { return collector_cores(n).value; },
                                              static_cast<double>(in.machine_cores)));
    if (!in.scrape_ms.empty())
        collector.emplace_back("scrape within Prometheus' scrape_timeout",
                               largest_within([&](double n) { return at(in.scrape_ms, n).value; },
                                              in.scrape_timeout_s * 1000));
    if (!in.collector_peak_rss_mib.empty() && in.machine_ram_mib > 0)
        collector.emplace_back(
            "memory (all of the RAM)",
            largest_within([&](double n) { return at(in.collector_peak_rss_mib, n).value; },
                           in.machine_ram_mib));
    if (in.store_bytes_per_sample > 0 && in.free_disk_bytes > 0)
        collector.emplace_back(
            "disk (raw retention of the free disk)",
            std::floor(in.free_disk_bytes /
                       (in.store_bytes_per_sample * samples_per_day * in.raw_retention_days)));
    cg.collector = make_limit("collector", std::move(collector));
    return cg;
}

std::string cost_growth_markdown(const CostGrowth& cg) {
    std::ostringstream o;
    o << "| miners | agent CPU (cores) | agent RSS (MiB) | collector CPU (cores) | collector "
         "peak RSS (MiB) | collector disk per day (GB) | /metrics size (MB) |\n";
    o << "|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : cg.rows) {
        o << "| " << miners_text(r.miners) << " | " << cell_text(r.agent_cpu_cores, 3) << " | "
          << cell_text(r.agent_rss_mib, 0) << " | " << cell_text(r.collector_cpu_cores, 3) << " | "
          << cell_text(r.collector_rss_mib, 0) << " | " << cell_text(r.disk_gb_per_day, 1) << " | "
          << cell_text(r.scrape_mb, 1) << " |\n";
    }
    const auto& in = cg.inputs;
    o << "\nm: measured at that size in this run; d: derived (linear through the two nearest "
         "measured sizes; collector CPU = ingest CPU per sample x samples per "
      << fmt(in.poll_interval_s, 0) << " s + one GET /metrics per " << fmt(in.scrape_interval_s, 0)
      << " s + one alert evaluation per " << fmt(in.alert_interval_s, 0)
      << " s; disk = bytes per stored sample x samples per day).\n\n";
    for (const Limit* l : {&cg.agent, &cg.collector}) {
        o << "Largest fleet of one " << l->who << " on this machine at "
          << fmt(in.poll_interval_s, 0) << " s: **" << miners_text(l->miners)
          << " miners**, bound by " << l->binding << " (";
        bool first = true;
        for (const auto& [name, n] : l->bounds) {
            o << (first ? "" : "; ") << name << ": " << miners_text(n);
            first = false;
        }
        o << ").\n";
    }
    return o.str();
}

boost::json::object to_json(const CostGrowth& cg) {
    boost::json::array rows;
    for (const auto& r : cg.rows) {
        rows.push_back(
            boost::json::object{{"miners", r.miners},
                                {"agent_cpu_cores", cell_json(r.agent_cpu_cores)},
                                {"agent_rss_mib", cell_json(r.agent_rss_mib)},
                                {"collector_cpu_cores", cell_json(r.collector_cpu_cores)},
                                {"collector_peak_rss_mib", cell_json(r.collector_rss_mib)},
                                {"disk_gb_per_day", cell_json(r.disk_gb_per_day)},
                                {"scrape_mb", cell_json(r.scrape_mb)}});
    }
    const auto limit = [](const Limit& l) {
        boost::json::object bounds;
        for (const auto& [name, n] : l.bounds) bounds[name] = n;
        return boost::json::object{
            {"miners", l.miners}, {"binding", l.binding}, {"bounds", bounds}};
    };
    const auto& in = cg.inputs;
    return {{"rows", rows},
            {"agent_limit", limit(cg.agent)},
            {"collector_limit", limit(cg.collector)},
            {"assumptions",
             {{"poll_interval_s", in.poll_interval_s},
              {"scrape_interval_s", in.scrape_interval_s},
              {"scrape_timeout_s", in.scrape_timeout_s},
              {"alert_interval_s", in.alert_interval_s},
              {"raw_retention_days", in.raw_retention_days},
              {"ingest_cpu_per_sample_us", in.ingest_cpu_per_sample_us},
              {"ingest_samples_per_s", in.ingest_samples_per_s},
              {"store_bytes_per_sample", in.store_bytes_per_sample},
              {"alert_us_per_miner", in.alert_us_per_miner},
              {"machine_cores", in.machine_cores},
              {"machine_ram_mib", in.machine_ram_mib},
              {"free_disk_bytes", in.free_disk_bytes}}}};
}

namespace {

struct Series {
    std::string label, color;
    std::vector<std::pair<double, Cell>> points;  // miners, value
};

// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
double nice_max(double v) {
    if (v <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 5.0, 10.0}) {
        if (v <= m * p) return m * p;
    }
    return 10 * p;
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '&')
            o += "&amp;";
        else if (c == '<')
            o += "&lt;";
        else if (c == '>')
            o += "&gt;";
        else
            o += c;
    }
    return o;
}

void panel(std::ostringstream& o, double x0, double y0, const std::string& title,
           const std::string& unit, const std::vector<Series>& series, double min_n, double max_n) {
    const double w = 380, h = 220, left = 60, top = 30, pw = w - left - 20, ph = h - top - 40;
    double vmax = 0;
    for (const auto& s : series)
        for (const auto& [n, c] : s.points)
            if (c.known) vmax = std::max(vmax, c.value);
    const double ymax = nice_max(vmax);
    const double lmin = std::log10(min_n), lmax = std::log10(max_n);
    const auto px = [&](double n) {
        return x0 + left + (std::log10(n) - lmin) / (lmax - lmin) * pw;
    };
    const auto py = [&](double v) { return y0 + top + ph - v / ymax * ph; };
    o << "<text x=\"" << x0 + left << "\" y=\"" << y0 + 18
      << "\" font-size=\"13\" font-weight=\"bold\">" << esc(title) << "</text>\n";
    o << "<rect x=\"" << x0 + left << "\" y=\"" << y0 + top << "\" width=\"" << pw << "\" height=\""
      << ph << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (int i = 0; i <= 4; ++i) {
        const double v = ymax * i / 4;
        o << "<line x1=\"" << x0 + left << "\" x2=\"" << x0 + left + pw << "\" y1=\"" << py(v)
          << "\" y2=\"" << py(v) << "\" stroke=\"#ddd\"/>\n";
        o << "<text x=\"" << x0 + left - 5 << "\" y=\"" << py(v) + 4
          << "\" font-size=\"10\" text-anchor=\"end\">"
          << fmt(v, ymax < 1    ? 3
                    : ymax < 10 ? 1
                                : 0)
          << "</text>\n";
    }
    for (double n : {1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5}) {
        if (n < min_n || n > max_n) continue;
        o << "<line x1=\"" << px(n) << "\" x2=\"" << px(n) << "\" y1=\"" << y0 + top << "\" y2=\""
          << y0 + top + ph << "\" stroke=\"#eee\"/>\n";
        o << "<text x=\"" << px(n) << "\" y=\"" << y0 + top + ph + 14
          << "\" font-size=\"10\" text-anchor=\"middle\">" << miners_text(n) << "</text>\n";
    }
    o << "<text x=\"" << x0 + left + pw / 2 << "\" y=\"" << y0 + top + ph + 30
      << "\" font-size=\"11\" text-anchor=\"middle\">miners (log scale)</text>\n";
    o << "<text transform=\"translate(" << x0 + 14 << "," << y0 + top + ph / 2
      << ") rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">" << esc(unit) << "</text>\n";
    double ly = y0 + top + 12;
    for (const auto& s : series) {
        std::string pts;
        for (const auto& [n, c] : s.points) {
            if (!c.known) continue;
            pts += fmt(px(n), 1) + "," + fmt(py(c.value), 1) + " ";
        }
        o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\""
          << pts << "\"/>\n";
        for (const auto& [n, c] : s.points) {
            if (!c.known) continue;
            o << "<circle cx=\"" << fmt(px(n), 1) << "\" cy=\"" << fmt(py(c.value), 1)
              << "\" r=\"4\" stroke=\"" << s.color << "\" stroke-width=\"2\" fill=\""
              << (c.measured ? s.color : "white") << "\"/>\n";
        }
        o << "<text x=\"" << x0 + left + 8 << "\" y=\"" << ly << "\" font-size=\"11\" fill=\""
          << s.color << "\">" << esc(s.label) << "</text>\n";
        ly += 14;
    }
}

}  // namespace

std::string cost_growth_svg(const CostGrowth& cg, const std::string& machine) {
    const std::string agent_color = "#1f77b4", collector_color = "#d62728";
    double min_n = 1e3, max_n = 1e5;
    for (const auto& r : cg.rows) {
        min_n = std::min(min_n, r.miners);
        max_n = std::max(max_n, r.miners);
    }
    const auto pick = [&](Cell CostRow::*m) {
        std::vector<std::pair<double, Cell>> out;
        for (const auto& r : cg.rows) out.emplace_back(r.miners, r.*m);
        return out;
    };
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"780\" height=\"520\" "
         "font-family=\"sans-serif\">\n<rect width=\"780\" height=\"520\" fill=\"white\"/>\n";
    o << "<text x=\"390\" y=\"16\" font-size=\"13\" text-anchor=\"middle\">hashwatt cost "
         "growth at a "
      << fmt(cg.inputs.poll_interval_s, 0)
      << " s poll interval; filled: measured, hollow: derived</text>\n";
    o << "<text x=\"390\" y=\"512\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">"
      << esc(machine) << "; bench/results.json, docs/performance.md</text>\n";
    panel(o, 0, 24, "CPU", "cores",
          {{"agent", agent_color, pick(&CostRow::agent_cpu_cores)},
           {"collector", collector_color, pick(&CostRow::collector_cpu_cores)}},
          min_n, max_n);
    panel(o, 390, 24, "Memory (peak RSS)", "MiB",
          {{"agent", agent_color, pick(&CostRow::agent_rss_mib)},
           {"collector", collector_color, pick(&CostRow::collector_rss_mib)}},
          min_n, max_n);
    panel(o, 0, 270, "Disk per day (raw samples)", "GB per day",
          {{"collector", collector_color, pick(&CostRow::disk_gb_per_day)}}, min_n, max_n);
    panel(o, 390, 270, "/metrics scrape size", "MB per scrape",
          {{"collector", collector_color, pick(&CostRow::scrape_mb)}}, min_n, max_n);
    o << "</svg>\n";
    return o.str();
}

}  // namespace hashwatt::bench
