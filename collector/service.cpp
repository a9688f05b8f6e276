#include "collector/service.hpp"

#include "collector/alerts/delivery.hpp"
#include "collector/alerts/engine.hpp"
#include "collector/api/server.hpp"
#include "collector/control/control_loop.hpp"
#include "collector/control/override_store.hpp"
#include "collector/metrics/alert_metrics.hpp"
#include "collector/metrics/collector_metrics.hpp"
#include "collector/metrics/policy_metrics.hpp"
#include "collector/storage/store.hpp"
#include "collector/storage/writer.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace hashwatt::collector {

struct CollectorService::Impl {
    CollectorConfig config;
    Store store;
    // Before the writer, which counts its failed maintenance jobs in it.
    std::shared_ptr<CollectorMetrics> metrics = std::make_shared<CollectorMetrics>();
    StoreWriter writer;
    boost::asio::io_context io{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
    ApiServer api;
    std::unique_ptr<alerts::NotifierSet> notifiers;  // when config.alerts.enabled
    std::unique_ptr<alerts::AlertEngine> alerts;     // when config.alerts.enabled
    std::unique_ptr<control::ControlLoop> control;   // when config.control.enabled
    std::thread thread;
    bool stopped = false;

    explicit Impl(CollectorConfig c)
        : config(std::move(c))
        , store(config.database_path)
        , writer(store, with_error_count(config.writer, metrics))
        , api(io, store, writer, config.api, metrics) {}

    static StoreWriterOptions with_error_count(StoreWriterOptions o,
                                               std::shared_ptr<CollectorMetrics> m) {
        o.on_maintenance_error = [m = std::move(m), given = std::move(o.on_maintenance_error)] {
            m->record_store_error(StoreOperation::maintenance);
            if (given) given();
        };
        return o;
    }
};

CollectorService::CollectorService(CollectorConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {
    try {
        impl_->api.start();
    } catch (...) {
        impl_->writer.shutdown();
        throw;
    }
    impl_->thread = std::thread([this] {
        // A handler that throws is logged and the loop goes on: stop() posts to this loop and
        // waits for it, and the writer's answers to agents arrive through it.
        for (;;) {
            try {
                impl_->io.run();
                return;
            } catch (const std::exception& e) {
                log::error("collector event loop: a handler failed", {{"error", e.what()}});
            }
        }
    });
    if (impl_->config.alerts.enabled) {
        try {
            alerts::AlertEngineOptions o;
            o.interval = impl_->config.alerts.interval;
            o.external_url = base_url();
            // Every notification is queued for the configured notifiers in the transaction
            // that saves the alert's change, then logged and the notifiers woken; the alert
            // itself is in the alerts table (GET /api/v1/alerts). The notifiers exist before
            // the engine's first evaluation (start(), below).
            o.queue = [this](sqlite::Database& db, const alerts::Notification& n, TimePoint now) {
                impl_->notifiers->queue(db, n, now);
            };
            const auto sink = [this](const alerts::Notification& n) {
                const auto get = [](const std::map<std::string, std::string>& m, const char* k) {
                    auto it = m.find(k);
                    return it == m.end() ? std::string() : it->second;
                };
                log::write(n.resolved ? log::Level::info : log::Level::warn,
                           n.resolved ? "alert resolved" : "alert firing",
                           {{"alertname", get(n.labels, "alertname")},
                            {"miner", get(n.labels, "miner")},
                            {"severity", get(n.labels, "severity")},
                            {"summary", get(n.annotations, "summary")},
                            {"fingerprint", n.fingerprint}});
                impl_->notifiers->wake();
            };
            impl_->alerts = std::make_unique<alerts::AlertEngine>(
                impl_->store, impl_->config.alerts.rules, sink, std::move(o));
            // The engine first: the Alertmanagers ask it for the firing alerts as they start.
            auto* engine = impl_->alerts.get();
            impl_->notifiers = std::make_unique<alerts::NotifierSet>(
                impl_->store, impl_->config.notifiers, [engine] { return engine->firing(); });
            impl_->api.set_alert_engine(engine);
            impl_->api.metrics().add_collectable(std::make_shared<AlertMetrics>(*engine));
            impl_->alerts->start();
        } catch (...) {
            stop();
            throw;
        }
    }
    if (impl_->config.control.enabled) {
        try {
            control::ControlOptions o;
            // The loop queues commands in the store; the agents' long polls learn of them here.
            o.on_commands = [this](const std::vector<std::string>& agents) {
                impl_->api.notify_agents(agents);
            };
            impl_->control = std::make_unique<control::ControlLoop>(
                impl_->store, impl_->config.control, std::move(o));
            // Overrides added through the API before a restart, until they end.
            const auto restored =
                control::restore_overrides(impl_->store, *impl_->control, now_ms());
            if (restored > 0) log::info("policy overrides restored", {{"count", restored}});
            impl_->api.set_policy_control(impl_->control.get());
            impl_->api.metrics().add_collectable(std::make_shared<PolicyMetrics>(*impl_->control));
            impl_->control->start();
        } catch (...) {
            stop();
            throw;
        }
    }
    log::info("collector listening",
              {{"url", base_url()}, {"database", impl_->config.database_path}});
}

CollectorService::~CollectorService() { stop(); }

std::uint16_t CollectorService::port() const noexcept { return impl_->api.port(); }
const std::string& CollectorService::address() const noexcept { return impl_->config.api.address; }

std::string CollectorService::base_url() const {
    const auto& a = impl_->config.api.address;
    const bool v6 = a.find(':') != std::string::npos;
    const char* scheme = impl_->config.api.tls ? "https://" : "http://";
    return scheme + (v6 ? "[" + a + "]" : a) + ":" + std::to_string(port());
}

Store& CollectorService::store() noexcept { return impl_->store; }
StoreWriter& CollectorService::writer() noexcept { return impl_->writer; }
alerts::AlertEngine* CollectorService::alert_engine() noexcept { return impl_->alerts.get(); }
control::PolicyControl* CollectorService::policy_control() noexcept { return impl_->control.get(); }
bool CollectorService::reload_policy() { return impl_->control && impl_->control->reload(); }

void CollectorService::stop() {
    if (impl_->stopped) return;
    impl_->stopped = true;
    if (impl_->control) impl_->control->stop();
    impl_->api.set_policy_control(nullptr);
    if (impl_->alerts) impl_->alerts->stop();
    impl_->api.set_alert_engine(nullptr);
    if (impl_->notifiers) impl_->notifiers->stop();
    // The server is closed on its own thread; the writer then drains what was accepted. Its
    // commit callbacks post answers to the io_context, which keeps running (work guard) until
    // the writer is done, so no accepted batch loses its acknowledgement path mid-flight.
    std::promise<void> closed;
    boost::asio::post(impl_->io, [this, &closed] {
        impl_->api.stop();
        closed.set_value();
    });
    closed.get_future().wait();
    impl_->writer.shutdown();
    impl_->work.reset();
    impl_->io.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
    log::info("collector stopped", {{"database", impl_->config.database_path}});
}

}  // namespace hashwatt::collector
