#include "agent/config.hpp"

#include "agent/detect/scan.hpp"
#include "common/config.hpp"
#include "common/tls.hpp"

#include <charconv>
#include <stdexcept>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>

namespace hashwatt::agent {

namespace {

std::uint16_t to_port(std::string_view digits, std::string_view whole) {
    unsigned v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() || v == 0 ||
        v > 65535) {
        throw std::invalid_argument("bad port '" + std::string(digits) + "' in '" +
                                    std::string(whole) + "'");
    }
    return static_cast<std::uint16_t>(v);
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "agent";
    return buf;
}

std::optional<Credentials> read_credentials(const config::Table& t) {
    auto user = t.string("username");
    auto password = t.secret_file("password_file");
    if (user && !password) t.fail("username", "needs password_file (the password is never inline)");
    if (!password) return std::nullopt;
    return Credentials{user.value_or(""), std::move(*password)};
}

std::uint16_t read_port(const config::Table& t, std::string_view key, std::uint16_t fallback) {
    return static_cast<std::uint16_t>(t.integer(key, 1, 65535).value_or(fallback));
}

std::string read_driver(const config::Table& t) {
    auto d = t.string("driver");
    if (!d || *d == "auto") return "auto";
    if (!find_driver(*d)) {
        std::string names = "auto";
        for (const auto* drv : all_drivers()) names += ", " + std::string(drv->name());
        t.fail("driver", "unknown driver '" + *d + "' (one of: " + names + ")");
    }
    return *d;
}

UplinkConfig read_uplink(const config::Table& u) {
    UplinkConfig c;
    c.url = u.required_string("url");
    try {
        parse_collector_url(c.url, c);
    } catch (const std::invalid_argument& e) {
        u.fail("url", e.what());
    }
    if (auto ca = u.path_value("ca_file")) {
        if (!c.tls) u.fail("ca_file", "only used with an https:// url");
        c.ca_file = *ca;
        try {
            tls::make_client_context(c.ca_file);  // a bad bundle is a config error, here
        } catch (const std::exception& e) {
            u.fail("ca_file", e.what());
        }
    }
    const bool inline_token = u.has("token");
    const bool token_file = u.has("token_file");
    if (inline_token && token_file)
        u.fail("token_file", "give either token or token_file, not both");
    if (!inline_token && !token_file)
        u.fail("token", "needs token or token_file (the agent's bearer token)");
    std::string token = inline_token ? *u.string("token") : *u.secret_file("token_file");
    const auto first = token.find_first_not_of(" \t\r\n");
    token.erase(0, first == std::string::npos ? token.size() : first);
    token.erase(token.find_last_not_of(" \t\r\n") + 1);
    if (token.empty()) u.fail(inline_token ? "token" : "token_file", "the token is empty");
    c.token = std::move(token);
    c.batch_max_samples =
        static_cast<std::size_t>(u.integer("batch_max_samples", 1, 100000)
                                     .value_or(static_cast<std::int64_t>(c.batch_max_samples)));
    c.batch_max_age =
        u.duration("batch_max_age", std::chrono::milliseconds(10), std::chrono::hours(1))
            .value_or(c.batch_max_age);
    c.spool_dir = u.path_value("spool_dir").value_or(c.spool_dir);
    // A batch of batch_max_samples must fit: about 2 KiB a sample leaves room for big rigs.
    c.spool_max_bytes = u.size("spool_max_bytes", std::uint64_t{1} << 20, std::uint64_t{1} << 40)
                            .value_or(c.spool_max_bytes);
    c.spool_max_batches =
        static_cast<std::size_t>(u.integer("spool_max_batches", 1, 100000000)
                                     .value_or(static_cast<std::int64_t>(c.spool_max_batches)));
    c.retry_min = u.duration("retry_min", std::chrono::milliseconds(10), std::chrono::hours(1))
                      .value_or(c.retry_min);
    c.retry_max = u.duration("retry_max", std::chrono::milliseconds(10), std::chrono::hours(24))
                      .value_or(c.retry_max);
    if (c.retry_max < c.retry_min) {
        u.fail("retry_max", "is shorter than retry_min (" + format_duration(c.retry_min) + ")");
    }
    c.request_timeout =
        u.duration("request_timeout", std::chrono::milliseconds(100), std::chrono::minutes(10))
            .value_or(c.request_timeout);
    c.shutdown_timeout = u.duration("shutdown_timeout", Duration::zero(), std::chrono::minutes(10))
                             .value_or(c.shutdown_timeout);
    return c;
}

// The keys of [agent] (standalone) or of one collector.toml [[agent]] (embedded).
void read_settings(const config::Table& a, AgentConfig& c) {
    c.agent_id = a.string("id").value_or("");
    c.site = a.string("site").value_or(c.site);
    if (c.site.empty()) a.fail("site", "must not be empty");
    c.interval = a.duration("interval", std::chrono::seconds(1), std::chrono::hours(24))
                     .value_or(c.interval);
    c.jitter = a.number("jitter", 0.0, 0.5).value_or(c.jitter);
    c.concurrency = static_cast<std::size_t>(a.integer("concurrency", 1, 65536).value_or(512));
    c.poll_timeout =
        a.duration("poll_timeout", std::chrono::milliseconds(100), std::chrono::minutes(5))
            .value_or(c.poll_timeout);
    c.connect_timeout =
        a.duration("connect_timeout", std::chrono::milliseconds(50), std::chrono::minutes(1))
            .value_or(c.connect_timeout);
    if (c.connect_timeout > c.poll_timeout) {
        a.fail("connect_timeout", "is longer than poll_timeout (" +
                                      format_duration(c.poll_timeout) +
                                      "), which bounds the whole poll");
    }
    if (c.poll_timeout >= c.interval) {
        a.fail("poll_timeout",
               "must be shorter than interval (" + format_duration(c.interval) + ")");
    }
    c.max_reply_bytes = static_cast<std::size_t>(
        a.size("max_reply_size", 4096, std::uint64_t{64} << 20).value_or(c.max_reply_bytes));
    c.max_backoff =
        a.duration("max_backoff", Duration::zero(), std::chrono::hours(24)).value_or(c.max_backoff);
    c.scan_concurrency =
        static_cast<std::size_t>(a.integer("scan_concurrency", 1, 4096).value_or(256));
    c.command_concurrency =
        static_cast<std::size_t>(a.integer("command_concurrency", 1, 4096)
                                     .value_or(static_cast<std::int64_t>(c.command_concurrency)));
}

// [[miner]] and [[scan]] under `t` (the root, or an embedded [[agent]]).
void read_targets(const config::Table& t, AgentConfig& c) {
    for (const auto& m : t.tables("miner")) {
        MinerEntry e;
        const std::string address = m.required_string("host");
        try {
            const auto [host, port] = parse_host_port(address, 4028);
            e.endpoint.host = host;
            e.endpoint.rpc_port = port;
        } catch (const std::invalid_argument& err) {
            m.fail("host", err.what());
        }
        if (m.has("port")) {
            if (address.find(':') != std::string::npos && address.front() != '[' &&
                address.find(':') == address.rfind(':')) {
                m.fail("port", "given twice (host already says :" +
                                   std::to_string(e.endpoint.rpc_port) + ")");
            }
            e.endpoint.rpc_port = read_port(m, "port", 4028);
        }
        e.endpoint.http_port = read_port(m, "http_port", 80);
        e.endpoint.configured_id = m.string("id").value_or("");
        e.endpoint.site = m.string("site").value_or(c.site);
        e.endpoint.credentials = read_credentials(m);
        e.driver = read_driver(m);
        for (const auto& earlier : c.miners) {
            if (earlier.endpoint.host == e.endpoint.host &&
                earlier.endpoint.rpc_port == e.endpoint.rpc_port) {
                m.fail("host", "this miner is already listed (" + e.endpoint.host + ":" +
                                   std::to_string(e.endpoint.rpc_port) + ")");
            }
            if (!e.endpoint.configured_id.empty() &&
                earlier.endpoint.configured_id == e.endpoint.configured_id) {
                m.fail("id", "id '" + e.endpoint.configured_id + "' is used twice");
            }
        }
        c.miners.push_back(std::move(e));
    }

    for (const auto& s : t.tables("scan")) {
        ScanEntry e;
        auto ranges = s.string_array("ranges");
        if (!ranges || ranges->empty()) s.fail("ranges", "needs at least one CIDR range");
        for (const auto& r : *ranges) {
            try {
                (void)expand_cidr(r, 65536);
            } catch (const std::invalid_argument& err) {
                s.fail("ranges", err.what());
            }
        }
        e.ranges = std::move(*ranges);
        e.rpc_port = read_port(s, "port", 4028);
        e.http_port = read_port(s, "http_port", 80);
        e.site = s.string("site").value_or(c.site);
        e.credentials = read_credentials(s);
        e.rescan = s.duration("rescan", std::chrono::seconds(10), std::chrono::hours(24 * 7))
                       .value_or(e.rescan);
        c.scans.push_back(std::move(e));
    }
    if (c.miners.empty() && c.scans.empty()) {
        t.fail("miner", "nothing to poll: add [[miner]] entries or [[scan]] ranges");
    }
}

AgentConfig read(const config::Document& doc) {
    AgentConfig c;
    const config::Table root = doc.root();
    if (auto a = root.table("agent")) read_settings(*a, c);
    if (c.agent_id.empty()) c.agent_id = host_name();
    if (auto u = root.table("uplink")) c.uplink = read_uplink(*u);
    if (auto m = root.table("metrics")) {
        const auto listen = m->string("listen");
        if (!listen) m->fail("listen", "missing: the IP:PORT to serve /metrics on");
        try {
            c.metrics = parse_listen_address(*listen);
        } catch (const std::invalid_argument& e) {
            m->fail("listen", e.what());
        }
    }
    read_targets(root, c);
    doc.finish();
    return c;
}

}  // namespace

std::pair<std::string, std::uint16_t> parse_host_port(std::string_view text,
                                                      std::uint16_t default_port) {
    std::string_view host = text;
    std::uint16_t port = default_port;
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos) {
            throw std::invalid_argument("unclosed '[' in '" + std::string(text) + "'");
        }
        if (close + 1 < host.size()) {
            if (host[close + 1] != ':') {
                throw std::invalid_argument("expected ]:PORT in '" + std::string(text) + "'");
            }
            port = to_port(host.substr(close + 2), text);
        }
        host = host.substr(1, close - 1);
    } else if (const auto colon = host.find(':');
               colon != std::string_view::npos && host.find(':', colon + 1) == host.npos) {
        port = to_port(host.substr(colon + 1), text);
        host = host.substr(0, colon);
    }
    if (host.empty()) throw std::invalid_argument("no host in '" + std::string(text) + "'");
    return {std::string(host), port};
}

MetricsListen parse_listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    const auto bad = [&](const std::string& why) {
        return std::invalid_argument("expected IP:PORT (" + why + "), got '" + std::string(text) +
                                     "'");
    };
    if (colon == std::string_view::npos) throw bad("no port");
    std::string_view host = text.substr(0, colon);
    const std::string_view digits = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        throw bad("an IPv6 address goes in brackets: [::1]:9468");
    }
    unsigned port = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() ||
        port > 65535) {
        throw bad("the port is 0..65535");
    }
    // Only an address can be bound; a name would need a lookup at every start.
    boost::system::error_code ec;
    boost::asio::ip::make_address(std::string(host), ec);
    if (host.empty() || ec) throw bad("'" + std::string(host) + "' is not an IP address");
    return MetricsListen{std::string(host), static_cast<std::uint16_t>(port)};
}

void parse_collector_url(std::string_view url, UplinkConfig& c) {
    constexpr std::string_view http = "http://";
    constexpr std::string_view https = "https://";
    const bool tls = url.starts_with(https);
    if (!tls && !url.starts_with(http)) {
        throw std::invalid_argument("expected http[s]://HOST[:PORT], got '" + std::string(url) +
                                    "'");
    }
    std::string_view rest = url.substr(tls ? https.size() : http.size());
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (path.find_first_of("?#") != std::string_view::npos) {
        throw std::invalid_argument("no query or fragment allowed in '" + std::string(url) + "'");
    }
    if (authority.find('@') != std::string_view::npos) {
        throw std::invalid_argument(
            "credentials do not belong in the URL; use token or token_file");
    }
    const auto [host, port] = parse_host_port(authority, tls ? 443 : 80);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    c.tls = tls;
    c.host = host;
    c.port = port;
    c.base_path = std::string(path);
}

AgentConfig load_agent_config(const std::string& path) {
    return read(config::Document::load_file(path));
}

AgentConfig parse_agent_config(std::string_view text, const std::string& source_name) {
    return read(config::Document::parse(text, source_name));
}

AgentConfig read_embedded_agent_config(const config::Table& t) {
    AgentConfig c;
    read_settings(t, c);
    if (c.agent_id.empty()) t.fail("id", "missing: an embedded agent needs an id");
    // The collector supplies the address and token; where the batches wait is the agent's.
    UplinkConfig up;
    if (auto dir = t.path_value("spool_dir"))
        up.spool_dir = *dir;
    else
        up.spool_dir.clear();
    c.uplink = up;
    read_targets(t, c);
    return c;
}

}  // namespace hashwatt::agent
