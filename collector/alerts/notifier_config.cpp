#include "collector/alerts/notifier_config.hpp"

#include "agent/transport/transport.hpp"
#include "common/config.hpp"

#include <set>
#include <stdexcept>

#include <boost/url/parse.hpp>

namespace hashwatt::collector::alerts {

namespace {

bool header_safe(std::string_view s) {
    for (const char c : s) {
        if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
}

HttpEndpoint read_endpoint(const config::Table& t) {
    const auto url = t.required_string("url");
    try {
        return parse_http_endpoint(url);
    } catch (const std::invalid_argument& e) {
        t.fail("url", e.what());
    }
}

void read_retry(const config::Table& t, Duration& timeout, Duration& retry_min,
                Duration& retry_max) {
    timeout = t.duration("timeout", std::chrono::milliseconds(100), std::chrono::minutes(5))
                  .value_or(timeout);
    retry_min = t.duration("retry_min", std::chrono::milliseconds(10), std::chrono::hours(1))
                    .value_or(retry_min);
    retry_max = t.duration("retry_max", std::chrono::milliseconds(10), std::chrono::hours(24))
                    .value_or(retry_max);
    if (retry_max < retry_min) {
        t.fail(t.has("retry_max") ? "retry_max" : "retry_min",
               "retry_max (" + format_duration(retry_max) + ") is below retry_min (" +
                   format_duration(retry_min) + ")");
    }
}

void claim_name(const config::Table& t, std::set<std::string>& names, const std::string& name) {
    if (name.empty()) t.fail("name", "empty");
    if (!names.insert(name).second) {
        t.fail("name", "'" + name + "' names another notifier already (names must be unique)");
    }
}

}  // namespace

HttpEndpoint parse_http_endpoint(std::string_view url) {
    const auto r = boost::urls::parse_absolute_uri(url);
    if (!r) throw std::invalid_argument("not an absolute URL: '" + std::string(url) + "'");
    const auto& u = *r;
    if (u.scheme() == "https") {
        throw std::invalid_argument(
            "https is not supported (plain http only; put a local TLS "
            "proxy in front): '" +
            std::string(url) + "'");
    }
    if (u.scheme() != "http") {
        throw std::invalid_argument("expected an http:// URL, got '" + std::string(url) + "'");
    }
    if (u.has_userinfo()) {
        throw std::invalid_argument("credentials in the URL are not supported (use token_file): '" +
                                    std::string(url) + "'");
    }
    HttpEndpoint ep;
    ep.url = std::string(url);
    ep.host = std::string(u.encoded_host_address());
    if (ep.host.size() >= 2 && ep.host.front() == '[')
        ep.host = ep.host.substr(1, ep.host.size() - 2);
    if (ep.host.empty()) throw std::invalid_argument("no host in '" + std::string(url) + "'");
    if (u.has_port()) {
        if (u.port_number() == 0) {
            throw std::invalid_argument("bad port in '" + std::string(url) + "'");
        }
        ep.port = u.port_number();
    }
    ep.target = std::string(u.encoded_path());
    if (ep.target.empty()) ep.target = "/";
    if (u.has_query()) ep.target += "?" + std::string(u.encoded_query());
    return ep;
}

NotifierConfig read_notifier_config(const config::Table& alerts) {
    NotifierConfig c;
    std::set<std::string> names;
    const auto ams = alerts.tables("alertmanager");
    for (std::size_t i = 0; i < ams.size(); ++i) {
        const auto& t = ams[i];
        AlertmanagerOptions o;
        o.name = t.string("name").value_or(i == 0 ? "alertmanager"
                                                  : "alertmanager" + std::to_string(i + 1));
        claim_name(t, names, o.name);
        o.endpoint = read_endpoint(t);
        o.resend_interval =
            t.duration("resend_interval", std::chrono::seconds(1), std::chrono::hours(1))
                .value_or(o.resend_interval);
        read_retry(t, o.timeout, o.retry_min, o.retry_max);
        c.alertmanagers.push_back(std::move(o));
    }
    for (const auto& t : alerts.tables("webhook")) {
        WebhookOptions o;
        o.name = t.required_string("name");
        claim_name(t, names, o.name);
        o.endpoint = read_endpoint(t);
        if (auto token = t.secret_file("token_file")) {
            if (token->empty()) t.fail("token_file", "the file is empty");
            if (!header_safe(*token)) t.fail("token_file", "the token holds a line break");
            o.bearer_token = std::move(*token);
        }
        if (auto h = t.table("headers")) {
            for (const auto& k : h->keys()) {
                const auto v = h->required_string(k);
                if (k.empty() || !header_safe(k) || k.find_first_of(" :") != std::string::npos) {
                    h->fail(k, "not a valid header name");
                }
                if (!header_safe(v)) h->fail(k, "the value holds a line break");
                o.headers.emplace_back(k, v);
            }
        }
        read_retry(t, o.timeout, o.retry_min, o.retry_max);
        c.webhooks.push_back(std::move(o));
    }
    return c;
}

NotifierConfig parse_notifier_config(std::string_view toml_text, std::string source_name) {
    const auto doc = config::Document::parse(toml_text, std::move(source_name));
    NotifierConfig c;
    if (const auto alerts = doc.root().table("alerts")) c = read_notifier_config(*alerts);
    doc.finish();
    return c;
}

boost::asio::awaitable<PostResult> post_json(
    boost::asio::any_io_executor ex, const HttpEndpoint& ep, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
    Duration timeout, std::size_t max_reply_bytes) {
    agent::HttpRequestSpec req;
    req.method = "POST";
    req.target = target;
    req.body = body;
    req.headers = headers;
    agent::TransportOptions opts;
    opts.connect_timeout = timeout;
    opts.reply_timeout = timeout;
    opts.max_reply_bytes = max_reply_bytes;
    opts.deadline = std::chrono::steady_clock::now() + timeout;
    const agent::HttpAuth no_auth;  // a bearer token, if any, is among `headers`
    const auto r = co_await agent::http_request(ex, ep.host, ep.port, req, no_auth, opts);
    PostResult out;
    out.status = r.status;
    if (r.error) {
        out.error = std::string(to_string(r.error->reason)) + ": " + r.error->detail;
    } else if (r.status < 200 || r.status > 299) {
        out.error = "HTTP " + std::to_string(r.status);
        if (!r.body.empty()) out.error += ": " + r.body.substr(0, 200);
    } else {
        out.ok = true;
    }
    co_return out;
}

}  // namespace hashwatt::collector::alerts
