// Where electricity prices come from: a fixed price, a time-of-use schedule, a generic CSV file,
// ERCOT's settlement-point price CSV, or an HTTP JSON feed (polled by collector/control; only its
// pure parts live in feed.hpp). Read from a `[prices]` TOML table; README.md beside this file
// shows each kind. Every price produced here is in currency per MWh with `adder_per_mwh` added.
#pragma once

#include "common/config.hpp"
#include "policies/prices/timezone.hpp"
#include "policies/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hashwatt::policies::prices {

enum class SourceKind { fixed, tou, csv, ercot, http };
std::string_view to_string(SourceKind k) noexcept;

// How prices are written in a file or feed; all are converted to currency per MWh.
enum class PriceUnit { per_mwh, per_kwh, cents_per_kwh };
double to_per_mwh(double value, PriceUnit unit) noexcept;

struct FixedSource {
    double price_per_mwh = 0;
};

// One `[[prices.window]]`. A window whose hours wrap midnight ("22:00-06:00") belongs to the day
// it starts on: "fri 22:00-06:00" covers Friday night into Saturday morning, and `days`/`months`
// are checked against that starting day.
struct TouWindow {
    std::uint8_t days = 0x7f;       // bit 0 = Sunday .. bit 6 = Saturday
    std::uint16_t months = 0x1ffe;  // bit m for month m (1..12)
    int start_minute = 0;           // minutes after local midnight, 0..1439
    int end_minute = 1440;          // 1..1440; <= start_minute means it wraps midnight
    double price_per_mwh = 0;
};

struct TouSource {
    TimeZone zone = TimeZone::utc();
    std::vector<TouWindow> windows;  // first match wins
    double default_per_mwh = 0;
};

struct CsvSource {
    std::string path;
    PriceUnit unit = PriceUnit::per_mwh;
    std::optional<TimeZone> zone;      // for timestamps written without an offset
    std::optional<Duration> interval;  // unset: the smallest spacing of the rows, else 15m
};

struct ErcotSource {
    std::string path;
    std::string settlement_point;                      // "HB_HOUSTON"; empty: the file's only one
    std::optional<std::string> settlement_point_type;  // "LZ" or "LZEW" where a point has both
};

struct HttpSource {
    std::string url;
    std::string json_path;  // "data[0].price"
    PriceUnit unit = PriceUnit::per_mwh;
    Duration interval{std::chrono::minutes(5)};      // poll spacing
    Duration stale_after{std::chrono::minutes(15)};  // no fresh price for this long = stale
};

struct PriceSourceConfig {
    SourceKind kind = SourceKind::fixed;
    double adder_per_mwh = 0;  // fees, transmission: added to every price
    std::string currency = "USD";
    std::variant<FixedSource, TouSource, CsvSource, ErcotSource, HttpSource> source;
};

// Reads a `[prices]` table. Keys: kind, adder_per_mwh, currency, and per kind:
//   fixed: price_per_mwh
//   tou:   timezone, default_per_mwh, [[window]] {days, hours, months?, price_per_mwh}
//   csv:   path, unit?, timezone?, interval?
//   ercot: path, settlement_point, settlement_point_type?
//   http:  url, json_path, unit?, interval?, stale_after?
// Paths are relative to the config file. Throws config::ConfigError naming file:line:column and
// the key; files are not opened here (see load_prices).
PriceSourceConfig read_price_source(const config::Table& t);

// The price at `t` of a fixed or tou source, adder included. Throws std::invalid_argument for
// other kinds (a file's price at a time is series.at(t); a feed's is FeedState::current).
double price_at(const PriceSourceConfig& cfg, TimePoint t);

// Intervals [from, from + step), ... up to `to` of a fixed or tou source, each priced at its
// start, adder included. Throws std::invalid_argument for other kinds or a bad range/step.
PriceSeries tou_series(const PriceSourceConfig& cfg, TimePoint from, TimePoint to, Duration step);

// The whole series of a csv or ercot source (reads its file), adder included. Throws
// std::runtime_error "path:line: what" on bad content, an unknown settlement point (listing
// those present) or an empty result.
PriceSeries load_prices(const PriceSourceConfig& cfg);

// The same parsers on text already read; `source_name` stands for the file in messages.
// Prices are converted to per MWh; no adder is applied.
PriceSeries parse_csv_prices(std::string_view text, std::string_view source_name,
                             const CsvSource& opts);
PriceSeries parse_ercot_prices(std::string_view text, std::string_view source_name,
                               const ErcotSource& opts);
// Reads `path` and parses it as above (message prefix: the path as given).
PriceSeries read_csv_prices(const std::string& path, const CsvSource& opts);
PriceSeries read_ercot_prices(const std::string& path, const ErcotSource& opts);

// For `hashwatt backtest --prices FILE`: ERCOT's settlement point price format when the header
// has ERCOT's columns (`settlement_point` picks the point; empty: the file's only one, else an
// error listing them), otherwise a generic timestamp,price CSV read with `csv` (path unused).
PriceSeries read_price_file(const std::string& path, const std::string& settlement_point = "",
                            const CsvSource& csv = {});

// Adds `adder_per_mwh` to every interval.
PriceSeries with_adder(const PriceSeries& s, double adder_per_mwh);

}  // namespace hashwatt::policies::prices
