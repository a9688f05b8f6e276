// The state rule of bmminer-derived firmware that reports whether it was told to sleep (stock
// Antminer's work mode, LuxOS's curtail flag). Avalon, Braiins, Vnish and Whatsminer decide
// differently and keep their own rules.
#pragma once

#include "common/miner_sample.hpp"

#include <cstdint>

namespace hashwatt::agent {

// mining while it hashes (a miner ramping down to sleep still hashes); else sleeping when
// `asleep`; else error when it reports errors (it says why it is not hashing); else booting within
// `booting_grace_s` of the daemon's start; else error when `indicator_known` (not hashing, not
// told to sleep, long after start-up: a protection stop or a fault); else idle (nothing says why).
MinerState state_from_sleep_indicator(const MinerSample& s, bool asleep, bool indicator_known,
                                      std::int64_t booting_grace_s) noexcept;

}  // namespace hashwatt::agent
