// `hashwatt miner HOST[:PORT] sleep|wake|power-target WATTS|reboot`: one command to one miner,
// then a wait until the miner shows it took effect.
#include "agent/control.hpp"
#include "cli/command.hpp"
#include "cli/endpoint_args.hpp"
#include "common/json_codec.hpp"
#include "common/json_writer.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace hashwatt::cli {

Runner add_miner_command(CLI::App& app) {
    struct Args {
        EndpointArgs endpoint;
        std::string action;
        double watts = 0;
        std::string wait = "5m";
        std::string poll_every = "2s";
        bool json = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd =
        app.add_subcommand("miner", "Send one command to one miner and wait until it takes effect");
    add_endpoint_args(*cmd, a->endpoint);
    cmd->add_option("action", a->action, "sleep, wake, power-target or reboot")
        ->required()
        ->check(CLI::IsMember({"sleep", "wake", "power-target", "reboot"}));
    cmd->add_option("watts", a->watts, "Target power in watts (power-target only)")
        ->check(CLI::Range(1.0, 100000.0));
    cmd->add_option("--wait", a->wait,
                    "How long the miner may take to show the new state (default 5m)");
    cmd->add_option("--poll-every", a->poll_every, "Pause between verification polls (default 2s)");
    cmd->add_flag("--json", a->json,
                  "Print {command, status, message, elapsed_s, before, after} as one JSON "
                  "object (before/after are samples in the wire format)");
    cmd->footer(
        "The firmware is identified first and the driver decides whether it can carry out the "
        "command on this model; if not, nothing is sent and the reason is printed. Exit status: "
        "0 when the miner shows the new state, 1 when the command was refused, failed or not "
        "seen in time, 2 on bad usage.");
    return [a] {
        const bool needs_watts = a->action == "power-target";
        if (needs_watts != (a->watts > 0)) {
            std::fprintf(stderr, "hashwatt miner: %s\n",
                         needs_watts ? "power-target needs WATTS, e.g. power-target 3000"
                                     : "WATTS only goes with power-target");
            return kExitUsage;
        }
        const auto ep = make_endpoint(a->endpoint);
        const auto transport = make_transport(a->endpoint);
        if (a->endpoint.driver != "auto" && !agent::find_driver(a->endpoint.driver)) {
            std::fprintf(stderr, "hashwatt miner: unknown driver '%s'\n",
                         a->endpoint.driver.c_str());
            return kExitUsage;
        }
        agent::VerifyOptions verify;
        std::string err;
        const auto wait = parse_duration(a->wait, &err);
        const auto every = parse_duration(a->poll_every, &err);
        if (!wait || !every || *every <= Duration::zero()) {
            std::fprintf(stderr, "hashwatt miner: --wait/--poll-every: %s\n",
                         err.empty() ? "must be > 0" : err.c_str());
            return kExitUsage;
        }
        verify.wait = *wait;
        verify.poll_every = *every;

        Command c;
        c.id = "cli";
        c.type = a->action == "sleep"  ? CommandType::sleep
                 : a->action == "wake" ? CommandType::wake
                 : needs_watts         ? CommandType::set_power_target
                                       : CommandType::reboot;
        if (needs_watts) c.power_target_w = a->watts;

        boost::asio::io_context io;
        agent::DriverContext ctx{io.get_executor(), transport};
        agent::PollTarget target;
        target.endpoint = ep;
        target.driver_name = a->endpoint.driver;
        auto fut = boost::asio::co_spawn(io, agent::run_command(ctx, target, c, verify),
                                         boost::asio::use_future);
        io.run();
        const agent::ControlReport r = fut.get();
        if (a->json) {
            std::string out;
            JsonWriter w(out);
            w.begin_object();
            w.field("command", a->action);
            if (c.power_target_w) w.field("power_target_w", *c.power_target_w);
            w.field("status", to_string(r.status));
            w.field("message", r.message);
            w.field("elapsed_s", r.elapsed_s);
            w.key("before");
            r.before ? w.raw(encode_sample(*r.before)) : w.null();
            w.key("after");
            r.after ? w.raw(encode_sample(*r.after)) : w.null();
            w.end_object();
            std::printf("%s\n", out.c_str());
        } else {
            std::printf("%s %s: %s: %s\n", ep.host.c_str(), a->action.c_str(),
                        std::string(to_string(r.status)).c_str(), r.message.c_str());
        }
        return r.status == CommandStatus::succeeded ? kExitOk : kExitFailure;
    };
}

}  // namespace hashwatt::cli
