#include "cli/embedded_agents.hpp"

#include "common/crypto.hpp"
#include "common/log.hpp"

#include <filesystem>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

namespace hashwatt::cli {

EmbeddedAgents::EmbeddedAgents(std::vector<agent::AgentConfig> agents,
                               collector::CollectorConfig& collector)
    : configs_(std::move(agents))
    , tls_cert_file_(collector.api.tls ? collector.api.tls->cert_file : std::string()) {
    const auto db_dir = std::filesystem::path(collector.database_path).parent_path();
    for (auto& a : configs_) {
        if (!a.uplink) a.uplink.emplace();
        a.uplink->token = crypto::random_token(24);
        if (a.uplink->spool_dir.empty()) {
            a.uplink->spool_dir = (db_dir / "spool" / a.agent_id).string();
        }
        collector.api.tokens.push_back({a.uplink->token, collector::Role::agent, a.agent_id});
    }
}

EmbeddedAgents::~EmbeddedAgents() { stop(); }

void EmbeddedAgents::start(const collector::CollectorService& service) {
    // A collector listening on every address is reached over loopback.
    std::string host = service.address();
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    for (auto& a : configs_) {
        a.uplink->host = host;
        a.uplink->port = service.port();
        a.uplink->base_path.clear();
        a.uplink->url = service.base_url();
        // A TLS listener is reached over TLS too, trusting exactly its own certificate; the
        // certificate must name `host` (docs/operations.md).
        if (!tls_cert_file_.empty()) {
            a.uplink->tls = true;
            a.uplink->ca_file = tls_cert_file_;
            a.uplink->ca_pinned = true;
        }
        std::filesystem::create_directories(a.uplink->spool_dir);
        runtimes_.push_back(std::make_unique<agent::AgentRuntime>(io_.get_executor(), a));
    }
    for (auto& rt : runtimes_) {
        boost::asio::co_spawn(io_, rt->run(),
                              [this, id = rt->config().agent_id](std::exception_ptr e) {
                                  if (e) {
                                      try {
                                          std::rethrow_exception(e);
                                      } catch (const std::exception& err) {
                                          log::error("embedded agent failed",
                                                     {{"agent_id", id}, {"error", err.what()}});
                                      }
                                  }
                                  // Timers of a finished runtime may still be pending; the loop
                                  // ends with the last runtime rather than waiting for them.
                                  if (++finished_ == runtimes_.size()) io_.stop();
                              });
    }
    thread_ = std::thread([this] { io_.run(); });
}

void EmbeddedAgents::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (!thread_.joinable()) return;
    boost::asio::post(io_, [this] {
        for (auto& rt : runtimes_) rt->stop();
    });
    // run() returns once every runtime has finished (uplinks flushed or timed out).
    thread_.join();
    runtimes_.clear();
}

}  // namespace hashwatt::cli
