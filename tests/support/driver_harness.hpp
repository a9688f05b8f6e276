// Runs one driver's coroutines synchronously for integration tests: each call gets a private
// io_context turn, so a test reads like a script of polls and commands.
#pragma once

#include "agent/drivers/driver.hpp"
#include "tests/support/process.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace hashwatt::test {

struct DriverHarness {
    explicit DriverHarness(const agent::MinerDriver& d) : driver(d) {}

    boost::asio::io_context io;
    agent::DriverContext ctx{io.get_executor(), {}};
    const agent::MinerDriver& driver;

    template <typename T>
    T run(boost::asio::awaitable<T> a) {
        std::optional<T> out;
        std::exception_ptr ex;
        boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
            ex = e;
            if (!e) out = std::move(v);
        });
        io.restart();
        io.run();
        if (ex) std::rethrow_exception(ex);
        return std::move(*out);
    }

    MinerSample poll(const agent::MinerEndpoint& ep, agent::DriverState& st) {
        return run(driver.poll(ctx, ep, st));
    }
    agent::CommandOutcome execute(const agent::MinerEndpoint& ep, agent::DriverState& st,
                                  CommandType type, std::optional<double> watts = std::nullopt) {
        Command c;
        c.id = "c1";
        c.type = type;
        c.power_target_w = watts;
        return run(driver.execute(ctx, ep, st, c));
    }
};

// Polls every 200 ms until `pred` holds for a sample or `deadline` passes; returns the last one.
template <typename Pred>
MinerSample poll_until(DriverHarness& h, const agent::MinerEndpoint& ep, agent::DriverState& st,
                       Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    MinerSample last;
    wait_until(
        [&] {
            last = h.poll(ep, st);
            return pred(last);
        },
        deadline, std::chrono::milliseconds(200));
    return last;
}

// Polls until a sample is in `state` (the common wait after a command); returns the last one,
// which the caller checks: a timeout is not an error here.
inline MinerSample poll_until_state(DriverHarness& h, const agent::MinerEndpoint& ep,
                                    agent::DriverState& st, MinerState state,
                                    std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    return poll_until(
        h, ep, st, [state](const MinerSample& x) { return x.state == state; }, deadline);
}

}  // namespace hashwatt::test
