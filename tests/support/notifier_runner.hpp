// Runs a notifier's delivery loop (AlertmanagerNotifier, WebhookNotifier) on an io_context in
// a thread of its own, and ends it on destruction: stop(), then the thread is joined once the
// loop has returned (or, past 5 s, after the io_context is stopped).
#pragma once

#include "tests/support/process.hpp"

#include <atomic>
#include <exception>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace hashwatt::test {

template <typename Notifier>
class NotifierRunner {
  public:
    template <typename... Args>
    explicit NotifierRunner(Args&&... args)
        : notifier_(io_.get_executor(), std::forward<Args>(args)...) {
        boost::asio::co_spawn(io_, notifier_.run(), [this](std::exception_ptr e) {
            error_ = e;
            done_ = true;
        });
        thread_ = std::thread([this] { io_.run(); });
    }
    ~NotifierRunner() {
        notifier_.stop();
        wait_until([this] { return done_.load(); }, std::chrono::seconds(5));
        io_.stop();
        thread_.join();
    }
    NotifierRunner(const NotifierRunner&) = delete;
    NotifierRunner& operator=(const NotifierRunner&) = delete;

    Notifier& operator*() noexcept { return notifier_; }
    Notifier* operator->() noexcept { return &notifier_; }
    bool failed() const noexcept { return done_ && error_; }

  private:
    boost::asio::io_context io_;
    Notifier notifier_;
    std::atomic<bool> done_{false};
    std::exception_ptr error_;
    std::thread thread_;
};

}  // namespace hashwatt::test
