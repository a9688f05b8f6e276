// A running collector: the store, its writer thread, and the HTTP API on an event-loop thread,
// started and stopped as one. `hashwatt collector` and `hashwatt demo` run one of these.
#pragma once

#include "collector/config/collector_config.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace hashwatt::collector {

namespace alerts {
class AlertEngine;
}
namespace control {
class PolicyControl;
}

class CollectorService {
  public:
    // Opens (creating or migrating) the database and binds the API; throws std::runtime_error
    // (or sqlite::Error) naming the file or address when either fails. Serving begins at once
    // on the service's own thread.
    explicit CollectorService(CollectorConfig config);
    // stop(), if not done yet.
    ~CollectorService();
    CollectorService(const CollectorService&) = delete;
    CollectorService& operator=(const CollectorService&) = delete;

    std::uint16_t port()
        const noexcept;  // the API's port (the configured one, or the free one picked)
    const std::string& address() const noexcept;
    // "http://IP:PORT" ("https://" with [api] TLS), IPv6 bracketed.
    std::string base_url() const;

    Store& store() noexcept;
    StoreWriter& writer() noexcept;
    // The running alert engine; nullptr when [alerts] enabled = false.
    alerts::AlertEngine* alert_engine() noexcept;
    // The running power policy; nullptr without [policy] file.
    control::PolicyControl* policy_control() noexcept;
    // Re-reads the policy file (SIGHUP): true when the new rules took, false when the file was
    // refused (the old rules stay; the log and policy_control()->status() say why) or no
    // policy runs.
    bool reload_policy();

    // Stops accepting connections, commits every batch already accepted, and joins the threads.
    // Idempotent; safe from any thread but the service's own.
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hashwatt::collector
