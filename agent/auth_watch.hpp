// Credentials a miner refused, reported the same way for every family: drivers start such a
// failure's message with "auth: <family>" (or set PollError::auth, or an errors[] entry with code
// `auth` on a sample whose telemetry needs no password), and the agent logs one warning per miner
// when the refusal begins and one line when the credentials work again, not one per poll.
#pragma once

#include "common/miner_sample.hpp"

#include <string_view>

namespace hashwatt::agent {

struct PollTarget;

// A command failure because the miner refused the credentials ("auth:" prefix).
bool is_auth_failure(std::string_view message) noexcept;
// A sample that says the miner refused the credentials: error `auth`, or an `auth` entry in
// errors[] (Antminer: its RPC answers, its web interface does not).
bool refused_credentials(const MinerSample& s) noexcept;

enum class AuthSource { poll, command };

// Remembers on `t` whether its credentials work for `source`; `refused` true = refused, false =
// accepted. Logs a warning naming the miner, its address and family when the state changes to
// refused (and at the first refusal), an info line when it changes back. `detail` is the
// driver's message, which never holds the password.
void note_auth_state(PollTarget& t, AuthSource source, bool refused, std::string_view detail);

}  // namespace hashwatt::agent
