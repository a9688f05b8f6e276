#include "tests/support/dashboards.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>

namespace hashwatt::test {

namespace json = boost::json;

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

std::string value_of(const std::string& name, const std::map<std::string, std::string>& variables) {
    if (auto it = variables.find(name); it != variables.end()) return it->second;
    // What the lead's and the unit tests' Prometheus runs with when the caller gives no value:
    // one scrape interval's worth is too short for rate(), so a minute.
    static const std::map<std::string, std::string> builtins{
        {"__rate_interval", "1m"}, {"__interval", "1m"}, {"__range", "5m"}};
    if (auto it = builtins.find(name); it != builtins.end()) return it->second;
    throw std::runtime_error("no value for variable $" + name);
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// "file:line:column" of byte `offset` in `text`.
std::string position(const std::string& source, const std::string& text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const auto line =
        std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n') + 1;
    const auto last_nl = text.rfind('\n', offset == 0 ? 0 : offset - 1);
    const auto column = last_nl == std::string::npos || offset == 0 ? offset + 1 : offset - last_nl;
    return source + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const json::value* member(const json::object& o, std::string_view key) {
    return o.if_contains(key);
}

std::string string_member(const json::object& o, std::string_view key) {
    const auto* v = member(o, key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string{};
}

// The metric selector of a Prometheus variable query: label_values(m, l) -> m, query_result(e)
// -> e; "" for the forms that run no PromQL (label_values(l), label_names(), metrics(re)).
std::string variable_expr(const std::string& query) {
    const std::string q = trim(query);
    auto call_arg = [&](std::string_view fn) -> std::optional<std::string> {
        if (!q.starts_with(fn) || q.back() != ')') return std::nullopt;
        auto rest = trim(q.substr(fn.size()));
        if (rest.empty() || rest.front() != '(') return std::nullopt;
        return rest.substr(1, rest.size() - 2);
    };
    if (auto arg = call_arg("label_values")) {
        // The last comma outside braces, parentheses and quotes separates the label.
        int depth = 0;
        char quote = 0;
        std::size_t comma = std::string::npos;
        for (std::size_t i = 0; i < arg->size(); ++i) {
            const char c = (*arg)[i];
            if (quote) {
                if (c == '\\')
                    ++i;
                else if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'' || c == '`') {
                quote = c;
            } else if (c == '{' || c == '(' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ')' || c == ']') {
                --depth;
            } else if (c == ',' && depth == 0) {
                comma = i;
            }
        }
        if (comma == std::string::npos) return {};
        return trim(arg->substr(0, comma));
    }
    if (auto arg = call_arg("query_result")) return trim(*arg);
    return {};
}

void collect_panels(const json::array& panels, const std::string& uid, const std::string& source,
                    const std::map<std::string, std::string>& variables,
                    std::vector<DashboardQuery>& out) {
    for (const auto& pv : panels) {
        if (!pv.is_object()) throw std::runtime_error(source + ": a panel is not an object");
        const auto& panel = pv.as_object();
        const std::string title = string_member(panel, "title");
        const auto* id = member(panel, "id");
        const std::string where = source + ": panel '" + title + "'" +
                                  (id ? " (id " + json::serialize(*id) + ")" : std::string{});
        if (const auto* targets = member(panel, "targets")) {
            if (!targets->is_array()) throw std::runtime_error(where + ": targets is not an array");
            for (const auto& tv : targets->as_array()) {
                if (!tv.is_object())
                    throw std::runtime_error(where + ": a target is not an object");
                const auto& target = tv.as_object();
                const auto* expr = member(target, "expr");
                if (!expr) continue;  // not a Prometheus query (an expression or annotation)
                if (!expr->is_string()) throw std::runtime_error(where + ": expr is not a string");
                const std::string ref_id = string_member(target, "refId");
                try {
                    out.push_back(
                        {uid, title, ref_id,
                         substitute_variables(std::string(expr->as_string()), variables)});
                } catch (const std::runtime_error& e) {
                    throw std::runtime_error(where + " target " + ref_id + ": " + e.what());
                }
            }
        }
        // Collapsed rows keep their panels inside them.
        if (const auto* nested = member(panel, "panels")) {
            if (!nested->is_array()) throw std::runtime_error(where + ": panels is not an array");
            collect_panels(nested->as_array(), uid, source, variables, out);
        }
    }
}

}  // namespace

std::string substitute_variables(const std::string& text,
                                 const std::map<std::string, std::string>& variables) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
            const auto close = text.find('}', i + 2);
            if (close == std::string::npos) throw std::runtime_error("unclosed ${ in: " + text);
            std::string inner = text.substr(i + 2, close - i - 2);
            // ${var:format} and ${var.field}: the name is what comes before either.
            const auto name = inner.substr(0, inner.find_first_of(":."));
            if (name.empty() || !is_name_start(name[0]) ||
                !std::all_of(name.begin(), name.end(), is_name_char)) {
                throw std::runtime_error("bad variable ${" + inner + "} in: " + text);
            }
            out += value_of(name, variables);
            i = close + 1;
        } else if (c == '$' && i + 1 < text.size() && is_name_start(text[i + 1])) {
            std::size_t end = i + 1;
            while (end < text.size() && is_name_char(text[end])) ++end;
            out += value_of(text.substr(i + 1, end - i - 1), variables);
            i = end;
        } else if (c == '[' && text.compare(i, 2, "[[") == 0) {
            const auto close = text.find("]]", i + 2);
            std::string name =
                close == std::string::npos ? std::string{} : text.substr(i + 2, close - i - 2);
            name = name.substr(0, name.find(':'));
            if (!name.empty() && is_name_start(name[0]) &&
                std::all_of(name.begin(), name.end(), is_name_char)) {
                out += value_of(name, variables);
                i = close + 2;
            } else {
                out += c;  // a PromQL subquery or range, not a variable
                ++i;
            }
        } else {
            out += c;
            ++i;
        }
    }
    return out;
}

std::vector<DashboardQuery> dashboard_queries_of(
    const std::string& text, const std::string& source,
    const std::map<std::string, std::string>& variables) {
    json::stream_parser parser;
    boost::system::error_code ec;
    const auto used = parser.write_some(text.data(), text.size(), ec);
    if (!ec) parser.finish(ec);
    if (ec) throw std::runtime_error(position(source, text, used) + ": bad JSON: " + ec.message());
    const json::value doc = parser.release();
    if (!doc.is_object()) throw std::runtime_error(source + ": the dashboard is not an object");
    const auto& dash = doc.as_object();
    const std::string uid = string_member(dash, "uid");
    if (uid.empty()) throw std::runtime_error(source + ": the dashboard has no uid");

    std::vector<DashboardQuery> out;
    if (const auto* templating = member(dash, "templating")) {
        const auto* list =
            templating->is_object() ? member(templating->as_object(), "list") : nullptr;
        if (!list || !list->is_array())
            throw std::runtime_error(source + ": templating.list is not an array");
        for (const auto& vv : list->as_array()) {
            if (!vv.is_object())
                throw std::runtime_error(source + ": a template variable is not an object");
            const auto& var = vv.as_object();
            if (string_member(var, "type") != "query") continue;
            const std::string name = string_member(var, "name");
            // Grafana 10 stores {"query": "...", "refId": ...}; older ones a plain string.
            std::string query;
            if (const auto* q = member(var, "query")) {
                if (q->is_string())
                    query = std::string(q->as_string());
                else if (q->is_object())
                    query = string_member(q->as_object(), "query");
            }
            const std::string expr = variable_expr(query);
            if (expr.empty()) continue;
            try {
                out.push_back(
                    {uid, "variable " + name, name, substitute_variables(expr, variables)});
            } catch (const std::runtime_error& e) {
                throw std::runtime_error(source + ": variable " + name + ": " + e.what());
            }
        }
    }
    if (const auto* panels = member(dash, "panels")) {
        if (!panels->is_array()) throw std::runtime_error(source + ": panels is not an array");
        collect_panels(panels->as_array(), uid, source, variables, out);
    }
    return out;
}

std::vector<DashboardQuery> dashboard_queries(const std::string& dir,
                                              const std::map<std::string, std::string>& variables) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".json") files.push_back(it->path());
    }
    if (ec) throw std::runtime_error(dir + ": " + ec.message());
    std::sort(files.begin(), files.end());
    std::vector<DashboardQuery> out;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) throw std::runtime_error(f.string() + ": cannot open");
        std::ostringstream text;
        text << in.rdbuf();
        auto queries = dashboard_queries_of(text.str(), f.string(), variables);
        out.insert(out.end(), std::make_move_iterator(queries.begin()),
                   std::make_move_iterator(queries.end()));
    }
    return out;
}

}  // namespace hashwatt::test
