#include "collector/alerts/delivery.hpp"

#include "collector/alerts/alertmanager.hpp"
#include "collector/alerts/outbox.hpp"
#include "collector/alerts/webhook.hpp"
#include "common/log.hpp"
#include "common/time.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace hashwatt::collector::alerts {

namespace asio = boost::asio;

struct NotifierSet::Impl {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    Outbox outbox;
    std::vector<std::unique_ptr<AlertmanagerNotifier>> alertmanagers;
    std::vector<std::unique_ptr<WebhookNotifier>> webhooks;
    std::vector<std::string> names;  // the outbox queues
    std::mutex mu;
    std::condition_variable done_cv;
    std::size_t running = 0;  // loops not yet returned
    std::thread thread;
    bool stopped = false;

    explicit Impl(Store& store) : outbox(store) {}

    template <typename Notifier>
    void spawn(Notifier& n) {
        {
            std::lock_guard lock(mu);
            ++running;
        }
        asio::co_spawn(io, n.run(), [this, name = names.back()](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("alert notifier stopped on an error",
                               {{"notifier", name}, {"error", ex.what()}});
                }
            }
            std::lock_guard lock(mu);
            --running;
            done_cv.notify_all();
        });
    }
};

NotifierSet::NotifierSet(Store& store, const NotifierConfig& config, FiringSource firing)
    : impl_(std::make_unique<Impl>(store)) {
    auto& im = *impl_;
    for (const auto& o : config.alertmanagers) {
        im.names.push_back(o.name);
        im.alertmanagers.push_back(
            std::make_unique<AlertmanagerNotifier>(im.io.get_executor(), im.outbox, o, firing));
        im.spawn(*im.alertmanagers.back());
    }
    for (const auto& o : config.webhooks) {
        im.names.push_back(o.name);
        im.webhooks.push_back(
            std::make_unique<WebhookNotifier>(im.io.get_executor(), im.outbox, o));
        im.spawn(*im.webhooks.back());
    }
    if (im.names.empty()) return;
    im.thread = std::thread([&im] {
        for (;;) {
            try {
                im.io.run();
                return;
            } catch (const std::exception& e) {
                log::error("alert notifiers: a handler failed", {{"error", e.what()}});
            }
        }
    });
}

NotifierSet::~NotifierSet() { stop(); }

std::size_t NotifierSet::size() const noexcept { return impl_->names.size(); }

void NotifierSet::notify(const Notification& n) {
    auto& im = *impl_;
    const auto now = now_ms();
    for (const auto& name : im.names) im.outbox.enqueue(name, n, now);
    wake();
}

void NotifierSet::queue(sqlite::Database& db, const Notification& n, TimePoint now) const {
    for (const auto& name : impl_->names) Outbox::enqueue(db, name, n, now);
}

void NotifierSet::wake() {
    for (auto& a : impl_->alertmanagers) a->wake();
    for (auto& w : impl_->webhooks) w->wake();
}

void NotifierSet::stop() {
    auto& im = *impl_;
    if (im.stopped) return;
    im.stopped = true;
    if (!im.thread.joinable()) return;
    for (auto& a : im.alertmanagers) a->stop();
    for (auto& w : im.webhooks) w->stop();
    {
        // A loop inside a request returns by the request's deadline: wait for that, since a
        // loop must outlive its coroutine (the io_context is destroyed after the notifiers).
        Duration longest = std::chrono::seconds(0);
        for (const auto& a : im.alertmanagers) longest = std::max(longest, a->options().timeout);
        for (const auto& w : im.webhooks) longest = std::max(longest, w->options().timeout);
        std::unique_lock lock(im.mu);
        if (!im.done_cv.wait_for(lock, longest + std::chrono::seconds(5),
                                 [&] { return im.running == 0; })) {
            log::error("alert notifiers did not stop in time", {{"running", im.running}});
        }
    }
    im.work.reset();
    im.io.stop();
    im.thread.join();
}

}  // namespace hashwatt::collector::alerts
