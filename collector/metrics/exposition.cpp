#include "collector/metrics/exposition.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace hashwatt::collector {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr double kHashesPerTerahash = 1e12;

void append_escaped(std::string& out, std::string_view v) {
    std::size_t from = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (c != '\\' && c != '"' && c != '\n') continue;
        out.append(v.substr(from, i - from));
        out.push_back('\\');
        out.push_back(c == '\n' ? 'n' : c);
        from = i + 1;
    }
    out.append(v.substr(from));
}

// As TextSerializer writes a double: the stream's %g with 16 significant digits.
void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out.append("Nan");
    } else if (std::isinf(v)) {
        out.append(v < 0 ? "-Inf" : "+Inf");
    } else if (v == std::trunc(v) && std::fabs(v) < 1e15 && !(v == 0 && std::signbit(v))) {
        // Most values (rpm, counts, whole H/s) are integers, which %.16g prints as such below
        // 1e16; the integer conversion is several times cheaper than the printf-based one.
        std::array<char, 24> buf{};
        const auto r =
            std::to_chars(buf.data(), buf.data() + buf.size(), static_cast<long long>(v));
        out.append(buf.data(), r.ptr);
    } else {
        std::array<char, 40> buf{};
        const auto r =
            std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::general, 16);
        out.append(buf.data(), r.ptr);
    }
}

std::string_view type_word(MetricType t) {
    switch (t) {
        case MetricType::Counter:
            return "counter";
        case MetricType::Gauge:
            return "gauge";
        case MetricType::Histogram:
            return "histogram";
        case MetricType::Summary:
            return "summary";
        case MetricType::Untyped:
            return "untyped";
    }
    return "untyped";
}

// Appends series to one family, with the miner's labels first: either as ClientMetrics (for
// Collect()) or straight as exposition text (for the scrape), from the same emit functions.
class Emit {
  public:
    explicit Emit(MetricFamily& family) : family_(&family), type_(family.type) {}
    Emit(std::string& text, std::string_view name, MetricType type)
        : text_(&text), name_(name), type_(type) {}

    void operator()(const LatestMiner& m, double value) { add(m, value, {}, {}); }
    void operator()(const LatestMiner& m, double value, std::string_view label,
                    std::string_view label_value) {
        add(m, value, label, label_value);
    }
    // The info series: the identity labels that are known, value 1.
    void info(const LatestMiner& m) {
        const MinerIdentity& id = *m.identity;
        const std::pair<std::string_view, std::string_view> extra[] = {{"make", id.make},
                                                                       {"model", id.model},
                                                                       {"firmware", id.firmware},
                                                                       {"driver", id.driver}};
        if (family_ != nullptr) {
            ClientMetric& c = start(m);
            for (const auto& [name, value] : extra) {
                if (!value.empty()) c.label.push_back({std::string(name), std::string(value)});
            }
            c.gauge.value = 1;
            return;
        }
        start_text(m);
        for (const auto& [name, value] : extra) {
            if (!value.empty()) append_label(name, value);
        }
        finish_text(1);
    }

  private:
    ClientMetric& start(const LatestMiner& m) {
        ClientMetric& c = family_->metric.emplace_back();
        c.label.reserve(3);
        c.label.push_back({"miner", m.miner_id});
        if (!m.identity->site.empty()) c.label.push_back({"site", m.identity->site});
        return c;
    }

    void add(const LatestMiner& m, double value, std::string_view label,
             std::string_view label_value) {
        if (!LatestMiner::has(value)) return;  // not reported: no series, never a fake 0
        if (family_ != nullptr) {
            ClientMetric& c = start(m);
            if (!label.empty()) c.label.push_back({std::string(label), std::string(label_value)});
            if (type_ == MetricType::Counter) {
                c.counter.value = value;
            } else {
                c.gauge.value = value;
            }
            return;
        }
        start_text(m);
        if (!label.empty()) append_label(label, label_value);
        finish_text(value);
    }

    // The text form is TextSerializer's, byte for byte (a unit test compares the two):
    // name{label="value",...} value\n, with \\, \" and \n escaped in label values.
    void start_text(const LatestMiner& m) {
        std::string& out = *text_;
        out.append(name_);
        out.append("{miner=\"");
        append_escaped(out, m.miner_id);
        out.push_back('"');
        if (!m.identity->site.empty()) append_label("site", m.identity->site);
    }
    void append_label(std::string_view name, std::string_view value) {
        std::string& out = *text_;
        out.push_back(',');
        out.append(name);
        out.append("=\"");
        append_escaped(out, value);
        out.push_back('"');
    }
    void finish_text(double value) {
        std::string& out = *text_;
        out.append("} ");
        append_value(out, value);
        out.push_back('\n');
    }

    MetricFamily* family_ = nullptr;
    std::string* text_ = nullptr;
    std::string_view name_;
    MetricType type_;
};

// A board index or fan position as a label value, without a heap allocation.
class IndexLabel {
  public:
    explicit IndexLabel(std::size_t i) : IndexLabel(static_cast<long long>(i)) {}
    explicit IndexLabel(int i) : IndexLabel(static_cast<long long>(i)) {}
    explicit IndexLabel(long long i) {
        end_ = std::to_chars(buf_.data(), buf_.data() + buf_.size(), i).ptr;
    }
    std::string_view view() const {
        return {buf_.data(), static_cast<std::size_t>(end_ - buf_.data())};
    }

  private:
    std::array<char, 24> buf_{};
    char* end_ = nullptr;
};

double hashes_per_second(double ths) {
    return LatestMiner::has(ths) ? ths * kHashesPerTerahash : ths;
}

constexpr std::array kStates = {MinerState::mining,  MinerState::sleeping, MinerState::idle,
                                MinerState::booting, MinerState::error,    MinerState::offline};

struct FamilyRow {
    FamilyInfo info;
    void (*emit)(const LatestMiner&, Emit&);
};

// The one list of miner families. Units are base units (hashes per second, watts, seconds);
// board and fan labels are the firmware's board index and the fan's position.
const FamilyRow kFamilies[] = {
    {{"hashwatt_miner_up", MetricType::Gauge,
      "1 if the miner answered its last poll, 0 if it did not."},
     [](const LatestMiner& m, Emit& e) { e(m, m.up ? 1.0 : 0.0); }},
    {{"hashwatt_miner_info", MetricType::Gauge,
      "Identity of the miner as last reported (make, model, firmware, driver); always 1."},
     [](const LatestMiner& m, Emit& e) { e.info(m); }},
    {{"hashwatt_miner_hashrate_hashes_per_second", MetricType::Gauge,
      "Current hash rate reported by the miner."},
     [](const LatestMiner& m, Emit& e) { e(m, hashes_per_second(m.hashrate_ths)); }},
    {{"hashwatt_miner_expected_hashrate_hashes_per_second", MetricType::Gauge,
      "Hash rate the miner expects of itself (its nominal or target rate)."},
     [](const LatestMiner& m, Emit& e) { e(m, hashes_per_second(m.expected_hashrate_ths)); }},
    {{"hashwatt_miner_power_watts", MetricType::Gauge,
      "Power draw, measured by the miner or estimated from its model."},
     [](const LatestMiner& m, Emit& e) { e(m, m.power_w); }},
    {{"hashwatt_miner_power_limit_watts", MetricType::Gauge,
      "Power limit (power target) the miner is set to."},
     [](const LatestMiner& m, Emit& e) { e(m, m.power_limit_w); }},
    {{"hashwatt_miner_board_hashrate_hashes_per_second", MetricType::Gauge,
      "Hash rate of one hash board."},
     [](const LatestMiner& m, Emit& e) {
         for (const auto& b : m.boards) {
             e(m, hashes_per_second(b.hashrate_ths), "board", IndexLabel(b.index).view());
         }
     }},
    {{"hashwatt_miner_chip_temperature_celsius", MetricType::Gauge,
      "Hottest chip temperature of one hash board."},
     [](const LatestMiner& m, Emit& e) {
         for (const auto& b : m.boards) {
             e(m, b.chip_temp_max_c, "board", IndexLabel(b.index).view());
         }
     }},
    {{"hashwatt_miner_board_temperature_celsius", MetricType::Gauge,
      "Hottest PCB temperature of one hash board."},
     [](const LatestMiner& m, Emit& e) {
         for (const auto& b : m.boards) {
             e(m, b.board_temp_max_c, "board", IndexLabel(b.index).view());
         }
     }},
    {{"hashwatt_miner_fan_speed_rpm", MetricType::Gauge,
      "Speed of one fan in revolutions per minute."},
     [](const LatestMiner& m, Emit& e) {
         for (std::size_t i = 0; i < m.fans_rpm.size(); ++i) {
             e(m, m.fans_rpm[i], "fan", IndexLabel(i).view());
         }
     }},
    {{"hashwatt_miner_inlet_temperature_celsius", MetricType::Gauge, "Air inlet temperature."},
     [](const LatestMiner& m, Emit& e) { e(m, m.inlet_temp_c); }},
    {{"hashwatt_miner_outlet_temperature_celsius", MetricType::Gauge, "Air outlet temperature."},
     [](const LatestMiner& m, Emit& e) { e(m, m.outlet_temp_c); }},
    {{"hashwatt_miner_hardware_errors_total", MetricType::Counter,
      "Hardware errors counted by the miner since it started."},
     [](const LatestMiner& m, Emit& e) { e(m, m.hw_errors_total); }},
    {{"hashwatt_miner_shares_total", MetricType::Counter,
      "Shares submitted since the miner started, summed over its pools, by result."},
     [](const LatestMiner& m, Emit& e) {
         e(m, m.shares_accepted, "result", "accepted");
         e(m, m.shares_rejected, "result", "rejected");
         e(m, m.shares_stale, "result", "stale");
     }},
    {{"hashwatt_miner_state", MetricType::Gauge,
      "1 for the miner's current state, 0 for the other five."},
     [](const LatestMiner& m, Emit& e) {
         for (auto s : kStates) e(m, s == m.state ? 1.0 : 0.0, "state", to_string(s));
     }},
    {{"hashwatt_miner_uptime_seconds", MetricType::Gauge,
      "Time since the miner's mining software started."},
     [](const LatestMiner& m, Emit& e) { e(m, m.uptime_s); }},
    {{"hashwatt_miner_last_seen_timestamp_seconds", MetricType::Gauge,
      "Unix time at which the miner's newest sample was taken."},
     [](const LatestMiner& m, Emit& e) {
         e(m, static_cast<double>(m.observed_at.time_since_epoch().count()) / 1000.0);
     }},
};

constexpr std::size_t kFamilyCount = std::size(kFamilies);

std::array<FamilyInfo, kFamilyCount> family_infos() {
    std::array<FamilyInfo, kFamilyCount> out{};
    for (std::size_t i = 0; i < kFamilyCount; ++i) out[i] = kFamilies[i].info;
    return out;
}

}  // namespace

std::span<const FamilyInfo> miner_families() {
    static const auto infos = family_infos();
    return infos;
}

MetricFamily build_miner_family(std::size_t index, const std::vector<LatestMinerPtr>& miners) {
    if (index >= kFamilyCount) {
        throw std::out_of_range("miner family index " + std::to_string(index) +
                                " >= " + std::to_string(kFamilyCount));
    }
    const FamilyRow& row = kFamilies[index];
    MetricFamily family;
    family.name = std::string(row.info.name);
    family.help = std::string(row.info.help);
    family.type = row.info.type;
    family.metric.reserve(miners.size());
    Emit emit(family);
    for (const auto& m : miners) row.emit(*m, emit);
    return family;
}

void append_miner_text(const std::vector<LatestMinerPtr>& miners, std::string& out) {
    for (const auto& row : kFamilies) {
        out.append("# HELP ").append(row.info.name).append(" ").append(row.info.help);
        out.append("\n# TYPE ").append(row.info.name).append(" ");
        out.append(type_word(row.info.type)).append("\n");
        Emit emit(out, row.info.name, row.info.type);
        for (const auto& m : miners) row.emit(*m, emit);
    }
}

MinerExposition::MinerExposition(const LatestState& state, std::function<TimePoint()> clock)
    : state_(state), clock_(std::move(clock)) {}

TimePoint MinerExposition::default_clock() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
}

std::vector<MetricFamily> MinerExposition::Collect() const {
    const auto miners = state_.snapshot(clock_());
    std::vector<MetricFamily> out;
    out.reserve(kFamilyCount);
    for (std::size_t i = 0; i < kFamilyCount; ++i) out.push_back(build_miner_family(i, miners));
    return out;
}

}  // namespace hashwatt::collector
