// The shared vocabulary of hashwatt: one poll of one miner, as every part of the system sees it.
// Units live in field names; a value the miner did not report is std::nullopt, never 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hashwatt {

using Clock = std::chrono::system_clock;
// Wall-clock instants on the wire and in storage carry millisecond precision.
using TimePoint = std::chrono::time_point<Clock, std::chrono::milliseconds>;

enum class MinerState { mining, sleeping, idle, booting, error, offline };

enum class PowerSource { measured, estimated };

// Why a poll failed. Stable strings: they appear in JSON, logs and metric labels.
enum class PollError {
    timeout,      // no connection or no complete reply before the deadline
    refused,      // connection refused
    reset,        // connection reset or closed before a reply
    unreachable,  // no route, DNS failure
    auth,         // credentials rejected
    parse,        // a reply arrived but could not be understood
    too_large,    // the reply exceeded the size bound
    unsupported,  // the miner speaks a protocol or version no driver handles
    internal,     // a bug on our side; logged with details
};

std::string_view to_string(MinerState s) noexcept;
std::string_view to_string(PowerSource s) noexcept;
std::string_view to_string(PollError e) noexcept;
std::optional<MinerState> parse_miner_state(std::string_view s) noexcept;
std::optional<PowerSource> parse_power_source(std::string_view s) noexcept;
std::optional<PollError> parse_poll_error(std::string_view s) noexcept;

struct BoardSample {
    int index = 0;  // as the firmware numbers it (S9 uses 6..8); not renumbered
    std::optional<double> hashrate_ths;
    std::optional<double> expected_hashrate_ths;
    std::optional<double> chip_temp_max_c;
    std::optional<double> board_temp_max_c;
    std::optional<std::int64_t> chips;
    std::optional<std::int64_t> expected_chips;
    std::optional<std::int64_t> hw_errors;
    std::optional<bool> ok;

    bool operator==(const BoardSample&) const = default;
};

struct PoolSample {
    std::string url;
    std::optional<std::string> user;
    std::optional<bool> active;  // the pool currently receiving shares
    std::optional<bool> alive;
    std::optional<std::int64_t> accepted;
    std::optional<std::int64_t> rejected;
    std::optional<std::int64_t> stale;

    bool operator==(const PoolSample&) const = default;
};

// An error the miner itself reports (Whatsminer error codes, Antminer status items, ...).
struct MinerErrorReport {
    std::optional<std::string> code;
    std::string message;

    bool operator==(const MinerErrorReport&) const = default;
};

struct MinerSample {
    // identity
    std::string miner_id;  // configured id, else MAC, else host:port (see make_miner_id)
    std::optional<std::string> site;
    std::string host;
    std::uint16_t port = 0;
    std::optional<std::string> make;  // "Bitmain", "MicroBT", "Canaan", ...
    std::optional<std::string> model;
    std::optional<std::string> firmware;  // "stock", "braiins", "luxos", "vnish", ...
    std::optional<std::string> firmware_version;
    std::optional<std::string> driver;
    std::optional<std::string> serial;
    std::optional<std::string> mac;

    // the poll itself
    TimePoint observed_at{};
    std::optional<double> poll_duration_ms;
    bool up = false;
    MinerState state = MinerState::offline;
    std::optional<PollError> error;
    std::optional<std::string> error_message;  // human detail for `error`; never a metric label

    // hashing
    std::optional<double> hashrate_ths;
    std::optional<double> hashrate_avg_ths;
    std::optional<double> expected_hashrate_ths;

    // power
    std::optional<double> power_w;
    std::optional<PowerSource> power_source;
    std::optional<double> power_limit_w;

    std::vector<BoardSample> boards;
    std::vector<std::int64_t> fans_rpm;
    std::optional<double> inlet_temp_c;
    std::optional<double> outlet_temp_c;
    std::optional<std::int64_t> hw_errors_total;
    std::optional<std::int64_t> uptime_s;
    std::vector<PoolSample> pools;
    std::vector<MinerErrorReport> errors;

    bool operator==(const MinerSample&) const = default;
};

// The stable identity rule: configured id, else MAC (lower case, colon separated), else host:port.
// The identity fields of a sample (make, model, firmware, firmware_version, serial, mac) and
// nothing else: what drivers cache between identity refreshes and carry into failed polls.
MinerSample identity_fields(const MinerSample& sample);

std::string make_miner_id(std::string_view configured_id, std::string_view mac,
                          std::string_view host, std::uint16_t port);

// Normalizes a MAC address to lower-case colon form ("aa:bb:cc:dd:ee:ff"); accepts colon, dash
// or bare 12-hex-digit forms. Returns nullopt for anything else.
std::optional<std::string> normalize_mac(std::string_view mac);

}  // namespace hashwatt
