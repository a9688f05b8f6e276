// Price sources: time zones from the system tz database, the `[prices]` TOML table, the
// time-of-use schedule, generic and ERCOT CSV files (DST days mapped to UTC exactly, and the
// shared ERCOT week checked against rows read off the file), the feed's JSON path and staleness.
#include "common/config.hpp"
#include "common/time.hpp"
#include "policies/prices/feed.hpp"
#include "policies/prices/sources.hpp"
#include "policies/prices/timezone.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

using namespace hashwatt;
using namespace hashwatt::policies;
using namespace hashwatt::policies::prices;
using namespace std::chrono_literals;

namespace {

TimePoint at(const char* rfc3339) {
    auto t = parse_time(rfc3339);
    REQUIRE_MESSAGE(t, rfc3339);
    return *t;
}

LocalTime local(int y, unsigned mo, unsigned d, int h, int mi) {
    using namespace std::chrono;
    return LocalTime{local_days{year{y} / month{mo} / day{d}}.time_since_epoch()} + hours(h) +
           minutes(mi);
}

std::string iso(TimePoint t) { return format_time(t); }

// Parses a `[prices]` table and rejects unread keys, as a real config loader does.
PriceSourceConfig source(const std::string& toml) {
    auto doc = config::Document::parse(toml, "policy.toml");
    auto t = doc.root().table("prices");
    REQUIRE(t);
    auto cfg = read_price_source(*t);
    doc.finish();
    return cfg;
}

std::string config_error(const std::string& toml) {
    try {
        source(toml);
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "no error";
}

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "no error";
}

const std::string kErcotHeader =
    "Delivery Date,Delivery Hour,Delivery Interval,Repeated Hour Flag,Settlement Point Name,"
    "Settlement Point Type,Settlement Point Price\n";

// Four rows per hour-ending, priced hour*100 + interval so that each row is recognisable.
std::string ercot_hour(const std::string& date, int he, const char* flag, int price_base) {
    std::string out;
    for (int i = 1; i <= 4; ++i) {
        out += date + "," + std::to_string(he) + "," + std::to_string(i) + "," + flag +
               ",HB_HOUSTON,HU," + std::to_string(price_base + i) + "\n";
    }
    return out;
}

void check_contiguous(const PriceSeries& s) {
    for (std::size_t i = 1; i < s.intervals().size(); ++i) {
        INFO(iso(s.intervals()[i].start));
        REQUIRE(s.intervals()[i].start == s.intervals()[i - 1].end());
    }
}

std::string fixture(const char* name) {
    return std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/prices/" + name;
}

}  // namespace

TEST_CASE("time zones: offsets come from the tz database, past rules and future footer") {
    const auto chicago = TimeZone::load("America/Chicago");
    CHECK(chicago.name() == "America/Chicago");
    CHECK(chicago.utc_offset(at("2025-01-15T12:00:00Z")) == -6h);
    CHECK(chicago.utc_offset(at("2025-07-15T12:00:00Z")) == -5h);
    // 2025-03-09 02:00 CST = 08:00Z starts daylight time; 2025-11-02 02:00 CDT = 07:00Z ends it.
    CHECK(chicago.utc_offset(at("2025-03-09T07:59:59Z")) == -6h);
    CHECK(chicago.utc_offset(at("2025-03-09T08:00:00Z")) == -5h);
    CHECK(chicago.utc_offset(at("2025-11-02T06:59:59Z")) == -5h);
    CHECK(chicago.utc_offset(at("2025-11-02T07:00:00Z")) == -6h);
    // Before 2007 US daylight time began in April: only the transition table knows that.
    CHECK(chicago.utc_offset(at("2006-03-20T12:00:00Z")) == -6h);
    CHECK(chicago.utc_offset(at("2006-04-03T12:00:00Z")) == -5h);
    // Far enough ahead that only the POSIX footer rule can answer.
    CHECK(chicago.utc_offset(at("2040-03-20T12:00:00Z")) == -5h);
    CHECK(chicago.utc_offset(at("2040-12-20T12:00:00Z")) == -6h);

    // Southern hemisphere: daylight time wraps the new year.
    const auto sydney = TimeZone::load("Australia/Sydney");
    CHECK(sydney.utc_offset(at("2040-01-15T00:00:00Z")) == 11h);
    CHECK(sydney.utc_offset(at("2040-07-15T00:00:00Z")) == 10h);
    CHECK(TimeZone::load("UTC").utc_offset(at("2025-07-01T00:00:00Z")) == 0s);
    CHECK(TimeZone::load("Asia/Kolkata").utc_offset(at("2025-07-01T00:00:00Z")) == 5h + 30min);

    CHECK(error_of([] {
              TimeZone::load("Mars/Olympus_Mons");
          }).find("unknown time zone 'Mars/Olympus_Mons' (no such file in") == 0);
    CHECK(error_of([] { TimeZone::load("America"); }) ==
          "unknown time zone 'America' (America: truncated TZif data)");
    CHECK(error_of([] { TimeZone::load("leapseconds"); }) ==
          "unknown time zone 'leapseconds' (leapseconds: not a TZif file)");
    CHECK(error_of([] { TimeZone::load("../../etc/passwd"); }) ==
          "unknown time zone '../../etc/passwd' (not an IANA name)");
    CHECK(error_of([] {
              TimeZone::from_tzif("not a tzif file at all, longer than a header..", "x");
          }) == "x: not a TZif file");
}

TEST_CASE("time zones: local readings map to zero, one or two instants") {
    const auto chicago = TimeZone::load("America/Chicago");
    auto one = chicago.from_local(local(2025, 3, 1, 0, 0));
    REQUIRE(one.size() == 1);
    CHECK(iso(one[0]) == "2025-03-01T06:00:00.000Z");
    CHECK(chicago.from_local(local(2025, 3, 9, 2, 30)).empty());  // skipped
    auto two = chicago.from_local(local(2025, 11, 2, 1, 30));     // repeated
    REQUIRE(two.size() == 2);
    CHECK(iso(two[0]) == "2025-11-02T06:30:00.000Z");
    CHECK(iso(two[1]) == "2025-11-02T07:30:00.000Z");
    CHECK(chicago.to_local(at("2025-11-02T07:30:00Z")) == local(2025, 11, 2, 1, 30));

    // A rule with "last Sunday" (week 5) and a transition time: the EU's.
    const auto cet = TimeZone::from_posix_rule("CET-1CEST,M3.5.0,M10.5.0/3", "CET");
    CHECK(cet.utc_offset(at("2025-03-30T00:59:59Z")) == 1h);
    CHECK(cet.utc_offset(at("2025-03-30T01:00:00Z")) == 2h);
    CHECK(cet.utc_offset(at("2025-10-26T00:59:59Z")) == 2h);
    CHECK(cet.utc_offset(at("2025-10-26T01:00:00Z")) == 1h);
    const auto quoted = TimeZone::from_posix_rule("<-03>3", "x");
    CHECK(quoted.utc_offset(at("2025-01-01T00:00:00Z")) == -3h);
    CHECK(error_of([] {
              TimeZone::from_posix_rule("CST6CDT,M3.2", "x");
          }).find("TZ rule 'CST6CDT,M3.2': expected '.'") == 0);
}

TEST_CASE("prices table: fixed, with adder and currency") {
    auto cfg = source(R"([prices]
kind = "fixed"
price_per_mwh = 42.5
adder_per_mwh = 7.5
currency = "EUR"
)");
    CHECK(cfg.kind == SourceKind::fixed);
    CHECK(cfg.currency == "EUR");
    CHECK(price_at(cfg, at("2025-03-01T00:00:00Z")) == 50.0);
    auto s = tou_series(cfg, at("2025-03-01T00:00:00Z"), at("2025-03-01T01:00:00Z"), 15min);
    REQUIRE(s.intervals().size() == 4);
    CHECK(s.intervals()[3].price_per_mwh == 50.0);
    CHECK(s.intervals()[3].start == at("2025-03-01T00:45:00Z"));

    CHECK(config_error("[prices]\nkind = \"fixed\"\n") ==
          "policy.toml:1:1: prices.price_per_mwh: required for kind = \"fixed\"");
    CHECK(config_error("[prices]\nkind = \"spot\"\n").find("policy.toml:2:8: prices.kind:") == 0);
    // A key of another kind is unknown here, not silently ignored.
    CHECK(config_error("[prices]\nkind = \"fixed\"\nprice_per_mwh = 1\ntimezone = \"UTC\"\n")
              .find("policy.toml:4:1: prices.timezone: unknown key") == 0);
}

TEST_CASE("prices table: time-of-use windows, wrap-around, weekends, seasons and DST") {
    auto cfg = source(R"([prices]
kind = "tou"
timezone = "America/Chicago"
default_per_mwh = 30
adder_per_mwh = 5

[[prices.window]]          # summer peak
days = "weekdays"
hours = "14:00-19:00"
months = [6, 7, 8, 9]
price_per_mwh = 200

[[prices.window]]          # night, starting Friday evening counts for Friday
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "22:00-06:00"
price_per_mwh = 20

[[prices.window]]
days = "weekends"
price_per_mwh = 25
)");
    REQUIRE(cfg.kind == SourceKind::tou);
    // 2025-07-16 is a Wednesday; 15:00 CDT = 20:00Z: summer peak.
    CHECK(price_at(cfg, at("2025-07-16T20:00:00Z")) == 205);
    CHECK(price_at(cfg, at("2025-07-16T18:59:59Z")) == 35);  // 13:59 CDT: default
    CHECK(price_at(cfg, at("2025-07-17T00:00:00Z")) == 35);  // 19:00 CDT: peak over
    // Same wall clock in January (CST, 21:00Z) is out of season: default.
    CHECK(price_at(cfg, at("2025-01-15T21:00:00Z")) == 35);
    // Wed 23:00 CDT and Thu 05:59 CDT are night; Thu 06:00 is not.
    CHECK(price_at(cfg, at("2025-07-17T04:00:00Z")) == 25);
    CHECK(price_at(cfg, at("2025-07-17T10:59:00Z")) == 25);
    CHECK(price_at(cfg, at("2025-07-17T11:00:00Z")) == 35);
    // Fri 2025-07-18 23:00 CDT: night; Sat 03:00 CDT still Friday's night window (20, not 25);
    // Sun 23:00 CDT is a weekend day (Sunday's night is not in the weekday window).
    CHECK(price_at(cfg, at("2025-07-19T04:00:00Z")) == 25);
    CHECK(price_at(cfg, at("2025-07-19T08:00:00Z")) == 25);
    CHECK(price_at(cfg, at("2025-07-19T12:00:00Z")) == 30);  // Sat 07:00: weekends window
    CHECK(price_at(cfg, at("2025-07-21T04:00:00Z")) == 30);  // Sun 23:00 CDT
    CHECK(price_at(cfg, at("2025-07-21T09:00:00Z")) == 35);  // Mon 04:00: Sunday's night: none
    CHECK(price_at(cfg, at("2025-07-22T09:00:00Z")) == 25);  // Tue 04:00: Monday's night

    // A day's series across spring-forward: 23 local hours, still 96 UTC quarters.
    auto s = tou_series(cfg, at("2025-03-10T05:00:00Z"), at("2025-03-11T05:00:00Z"), 15min);
    CHECK(s.intervals().size() == 96);
    check_contiguous(s);
    CHECK(s.at(at("2025-03-10T11:00:00Z"))->price_per_mwh == 35);  // Mon 06:00 CDT
    CHECK(s.at(at("2025-03-10T10:45:00Z"))->price_per_mwh == 35);  // Mon 05:45 CDT (Sun night: no)
    CHECK(s.at(at("2025-03-11T04:00:00Z"))->price_per_mwh == 25);  // Mon 23:00 CDT: night
}

TEST_CASE("prices table: time-of-use errors name the key") {
    const std::string head =
        "[prices]\nkind = \"tou\"\ntimezone = \"America/Chicago\"\n"
        "default_per_mwh = 30\n[[prices.window]]\nprice_per_mwh = 1\n";
    CHECK(config_error(head + "hours = \"25:00-03:00\"\n")
              .find("policy.toml:7:9: prices.window[0].hours: '25:00-03:00': expected") == 0);
    CHECK(config_error(head + "hours = \"10:00-10:00\"\n").find("is empty") != std::string::npos);
    CHECK(config_error(head + "days = [\"mon\", \"funday\"]\n")
              .find("prices.window[0].days: 'funday': expected mon") != std::string::npos);
    CHECK(config_error(head + "months = [13]\n").find("prices.window[0].months: months are 1") !=
          std::string::npos);
    CHECK(config_error("[prices]\nkind = \"tou\"\ntimezone = \"America/Houston\"\n"
                       "default_per_mwh = 1\n")
              .find("policy.toml:3:12: prices.timezone: unknown time zone 'America/Houston'") == 0);
    CHECK(config_error("[prices]\nkind = \"tou\"\ndefault_per_mwh = 1\n")
              .find("prices.timezone: required") != std::string::npos);
}

TEST_CASE("generic csv: units, offsets, time zones and inferred intervals") {
    CsvSource opts;
    auto s = parse_csv_prices(
        "timestamp,price\n"
        "2025-03-01T00:00:00Z,40\n"
        "\n"
        "2025-03-01T02:00:00+01:00,41.5\n"
        "\"2025-03-01T02:00:00.000Z\", -3\r\n",
        "prices.csv", opts);
    REQUIRE(s.intervals().size() == 3);
    CHECK(s.intervals()[1].start == at("2025-03-01T01:00:00Z"));
    CHECK(s.intervals()[1].price_per_mwh == 41.5);
    CHECK(s.intervals()[2].price_per_mwh == -3);
    for (const auto& i : s.intervals()) CHECK(i.length == 1h);  // the rows' spacing

    opts.unit = PriceUnit::per_kwh;
    auto kwh = parse_csv_prices("price,timestamp\n0.0425,2025-03-01T00:00:00Z\n", "p.csv", opts);
    REQUIRE(kwh.intervals().size() == 1);
    CHECK(kwh.intervals()[0].price_per_mwh == doctest::Approx(42.5));
    CHECK(kwh.intervals()[0].length == 15min);  // one row: the default
    opts.unit = PriceUnit::cents_per_kwh;
    auto cents = parse_csv_prices("timestamp,price\n2025-03-01T00:00:00Z,4.25\n", "p.csv", opts);
    CHECK(cents.intervals()[0].price_per_mwh == doctest::Approx(42.5));
    opts.unit = PriceUnit::per_mwh;
    opts.interval = 5min;
    auto fives = parse_csv_prices(
        "timestamp,price\n2025-03-01T00:00:00Z,1\n2025-03-01T00:15:00Z,2\n", "p.csv", opts);
    CHECK(fives.intervals()[0].length == 5min);
    opts.interval.reset();

    // Local times through fall-back: the repeated 01:00-01:45 is placed by file order.
    opts.zone = TimeZone::load("America/Chicago");
    std::string text = "timestamp,price\n";
    const char* clock[] = {"00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30",
                           "01:45", "01:00", "01:15", "01:30", "01:45", "02:00"};
    int n = 0;
    for (const char* c : clock)
        text += std::string("2025-11-02 ") + c + "," + std::to_string(++n) + "\n";
    auto fall = parse_csv_prices(text, "p.csv", opts);
    REQUIRE(fall.intervals().size() == 13);
    check_contiguous(fall);
    CHECK(fall.intervals().front().start == at("2025-11-02T05:00:00Z"));
    CHECK(fall.intervals()[8].start == at("2025-11-02T07:00:00Z"));  // second 01:00, CST
    CHECK(fall.intervals()[8].price_per_mwh == 9);
    CHECK(fall.intervals().back().start == at("2025-11-02T08:00:00Z"));
    // An explicit offset still wins over the zone.
    auto mixed = parse_csv_prices("timestamp,price\n2025-07-01T00:00:00Z,1\n", "p.csv", opts);
    CHECK(mixed.intervals()[0].start == at("2025-07-01T00:00:00Z"));
    auto summer = parse_csv_prices("timestamp,price\n2025-07-01T00:00,1\n", "p.csv", opts);
    CHECK(summer.intervals()[0].start == at("2025-07-01T05:00:00Z"));
}

TEST_CASE("generic csv: errors say file, line and what") {
    CsvSource opts;
    auto err = [&](const std::string& text) {
        return error_of([&] { parse_csv_prices(text, "prices.csv", opts); });
    };
    CHECK(err("timestamp,price\n2025-03-01T00:00:00Z,40\n2025-03-01T00:15:00Z,abc\n") ==
          "prices.csv:3: price: not a number ('abc')");
    CHECK(err("timestamp,lmp\n") ==
          "prices.csv:1: header: no 'price' column (found: timestamp, lmp)");
    CHECK(err("timestamp,price\n2025-03-01T00:00:00Z,1\n2025-03-01T00:15:00Z,2\n"
              "2025-03-01T00:00:00Z,3\n") ==
          "prices.csv:4: 2025-03-01T00:00:00.000Z repeats line 2");
    CHECK(err("timestamp,price\n2025-03-01 00:00,1\n") ==
          "prices.csv:2: timestamp: '2025-03-01 00:00' has no UTC offset and no timezone is set");
    CHECK(err("timestamp,price\n2025-02-30T00:00:00Z,1\n") ==
          "prices.csv:2: timestamp: '2025-02-30T00:00:00Z' is not a time like "
          "2025-03-01T00:00:00-06:00");
    CHECK(err("timestamp,price\n2025-03-01T00:00:00Z\n") ==
          "prices.csv:2: expected 2 fields, got 1");
    CHECK(err("timestamp,price\n") == "prices.csv: no prices");
    CHECK(err("") == "prices.csv: no prices");
    opts.zone = TimeZone::load("America/Chicago");
    CHECK(err("timestamp,price\n2025-03-09 01:45,1\n2025-03-09 02:30,1\n") ==
          "prices.csv:3: timestamp: 2025-03-09 02:30 does not exist in America/Chicago (clocks "
          "skip it)");
    opts.interval = 1h;
    CHECK(err("timestamp,price\n2025-03-01T00:00:00Z,1\n2025-03-01T00:30:00Z,2\n") ==
          "prices.csv:3: 2025-03-01T00:30:00.000Z overlaps the interval of line 2");
}

TEST_CASE("ercot: spring-forward day has 23 hours, mapped to UTC exactly") {
    std::string text = kErcotHeader;
    for (int he = 1; he <= 24; ++he) {
        if (he != 3) text += ercot_hour("03/09/2025", he, "N", he * 100);
    }
    ErcotSource opts;
    opts.settlement_point = "HB_HOUSTON";
    auto s = parse_ercot_prices(text, "rtm.csv", opts);
    REQUIRE(s.intervals().size() == 92);
    check_contiguous(s);
    CHECK(s.intervals().front().start == at("2025-03-09T06:00:00Z"));  // 00:00 CST
    CHECK(s.at(at("2025-03-09T07:45:00Z"))->price_per_mwh == 204);     // HE02 #4, 01:45 CST
    CHECK(s.at(at("2025-03-09T08:00:00Z"))->price_per_mwh == 401);     // HE04 #1, 03:00 CDT
    CHECK(s.at(at("2025-03-10T04:45:00Z"))->price_per_mwh == 2404);    // HE24 #4, 23:45 CDT
    CHECK(s.intervals().back().end() == at("2025-03-10T05:00:00Z"));

    // Header, then HE01 on lines 2-5, HE02 on 6-9: a HE03 row would be on line 10.
    std::string bad = kErcotHeader + ercot_hour("03/09/2025", 1, "N", 100) +
                      ercot_hour("03/09/2025", 2, "N", 200) + ercot_hour("03/09/2025", 3, "N", 300);
    CHECK(error_of([&] { parse_ercot_prices(bad, "rtm.csv", opts); }) ==
          "rtm.csv:10: hour-ending 03 on 03/09/2025 does not exist in America/Chicago (clocks "
          "skip it)");
}

TEST_CASE("ercot: fall-back day repeats hour-ending 02, the flagged one in standard time") {
    std::string text = kErcotHeader + ercot_hour("11/02/2025", 1, "N", 100) +
                       ercot_hour("11/02/2025", 2, "N", 200) +
                       ercot_hour("11/02/2025", 2, "Y", 250);
    for (int he = 3; he <= 24; ++he) text += ercot_hour("11/02/2025", he, "N", he * 100);
    ErcotSource opts;
    opts.settlement_point = "HB_HOUSTON";
    auto s = parse_ercot_prices(text, "rtm.csv", opts);
    REQUIRE(s.intervals().size() == 100);
    check_contiguous(s);
    CHECK(s.intervals().front().start == at("2025-11-02T05:00:00Z"));  // 00:00 CDT
    CHECK(s.at(at("2025-11-02T06:00:00Z"))->price_per_mwh == 201);     // HE02 N: 01:00 CDT
    CHECK(s.at(at("2025-11-02T06:45:00Z"))->price_per_mwh == 204);
    CHECK(s.at(at("2025-11-02T07:00:00Z"))->price_per_mwh == 251);  // HE02 Y: 01:00 CST
    CHECK(s.at(at("2025-11-02T07:45:00Z"))->price_per_mwh == 254);
    CHECK(s.at(at("2025-11-02T08:00:00Z"))->price_per_mwh == 301);  // HE03: 02:00 CST
    CHECK(s.intervals().back().end() == at("2025-11-03T06:00:00Z"));

    // Without the flag the repeated hour is a duplicate row, refused with both lines.
    std::string dup = kErcotHeader + ercot_hour("11/02/2025", 2, "N", 200) +
                      ercot_hour("11/02/2025", 2, "N", 250);
    CHECK(error_of([&] { parse_ercot_prices(dup, "rtm.csv", opts); }) ==
          "rtm.csv:6: 2025-11-02T06:00:00.000Z repeats line 2");
    std::string flag = kErcotHeader + ercot_hour("03/01/2025", 5, "Y", 500);
    CHECK(error_of([&] { parse_ercot_prices(flag, "rtm.csv", opts); }) ==
          "rtm.csv:2: Repeated Hour Flag: Y, but hour-ending 05 on 03/01/2025 is not repeated");
    CHECK(error_of([&] {
              parse_ercot_prices(kErcotHeader + "03/01/2025,1,1,N,HB_HOUSTON,HU,n/a\n", "rtm.csv",
                                 opts);
          }) == "rtm.csv:2: Settlement Point Price: not a number ('n/a')");
    CHECK(error_of([&] {
              parse_ercot_prices(kErcotHeader + "2025-03-01,1,1,N,HB_HOUSTON,HU,1\n", "rtm.csv",
                                 opts);
          }) == "rtm.csv:2: Delivery Date: '2025-03-01' is not MM/DD/YYYY");
    CHECK(error_of([&] {
              parse_ercot_prices(kErcotHeader + "03/01/2025,25,1,N,HB_HOUSTON,HU,1\n", "rtm.csv",
                                 opts);
          }) == "rtm.csv:2: Delivery Hour: '25' is not an hour-ending 1..24");
}

TEST_CASE("ercot: the shared week, one settlement point") {
    const auto path = fixture("ercot_rtm_spp_15min_2025-03-01_to_03-07.csv");
    ErcotSource opts;
    opts.settlement_point = "HB_HOUSTON";
    auto s = read_ercot_prices(path, opts);
    REQUIRE(s.intervals().size() == 7 * 96);
    check_contiguous(s);
    CHECK(s.intervals().front().start == at("2025-03-01T06:00:00Z"));  // 00:00 CST
    CHECK(s.intervals().back().end() == at("2025-03-08T06:00:00Z"));
    // Read off the file: line 6 "03/01/2025,1,1,N,HB_HOUSTON,HU,57.26", line 7920
    // "03/04/2025,15,3,N,HB_HOUSTON,HU,10.76" (14:30 CST), line 15373
    // "03/07/2025,24,4,N,HB_HOUSTON,HU,13.03" (23:45 CST).
    CHECK(s.at(at("2025-03-01T06:00:00Z"))->price_per_mwh == 57.26);
    CHECK(s.at(at("2025-03-04T20:30:00Z"))->price_per_mwh == 10.76);
    CHECK(s.at(at("2025-03-08T05:45:00Z"))->price_per_mwh == 13.03);
    // The week's extremes (sort -t, -k7 -g of the HB_HOUSTON rows): 248.74 on 03/01 HE18 #4,
    // -5.8 on 03/02 HE11 #4.
    const auto& v = s.intervals();
    auto [lo, hi] = std::minmax_element(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.price_per_mwh < b.price_per_mwh;
    });
    CHECK(hi->price_per_mwh == 248.74);
    CHECK(hi->start == at("2025-03-01T23:45:00Z"));
    CHECK(lo->price_per_mwh == -5.8);
    CHECK(lo->start == at("2025-03-02T16:45:00Z"));

    // Load zones come in two types; one must be chosen.
    opts.settlement_point = "LZ_HOUSTON";
    CHECK(error_of([&] { read_ercot_prices(path, opts); }) ==
          path +
              ": settlement point 'LZ_HOUSTON' has types LZ, LZEW; set settlement_point_type "
              "to one of them");
    opts.settlement_point_type = "LZ";
    CHECK(read_ercot_prices(path, opts).intervals().size() == 672);
    opts.settlement_point_type.reset();
    opts.settlement_point = "HB_NOPE";
    CHECK(error_of([&] { read_ercot_prices(path, opts); }) ==
          path +
              ": settlement point 'HB_NOPE' not in the file; present: HB_BUSAVG, HB_HOUSTON, "
              "HB_HUBAVG, HB_NORTH, HB_PAN, HB_SOUTH, HB_WEST, LZ_AEN, LZ_CPS, LZ_HOUSTON "
              "and 5 more");

    // The backtest's entry point recognises the format; without a point it lists them.
    CHECK(read_price_file(path, "HB_WEST").intervals().size() == 672);
    CHECK(error_of([&] {
              read_price_file(path);
          }).find(": several settlement points; choose one of: HB_BUSAVG,") != std::string::npos);
}

TEST_CASE("prices table: csv and ercot files relative to the config, with the adder") {
    const std::string dir = std::string(HASHWATT_SOURCE_DIR) + "/tests/fixtures/prices/";
    auto doc = config::Document::parse(R"([prices]
kind = "ercot"
path = "ercot_rtm_spp_15min_2025-03-01_to_03-07.csv"
settlement_point = "HB_HOUSTON"
adder_per_mwh = 10
)",
                                       dir + "policy.toml");
    auto cfg = read_price_source(*doc.root().table("prices"));
    doc.finish();
    auto s = load_prices(cfg);
    CHECK(s.at(at("2025-03-01T06:00:00Z"))->price_per_mwh == doctest::Approx(67.26));

    auto doc2 = config::Document::parse(R"([prices]
kind = "csv"
path = "generic_sample.csv"
unit = "cents_per_kwh"
timezone = "America/Chicago"
)",
                                        dir + "policy.toml");
    auto cfg2 = read_price_source(*doc2.root().table("prices"));
    doc2.finish();
    auto g = load_prices(cfg2);
    REQUIRE(g.intervals().size() == 4);
    CHECK(g.intervals()[0].start == at("2025-03-01T06:00:00Z"));
    CHECK(g.intervals()[0].price_per_mwh == doctest::Approx(35.0));
    CHECK(g.intervals()[0].length == 1h);
    CHECK(error_of([&] {
              price_at(cfg2, at("2025-03-01T06:00:00Z"));
          }).find("price_at: a csv source has no schedule") == 0);

    CHECK(config_error("[prices]\nkind = \"ercot\"\npath = \"x.csv\"\n") ==
          "policy.toml:1:1: prices.settlement_point: required, e.g. \"HB_HOUSTON\"");
    CHECK(config_error("[prices]\nkind = \"csv\"\npath = \"x.csv\"\nunit = \"per_wh\"\n")
              .find("policy.toml:4:8: prices.unit:") == 0);
    CHECK(error_of([] {
              CsvSource o;
              read_csv_prices("no/such/prices.csv", o);
          }) == "no/such/prices.csv: cannot open");
}

TEST_CASE("feed: the price at a JSON path, and clear errors") {
    const std::string body = R"({"data":[{"price":42.5,"ts":"14:05"}],"meta":{"unit":"x"},
                                "s":"17.25","n":null,"i":40})";
    CHECK(parse_feed_price(body, "data[0].price", PriceUnit::per_mwh) == 42.5);
    CHECK(parse_feed_price(body, "i", PriceUnit::per_mwh) == 40);
    CHECK(parse_feed_price(body, "s", PriceUnit::per_mwh) == 17.25);
    CHECK(parse_feed_price(R"({"p":0.0425})", "p", PriceUnit::per_kwh) == doctest::Approx(42.5));
    CHECK(parse_feed_price(R"([{"lmp":[1,2,-3.5]}])", "[0].lmp[2]", PriceUnit::per_mwh) == -3.5);

    auto err = [&](const std::string& b, const std::string& path) {
        return error_of([&] { parse_feed_price(b, path, PriceUnit::per_mwh); });
    };
    CHECK(err(body, "data[0].ts") == "data[0].ts: not a number (a string)");
    CHECK(err(body, "n") == "n: not a number (null)");
    CHECK(err(body, "data[0]") == "data[0]: not a number (an object)");
    CHECK(err(body, "data[3].price") == "data[3]: out of range (an array of 1)");
    CHECK(err(body, "data[0].cost") == "data[0].cost: missing");
    CHECK(err(body, "meta[0]") == "meta: expected an array, got an object");
    CHECK(err(body, "data.price") == "data: expected an object, got an array");
    CHECK(err(body, "[0]") == "feed body: expected an array, got an object");
    CHECK(err(R"({"data": [1,})", "data[0]").find("feed body: invalid JSON at byte 12") == 0);
    CHECK(err(R"({"p":1} x)", "p").find("feed body: invalid JSON") == 0);
    CHECK(err(std::string(kMaxFeedBodyBytes + 1, ' '), "p").find("over the limit") !=
          std::string::npos);

    CHECK(err(body, "data[x]") == "json path 'data[x]': expected a number in [] at column 6");
    CHECK(err(body, "data..price") == "json path 'data..price': expected a key at column 6");
    CHECK(err(body, "data.") == "json path 'data.': expected a key after '.' at column 6");
    CHECK(err(body, "") == "json path is empty");
    CHECK(err(body, "data[0]price") == "json path 'data[0]price': expected '.' or '[' at column 8");
}

TEST_CASE("prices table: http feed keys and feed_price with the adder") {
    auto cfg = source(R"([prices]
kind = "http"
url = "http://prices.example/api/now"
json_path = "data[0].price"
unit = "per_kwh"
interval = "1m"
adder_per_mwh = 3
)");
    REQUIRE(cfg.kind == SourceKind::http);
    const auto& h = std::get<HttpSource>(cfg.source);
    CHECK(h.interval == 1min);
    CHECK(h.stale_after == 3min);  // three missed polls by default
    CHECK(feed_price(cfg, R"({"data":[{"price":0.05}]})") == doctest::Approx(53.0));
    CHECK(error_of([&] { load_prices(cfg); }).find("a feed has no history") != std::string::npos);

    CHECK(config_error("[prices]\nkind = \"http\"\nurl = \"ftp://x\"\njson_path = \"p\"\n") ==
          "policy.toml:3:7: prices.url: 'ftp://x': expected an http:// URL");
    CHECK(config_error("[prices]\nkind = \"http\"\nurl = \"https://x\"\njson_path = \"p\"\n") ==
          "policy.toml:3:7: prices.url: 'https://x': https is not supported; put a local TLS "
          "proxy in front and give its http:// URL");
    CHECK(config_error("[prices]\nkind = \"http\"\nurl = \"http://x\"\njson_path = \"p[\"\n") ==
          "policy.toml:4:13: prices.json_path: json path 'p[': expected a number in [] at "
          "column 3");
    CHECK(config_error("[prices]\nkind = \"http\"\nurl = \"http://x\"\njson_path = \"p\"\n"
                       "interval = \"10m\"\nstale_after = \"5m\"\n")
              .find("policy.toml:6:15: prices.stale_after: shorter than the poll interval (10m)") ==
          0);
}

TEST_CASE("feed state: fresh, stale, recovered, with reasons") {
    FeedState f(10min);
    auto r = f.current(at("2026-12-02T14:00:00Z"));
    CHECK(r.stale);
    CHECK_FALSE(r.price_per_mwh);
    CHECK(r.reason == "no price received yet");
    f.failed("connect: connection refused", at("2026-12-02T14:00:00Z"));
    CHECK(f.current(at("2026-12-02T14:01:00Z")).reason ==
          "no price received yet; last error at 14:00: connect: connection refused");

    f.update(50, at("2026-12-02T14:05:00Z"));
    r = f.current(at("2026-12-02T14:10:00Z"));
    CHECK_FALSE(r.stale);
    CHECK(r.price_per_mwh == 50.0);
    CHECK(r.reason.empty());
    CHECK_FALSE(f.current(at("2026-12-02T14:15:00Z")).stale);  // exactly stale_after: still fresh

    r = f.current(at("2026-12-02T14:15:00.001Z"));
    CHECK(r.stale);
    CHECK_FALSE(r.price_per_mwh);
    CHECK(r.last_price_per_mwh == 50.0);
    CHECK(r.received_at == at("2026-12-02T14:05:00Z"));
    CHECK(r.reason == "no price since 14:05 (stale after 10m)");

    f.failed("data[0].price: not a number (a string)", at("2026-12-02T14:20:00Z"));
    CHECK(f.current(at("2026-12-02T14:21:00Z")).reason ==
          "no price since 14:05 (stale after 10m); last error at 14:20: data[0].price: not a "
          "number (a string)");

    f.update(40, at("2026-12-02T14:00:00Z"));  // overtaken reply: ignored
    CHECK(f.current(at("2026-12-02T14:21:00Z")).last_price_per_mwh == 50.0);

    f.update(60, at("2026-12-02T14:22:00Z"));
    r = f.current(at("2026-12-02T14:23:00Z"));
    CHECK_FALSE(r.stale);
    CHECK(r.price_per_mwh == 60.0);
    // The error before the recovery no longer explains a later silence.
    CHECK(f.current(at("2026-12-02T14:40:00Z")).reason == "no price since 14:22 (stale after 10m)");
    CHECK(f.current(at("2026-12-03T00:10:00Z")).reason ==
          "no price since 2026-12-02T14:22Z (stale after 10m)");
    CHECK_THROWS_AS(FeedState(0ms), std::invalid_argument);
}
