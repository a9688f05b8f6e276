#include "sim/fleet.hpp"

#include "common/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace hashwatt::sim {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
    std::uint32_t ip = 0;
    int parts = 0;
    std::size_t pos = 0;
    while (parts < 4) {
        unsigned v = 0;
        const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), v);
        if (ec != std::errc() || v > 255 || ptr == text.data() + pos) return std::nullopt;
        ip = (ip << 8) | v;
        pos = static_cast<std::size_t>(ptr - text.data());
        ++parts;
        if (parts < 4) {
            if (pos >= text.size() || text[pos] != '.') return std::nullopt;
            ++pos;
        }
    }
    if (pos != text.size()) return std::nullopt;
    return ip;
}

std::string format_ipv4(std::uint32_t ip) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
                  ip & 255);
    return buf;
}

std::vector<MixEntry> parse_mix(std::string_view text) {
    std::vector<MixEntry> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string_view part = text.substr(start, end - start);
        start = end + 1;
        if (part.empty()) continue;
        const auto colon = part.rfind(':');
        if (colon == std::string_view::npos) {
            throw std::invalid_argument("mix entry '" + std::string(part) +
                                        "' needs a weight: MODEL[@FIRMWARE]:WEIGHT");
        }
        std::string_view model_part = part.substr(0, colon);
        MixEntry e;
        if (const auto at = model_part.find('@'); at != std::string_view::npos) {
            const auto fw = model_part.substr(at + 1);
            if (!parse_family(fw, e.family)) {
                throw std::invalid_argument(
                    "unknown firmware '" + std::string(fw) + "' in mix entry '" +
                    std::string(part) + "' (antminer, whatsminer, luxos, braiins, avalon, vnish)");
            }
            model_part = model_part.substr(0, at);
            e.model = find_model(model_part);
        } else {
            e.model = find_model(model_part);
            if (e.model) e.family = e.model->default_family;
        }
        if (!e.model) {
            std::string known;
            for (const auto& m : all_models())
                known += (known.empty() ? "" : ", ") + std::string(m.key);
            throw std::invalid_argument("unknown model '" + std::string(model_part) +
                                        "' (known: " + known + ")");
        }
        const auto w = part.substr(colon + 1);
        const auto [ptr, ec] = std::from_chars(w.data(), w.data() + w.size(), e.count);
        if (ec != std::errc() || ptr != w.data() + w.size() || e.count < 0) {
            throw std::invalid_argument("bad weight '" + std::string(w) + "' in mix entry '" +
                                        std::string(part) + "'");
        }
        out.push_back(e);
    }
    if (out.empty()) throw std::invalid_argument("empty mix");
    return out;
}

std::vector<MixEntry> default_mix() {
    return parse_mix("s19pro:40,s21:30,m30s++:20,avalon1246:10");
}

namespace {

// Scales mix weights to exactly `total` miners (largest remainder).
std::vector<MixEntry> scale_mix(std::vector<MixEntry> mix, int total) {
    long weight = 0;
    for (const auto& e : mix) weight += e.count;
    if (weight <= 0) throw std::invalid_argument("mix weights sum to zero");
    std::vector<std::pair<double, std::size_t>> rema;
    int assigned = 0;
    for (std::size_t i = 0; i < mix.size(); ++i) {
        const double exact =
            static_cast<double>(mix[i].count) * total / static_cast<double>(weight);
        mix[i].count = static_cast<int>(std::floor(exact));
        assigned += mix[i].count;
        rema.emplace_back(exact - std::floor(exact), i);
    }
    std::stable_sort(rema.begin(), rema.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (std::size_t k = 0; assigned < total; ++k, ++assigned)
        mix[rema[k % rema.size()].second].count++;
    return mix;
}

std::string hex2(unsigned v) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", v & 255);
    return buf;
}

}  // namespace

std::unique_ptr<SimMiner> make_miner(const ModelSpec& model, Family family, std::uint32_t index,
                                     std::uint32_t ip, const FleetConfig& cfg, TimePoint boot) {
    const std::uint64_t seed = cfg.seed * 0x100000001B3ULL + index * 0x9E3779B97F4A7C15ULL;
    auto m = std::make_unique<SimMiner>(model, cfg.physics, seed, boot);
    m->index = index;
    char id[16];
    std::snprintf(id, sizeof id, "sim-%05u", index + 1);
    m->id = id;
    m->ip = ip;
    m->ip_text = format_ipv4(ip);
    m->family = family;
    // Locally administered MACs, unique per index.
    m->mac = "02:68:77:" + hex2(index >> 16) + ":" + hex2(index >> 8) + ":" + hex2(index);
    char serial[32];
    std::snprintf(serial, sizeof serial, "HWSIM%02X%010u", static_cast<unsigned>(family),
                  index + 1);
    m->serial = serial;
    m->pools = {{"stratum+tcp://pool-a.sim.invalid:3333", "hashwatt." + m->id},
                {"stratum+tcp://pool-b.sim.invalid:3333", "hashwatt." + m->id},
                {"stratum+tcp://pool-c.sim.invalid:443", "hashwatt." + m->id}};
    switch (family) {
        case Family::antminer:
            m->hostname = "Antminer";
            m->firmware_version =
                model.legacy_s9 ? "Fri Nov 17 17:37:49 CST 2017" : "Thu May 25 16:49:39 CST 2023";
            m->username = "root";
            m->password = cfg.antminer_web_password;
            break;
        case Family::whatsminer:
            m->hostname = "WhatsMiner";
            m->firmware_version = "20230803.11.REL";
            m->username = "admin";
            m->password = cfg.whatsminer_password;
            m->control.whatsminer_power_limit_w = model.max_power_w;
            break;
        case Family::luxos:
            m->hostname = "luxos-" + m->id;
            m->firmware_version = "2025.4.8.220305";
            m->username = "root";
            break;
        case Family::braiins:
            m->hostname = "Antminer";
            m->firmware_version = "2025-08-06-0-3881c51d-25.07-plus";
            m->username = "root";
            m->password = cfg.braiins_password;
            break;
        case Family::avalon:
            m->hostname = "Avalon";
            m->firmware_version = "21030201_4ec6bb0_09b1765";
            m->username = "root";
            m->password = "root";
            break;
        case Family::vnish:
            m->hostname = "Antminer";
            m->firmware_version = "1.2.0-rc3";
            m->username = "admin";
            m->password = cfg.vnish_password;
            break;
    }
    return m;
}

Fleet::Fleet(FleetConfig cfg, TimePoint start) : cfg_(std::move(cfg)) {
    if (cfg_.mix.empty()) cfg_.mix = default_mix();
    cfg_.mix = scale_mix(cfg_.mix, cfg_.miners);
    auto ip = parse_ipv4(cfg_.base_ip);
    if (!ip || (*ip >> 24) != 127) {
        throw std::invalid_argument("base_ip '" + cfg_.base_ip +
                                    "' must be a 127.x.y.z loopback address");
    }
    std::uint32_t next = *ip;
    std::uint32_t index = 0;
    miners_.reserve(static_cast<std::size_t>(cfg_.miners));
    for (const auto& e : cfg_.mix) {
        for (int i = 0; i < e.count; ++i) {
            while ((next & 255) == 0 || (next & 255) == 255) ++next;
            if ((next >> 24) != 127)
                throw std::invalid_argument("too many miners for 127.0.0.0/8 from " + cfg_.base_ip);
            miners_.push_back(make_miner(*e.model, e.family, index++, next, cfg_, start));
            by_ip_[next] = miners_.back().get();
            ++next;
        }
    }
}

SimMiner* Fleet::by_ip(std::uint32_t ip) noexcept {
    auto it = by_ip_.find(ip);
    return it == by_ip_.end() ? nullptr : it->second;
}

SimMiner* Fleet::by_id_or_ip(std::string_view key) noexcept {
    if (auto ip = parse_ipv4(key)) return by_ip(*ip);
    for (auto& m : miners_) {
        if (m->id == key) return m.get();
    }
    return nullptr;
}

FleetConfig load_fleet_config(const std::string& path) {
    const auto doc = config::Document::load_file(path);
    const auto root = doc.root();
    FleetConfig cfg;
    if (auto f = root.table("fleet")) {
        if (auto v = f->integer("miners", 1, 60000)) cfg.miners = static_cast<int>(*v);
        if (auto v = f->string("mix")) {
            try {
                cfg.mix = parse_mix(*v);
            } catch (const std::invalid_argument& e) {
                f->fail("mix", e.what());
            }
        }
        if (auto v = f->integer("seed", 0)) cfg.seed = static_cast<std::uint64_t>(*v);
        if (auto v = f->string("base_ip")) {
            const auto ip = parse_ipv4(*v);
            if (!ip || (*ip >> 24) != 127)
                f->fail("base_ip", "must be a 127.x.y.z loopback address");
            cfg.base_ip = *v;
        }
        if (auto v = f->integer("rpc_port", 1, 65535))
            cfg.rpc_port = static_cast<std::uint16_t>(*v);
        if (auto v = f->integer("http_port", 0, 65535))
            cfg.http_port = static_cast<std::uint16_t>(*v);
        if (auto v = f->string("admin")) cfg.admin_listen = *v;
    }
    if (auto p = root.table("physics")) {
        auto& ph = cfg.physics;
        if (auto v = p->number("ambient_c", -40, 60)) ph.ambient_c = *v;
        if (auto v = p->number("ambient_swing_c", 0, 30)) ph.ambient_swing_c = *v;
        if (auto v = p->duration("wake_ramp")) ph.wake_ramp = *v;
        if (auto v = p->duration("sleep_ramp")) ph.sleep_ramp = *v;
        if (auto v = p->duration("boot_time")) ph.boot_time = *v;
        if (auto v = p->number("hashrate_noise", 0, 0.5)) ph.hashrate_noise = *v;
        if (auto v = p->number("protect_chip_temp_c", 50, 150)) ph.protect_chip_temp_c = *v;
        if (auto v = p->number("idle_power_w", 0, 500)) ph.idle_power_w = *v;
        if (auto v = p->number("share_work_th", 0.001, 1e9)) ph.share_work_th = *v;
    }
    if (auto c = root.table("credentials")) {
        if (auto v = c->string("antminer_web_password")) cfg.antminer_web_password = *v;
        if (auto v = c->string("whatsminer_password")) cfg.whatsminer_password = *v;
        if (auto v = c->string("braiins_password")) cfg.braiins_password = *v;
        if (auto v = c->string("vnish_password")) cfg.vnish_password = *v;
    }
    for (const auto& f : root.tables("fault")) {
        ScheduledFault sf;
        sf.miner = f.required_string("miner");
        const auto kind = f.required_string("kind");
        const auto k = parse_fault_kind(kind);
        if (!k) f.fail("kind", "unknown fault '" + kind + "'");
        sf.kind = *k;
        if (auto v = f.duration("at")) sf.at = *v;
        sf.duration = f.duration("duration", Duration{1});
        if (auto v = f.duration("delay")) sf.params.delay = *v;
        if (auto v = f.integer("index", 0, 16)) sf.params.index = static_cast<int>(*v);
        if (f.has("ratio")) {
            const auto r = *f.number("ratio", 0, 3);
            if (!ratio_valid(sf.kind, r)) {
                f.fail("ratio", "out of range for " + kind +
                                    " (rejects 0..1, power_overdraw 1..3, hashrate_drop 0..1)");
            }
            sf.params.ratio = r;
        }
        cfg.faults.push_back(std::move(sf));
    }
    doc.finish();
    return cfg;
}

}  // namespace hashwatt::sim
