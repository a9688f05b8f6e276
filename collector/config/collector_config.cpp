#include "collector/config/collector_config.hpp"

#include "common/config.hpp"
#include "common/tls.hpp"

#include <charconv>
#include <fstream>
#include <iterator>
#include <optional>

namespace hashwatt::collector {

namespace {

// "IP:PORT" or "[IPv6]:PORT"; the port may be 0 (any free port, logged at start).
void read_listen(const config::Table& t, ApiOptions& api) {
    const auto text = t.string("listen");
    if (!text) return;
    std::string_view s = *text;
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) t.fail("listen", "expected IP:PORT, got '" + *text + "'");
    std::string_view host = s.substr(0, colon);
    const std::string_view digits = s.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned port = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (host.empty() || digits.empty() || r.ec != std::errc() ||
        r.ptr != digits.data() + digits.size() || port > 65535) {
        t.fail("listen", "expected IP:PORT, got '" + *text + "'");
    }
    api.address = std::string(host);
    api.port = static_cast<std::uint16_t>(port);
}

// [api] tls_cert_file and tls_key_file: both or neither. The key is read like every other
// secret (permissions checked, systemd credentials honoured); the pair is tried at load so
// that a wrong file is reported here, with its place in the config, not at the first client.
void read_tls(const config::Table& t, ApiOptions& api) {
    const bool cert = t.has("tls_cert_file");
    const bool key = t.has("tls_key_file");
    if (!cert && !key) return;
    if (!cert) t.fail("tls_key_file", "needs tls_cert_file too (both or neither)");
    if (!key) t.fail("tls_cert_file", "needs tls_key_file too (both or neither)");
    ApiOptions::Tls tls;
    tls.cert_file = *t.path_value("tls_cert_file");
    {
        constexpr std::size_t kMaxCertBytes = 1 << 20;
        std::ifstream in(tls.cert_file, std::ios::binary);
        if (!in) t.fail("tls_cert_file", "cannot read '" + tls.cert_file + "'");
        tls.cert_chain_pem.assign(std::istreambuf_iterator<char>(in), {});
        if (tls.cert_chain_pem.size() > kMaxCertBytes) {
            t.fail("tls_cert_file", "'" + tls.cert_file + "' is larger than 1 MiB");
        }
    }
    tls.key_pem = *t.secret_file("tls_key_file");
    try {
        tls::make_server_context(tls.cert_chain_pem, tls.key_pem, tls.cert_file);
    } catch (const std::exception& e) {
        t.fail("tls_cert_file", e.what());
    }
    api.tls = std::move(tls);
}

// A horizon: a duration, or "forever".
std::optional<std::chrono::milliseconds> read_horizon(
    const config::Table& t, std::string_view key, std::optional<std::chrono::milliseconds> dflt) {
    const auto text = t.string(key);
    if (!text) return dflt;
    if (*text == "forever") return std::nullopt;
    return t.duration(key, std::chrono::hours(1), std::chrono::days(365 * 100));
}

void read_tokens(const config::Table& root, ApiOptions& api) {
    for (const auto& t : root.tables("token")) {
        Token tok;
        const auto role_name = t.choice("role", {"agent", "read", "admin"});
        if (!role_name) t.fail("role", "missing (one of: agent, read, admin)");
        tok.role = *parse_role(*role_name);
        const auto agent_id = t.string("agent_id");
        if (tok.role == Role::agent) {
            if (!agent_id || agent_id->empty()) {
                t.fail("agent_id", "missing: an agent token is issued to one agent_id");
            }
            tok.agent_id = *agent_id;
        } else if (agent_id) {
            t.fail("agent_id", "only agent tokens name an agent_id");
        }
        if (const auto site = t.string("site")) {
            if (tok.role != Role::agent) t.fail("site", "only agent tokens name a site");
            if (site->empty()) t.fail("site", "empty: leave the key out to allow any site");
            tok.site = *site;
        }
        const bool inline_secret = t.has("secret");
        const bool file_secret = t.has("secret_file");
        if (inline_secret == file_secret) {
            t.fail(inline_secret ? "secret_file" : "secret",
                   "give exactly one of secret and secret_file");
        }
        const std::string key = inline_secret ? "secret" : "secret_file";
        tok.secret = inline_secret ? *t.string("secret") : *t.secret_file("secret_file");
        if (tok.secret.size() < kMinTokenLength) {
            t.fail(key, "token too short (" + std::to_string(tok.secret.size()) +
                            " characters; at least " + std::to_string(kMinTokenLength) + ")");
        }
        for (const char c : tok.secret) {
            if (c <= ' ' || c == 0x7f) {
                t.fail(key, "token contains whitespace or a control character");
            }
        }
        for (const auto& earlier : api.tokens) {
            if (earlier.secret == tok.secret) t.fail(key, "the same token is given twice");
        }
        api.tokens.push_back(std::move(tok));
    }
}

std::string where(const config::Location& l) {
    return l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.column);
}

// [alerts] file = "alerts.toml": the keys of [alerts] from a file of their own, so that the
// alert rules and notifiers can be kept (and reviewed, and shipped) apart from the rest. Each
// key comes from one of the two places; errors in the file name the file.
void read_alerts_file(const config::Table& a, const std::string& path, CollectorConfig& c) {
    std::optional<config::Document> doc;
    try {
        doc = config::Document::load_file(path);
    } catch (const config::ConfigError& e) {
        if (e.where().line != 0) throw;  // a syntax error, with its place in the file
        // Unreadable: said at the key that names it.
        const std::string what = e.what();
        const auto at = what.find("cannot open");
        a.fail("file", at == std::string::npos
                           ? what
                           : "cannot open " + e.where().file + what.substr(at + 11));
    }
    const config::Table inc = doc->root();
    if (inc.has("alerts")) {
        inc.fail("alerts",
                 "this file holds what goes under [alerts], at its top level: drop the [alerts] "
                 "header and write [[rule]], [[alertmanager]], [[webhook]]");
    }
    if (inc.has("file")) inc.fail("file", "an alerts file cannot name another");
    for (const auto& k : inc.keys()) {
        if (a.has(k)) {
            inc.fail(k, "also set in " + where(a.location(k)) + " (alerts." + k +
                            "); set it in one place");
        }
    }
    // Each key is in one table only (checked above), so reading both and taking every key
    // from the table that has it loses nothing.
    const bool rules_in_file = inc.has("rule");
    const config::Table& rules_from = rules_in_file ? inc : a;
    const config::Table& rest = rules_in_file ? a : inc;
    c.alerts = alerts::read_alerts_config(rules_from);
    const alerts::AlertsConfig other = alerts::read_alerts_config(rest);
    if (rest.has("enabled")) c.alerts.enabled = other.enabled;
    if (rest.has("interval")) c.alerts.interval = other.interval;

    alerts::NotifierConfig here = alerts::read_notifier_config(a);
    alerts::NotifierConfig there = alerts::read_notifier_config(inc);
    // Names are unique within each table; across them only an Alertmanager of one and a
    // webhook of the other can meet.
    const auto clash = [](const alerts::NotifierConfig& ams, const alerts::NotifierConfig& hooks,
                          const config::Table& hooks_table) {
        const auto tables = hooks_table.tables("webhook");
        for (std::size_t i = 0; i < hooks.webhooks.size(); ++i) {
            for (const auto& am : ams.alertmanagers) {
                if (am.name == hooks.webhooks[i].name) {
                    tables[i].fail("name", "'" + am.name +
                                               "' names another notifier already (names must "
                                               "be unique)");
                }
            }
        }
    };
    clash(here, there, inc);
    clash(there, here, a);
    c.notifiers = std::move(here);
    for (auto& am : there.alertmanagers) c.notifiers.alertmanagers.push_back(std::move(am));
    for (auto& w : there.webhooks) c.notifiers.webhooks.push_back(std::move(w));
    doc->finish();  // unknown keys of the file, named with its place
    c.alerts_file = path;
}

}  // namespace

CollectorConfig read_collector_config(const config::Document& doc) {
    CollectorConfig c;
    const config::Table root = doc.root();
    if (auto s = root.table("storage")) {
        c.database_path = s->path_value("path").value_or(c.database_path);
        c.writer.queue_capacity =
            static_cast<std::size_t>(s->integer("queue_batches", 1, 1 << 20).value_or(256));
        c.writer.maintenance_interval =
            s->duration("maintenance_interval", std::chrono::seconds(1), std::chrono::hours(24))
                .value_or(*c.writer.maintenance_interval);
    }
    if (auto r = root.table("retention")) {
        auto& h = c.writer.horizons;
        h.raw = read_horizon(*r, "raw", h.raw);
        h.rollup_5m = read_horizon(*r, "rollup_5m", h.rollup_5m);
        h.rollup_1h = read_horizon(*r, "rollup_1h", h.rollup_1h);
        // Rollups are computed from raw rows: keeping a coarser level for less time than a
        // finer one is almost certainly a typo.
        auto shorter = [](const std::optional<std::chrono::milliseconds>& a,
                          const std::optional<std::chrono::milliseconds>& b) {
            return a && (!b || *a < *b);  // a is shorter than b
        };
        if (shorter(h.rollup_5m, h.raw)) r->fail("rollup_5m", "is kept for less time than raw");
        if (shorter(h.rollup_1h, h.rollup_5m)) {
            r->fail("rollup_1h", "is kept for less time than rollup_5m");
        }
    }
    if (auto a = root.table("api")) {
        read_listen(*a, c.api);
        read_tls(*a, c.api);
        c.api.body_limit_bytes =
            static_cast<std::size_t>(a->size("max_body_size", 4096, std::uint64_t{1} << 30)
                                         .value_or(c.api.body_limit_bytes));
        c.api.header_limit_bytes =
            static_cast<std::size_t>(a->size("max_header_size", 1024, std::uint64_t{1} << 20)
                                         .value_or(c.api.header_limit_bytes));
        c.api.request_timeout =
            a->duration("request_timeout", std::chrono::seconds(1), std::chrono::minutes(10))
                .value_or(c.api.request_timeout);
        c.api.idle_timeout =
            a->duration("idle_timeout", std::chrono::seconds(1), std::chrono::hours(1))
                .value_or(c.api.idle_timeout);
        c.api.metrics_require_token =
            a->boolean("metrics_require_token").value_or(c.api.metrics_require_token);
        auto& lim = c.api.auth_limit;
        lim.max_failures =
            static_cast<std::size_t>(a->integer("auth_max_failures", 0, 1000000)
                                         .value_or(static_cast<std::int64_t>(lim.max_failures)));
        lim.window =
            a->duration("auth_failure_window", std::chrono::seconds(1), std::chrono::days(1))
                .value_or(lim.window);
        lim.lockout = a->duration("auth_lockout", std::chrono::seconds(1), std::chrono::days(1))
                          .value_or(lim.lockout);
        lim.max_clients =
            static_cast<std::size_t>(a->integer("auth_max_clients", 1, 1 << 24)
                                         .value_or(static_cast<std::int64_t>(lim.max_clients)));
    }
    if (auto m = root.table("metrics")) {
        c.metrics.latest.stale_after =
            m->duration("stale_after", std::chrono::minutes(1), std::chrono::days(30))
                .value_or(c.metrics.latest.stale_after);
    }
    if (auto a = root.table("alerts")) {
        if (const auto file = a->path_value("file")) {
            read_alerts_file(*a, *file, c);
        } else {
            c.alerts = alerts::read_alerts_config(*a);
            c.notifiers = alerts::read_notifier_config(*a);
        }
    }
    // [policy] file runs the power policy; its price comes from [prices].
    if (auto p = root.table("policy")) {
        const auto file = p->path_value("file");
        if (!file || file->empty()) p->fail("file", "missing: the policy TOML to run");
        c.control.enabled = true;
        c.control.policy_file = *file;
    }
    if (auto pr = root.table("prices")) {
        c.control.prices = policies::prices::read_price_source(*pr);
        if (!c.control.enabled) pr->fail("kind", "[prices] without [policy] file: nothing uses it");
    } else if (c.control.enabled) {
        root.table("policy")->fail("file", "needs a [prices] table: the policy decides on a price");
    }
    read_tokens(root, c.api);
    return c;
}

namespace {

CollectorConfig read(const config::Document& doc) {
    CollectorConfig c = read_collector_config(doc);
    doc.finish();
    return c;
}

}  // namespace

CollectorConfig load_collector_config(const std::string& path) {
    return read(config::Document::load_file(path));
}

CollectorConfig parse_collector_config(std::string_view text, const std::string& source_name) {
    return read(config::Document::parse(text, source_name));
}

}  // namespace hashwatt::collector
