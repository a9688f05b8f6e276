#include "sim/frontend.hpp"

#include <boost/json.hpp>

namespace hashwatt::sim {

HttpResponse Frontend::http(SimMiner&, const HttpRequest&, TimePoint) const {
    HttpResponse r;
    r.status = 404;
    r.content_type = "text/html";
    r.body = "<html><body><h1>404 Not Found</h1></body></html>";
    return r;
}

bool parse_rpc_request(std::string_view raw, RpcRequest& out) {
    out.raw = raw;
    std::size_t first = raw.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return false;
    if (raw[first] != '{') {
        // Text form "command|parameter" (some Avalon tools use it).
        std::string_view text = raw.substr(first);
        while (!text.empty() &&
               (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
            text.remove_suffix(1);
        }
        out.json = false;
        const auto bar = text.find('|');
        out.command = std::string(text.substr(0, bar));
        if (bar != std::string_view::npos) {
            out.parameter = std::string(text.substr(bar + 1));
            out.has_parameter = true;
        }
        return !out.command.empty();
    }
    boost::system::error_code ec;
    const auto v = boost::json::parse(raw.substr(first), ec);
    if (ec || !v.is_object()) return false;
    const auto& o = v.get_object();
    auto string_field = [&](std::string_view k) -> const boost::json::string* {
        const auto* f = o.if_contains(k);
        return f && f->is_string() ? &f->get_string() : nullptr;
    };
    if (const auto* c = string_field("command")) {
        out.key = "command";
        out.command = std::string(*c);
    } else if (const auto* c2 = string_field("cmd")) {
        out.key = "cmd";
        out.command = std::string(*c2);
    } else {
        out.key = {};
    }
    if (const auto* p = o.if_contains("parameter")) {
        out.has_parameter = true;
        if (p->is_string()) {
            out.parameter = std::string(p->get_string());
        } else {
            out.parameter = boost::json::serialize(*p);
        }
    }
    if (const auto* n = o.if_contains("new_api"); n && n->is_bool()) out.new_api = n->get_bool();
    out.json = true;
    return true;
}

}  // namespace hashwatt::sim
