// The pure command checks shared by the agent and the collector: when a sample shows a command
// carried out, and how a sample reads in a message.
#include "common/command.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;

TEST_CASE("command_took_effect: what each command must show") {
    MinerSample before;
    before.up = true;
    before.state = MinerState::mining;
    before.hashrate_ths = 110;
    before.power_w = 3250;
    before.uptime_s = 5000;
    bool restart = false;
    Command c;

    c.type = CommandType::sleep;
    MinerSample now = before;
    CHECK_FALSE(command_took_effect(c, before, now, restart));
    now.state = MinerState::sleeping;
    CHECK(command_took_effect(c, before, now, restart));
    now.up = false;
    CHECK_FALSE(command_took_effect(c, before, now, restart));

    c.type = CommandType::wake;
    now = before;
    now.hashrate_ths = 0;
    CHECK_FALSE(command_took_effect(c, before, now, restart));
    now.hashrate_ths = 3;  // ramping up counts: it is mining again
    CHECK(command_took_effect(c, before, now, restart));

    c.type = CommandType::set_power_target;
    c.power_target_w = 2800;
    now = before;
    CHECK_FALSE(command_took_effect(c, before, now, restart));  // still at 3250 W
    now.power_w = 2900;                                         // within the 5 % margin
    CHECK(command_took_effect(c, before, now, restart));
    now.power_w.reset();
    now.power_limit_w = 2800;
    CHECK(command_took_effect(c, before, now, restart));
    now.state = MinerState::booting;
    CHECK_FALSE(command_took_effect(c, before, now, restart));

    c.type = CommandType::reboot;
    now = before;
    now.uptime_s = 5010;
    CHECK_FALSE(command_took_effect(c, before, now, restart));  // not restarted yet
    now.up = false;
    CHECK_FALSE(command_took_effect(c, before, now, restart));  // gone: a restart is under way
    CHECK(restart);
    now = before;
    now.uptime_s = 12;
    CHECK(command_took_effect(c, before, now, restart));
    // A restart seen only through the uptime counts too.
    bool fresh = false;
    CHECK(command_took_effect(c, before, now, fresh));
}

TEST_CASE("describe_sample: what a message says a sample shows") {
    MinerSample s;
    s.up = true;
    s.state = MinerState::mining;
    s.hashrate_ths = 100.54;
    s.power_w = 3250.4;
    s.power_limit_w = 3300;
    s.uptime_s = 60;
    CHECK(describe_sample(s) == "state mining, 100.5 TH/s, 3250 W (limit 3300 W), up 60 s");
    s = MinerSample{};
    s.up = false;
    s.error = PollError::timeout;
    CHECK(describe_sample(s) == "not answering (timeout)");
}
