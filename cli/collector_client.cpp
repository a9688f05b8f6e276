#include "cli/collector_client.hpp"

#include "agent/transport/transport.hpp"
#include "common/config.hpp"
#include "common/tls.hpp"

#include <filesystem>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

namespace hashwatt::cli {

namespace {

constexpr std::size_t kMaxTokenBytes = 4096;

struct Base {
    std::string host;
    std::uint16_t port = 80;
    std::string path;  // without a trailing '/'
    bool tls = false;
};

Base parse_base(const std::string& url) {
    const auto bad = [&](const std::string& why) {
        return CollectorUsageError{"--collector " + url + ": " + why +
                                   " (expected http[s]://HOST[:PORT][/PATH])"};
    };
    auto u = boost::urls::parse_uri(url);
    if (!u) throw bad("not a URL");
    if (u->scheme() != "http" && u->scheme() != "https") throw bad("only http and https");
    if (u->has_userinfo()) throw bad("credentials do not belong in the URL; use --token-file");
    if (u->has_query() || u->has_fragment()) throw bad("no query or fragment");
    Base b;
    b.tls = u->scheme() == "https";
    if (b.tls) b.port = 443;
    b.host = u->host_address();
    if (b.host.empty()) throw bad("no host");
    if (u->has_port()) {
        if (u->port_number() == 0) throw bad("bad port");
        b.port = u->port_number();
    }
    b.path = u->encoded_path();
    while (!b.path.empty() && b.path.back() == '/') b.path.pop_back();
    return b;
}

// The same checks as every secret file of the configs (common/config.hpp, read_secret_file): a
// token file that group or others may read is refused, so an admin token left world-readable
// is found at the first command, not after somebody else has used it.
std::string read_token(const std::string& file) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        throw CollectorUsageError{"--token-file " + file + ": cannot be read (no such file)"};
    }
    if (const auto size = std::filesystem::file_size(file, ec); !ec && size > kMaxTokenBytes) {
        throw CollectorUsageError{"--token-file " + file + ": longer than 4096 bytes"};
    }
    std::string token;
    try {
        token = config::read_secret_file(file);
    } catch (const std::exception& e) {
        throw CollectorUsageError{"--token-file: " + std::string(e.what())};
    }
    const auto first = token.find_first_not_of(" \t\r\n");
    token.erase(0, first == std::string::npos ? token.size() : first);
    if (token.empty()) throw CollectorUsageError{"--token-file " + file + ": the token is empty"};
    return token;
}

}  // namespace

void add_collector_args(CLI::App& cmd, CollectorArgs& args) {
    cmd.add_option("--collector", args.url,
                   "The collector's API, http[s]://HOST[:PORT] (default http://127.0.0.1:8480)");
    cmd.add_option("--ca-file", args.ca_file,
                   "https: a PEM CA bundle to verify the collector's certificate with (default: "
                   "the system store)");
    cmd.add_option("--token-file", args.token_file,
                   "A file holding a bearer token (read for queries, admin for changes)");
}

std::string CollectorReply::error() const {
    boost::system::error_code ec;
    const auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* e = v.as_object().if_contains("error"); e && e->is_string()) {
            return std::string(e->as_string());
        }
    }
    std::string line = body.substr(0, body.find('\n'));
    if (line.size() > 200) line = line.substr(0, 200) + "...";
    return line.empty() ? "HTTP " + std::to_string(status) : line;
}

CollectorReply collector_request(const CollectorArgs& args, const std::string& method,
                                 const std::string& target, const std::string& body) {
    const Base base = parse_base(args.url);
    agent::HttpAuth auth;
    if (!args.token_file.empty()) {
        auth.kind = agent::HttpAuth::Kind::bearer;
        auth.token = read_token(args.token_file);
    }
    agent::HttpRequestSpec spec;
    spec.method = method;
    spec.target = base.path + target;
    spec.body = body;
    agent::TransportOptions opts;
    opts.connect_timeout = std::chrono::seconds(5);
    opts.reply_timeout = std::chrono::seconds(30);
    opts.max_reply_bytes = 16 * 1024 * 1024;
    opts.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(35);
    if (base.tls) {
        try {
            opts.tls = tls::make_client_context(args.ca_file);
        } catch (const std::exception& e) {
            throw CollectorUsageError{std::string("--ca-file: ") + e.what()};
        }
    } else if (!args.ca_file.empty()) {
        throw CollectorUsageError{"--ca-file is only used with an https:// --collector"};
    }

    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(
        io, agent::http_request(io.get_executor(), base.host, base.port, spec, auth, opts),
        boost::asio::use_future);
    io.run();
    const agent::HttpResult r = fut.get();
    CollectorReply out;
    if (r.error) {
        out.failure =
            "cannot reach the collector at " + args.url + ": " +
            (r.error->detail.empty() ? std::string(to_string(r.error->reason)) : r.error->detail);
        return out;
    }
    out.status = r.status;
    out.body = r.body;
    return out;
}

std::string path_segment(const std::string& s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~' || c == ':';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace hashwatt::cli
