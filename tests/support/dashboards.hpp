// The PromQL inside Grafana dashboard JSON, for the tests that check the shipped dashboards
// (deploy/grafana/dashboards): every panel's and every template variable's query, with the
// dashboard variables substituted the way Grafana would, so a real Prometheus can run them.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hashwatt::test {

struct DashboardQuery {
    std::string dashboard_uid;
    std::string panel_title;  // "variable <name>" for a template variable's query
    std::string ref_id;       // the target's refId; the variable's name for a variable
    std::string expr;         // variables substituted
};

// Every PromQL expression of every panel (recursing into row panels' `panels`) and of every
// query-type template variable (label_values(m, l) gives m; label_values(l) is skipped) in the
// *.json files of `dir`, files in name order, panels in document order.
// `$var`, `${var}`, `${var:format}` and `[[var]]` are replaced with `variables`' value as given
// (a multi-value selection is the caller's regex, e.g. ".*"). Grafana's built-ins
// $__rate_interval and $__interval become "1m" and $__range "5m" unless `variables` has them.
// `$` not followed by a letter or `_` (a regex anchor, label_replace's "$1") is left alone.
// Throws std::runtime_error naming the file (and the panel) on unreadable or malformed JSON, a
// dashboard without a uid, or a variable with no value.
std::vector<DashboardQuery> dashboard_queries(const std::string& dir,
                                              const std::map<std::string, std::string>& variables);

// The same for one dashboard document; `source` names it in errors.
std::vector<DashboardQuery> dashboard_queries_of(
    const std::string& json_text, const std::string& source,
    const std::map<std::string, std::string>& variables);

// `text` with Grafana's variable syntaxes replaced as above; throws std::runtime_error
// ("no value for variable $name") for a variable neither given nor built in.
std::string substitute_variables(const std::string& text,
                                 const std::map<std::string, std::string>& variables);

}  // namespace hashwatt::test
