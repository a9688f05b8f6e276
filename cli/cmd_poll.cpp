// `hashwatt poll HOST[:PORT]`: identify the firmware, poll once, print one normalized sample.
#include "agent/poller.hpp"
#include "cli/command.hpp"
#include "cli/endpoint_args.hpp"
#include "common/json_codec.hpp"
#include "common/time.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace hashwatt::cli {
namespace {

std::string fmt(const std::optional<double>& v, const char* unit, int decimals = 3) {
    if (!v) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f %s", decimals, *v, unit);
    return buf;
}

void print_table(const MinerSample& s) {
    auto line = [](const char* k, const std::string& v) {
        std::printf("%-22s %s\n", k, v.c_str());
    };
    auto opt = [](const std::optional<std::string>& v) { return v.value_or("-"); };
    line("miner_id", s.miner_id);
    line("address", s.host + ":" + std::to_string(s.port));
    line("up", s.up ? "yes" : "no");
    line("state", std::string(to_string(s.state)));
    if (s.error)
        line("error",
             std::string(to_string(*s.error)) + (s.error_message ? ": " + *s.error_message : ""));
    line("make / model", opt(s.make) + " / " + opt(s.model));
    line("firmware", opt(s.firmware) + " " + opt(s.firmware_version));
    line("driver", opt(s.driver));
    line("mac / serial", opt(s.mac) + " / " + opt(s.serial));
    line("hashrate", fmt(s.hashrate_ths, "TH/s") + " (avg " + fmt(s.hashrate_avg_ths, "TH/s") +
                         ", expected " + fmt(s.expected_hashrate_ths, "TH/s") + ")");
    line("power", fmt(s.power_w, "W", 0) +
                      (s.power_source ? " (" + std::string(to_string(*s.power_source)) + ")" : "") +
                      ", limit " + fmt(s.power_limit_w, "W", 0));
    for (const auto& b : s.boards) {
        char key[32];
        std::snprintf(key, sizeof key, "board %d", b.index);
        line(key, fmt(b.hashrate_ths, "TH/s") + ", chip " + fmt(b.chip_temp_max_c, "°C", 1) +
                      ", board " + fmt(b.board_temp_max_c, "°C", 1) + ", chips " +
                      (b.chips ? std::to_string(*b.chips) : "-") + "/" +
                      (b.expected_chips ? std::to_string(*b.expected_chips) : "-"));
    }
    std::string fans;
    for (auto f : s.fans_rpm) fans += (fans.empty() ? "" : ", ") + std::to_string(f);
    line("fans (rpm)", fans.empty() ? "-" : fans);
    line("uptime", s.uptime_s ? std::to_string(*s.uptime_s) + " s" : "-");
    for (const auto& p : s.pools) {
        line(p.active.value_or(false) ? "pool (active)" : "pool",
             p.url + " " + p.user.value_or("") +
                 (p.accepted ? " accepted " + std::to_string(*p.accepted) : ""));
    }
    for (const auto& e : s.errors) line("miner error", e.code.value_or("") + " " + e.message);
    if (s.poll_duration_ms) line("poll took", fmt(s.poll_duration_ms, "ms", 1));
}

}  // namespace

Runner add_poll_command(CLI::App& app) {
    auto args = std::make_shared<EndpointArgs>();
    auto json = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "poll", "Identify one miner's firmware, poll it once and print the sample");
    add_endpoint_args(*cmd, *args);
    cmd->add_flag("--json", *json,
                  "Print the sample as one JSON object (the wire format, docs/api.md)");
    cmd->footer(
        "Exit status: 0 when the miner answered, 1 when it did not (the sample is printed either "
        "way, "
        "with up=false and the reason), 2 on bad usage.");
    return [args, json] {
        const auto ep = make_endpoint(*args);
        if (args->driver != "auto" && !agent::find_driver(args->driver)) {
            std::string names;
            for (const auto* d : agent::all_drivers()) names += " " + std::string(d->name());
            std::fprintf(stderr, "hashwatt poll: unknown driver '%s' (auto%s)\n",
                         args->driver.c_str(), names.c_str());
            return kExitUsage;
        }
        boost::asio::io_context io;
        agent::DriverContext ctx{io.get_executor(), make_transport(*args)};
        agent::PollTarget target;
        target.endpoint = ep;
        target.driver_name = args->driver;
        auto fut =
            boost::asio::co_spawn(io, agent::poll_target(ctx, target), boost::asio::use_future);
        io.run();
        const MinerSample s = fut.get();
        if (*json) {
            std::printf("%s\n", encode_sample(s).c_str());
        } else {
            print_table(s);
        }
        return s.up ? kExitOk : kExitFailure;
    };
}

}  // namespace hashwatt::cli
