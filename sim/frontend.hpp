// The protocol front-ends: one per firmware family, turning requests into the bytes that
// family's firmware sends. Front-ends are stateless; what a miner remembers lives in SimMiner.
#pragma once

#include "common/miner_sample.hpp"
#include "sim/miner.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hashwatt::sim {

// One request on the cgminer-style RPC port (TCP 4028).
struct RpcRequest {
    std::string_view raw;   // the bytes received (without a trailing NUL)
    bool json = true;       // false for the text form "cmd|param"
    std::string_view key;   // "command" or "cmd": which key named the command
    std::string command;    // may be a multi-command "summary+stats"
    std::string parameter;  // "" when absent
    bool has_parameter = false;
    bool new_api = false;  // Antminer: {"command":"stats","new_api":true}
};

struct RpcReply {
    std::string body;
    bool nul = true;        // cgminer sends strlen+1 bytes: the JSON then a NUL
    bool no_reply = false;  // close without sending anything (some commands do)
};

struct HttpRequest {
    std::string_view method;  // "GET", "POST", "PUT"
    std::string_view path;    // without the query
    std::string_view query;   // without the '?'
    std::string_view authorization;
    std::string_view content_type;
    std::string_view body;
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

class Frontend {
  public:
    virtual ~Frontend() = default;
    // Answers one RPC request. Unknown or malformed requests get the firmware's error reply.
    virtual RpcReply rpc(SimMiner& m, const RpcRequest& req, TimePoint now) const = 0;
    // Answers one HTTP request; families without a web API answer 404.
    virtual HttpResponse http(SimMiner& m, const HttpRequest& req, TimePoint now) const;
    // Whether this family serves HTTP at all (the server listens on the HTTP port only then).
    virtual bool has_http() const { return false; }
};

const Frontend& frontend_for(Family f);

// Parses the bytes of an RPC request into `out`. Returns false when they are neither a JSON
// object with a command nor the "cmd|param" text form; `out.raw` is set either way.
bool parse_rpc_request(std::string_view raw, RpcRequest& out);

}  // namespace hashwatt::sim
