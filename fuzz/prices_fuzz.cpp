// The price readers (policies/prices/): generic timestamp,price CSV, ERCOT settlement point
// price files, the CSV field splitter, HTTP price feed bodies with their JSON paths, and the
// POSIX TZ rules a config may name. Bad input must end in std::runtime_error "name:line: what"
// (std::invalid_argument for feed bodies and paths), never in a crash or another exception.
#include "fuzz/fuzz_input.hpp"
#include "policies/prices/csv_text.hpp"
#include "policies/prices/feed.hpp"
#include "policies/prices/sources.hpp"
#include "policies/prices/timezone.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

using namespace hashwatt;
using namespace hashwatt::policies::prices;

namespace {

template <class F>
void expect(F&& f) {
    try {
        f();
    } catch (const std::runtime_error&) {
    } catch (const std::invalid_argument&) {
    }
}

// Offsets and local times around the years the rules and transitions are written for.
void use_zone(const TimeZone& z) {
    for (const std::int64_t year_s : {0LL, 1'700'000'000LL, 4'102'444'800LL}) {
        const TimePoint t{std::chrono::seconds(year_s)};
        (void)z.utc_offset(t);
        (void)z.from_local(z.to_local(t));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = fuzz::split_selector(data, size, 7);
    if (!in) return 0;
    const std::string_view text = in->rest;
    switch (in->selector) {
        case 0: {
            CsvSource opts;
            expect([&] { (void)parse_csv_prices(text, "prices.csv", opts); });
            opts.unit = PriceUnit::cents_per_kwh;
            opts.zone = TimeZone::from_posix_rule("CST6CDT,M3.2.0,M11.1.0", "America/Chicago");
            opts.interval = std::chrono::minutes(15);
            expect([&] { (void)parse_csv_prices(text, "prices.csv", opts); });
            return 0;
        }
        case 1: {
            ErcotSource opts;
            expect([&] { (void)parse_ercot_prices(text, "ercot.csv", opts); });
            opts.settlement_point = "HB_WEST";
            expect([&] { (void)parse_ercot_prices(text, "ercot.csv", opts); });
            opts.settlement_point = "LZ_HOUSTON";
            opts.settlement_point_type = "LZEW";
            expect([&] { (void)parse_ercot_prices(text, "ercot.csv", opts); });
            return 0;
        }
        case 2:
            if (const auto fields = detail::split_fields(text)) {
                for (const auto& f : *fields) (void)detail::parse_number(f);
            }
            (void)detail::parse_number(text);
            return 0;
        case 3: {  // feed body, then the JSON path
            const auto p = fuzz::split_parts(text, 2);
            const std::string path(p[1].value_or("data[0].price"));
            expect([&] {
                validate_json_path(path);
                (void)parse_feed_price(p[0].value_or(""), path, PriceUnit::per_kwh);
            });
            return 0;
        }
        case 4:
            expect([&] { validate_json_path(text); });
            return 0;
        case 5:
            expect([&] { use_zone(TimeZone::from_posix_rule(text, "fuzz")); });
            return 0;
        default:
            expect([&] { use_zone(TimeZone::from_tzif(text, "fuzz")); });
            return 0;
    }
}
