// An HTTP receiver for notifier tests: a Beast server on 127.0.0.1 in a thread of its own that
// records every request and answers with a status the test sets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hashwatt::test {

struct ReceivedRequest {
    std::string method;
    std::string target;
    std::string authorization;  // the Authorization header, "" if none
    std::string extra_header;   // the X-Test header, "" if none
    std::string body;
    unsigned answered = 0;  // the status it was answered with
};

// A loopback port that was free a moment ago (bound and released).
std::uint16_t free_loopback_port();

class WebhookReceiver {
  public:
    // Listens on host:port (a loopback address; port 0: any free port). Each request is read
    // within 5 s and up to 1 MiB.
    explicit WebhookReceiver(std::uint16_t port = 0, const std::string& host = "127.0.0.1");
    ~WebhookReceiver();  // stops the server thread
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    void set_status(unsigned status) noexcept { status_ = status; }
    std::vector<ReceivedRequest> requests() const;
    std::size_t count() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint16_t port_ = 0;
    std::atomic<unsigned> status_{200};
    friend struct Impl;
};

}  // namespace hashwatt::test
