#pragma once
// An agent's uplink alone, in the test's process, and synthetic samples to feed it: for the
// suites that test delivery (uplink_test, tls_test) without polling any miner.

#include "agent/uplink/uplink.hpp"
#include "common/miner_sample.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

namespace hashwatt::test {

// One Uplink on its own io_context thread, stopped and joined on every path out of a test.
class UplinkAgent {
  public:
    UplinkAgent(const agent::UplinkConfig& cfg, const std::string& agent_id,
                const std::string& site) {
        uplink_ = std::make_unique<agent::Uplink>(io_.get_executor(), cfg, agent_id, site);
        uplink_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    UplinkAgent(const UplinkAgent&) = delete;
    UplinkAgent& operator=(const UplinkAgent&) = delete;
    ~UplinkAgent() {
        if (!stopped_) (void)stop(std::chrono::seconds(10));
        guard_.reset();
        io_.stop();
        thread_.join();
    }
    void add(std::vector<MinerSample> samples) {
        boost::asio::post(io_, [this, v = std::move(samples)]() mutable {
            for (auto& s : v) uplink_->add(std::move(s));
        });
    }
    // True when the uplink's stop() (bounded by its shutdown_timeout) finished within `limit`.
    bool stop(std::chrono::milliseconds limit) {
        stopped_ = true;
        auto done = boost::asio::co_spawn(io_, uplink_->stop(), boost::asio::use_future);
        return done.wait_for(limit) == std::future_status::ready;
    }
    agent::UplinkStats stats() const { return uplink_->stats(); }

  private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
        io_.get_executor()};
    std::unique_ptr<agent::Uplink> uplink_;
    std::thread thread_;
    bool stopped_ = false;
};

// Samples `first`..`first+count-1` spread over `miners` miners (m-0, m-1, ...), one second
// apart from an instant an hour before the run started: the collector refuses samples more than
// 5 min ahead of its clock, and an hour old stays clear of raw retention. The same arguments
// give the same samples for the whole run, so a test can compare what arrived.
inline std::vector<MinerSample> synthetic_samples(int first, int count, int miners) {
    static const auto base = std::chrono::floor<std::chrono::seconds>(
        std::chrono::system_clock::now() - std::chrono::hours(1));
    std::vector<MinerSample> out;
    for (int i = first; i < first + count; ++i) {
        MinerSample s;
        s.miner_id = "m-" + std::to_string(i % miners);
        s.host = "10.0.0." + std::to_string(i % miners + 1);
        s.port = 4028;
        s.up = true;
        s.state = MinerState::mining;
        s.observed_at = TimePoint{base.time_since_epoch() + std::chrono::seconds(i)};
        s.hashrate_ths = 100.0 + i;
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace hashwatt::test
