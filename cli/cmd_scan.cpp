// `hashwatt scan CIDR...`: find and identify every miner in the ranges.
#include "agent/detect/scan.hpp"
#include "cli/command.hpp"
#include "common/json_writer.hpp"
#include "common/units.hpp"

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace hashwatt::cli {

Runner add_scan_command(CLI::App& app) {
    struct Args {
        std::vector<std::string> ranges;
        bool json = false;
        std::size_t concurrency = 256;
        std::uint16_t port = 4028;
        std::uint16_t http_port = 80;
        std::string timeout = "3s";
        std::size_t max_hosts = 65536;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = app.add_subcommand("scan", "Find and identify the miners in address ranges");
    cmd->add_option("ranges", a->ranges, "CIDR ranges or addresses, e.g. 10.0.0.0/22 10.0.8.17")
        ->required();
    cmd->add_flag(
        "--json", a->json,
        "Print a JSON array of {host, port, make, model, firmware, mac, identified, error}");
    cmd->add_option("--concurrency", a->concurrency, "Hosts probed at once (default 256)")
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--port", a->port, "RPC port to probe (default 4028)");
    cmd->add_option("--http-port", a->http_port, "Web port to probe (default 80)");
    cmd->add_option("--timeout", a->timeout, "Deadline for each connection and reply (default 3s)");
    cmd->add_option("--max-hosts", a->max_hosts, "Refuse ranges larger than this (default 65536)");
    cmd->footer(
        "Hosts that refuse or never answer are not listed; hosts that answer but cannot be "
        "identified are "
        "listed with identified=false. A host that times out is tried once more.");
    return [a] {
        std::vector<std::string> hosts;
        for (const auto& r : a->ranges) {
            try {
                auto more = agent::expand_cidr(r, a->max_hosts);
                hosts.insert(hosts.end(), more.begin(), more.end());
            } catch (const std::invalid_argument& e) {
                std::fprintf(stderr, "hashwatt scan: %s\n", e.what());
                return kExitUsage;
            }
        }
        std::string err;
        const auto timeout = parse_duration(a->timeout, &err);
        if (!timeout || *timeout <= Duration::zero()) {
            std::fprintf(stderr, "hashwatt scan: --timeout: %s\n",
                         err.empty() ? "must be > 0" : err.c_str());
            return kExitUsage;
        }
        boost::asio::io_context io;
        agent::DriverContext ctx{io.get_executor(), {}};
        ctx.transport.connect_timeout = *timeout;
        ctx.transport.reply_timeout = *timeout;
        agent::ScanOptions opts;
        opts.concurrency = a->concurrency;
        opts.rpc_port = a->port;
        opts.http_port = a->http_port;
        const auto t0 = std::chrono::steady_clock::now();
        auto fut =
            boost::asio::co_spawn(io, agent::scan(ctx, hosts, opts), boost::asio::use_future);
        io.run();
        const auto results = fut.get();
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (a->json) {
            std::string out;
            JsonWriter w(out);
            w.begin_array();
            for (const auto& r : results) {
                w.begin_object();
                w.field("host", r.host);
                w.field("port", unsigned{r.port});
                w.key("make");
                r.make ? w.value(*r.make) : w.null();
                w.key("model");
                r.model ? w.value(*r.model) : w.null();
                w.key("firmware");
                r.firmware ? w.value(*r.firmware) : w.null();
                w.key("mac");
                r.mac ? w.value(*r.mac) : w.null();
                w.field("identified", r.identified);
                w.key("error");
                r.error.empty() ? w.null() : w.value(r.error);
                w.end_object();
            }
            w.end_array();
            std::printf("%s\n", out.c_str());
        } else {
            std::printf("%-16s %-6s %-10s %-22s %-10s %-18s %s\n", "host", "port", "make", "model",
                        "firmware", "mac", "note");
            for (const auto& r : results) {
                std::printf("%-16s %-6u %-10s %-22s %-10s %-18s %s\n", r.host.c_str(), r.port,
                            r.make.value_or("-").c_str(), r.model.value_or("-").c_str(),
                            r.firmware.value_or("-").c_str(), r.mac.value_or("-").c_str(),
                            r.error.c_str());
            }
        }
        std::fprintf(
            stderr, "scanned=%zu found=%zu identified=%zu wall_ms=%.0f\n", hosts.size(),
            results.size(),
            static_cast<std::size_t>(std::count_if(results.begin(), results.end(),
                                                   [](const auto& r) { return r.identified; })),
            secs * 1000);
        return kExitOk;
    };
}

}  // namespace hashwatt::cli
