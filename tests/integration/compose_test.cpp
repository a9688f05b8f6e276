// deploy/compose/compose.yaml against the files it mounts and the services it wires together:
// host paths exist, the compose-only variants differ from the shipped files only in addresses,
// every address a container uses names a service that exposes that port, and the configs pass
// the real checks (hashwatt --check-config, promtool, amtool). YAML is read with yaml-cpp, the
// TOML configs with toml++ (what the binary itself uses).
#include "tests/support/process.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <yaml-cpp/yaml.h>

#include <doctest/doctest.h>
#include <toml++/toml.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kSource = HASHWATT_SOURCE_DIR;
const std::string kCompose = kSource + "/deploy/compose";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "cannot read " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

YAML::Node load_yaml(const std::string& path) {
    REQUIRE_MESSAGE(fs::exists(path), path << " is missing (deploy_common.md names it)");
    try {
        return YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
        FAIL(path << ": " << e.what());
        return {};
    }
}

toml::table load_toml(const std::string& path) {
    try {
        return toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        FAIL(path << ": " << e.description());
        return {};
    }
}

struct HostPort {
    std::string host;
    unsigned port = 0;
};

// "host:port", "[v6]:port" or a URL "scheme://host:port/path"; nullopt when it is neither.
std::optional<HostPort> host_port(std::string s) {
    if (auto scheme = s.find("://"); scheme != std::string::npos) {
        s = s.substr(scheme + 3);
        s = s.substr(0, s.find('/'));
    }
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return std::nullopt;
    const std::string port = s.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
        return std::nullopt;
    }
    return HostPort{s.substr(0, colon), static_cast<unsigned>(std::stoul(port))};
}

// The same string with the host of an address (host:port or URL) replaced by "HOST".
std::string without_host(const std::string& s) {
    const auto hp = host_port(s);
    if (!hp) return s;
    std::string out = s;
    out.replace(out.find(hp->host + ":" + std::to_string(hp->port)), hp->host.size(), "HOST");
    return out;
}

// Walks two YAML documents together; every difference that is not an address host is reported
// with its path (e.g. scrape_configs[1].static_configs[0].targets[0]).
void compare_except_hosts(const YAML::Node& shipped, const YAML::Node& variant,
                          const std::string& path, std::vector<std::string>& diffs) {
    if (shipped.Type() != variant.Type()) {
        diffs.push_back(path + ": different kinds of node");
        return;
    }
    if (shipped.IsMap()) {
        for (const auto& kv : shipped) {
            const auto key = kv.first.as<std::string>();
            if (!variant[key]) {
                diffs.push_back(path + "." + key + ": missing from the compose variant");
            } else {
                compare_except_hosts(kv.second, variant[key], path + "." + key, diffs);
            }
        }
        for (const auto& kv : variant) {
            const auto key = kv.first.as<std::string>();
            if (!shipped[key]) diffs.push_back(path + "." + key + ": not in the shipped file");
        }
    } else if (shipped.IsSequence()) {
        if (shipped.size() != variant.size()) {
            diffs.push_back(path + ": " + std::to_string(shipped.size()) + " items shipped, " +
                            std::to_string(variant.size()) + " in the compose variant");
            return;
        }
        for (std::size_t i = 0; i < shipped.size(); ++i) {
            compare_except_hosts(shipped[i], variant[i], path + "[" + std::to_string(i) + "]",
                                 diffs);
        }
    } else if (shipped.IsScalar()) {
        const auto a = shipped.as<std::string>(), b = variant.as<std::string>();
        if (a != b && without_host(a) != without_host(b)) {
            diffs.push_back(path + ": '" + a + "' shipped, '" + b + "' in the compose variant");
        }
    }
}

struct Mount {
    std::string source;  // as written: ./x, ../x, or a named volume
    std::string target;
};

std::vector<Mount> mounts(const YAML::Node& service) {
    std::vector<Mount> out;
    for (const auto& v : service["volumes"]) {
        const auto text = v.as<std::string>();
        const auto first = text.find(':');
        const auto second = text.find(':', first + 1);
        out.push_back({text.substr(0, first), text.substr(first + 1, second - first - 1)});
    }
    return out;
}

bool is_bind(const Mount& m) { return m.source.starts_with("."); }

// The container path a host path (relative to deploy/compose) is mounted at, or "".
std::string target_of(const YAML::Node& service, const std::string& source) {
    for (const auto& m : mounts(service)) {
        if (m.source == source) return m.target;
    }
    return {};
}

// Container ports a service offers to the others: `expose` and the container side of `ports`.
std::vector<unsigned> container_ports(const YAML::Node& service) {
    std::vector<unsigned> out;
    for (const auto& p : service["expose"]) out.push_back(p.as<unsigned>());
    for (const auto& p : service["ports"]) {
        const auto text = p.as<std::string>();
        out.push_back(static_cast<unsigned>(std::stoul(text.substr(text.rfind(':') + 1))));
    }
    return out;
}

bool offers(const YAML::Node& service, unsigned port) {
    const auto ports = container_ports(service);
    return std::find(ports.begin(), ports.end(), port) != ports.end();
}

// The value of "--flag=value" in a service's command list.
std::string flag(const YAML::Node& service, const std::string& name) {
    for (const auto& c : service["command"]) {
        const auto text = c.as<std::string>();
        if (text.starts_with(name + "=")) return text.substr(name.size() + 1);
    }
    return {};
}

// The argument after "--config" (hashwatt's own commands).
std::string config_arg(const YAML::Node& service) {
    const auto& cmd = service["command"];
    for (std::size_t i = 0; i + 1 < cmd.size(); ++i) {
        if (cmd[i].as<std::string>() == "--config") return cmd[i + 1].as<std::string>();
    }
    return {};
}

std::string arg_after(const YAML::Node& service, const std::string& name) {
    const auto& cmd = service["command"];
    for (std::size_t i = 0; i + 1 < cmd.size(); ++i) {
        if (cmd[i].as<std::string>() == name) return cmd[i + 1].as<std::string>();
    }
    return {};
}

struct Compose {
    YAML::Node doc = load_yaml(kCompose + "/compose.yaml");
    YAML::Node service(const std::string& name) const {
        const YAML::Node s = doc["services"][name];
        REQUIRE_MESSAGE(s.IsMap(), "compose.yaml has no service " << name);
        return s;
    }
    bool has_service(const std::string& name) const { return bool(doc["services"][name]); }
};

unsigned listen_port(const toml::table& t, const char* table, const std::string& file) {
    const auto listen = t[table]["listen"].value<std::string>();
    REQUIRE_MESSAGE(listen, file << ": no [" << table << "] listen");
    const auto hp = host_port(*listen);
    REQUIRE(hp);
    // Other containers reach it through the container's own address, never its loopback.
    CHECK_MESSAGE(hp->host == "0.0.0.0", file << ": [" << table << "] listen " << *listen
                                              << " is not reachable from other containers");
    return hp->port;
}

// Runs a hashwatt --check-config on a copy of a compose config whose /run/secrets/ paths point
// at token files in dir.
RunResult check_hashwatt_config(const TempDir& dir, const std::string& command,
                                const std::string& file) {
    std::string text = read_file(kCompose + "/" + file);
    for (std::size_t at; (at = text.find("/run/secrets/")) != std::string::npos;) {
        text.replace(at, 13, dir.path() + "/secrets/");
    }
    return run_hashwatt({command, "--config", dir.write(file, text), "--check-config"}, 30s);
}

}  // namespace

TEST_CASE("compose.yaml: every host path it mounts or builds from exists in the repository") {
    Compose c;
    REQUIRE(c.doc["services"].IsMap());
    for (const auto& kv : c.doc["services"]) {
        const auto name = kv.first.as<std::string>();
        for (const auto& m : mounts(kv.second)) {
            CAPTURE(name);
            CAPTURE(m.source);
            if (is_bind(m)) {
                const fs::path p = fs::weakly_canonical(kCompose + "/" + m.source);
                CHECK(fs::exists(p));
                CHECK(p.string().starts_with(fs::weakly_canonical(kSource).string() + "/"));
            } else {
                CHECK_MESSAGE(c.doc["volumes"][m.source], "named volume not declared");
            }
        }
        if (const auto build = kv.second["build"]) {
            const std::string context = kCompose + "/" + build["context"].as<std::string>();
            CHECK(fs::exists(context + "/" + build["dockerfile"].as<std::string>()));
        }
    }
    // Secrets are operator-made files in deploy/compose/secrets, a directory git ignores.
    for (const auto& kv : c.doc["secrets"]) {
        const auto file = kv.second["file"].as<std::string>();
        CAPTURE(file);
        CHECK(file.starts_with("./secrets/"));
    }
    CHECK(read_file(kCompose + "/secrets/.gitignore").find("\n*\n!.gitignore\n") !=
          std::string::npos);
    // The image is the package `make package` builds.
    const std::string dockerfile = read_file(kCompose + "/Dockerfile");
    CHECK(dockerfile.find("FROM debian:12\n") != std::string::npos);
    CHECK(dockerfile.find("COPY build/release/hashwatt_*.deb") != std::string::npos);
    CHECK(read_file(kSource + "/Makefile").find("cpack -G DEB") != std::string::npos);
    CHECK(c.service("collector")["image"].as<std::string>() == "hashwatt:latest");
    CHECK(c.service("agent")["image"].as<std::string>() == "hashwatt:latest");
    CHECK(c.service("sim")["profiles"][0].as<std::string>() == "sim");
}

TEST_CASE("compose variants differ from the shipped files only in addresses") {
    for (const auto& [shipped, variant] : std::vector<std::pair<std::string, std::string>>{
             {"deploy/prometheus/prometheus.yml", "deploy/compose/prometheus.yml"},
             {"deploy/grafana/provisioning/datasources/hashwatt.yml",
              "deploy/compose/grafana-datasource.yml"}}) {
        CAPTURE(variant);
        std::vector<std::string> diffs;
        compare_except_hosts(load_yaml(kSource + "/" + shipped), load_yaml(kSource + "/" + variant),
                             "", diffs);
        std::string all;
        for (const auto& d : diffs) all += "\n  " + d;
        CHECK_MESSAGE(diffs.empty(), variant << " differs from " << shipped << ":" << all);
    }
    // And the check catches a changed setting (not only a changed host).
    std::vector<std::string> diffs;
    compare_except_hosts(YAML::Load("a: {t: ['h:1'], i: 15s}"),
                         YAML::Load("a: {t: ['g:1'], i: 30s}"), "", diffs);
    REQUIRE(diffs.size() == 1);
    CHECK(diffs[0] == ".a.i: '15s' shipped, '30s' in the compose variant");
    diffs.clear();
    compare_except_hosts(YAML::Load("t: ['h:1']"), YAML::Load("t: ['h:2']"), "", diffs);
    CHECK(diffs.size() == 1);
}

TEST_CASE("compose: every address names a service that offers the configured port") {
    Compose c;
    const std::string collector_file = "collector.toml", agent_file = "agent.toml";
    const toml::table collector = load_toml(kCompose + "/" + collector_file);
    const toml::table agent = load_toml(kCompose + "/" + agent_file);
    const unsigned collector_port = listen_port(collector, "api", collector_file);
    const unsigned agent_metrics_port = listen_port(agent, "metrics", agent_file);
    CHECK(offers(c.service("collector"), collector_port));
    CHECK(offers(c.service("agent"), agent_metrics_port));

    // Prometheus: its config and rules are where --config.file and rule_files look.
    const YAML::Node prometheus = c.service("prometheus");
    const std::string config_file = flag(prometheus, "--config.file");
    CHECK(config_file == target_of(prometheus, "./prometheus.yml"));
    const YAML::Node prom = load_yaml(kCompose + "/prometheus.yml");
    const fs::path config_dir = fs::path(config_file).parent_path();
    REQUIRE(prom["rule_files"].size() >= 1);
    for (const auto& pattern : prom["rule_files"]) {
        const fs::path dir = (config_dir / pattern.as<std::string>()).parent_path();
        CHECK_MESSAGE(dir.string() == target_of(prometheus, "../prometheus/rules"), dir);
    }
    CHECK(offers(prometheus, 9090));

    // Each scrape target: a service offering that port, whose own config listens on it.
    const std::map<std::string, unsigned> job_ports = {{"hashwatt-collector", collector_port},
                                                       {"hashwatt-agent", agent_metrics_port},
                                                       {"prometheus", 9090}};
    std::map<std::string, int> seen;
    for (const auto& job : prom["scrape_configs"]) {
        const auto name = job["job_name"].as<std::string>();
        CAPTURE(name);
        REQUIRE_MESSAGE(job_ports.count(name), "unexpected job");
        for (const auto& sc : job["static_configs"]) {
            for (const auto& t : sc["targets"]) {
                const auto hp = host_port(t.as<std::string>());
                REQUIRE(hp);
                CHECK(hp->port == job_ports.at(name));
                if (name == "prometheus") {
                    CHECK(hp->host == "127.0.0.1");  // itself, inside its container
                } else {
                    CHECK_MESSAGE(c.has_service(hp->host), hp->host << " is not a service");
                    if (c.has_service(hp->host)) CHECK(offers(c.service(hp->host), hp->port));
                }
                ++seen[name];
            }
        }
    }
    CHECK(seen.size() == job_ports.size());

    // Alertmanager: Prometheus and the collector send to the service on 9093.
    const YAML::Node alertmanager = c.service("alertmanager");
    CHECK(offers(alertmanager, 9093));
    CHECK(flag(alertmanager, "--config.file") ==
          target_of(alertmanager, "../alertmanager/alertmanager.yml"));
    const auto am_target = host_port(
        prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0].as<std::string>());
    REQUIRE(am_target);
    CHECK(am_target->host == "alertmanager");
    CHECK(am_target->port == 9093);
    const auto collector_am =
        host_port(collector["alerts"]["alertmanager"][0]["url"].value_or(std::string()));
    REQUIRE(collector_am);
    CHECK(collector_am->host == "alertmanager");
    CHECK(collector_am->port == 9093);

    // The agent sends to the collector service's API port, with an agent token the collector
    // knows, by the id the agent gives itself.
    const auto uplink = host_port(agent["uplink"]["url"].value_or(std::string()));
    REQUIRE(uplink);
    CHECK(uplink->host == "collector");
    CHECK(uplink->port == collector_port);
    bool token_known = false;
    for (const auto& tok : *collector["token"].as_array()) {
        const auto& t = *tok.as_table();
        if (t["role"].value_or(std::string()) == "agent" &&
            t["agent_id"].value_or(std::string()) == agent["agent"]["id"].value_or(std::string())) {
            token_known = true;
        }
    }
    CHECK(token_known);

    // hashwatt's services read the mounted configs and their secrets from /run/secrets.
    CHECK(config_arg(c.service("collector")) ==
          target_of(c.service("collector"), "./collector.toml"));
    CHECK(config_arg(c.service("agent")) == target_of(c.service("agent"), "./agent.toml"));
    auto has_secret = [&](const std::string& service, const std::string& path) {
        if (!path.starts_with("/run/secrets/")) return false;
        for (const auto& s : c.service(service)["secrets"]) {
            if ("/run/secrets/" + s.as<std::string>() == path) return true;
        }
        return false;
    };
    for (const auto& tok : *collector["token"].as_array()) {
        const auto file = (*tok.as_table())["secret_file"].value_or(std::string());
        CHECK_MESSAGE(has_secret("collector", file), file);
    }
    CHECK(has_secret("agent", agent["uplink"]["token_file"].value_or(std::string())));

    // Grafana: the provisioning files in Grafana's provisioning directories, the dashboards at
    // the path the dashboard provider reads, and the datasource at the prometheus service.
    const YAML::Node grafana = c.service("grafana");
    const YAML::Node provider =
        load_yaml(kSource + "/deploy/grafana/provisioning/dashboards/hashwatt.yml");
    CHECK(target_of(grafana, "../grafana/dashboards") ==
          provider["providers"][0]["options"]["path"].as<std::string>());
    CHECK(target_of(grafana, "../grafana/provisioning/dashboards/hashwatt.yml") ==
          "/etc/grafana/provisioning/dashboards/hashwatt.yml");
    CHECK(target_of(grafana, "./grafana-datasource.yml") ==
          "/etc/grafana/provisioning/datasources/hashwatt.yml");
    const YAML::Node ds = load_yaml(kCompose + "/grafana-datasource.yml");
    const auto ds_url = host_port(ds["datasources"][0]["url"].as<std::string>());
    REQUIRE(ds_url);
    CHECK(ds_url->host == "prometheus");
    CHECK(offers(prometheus, ds_url->port));
    CHECK(offers(grafana, 3000));

    // The sim profile: the simulated miners live in the agent's network namespace, inside the
    // agent's scan range, on the ports the scan probes.
    const YAML::Node sim = c.service("sim");
    CHECK(sim["network_mode"].as<std::string>() == "service:agent");
    const auto& scan = *agent["scan"].as_array()->get(0)->as_table();
    const std::string range = (*scan["ranges"].as_array())[0].value_or(std::string());
    const std::string base_ip = arg_after(sim, "--base-ip");
    CHECK(range == "127.1.0.0/28");
    CHECK(base_ip.starts_with("127.1.0."));
    CHECK(std::stoi(base_ip.substr(8)) + std::stoi(arg_after(sim, "--miners")) <= 16);
    CHECK(scan["port"].value_or(0) == std::stoi(arg_after(sim, "--rpc-port")));
    CHECK(scan["http_port"].value_or(0) == std::stoi(arg_after(sim, "--http-port")));
}

TEST_CASE("compose configs pass hashwatt --check-config, promtool and amtool") {
    TempDir dir;
    fs::create_directories(dir.path() + "/secrets");
    for (const char* name : {"agent", "read", "admin"}) {
        dir.write(std::string("secrets/") + name + ".token",
                  std::string(name) + "-0123456789abcdef\n", 0600);
    }
    const RunResult collector = check_hashwatt_config(dir, "collector", "collector.toml");
    INFO(collector.out, collector.err);
    CHECK(collector.exit_code == 0);
    CHECK(collector.out.find("listen 0.0.0.0:8480, 3 tokens") != std::string::npos);
    const RunResult agent = check_hashwatt_config(dir, "agent", "agent.toml");
    INFO(agent.out, agent.err);
    CHECK(agent.exit_code == 0);

    // promtool reads rule_files relative to the config, as Prometheus does in its container.
    const std::string prom_dir = dir.path() + "/prometheus";
    fs::create_directories(prom_dir);
    fs::copy_file(kCompose + "/prometheus.yml", prom_dir + "/prometheus.yml");
    fs::copy(kSource + "/deploy/prometheus/rules", prom_dir + "/rules");
    const RunResult promtool =
        run({"/usr/bin/promtool", "check", "config", prom_dir + "/prometheus.yml"}, 60s);
    INFO(promtool.out, promtool.err);
    CHECK(promtool.exit_code == 0);
    CHECK(promtool.out.find("hashwatt-alerts.yml") != std::string::npos);  // rules were found

    const RunResult amtool =
        run({"/usr/bin/amtool", "check-config", kSource + "/deploy/alertmanager/alertmanager.yml"},
            60s);
    INFO(amtool.out, amtool.err);
    CHECK(amtool.exit_code == 0);
}
