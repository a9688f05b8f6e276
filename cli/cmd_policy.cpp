// `hashwatt policy check FILE`: validates a power policy (docs/policy.md) without running it.
// `hashwatt policy explain MINER` and `hashwatt policy override add|list|remove`: ask a running
// collector (docs/api.md, "Power policy") why a miner runs as it does, and steer it by hand.
#include "cli/collector_client.hpp"
#include "cli/command.hpp"
#include "common/json_writer.hpp"
#include "common/time.hpp"
#include "policies/rules.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hashwatt::cli {

namespace {

struct OverrideArgs {
    std::string id;
    std::string target;
    std::string start;
    std::string end;
    std::string for_text;
    int priority = 0;
    std::string site;
    std::vector<std::string> miners;
    std::string by;
    bool json = false;
};

// Prints the collector's failure and returns the exit code: 1 (the request did not succeed).
int failed(const char* what, const CollectorReply& r) {
    if (r.status == 0) {
        std::fprintf(stderr, "hashwatt policy %s: %s\n", what, r.failure.c_str());
    } else {
        std::fprintf(stderr, "hashwatt policy %s: the collector answered %u: %s\n", what, r.status,
                     r.error().c_str());
    }
    return kExitFailure;
}

// `r` as JSON, or nullopt after printing why not.
std::optional<boost::json::value> reply_json(const char* what, const CollectorReply& r) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec) {
        std::fprintf(stderr, "hashwatt policy %s: the collector's answer is not JSON: %s\n", what,
                     ec.message().c_str());
        return std::nullopt;
    }
    return v;
}

std::string text_of(const boost::json::object& o, std::string_view k) {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string("-");
}

int run_explain(const CollectorArgs& c, const std::string& miner, bool json) {
    const auto r =
        collector_request(c, "GET", "/api/v1/miners/" + path_segment(miner) + "/explanation");
    if (r.status != 200) return failed("explain", r);
    if (json) {
        std::printf("%s\n", r.body.c_str());
        return kExitOk;
    }
    const auto v = reply_json("explain", r);
    if (!v || !v->is_object()) return kExitFailure;
    std::printf("%s: %s\n", miner.c_str(), text_of(v->as_object(), "text").c_str());
    return kExitOk;
}

// The POST body, or nullopt after printing a usage error.
std::optional<std::string> override_body(const OverrideArgs& a) {
    const auto usage = [](const std::string& m) {
        std::fprintf(stderr, "hashwatt policy override add: %s\n", m.c_str());
        return std::nullopt;
    };
    if (a.end.empty() == a.for_text.empty()) {
        return usage("give either --end TIME or --for DURATION");
    }
    TimePoint start = now_ms();
    if (!a.start.empty()) {
        const auto t = parse_time(a.start);
        if (!t) return usage("--start " + a.start + ": not an RFC 3339 time");
        start = *t;
    }
    std::string end = a.end;
    if (!a.for_text.empty()) {
        std::string why;
        const auto d = parse_duration(a.for_text, &why);
        if (!d || *d <= Duration::zero()) {
            return usage("--for " + a.for_text + ": " + (why.empty() ? "must be > 0" : why));
        }
        end = format_time(start + *d);
    }
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("id", a.id);
    w.field("target", a.target);
    // With --for the end is counted from this start, so the start goes too (else the
    // collector's own "now", a moment later, would make the override that much shorter).
    if (!a.start.empty()) {
        w.field("start", a.start);
    } else if (!a.for_text.empty()) {
        w.field("start", format_time(start));
    }
    w.field("end", end);
    w.field("priority", a.priority);
    if (!a.site.empty()) w.field("site", a.site);
    if (!a.miners.empty()) {
        w.key("miners");
        w.begin_array();
        for (const auto& m : a.miners) w.value(m);
        w.end_array();
    }
    if (!a.by.empty()) w.field("by", a.by);
    w.end_object();
    return out;
}

void print_override(const boost::json::object& o) {
    std::string scope = o.contains("site") ? "site " + text_of(o, "site") : "all sites";
    if (const auto* m = o.if_contains("miners"); m && m->is_array() && !m->as_array().empty()) {
        scope += ", " + std::to_string(m->as_array().size()) + " miner(s)";
    }
    const auto* prio = o.if_contains("priority");
    const auto* active = o.if_contains("active");
    std::printf("%s\t%s\t%s .. %s\tpriority %lld\t%s\t%s%s\n", text_of(o, "id").c_str(),
                text_of(o, "target").c_str(), text_of(o, "start").c_str(),
                text_of(o, "end").c_str(),
                prio && prio->is_int64() ? static_cast<long long>(prio->as_int64()) : 0LL,
                scope.c_str(), text_of(o, "source").c_str(),
                active && active->is_bool() && active->as_bool() ? "\tactive" : "");
}

int run_override_add(const CollectorArgs& c, const OverrideArgs& a) {
    const auto body = override_body(a);
    if (!body) return kExitUsage;
    const auto r = collector_request(c, "POST", "/api/v1/policy/overrides", *body);
    if (r.status != 201) return failed("override add", r);
    if (a.json) {
        std::printf("%s\n", r.body.c_str());
        return kExitOk;
    }
    const auto v = reply_json("override add", r);
    if (!v || !v->is_object() || !v->as_object().contains("override")) return kExitFailure;
    std::printf("added: ");
    print_override(v->as_object().at("override").as_object());
    return kExitOk;
}

int run_override_list(const CollectorArgs& c, bool json) {
    const auto r = collector_request(c, "GET", "/api/v1/policy/overrides");
    if (r.status != 200) return failed("override list", r);
    if (json) {
        std::printf("%s\n", r.body.c_str());
        return kExitOk;
    }
    const auto v = reply_json("override list", r);
    if (!v || !v->is_object()) return kExitFailure;
    const auto* list = v->as_object().if_contains("overrides");
    if (!list || !list->is_array()) return kExitFailure;
    if (list->as_array().empty()) std::printf("no overrides\n");
    for (const auto& o : list->as_array()) {
        if (o.is_object()) print_override(o.as_object());
    }
    return kExitOk;
}

int run_override_remove(const CollectorArgs& c, const std::string& id) {
    const auto r = collector_request(c, "DELETE", "/api/v1/policy/overrides/" + path_segment(id));
    if (r.status != 200) return failed("override remove", r);
    std::printf("removed: %s\n", id.c_str());
    return kExitOk;
}

}  // namespace

Runner add_policy_command(CLI::App& app) {
    auto* cmd = app.add_subcommand("policy", "Work with power policies (docs/policy.md)");
    cmd->require_subcommand(1);
    auto* check = cmd->add_subcommand(
        "check", "Validate a policy file: exit 0 with a summary, or 2 with file:line:column");
    auto file = std::make_shared<std::string>();
    check->add_option("FILE", *file, "The policy TOML")->required();

    auto collector = std::make_shared<CollectorArgs>();
    auto miner = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* explain = cmd->add_subcommand(
        "explain", "Ask a running collector what the policy wants of a miner, and why");
    explain->add_option("MINER", *miner, "The miner's id")->required();
    add_collector_args(*explain, *collector);
    explain->add_flag("--json", *json, "Print the collector's answer as JSON");
    explain->footer(
        "Exit status: 0 with the explanation, 1 when the collector cannot be reached "
        "or refuses (unknown miner, no decision yet, bad token), 2 on bad usage.");

    auto* ovr = cmd->add_subcommand(
        "override", "Add, list or remove demand-response and manual overrides on a collector");
    ovr->require_subcommand(1);
    auto oa = std::make_shared<OverrideArgs>();
    auto* add = ovr->add_subcommand("add", "Add (or replace, by id) an override");
    add->add_option("ID", oa->id, "A name: letters, digits, '-', '_' or '.'")->required();
    add->add_option("--target", oa->target, "sleep, reduced or full")
        ->required()
        ->check(CLI::IsMember({"sleep", "reduced", "full"}));
    add->add_option("--start", oa->start, "RFC 3339 time it starts (default now)");
    add->add_option("--end", oa->end, "RFC 3339 time it ends");
    add->add_option("--for", oa->for_text, "How long from its start, e.g. 2h (instead of --end)");
    add->add_option("--priority", oa->priority, "Among overrides, higher wins (default 0)")
        ->check(CLI::Range(-1000, 1000));
    add->add_option("--site", oa->site, "Only miners of this site");
    add->add_option("--miner", oa->miners, "Only these miners (repeat)");
    add->add_option("--by", oa->by, "Who adds it (default admin)");
    add->add_flag("--json", oa->json, "Print the collector's answer as JSON");
    add_collector_args(*add, *collector);
    auto* list = ovr->add_subcommand("list", "List the overrides that have not ended");
    list->add_flag("--json", *json, "Print the collector's answer as JSON");
    add_collector_args(*list, *collector);
    auto remove_id = std::make_shared<std::string>();
    auto* remove = ovr->add_subcommand("remove", "Remove an override added through the API");
    remove->add_option("ID", *remove_id, "The override's id")->required();
    add_collector_args(*remove, *collector);
    for (auto* sub : {add, list, remove}) {
        sub->footer(
            "Needs an admin token for add and remove. Exit status: 0 done, 1 when the "
            "collector cannot be reached or refuses, 2 on bad usage.");
    }

    return [=] {
        try {
            if (check->parsed()) {
                // A ConfigError propagates to main, which prints it and exits 2.
                const auto rules = policies::load_policy_file(*file);
                std::printf("%s: ok: %s\n", file->c_str(), policies::summarize(rules).c_str());
                return kExitOk;
            }
            if (explain->parsed()) return run_explain(*collector, *miner, *json);
            if (add->parsed()) return run_override_add(*collector, *oa);
            if (list->parsed()) return run_override_list(*collector, *json);
            if (remove->parsed()) return run_override_remove(*collector, *remove_id);
        } catch (const CollectorUsageError& e) {
            std::fprintf(stderr, "hashwatt policy: %s\n", e.message.c_str());
            return kExitUsage;
        }
        return kExitUsage;
    };
}

}  // namespace hashwatt::cli
