// Internal to collector/api: what the connection loop hands the route handlers and gets back.
// Kept apart from server.hpp so that Asio and Boost.URL stay out of the public header.
#pragma once

#include "collector/api/server.hpp"
#include "collector/storage/store.hpp"
#include "common/miner_sample.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/url/url_view.hpp>

namespace hashwatt::collector {

namespace alerts {
class AlertEngine;
}
namespace control {
class PolicyControl;
}

struct Reply {
    unsigned status = 200;
    std::string body;  // JSON unless a Content-Type in `headers` says otherwise
    std::vector<std::pair<std::string, std::string>> headers;
};

Reply json_reply(unsigned status, std::string body);
// {"error": message, "path": path}; path only when known.
Reply json_error(unsigned status, std::string_view message, std::string_view path = {});

// A query parameter or body field a route refuses: answered 400 with `name` as the path.
struct BadParam {
    std::string name;
    std::string why;
};
// The `limit` query parameter of the list routes: an integer 1..1000, else BadParam.
std::size_t parse_limit(std::string_view value);

// The decode step of POST /api/v1/ingest, pure: `body` parsed and checked strictly (the batch,
// with each sample's raw text as views into `body`), or the 400 answer naming the field.
std::variant<IngestBatch, Reply> decode_ingest(std::string_view body);

// POST /api/v1/ingest for an authenticated caller (role agent or admin). With `metrics`, the
// outcome is counted and, once committed, the samples update its latest state.
boost::asio::awaitable<Reply> handle_ingest(const Token& caller, const std::string& body,
                                            StoreWriter& writer,
                                            CollectorMetrics* metrics = nullptr);

// The route pattern a path belongs to, for metric labels ("/api/v1/miners/{id}"); "unmatched"
// for a path no route serves. Never returns the raw path, so label values stay few.
std::string_view route_pattern(std::string_view path);

// GET routes under /api/v1 for role read or admin; nullopt when no route matches the path.
std::optional<Reply> handle_query(const Store& store, const boost::urls::url_view& target);

// GET /api/v1/alerts and /api/v1/alerts/{fingerprint} (collector/api/alerts.cpp), for role
// read or admin; nullopt when the path is neither.
std::optional<Reply> handle_alerts(const Store& store, const boost::urls::url_view& target);

// True for /api/v1/alerts/{fingerprint}/ack and /api/v1/alerts/{fingerprint}/silence.
bool is_alert_action_route(std::string_view path);

// POST .../ack, POST and DELETE .../silence for an authenticated caller (collector/api/
// alerts.cpp): role admin only; 503 when `engine` is null (alerts disabled). docs/api.md.
Reply handle_alert_action(alerts::AlertEngine* engine, const Token& caller,
                          boost::beast::http::verb method, std::string_view path,
                          const std::string& body);

// True for the power policy's routes: /api/v1/policy, /api/v1/decisions,
// /api/v1/policy/overrides[/{id}] and /api/v1/miners/{id}/explanation.
bool is_policy_route(std::string_view path);

// The policy routes (collector/api/policy.cpp) for an authenticated caller: GET for role read
// or admin, writes (POST and DELETE of overrides) for admin; methods and roles are checked
// here. /api/v1/decisions and the explanation read the store and work without a loop; the
// others answer 503 when `control` is null. docs/api.md, "Power policy".
Reply handle_policy(control::PolicyControl* control, Store& store, const Token& caller,
                    boost::beast::http::verb method, const boost::urls::url_view& url,
                    const std::string& body, TimePoint now);

}  // namespace hashwatt::collector
