// How CLI commands talk to a running collector's API (docs/api.md): `--collector URL`,
// `--token-file F` and, for https, `--ca-file F`; one request with a deadline and a size bound.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace hashwatt::cli {

struct CollectorArgs {
    std::string url = "http://127.0.0.1:8480";
    std::string token_file;  // empty: no token (the collector answers 401)
    std::string ca_file;     // https: the CA bundle to verify the collector with; empty: system
};

void add_collector_args(CLI::App& cmd, CollectorArgs& args);

// Thrown for a bad --collector URL or an unreadable or empty token file: the caller exits 2.
struct CollectorUsageError {
    std::string message;
};

struct CollectorReply {
    unsigned status = 0;  // 0: no answer; `failure` says why
    std::string body;
    std::string failure;
    // The "error" of a JSON error body, else the body itself (trimmed to a line).
    std::string error() const;
};

// One request to the collector: `target` is appended to the URL's path. Connect within 5 s and
// the whole answer within 30 s, at most 16 MiB. Throws CollectorUsageError (see above).
CollectorReply collector_request(const CollectorArgs& args, const std::string& method,
                                 const std::string& target, const std::string& body = {});

// `s` percent-encoded for one path segment (RFC 3986 unreserved characters stay).
std::string path_segment(const std::string& s);

}  // namespace hashwatt::cli
