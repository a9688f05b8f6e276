// A synthetic fleet for the collector benchmarks: samples shaped like what the agent sends for
// an Antminer-class rig (identity, 4 boards, 4 fans, 2 pools, every usual field), cheap enough
// to make by the million, deterministic for a given seed.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace hashwatt::bench {

class Fleet {
  public:
    // `miners` rigs; about `down_permille` of polls in a thousand are failed (offline) polls,
    // as in a real farm, so that rollups see up_fraction below 1.
    Fleet(std::size_t miners, std::uint64_t seed, int down_permille = 10);

    std::size_t size() const noexcept { return templates_.size(); }
    // The stable id of miner `index` (its MAC, as the agent derives it).
    const std::string& miner_id(std::size_t index) const { return templates_[index].miner_id; }

    // One poll of miner `index` at `at`: the identity and shape of that miner, readings that
    // wander around its nominal values, counters that grow with time.
    MinerSample sample(std::size_t index, TimePoint at);

  private:
    std::uint64_t next();  // xorshift64*
    double jitter(double centre, double spread);

    std::vector<MinerSample> templates_;
    std::uint64_t state_;
    int down_permille_;
};

}  // namespace hashwatt::bench
