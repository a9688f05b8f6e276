// The read routes: miners, one miner, a miner's series and site totals, straight from the
// Store's read connection.
#include "collector/api/routes.hpp"
#include "collector/storage/store.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"
#include "common/time.hpp"

#include <charconv>
#include <map>

#include <boost/url/decode_view.hpp>
#include <boost/url/params_view.hpp>

namespace hashwatt::collector {

namespace urls = boost::urls;

namespace {

// RFC 3339 or integer unix milliseconds.
TimePoint parse_instant(std::string_view name, std::string_view s) {
    std::int64_t ms = 0;
    const auto* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, ms);
    if (!s.empty() && ec == std::errc{} && p == end)
        return TimePoint{std::chrono::milliseconds(ms)};
    if (auto t = parse_time(s)) return *t;
    throw BadParam{std::string(name), "expected an RFC 3339 time or unix milliseconds"};
}

std::string_view resolution_name(Resolution r) {
    switch (r) {
        case Resolution::raw:
            return "raw";
        case Resolution::five_minutes:
            return "5m";
        case Resolution::one_hour:
            return "1h";
    }
    return "raw";
}

void write_time(JsonWriter& w, std::string_view k, TimePoint t) { w.field(k, format_time(t)); }

void write_record(JsonWriter& w, const MinerRecord& m) {
    w.field("miner_id", m.miner_id);
    w.field("site", m.site);
    w.field("host", m.host);
    w.field("port", static_cast<unsigned>(m.port));
    w.field("make", m.make);
    w.field("model", m.model);
    w.field("firmware", m.firmware);
    w.field("firmware_version", m.firmware_version);
    w.field("driver", m.driver);
    w.field("serial", m.serial);
    w.field("mac", m.mac);
    write_time(w, "first_seen", m.first_seen);
    write_time(w, "last_seen", m.last_seen);
    if (m.last_up) write_time(w, "last_up", *m.last_up);
    w.field("agent_id", m.agent_id);
    w.key("labels");
    w.begin_object();
    for (const auto& [k, v] : m.labels) w.field(k, v);
    w.end_object();
}

std::optional<double> max_chip_temp(const MinerSample& s) {
    std::optional<double> best;
    for (const auto& b : s.boards) {
        if (b.chip_temp_max_c && (!best || *b.chip_temp_max_c > *best)) best = b.chip_temp_max_c;
    }
    return best;
}

// The fields a fleet table shows; the full sample is at /api/v1/miners/{id}.
void write_headline(JsonWriter& w, const MinerSample& s) {
    w.begin_object();
    write_time(w, "observed_at", s.observed_at);
    w.field("up", s.up);
    w.field("state", to_string(s.state));
    if (s.error) w.field("error", to_string(*s.error));
    w.field("hashrate_ths", s.hashrate_ths);
    w.field("expected_hashrate_ths", s.expected_hashrate_ths);
    w.field("power_w", s.power_w);
    if (s.power_source) w.field("power_source", to_string(*s.power_source));
    w.field("chip_temp_max_c", max_chip_temp(s));
    w.end_object();
}

std::map<std::string, MinerSample> latest_by_miner(const Store& store) {
    std::map<std::string, MinerSample> out;
    for (auto& s : store.latest_samples()) out.emplace(s.miner_id, std::move(s));
    return out;
}

Reply miners_route(const Store& store) {
    const auto latest = latest_by_miner(store);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("miners");
    w.begin_array();
    for (const auto& m : store.miners()) {
        w.begin_object();
        write_record(w, m);
        if (auto it = latest.find(m.miner_id); it != latest.end()) {
            w.key("latest");
            write_headline(w, it->second);
        }
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

Reply miner_route(const Store& store, const std::string& id) {
    auto m = store.miner(id);
    if (!m) return json_error(404, "unknown miner \"" + id + "\"");
    const auto latest = latest_by_miner(store);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("miner");
    w.begin_object();
    write_record(w, *m);
    w.end_object();
    if (auto it = latest.find(id); it != latest.end()) {
        w.key("latest");
        write_json(w, it->second);
    }
    w.end_object();
    return json_reply(200, std::move(out));
}

void write_point(JsonWriter& w, const RollupPoint& p) {
    w.begin_object();
    write_time(w, "bucket_start", p.bucket_start);
    w.field("sample_count", p.sample_count);
    w.field("hashrate_avg_ths", p.hashrate_avg_ths);
    w.field("hashrate_min_ths", p.hashrate_min_ths);
    w.field("hashrate_max_ths", p.hashrate_max_ths);
    w.field("power_avg_w", p.power_avg_w);
    w.field("power_min_w", p.power_min_w);
    w.field("power_max_w", p.power_max_w);
    w.field("chip_temp_avg_c", p.chip_temp_avg_c);
    w.field("chip_temp_min_c", p.chip_temp_min_c);
    w.field("chip_temp_max_c", p.chip_temp_max_c);
    w.field("up_fraction", p.up_fraction);
    w.end_object();
}

Reply samples_route(const Store& store, const std::string& id, const urls::url_view& url) {
    std::optional<TimePoint> from, to;
    std::optional<Resolution> step;
    for (const auto& p : url.params()) {
        if (p.key == "from") {
            from = parse_instant("from", p.value);
        } else if (p.key == "to") {
            to = parse_instant("to", p.value);
        } else if (p.key == "step") {
            if (p.value == "raw") {
                step = Resolution::raw;
            } else if (p.value == "5m") {
                step = Resolution::five_minutes;
            } else if (p.value == "1h") {
                step = Resolution::one_hour;
            } else {
                throw BadParam{"step", "expected raw, 5m or 1h"};
            }
        } else {
            throw BadParam{p.key, "unknown query parameter (from, to, step)"};
        }
    }
    if (!to) to = now_ms();
    if (!from) from = *to - std::chrono::hours(1);
    if (*from >= *to) throw BadParam{"from", "must be before to"};
    if (!store.miner(id)) return json_error(404, "unknown miner \"" + id + "\"");

    const auto resolution = step.value_or(Store::resolution_for(*to - *from));
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("miner_id", id);
    write_time(w, "from", *from);
    write_time(w, "to", *to);
    w.field("step", resolution_name(resolution));
    if (resolution == Resolution::raw) {
        w.key("samples");
        w.begin_array();
        for (const auto& s : store.samples(id, *from, *to)) write_json(w, s);
        w.end_array();
    } else {
        w.key("points");
        w.begin_array();
        for (const auto& p : store.rollup(id, *from, *to, resolution).points) write_point(w, p);
        w.end_array();
    }
    w.end_object();
    return json_reply(200, std::move(out));
}

Reply sites_route(const Store& store) {
    struct Totals {
        std::int64_t miners = 0, up = 0;
        double hashrate_ths = 0, power_w = 0;
    };
    // A miner's site is the one its latest sample names, else the one last recorded.
    std::map<std::optional<std::string>, Totals> sites;
    const auto latest = latest_by_miner(store);
    for (const auto& m : store.miners()) {
        auto it = latest.find(m.miner_id);
        const MinerSample* s = it == latest.end() ? nullptr : &it->second;
        auto& t = sites[s && s->site ? s->site : m.site];
        ++t.miners;
        if (s == nullptr) continue;
        if (s->up) ++t.up;
        if (s->hashrate_ths) t.hashrate_ths += *s->hashrate_ths;
        if (s->power_w) t.power_w += *s->power_w;
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.key("sites");
    w.begin_array();
    for (const auto& [site, t] : sites) {
        w.begin_object();
        w.key("site");
        if (site) {
            w.value(*site);
        } else {
            w.null();
        }
        w.field("miners", t.miners);
        w.field("up", t.up);
        w.field("hashrate_ths", t.hashrate_ths);
        w.field("power_w", t.power_w);
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return json_reply(200, std::move(out));
}

}  // namespace

std::optional<Reply> handle_query(const Store& store, const urls::url_view& url) {
    std::vector<std::string> seg;
    for (auto s : url.segments()) seg.push_back(std::string(s));
    if (seg.size() < 3 || seg[0] != "api" || seg[1] != "v1") return std::nullopt;
    try {
        if (seg.size() == 3 && seg[2] == "miners") return miners_route(store);
        if (seg.size() == 3 && seg[2] == "sites") return sites_route(store);
        if (seg.size() == 4 && seg[2] == "miners" && !seg[3].empty()) {
            return miner_route(store, seg[3]);
        }
        if (seg.size() == 5 && seg[2] == "miners" && seg[4] == "samples" && !seg[3].empty()) {
            return samples_route(store, seg[3], url);
        }
    } catch (const BadParam& e) {
        return json_error(400, e.name + ": " + e.why, e.name);
    }
    return std::nullopt;
}

}  // namespace hashwatt::collector
