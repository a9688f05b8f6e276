// Where alert notifications go: the [[alerts.alertmanager]] and [[alerts.webhook]] tables of
// the collector config (docs/alerts.md, "Notifiers"), and the HTTP endpoint and POST the
// notifiers share.
#pragma once

#include "common/units.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace hashwatt::config {
class Table;
}

namespace hashwatt::collector::alerts {

// An http:// URL taken apart for the HTTP client. TLS is left to a local proxy (the client
// speaks plain HTTP), so https:// is refused with a message that says so.
struct HttpEndpoint {
    std::string url;   // as configured
    std::string host;  // IP literal or name
    std::uint16_t port = 80;
    std::string target;  // path and query, "/" when the URL has none
};
// Throws std::invalid_argument saying what is wrong with `url`.
HttpEndpoint parse_http_endpoint(std::string_view url);

struct AlertmanagerOptions {
    std::string name = "alertmanager";  // the outbox queue; unique among notifiers
    HttpEndpoint endpoint;  // the Alertmanager's base URL; alerts go to <target>/api/v2/alerts
    // How often the firing alerts are sent again. Each carries endsAt = now + 4 x this, so
    // Alertmanager resolves them by itself if the collector goes away, and not before.
    Duration resend_interval{std::chrono::minutes(1)};
    Duration timeout{std::chrono::seconds(10)};  // per request, connect to last reply byte
    Duration retry_min{std::chrono::seconds(1)};
    Duration retry_max{std::chrono::minutes(5)};
    std::size_t batch_size = 100;  // alerts per POST
    std::size_t max_reply_bytes = 64 * 1024;
};

struct WebhookOptions {
    std::string name;  // the outbox queue and the body's "notifier"; unique among notifiers
    HttpEndpoint endpoint;
    std::string bearer_token;                                  // empty: no Authorization header
    std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
    Duration timeout{std::chrono::seconds(10)};
    Duration retry_min{std::chrono::seconds(1)};
    Duration retry_max{std::chrono::minutes(5)};
    std::size_t max_reply_bytes = 64 * 1024;
};

struct NotifierConfig {
    std::vector<AlertmanagerOptions> alertmanagers;
    std::vector<WebhookOptions> webhooks;
};

// Reads the `alertmanager` and `webhook` arrays of tables from `alerts` (the [alerts] table of
// the collector config, as collector_config.cpp reads its sections). Throws
// config::ConfigError naming the key ("alerts.webhook[1].url: ...") on a bad value; keys it
// does not know are left for Document::finish to reject.
NotifierConfig read_notifier_config(const config::Table& alerts);
// The same from TOML text holding an [alerts] table (tests, tools); unknown keys are errors.
NotifierConfig parse_notifier_config(std::string_view toml_text, std::string source_name);

struct PostResult {
    bool ok = false;      // a 2xx reply
    unsigned status = 0;  // 0 when no reply came
    std::string error;    // why not ok, for logs and alert_outbox.last_error
};

// One POST of a JSON body to `target` on `ep`, all of it (connect, send, reply) within
// `timeout`, the reply read up to `max_reply_bytes`. Never throws for network failures. The
// arguments are references: co_await the call at once (see agent/transport/transport.hpp).
boost::asio::awaitable<PostResult> post_json(
    boost::asio::any_io_executor ex, const HttpEndpoint& ep, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
    Duration timeout, std::size_t max_reply_bytes);

}  // namespace hashwatt::collector::alerts
