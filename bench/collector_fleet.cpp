#include "bench/collector_fleet.hpp"

#include <cstdio>

namespace hashwatt::bench {

namespace {

std::string mac_of(std::size_t index) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "02:00:0a:%02x:%02x:%02x",
                  static_cast<unsigned>((index >> 16) & 0xff),
                  static_cast<unsigned>((index >> 8) & 0xff), static_cast<unsigned>(index & 0xff));
    return buf;
}

}  // namespace

Fleet::Fleet(std::size_t miners, std::uint64_t seed, int down_permille)
    : state_(seed * 0x9e3779b97f4a7c15ULL + 1), down_permille_(down_permille) {
    templates_.reserve(miners);
    for (std::size_t i = 0; i < miners; ++i) {
        MinerSample s;
        s.mac = mac_of(i);
        s.miner_id = *s.mac;
        s.site = "site-" + std::to_string(i / 500);
        s.host = "10." + std::to_string(10 + i / 65536) + "." + std::to_string((i / 256) % 256) +
                 "." + std::to_string(i % 256);
        s.port = 4028;
        s.make = "Bitmain";
        s.model = "Antminer S19 Pro";
        s.firmware = "stock";
        s.firmware_version = "Thu May 11 16:32:25 CST 2023";
        s.driver = "antminer";
        s.serial = "JYZZB4NBCAJJF" + std::to_string(100000 + i);
        s.expected_hashrate_ths = 110.0;
        s.power_limit_w = 3250.0;
        s.power_source = PowerSource::measured;
        for (int b = 0; b < 4; ++b) {
            BoardSample board;
            board.index = b;
            board.expected_hashrate_ths = 27.5;
            board.chips = 76;
            board.expected_chips = 76;
            board.ok = true;
            s.boards.push_back(board);
        }
        s.fans_rpm = {5400, 5460, 5520, 5400};
        for (int p = 0; p < 2; ++p) {
            PoolSample pool;
            pool.url =
                p == 0 ? "stratum+tcp://btc.f2pool.com:1314" : "stratum+tcp://ss.antpool.com:3333";
            pool.user = "hashfarm." + std::to_string(i);
            pool.active = p == 0;
            pool.alive = true;
            s.pools.push_back(pool);
        }
        templates_.push_back(std::move(s));
    }
}

std::uint64_t Fleet::next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
}

double Fleet::jitter(double centre, double spread) {
    const double u = static_cast<double>(next() >> 11) / 9007199254740992.0;  // [0, 1)
    return centre + (u * 2 - 1) * spread;
}

MinerSample Fleet::sample(std::size_t index, TimePoint at) {
    const MinerSample& t = templates_[index];
    const std::int64_t age_s = at.time_since_epoch().count() / 1000 % (90 * 86400);
    // A failed poll carries the identity the driver cached and nothing measured.
    if (static_cast<int>(next() % 1000) < down_permille_) {
        MinerSample s;
        s.miner_id = t.miner_id;
        s.site = t.site;
        s.host = t.host;
        s.port = t.port;
        s.make = t.make;
        s.model = t.model;
        s.firmware = t.firmware;
        s.firmware_version = t.firmware_version;
        s.driver = t.driver;
        s.serial = t.serial;
        s.mac = t.mac;
        s.observed_at = at;
        s.poll_duration_ms = 10000;
        s.up = false;
        s.state = MinerState::offline;
        s.error = PollError::timeout;
        s.error_message = "no reply within 10000 ms";
        return s;
    }
    MinerSample s = t;
    s.observed_at = at;
    s.poll_duration_ms = jitter(45, 20);
    s.up = true;
    s.state = MinerState::mining;
    double total = 0;
    for (auto& b : s.boards) {
        b.hashrate_ths = jitter(27.5, 0.8);
        b.chip_temp_max_c = jitter(72, 4);
        b.board_temp_max_c = *b.chip_temp_max_c - jitter(12, 2);
        b.hw_errors = static_cast<std::int64_t>(age_s / 600 + static_cast<std::int64_t>(index % 7));
        total += *b.hashrate_ths;
    }
    s.hashrate_ths = total;
    s.hashrate_avg_ths = jitter(110, 0.5);
    s.power_w = jitter(3250, 40);
    for (auto& f : s.fans_rpm) f = static_cast<std::int64_t>(jitter(5460, 120));
    s.inlet_temp_c = jitter(25, 3);
    s.outlet_temp_c = *s.inlet_temp_c + jitter(20, 3);
    s.hw_errors_total = age_s / 150;
    s.uptime_s = age_s;
    const std::int64_t shares = age_s / 4;
    s.pools[0].accepted = shares;
    s.pools[0].rejected = shares / 500;
    s.pools[0].stale = shares / 2000;
    s.pools[1].accepted = 0;
    s.pools[1].rejected = 0;
    s.pools[1].stale = 0;
    return s;
}

}  // namespace hashwatt::bench
