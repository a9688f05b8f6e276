// The install layout, the systemd units and the Debian package, checked with the real tools:
// `cmake --install` into a staging directory (DESTDIR), `systemd-analyze verify` on the staged
// units, systemd-sysusers/-tmpfiles on the staged root, the maintainer scripts against stub
// systemd commands, and `cpack -G DEB` from this build tree read back with dpkg-deb.
// Nothing is installed on the host: every file goes under a temporary directory.
#include "tests/support/process.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include <doctest/doctest.h>

using namespace hashwatt::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kSource = HASHWATT_SOURCE_DIR;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "cannot read " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Installs this build tree under dir (DESTDIR=dir, prefix /usr), as the package does.
void stage_install(const TempDir& dir) {
    const RunResult r = run({"/usr/bin/env", "DESTDIR=" + dir.path(), HASHWATT_CMAKE, "--install",
                             HASHWATT_BUILD_DIR, "--prefix", "/usr"},
                            120s);
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
}

// The files named in the brief's fixed layout (deploy/*) and where the package puts them.
const std::vector<std::pair<std::string, std::string>> kInstalled = {
    {"usr/lib/systemd/system/hashwatt-agent.service", "deploy/systemd/hashwatt-agent.service"},
    {"usr/lib/systemd/system/hashwatt-collector.service",
     "deploy/systemd/hashwatt-collector.service"},
    {"usr/lib/sysusers.d/hashwatt.conf", "deploy/systemd/hashwatt.sysusers"},
    {"usr/lib/tmpfiles.d/hashwatt.conf", "deploy/systemd/hashwatt.tmpfiles"},
    {"etc/hashwatt/agent.toml", "deploy/config/agent.toml"},
    {"etc/hashwatt/collector.toml", "deploy/config/collector.toml"},
    {"etc/hashwatt/policy.toml", "deploy/config/policy.toml"},
    {"usr/share/hashwatt/grafana/dashboards/fleet-overview.json",
     "deploy/grafana/dashboards/fleet-overview.json"},
    {"usr/share/hashwatt/grafana/dashboards/rig-detail.json",
     "deploy/grafana/dashboards/rig-detail.json"},
    {"usr/share/hashwatt/grafana/dashboards/power-profit.json",
     "deploy/grafana/dashboards/power-profit.json"},
    {"usr/share/hashwatt/grafana/provisioning/datasources/hashwatt.yml",
     "deploy/grafana/provisioning/datasources/hashwatt.yml"},
    {"usr/share/hashwatt/grafana/provisioning/dashboards/hashwatt.yml",
     "deploy/grafana/provisioning/dashboards/hashwatt.yml"},
    {"usr/share/hashwatt/prometheus/prometheus.yml", "deploy/prometheus/prometheus.yml"},
    {"usr/share/hashwatt/prometheus/rules/hashwatt-recording.yml",
     "deploy/prometheus/rules/hashwatt-recording.yml"},
    {"usr/share/hashwatt/prometheus/rules/hashwatt-alerts.yml",
     "deploy/prometheus/rules/hashwatt-alerts.yml"},
    {"usr/share/hashwatt/alertmanager/alertmanager.yml", "deploy/alertmanager/alertmanager.yml"},
    {"usr/share/hashwatt/examples/sim.toml", "deploy/config/sim.toml"},
    {"usr/share/doc/hashwatt/README.md", "README.md"},
    {"usr/share/doc/hashwatt/operations.md", "docs/operations.md"},
};

// Stub systemd commands for the maintainer scripts: each appends "name args" to log.
std::string make_stubs(const TempDir& dir, const std::string& log) {
    const std::string bin = dir.path() + "/stub-bin";
    fs::create_directories(bin);
    for (const char* name : {"systemctl", "systemd-sysusers", "systemd-tmpfiles"}) {
        dir.write(std::string("stub-bin/") + name,
                  std::string("#!/bin/sh\necho \"") + name + " $*\" >>'" + log + "'\n", 0755);
    }
    return bin;
}

}  // namespace

TEST_CASE("cmake --install puts the binary, units, configs and monitoring files in FHS places") {
    TempDir dir;
    stage_install(dir);
    const std::string root = dir.path() + "/";

    const RunResult version = run({root + "usr/bin/hashwatt", "version"}, 30s);
    CHECK(version.exit_code == 0);
    CHECK(version.out.starts_with("hashwatt " HASHWATT_VERSION));

    for (const auto& [installed, source] : kInstalled) {
        CAPTURE(installed);
        REQUIRE_MESSAGE(fs::exists(kSource + "/" + source),
                        source << " is missing from the source tree (deploy_common.md names it)");
        REQUIRE(fs::is_regular_file(root + installed));
        CHECK(read_file(root + installed) == read_file(kSource + "/" + source));
    }
    // Every rule test and the new alerts.toml (a conffile) travel too, when they exist.
    for (const auto& e : fs::directory_iterator(kSource + "/deploy/prometheus/tests")) {
        CHECK(fs::exists(root + "usr/share/hashwatt/prometheus/tests/" +
                         e.path().filename().string()));
    }
    CHECK(fs::exists(root + "etc/hashwatt/alerts.toml") ==
          fs::exists(kSource + "/deploy/config/alerts.toml"));

    // Nothing outside /usr and /etc, and no build or machine paths in what was installed.
    for (const auto& e : fs::directory_iterator(dir.path())) {
        const std::string top = e.path().filename().string();
        CHECK_MESSAGE((top == "usr" || top == "etc"), "installed outside /usr and /etc: " << top);
    }
    for (const auto& e : fs::recursive_directory_iterator(root + "usr/lib")) {
        if (!e.is_regular_file()) continue;
        CHECK_MESSAGE(!contains(read_file(e.path().string()), HASHWATT_BUILD_DIR), e.path());
    }
}

TEST_CASE("systemd-analyze verify reports nothing about the installed units") {
    TempDir dir;
    stage_install(dir);
    const std::string units = dir.path() + "/usr/lib/systemd/system";
    // verify resolves the units' dependencies (sysinit.target, network-online.target, ...) and
    // checks every Exec binary inside --root: give the staged root the host's targets and kill.
    for (const auto& e : fs::directory_iterator("/usr/lib/systemd/system")) {
        if (e.path().extension() == ".target" && e.is_regular_file()) {
            fs::copy_file(e.path(), units + "/" + e.path().filename().string());
        }
    }
    fs::create_directory_symlink("usr/bin", dir.path() + "/bin");
    fs::copy_file("/usr/bin/kill", dir.path() + "/usr/bin/kill");

    auto verify = [&](const std::vector<std::string>& names) {
        std::vector<std::string> argv = {"/usr/bin/systemd-analyze", "verify",
                                         "--root=" + dir.path()};
        for (const auto& n : names) argv.push_back("/usr/lib/systemd/system/" + n);
        return run(argv, 60s);
    };
    const RunResult r = verify({"hashwatt-agent.service", "hashwatt-collector.service"});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    CHECK(r.err.empty());

    // The check sees warnings: an unknown key and a missing binary are reported.
    std::string unit = read_file(units + "/hashwatt-agent.service");
    unit.insert(unit.find("[Service]\n") + 10, "ProtectEverything=yes\n");
    std::ofstream(units + "/hashwatt-broken.service") << unit;
    fs::remove(dir.path() + "/usr/bin/hashwatt");
    const RunResult bad = verify({"hashwatt-broken.service"});
    CHECK(contains(bad.err, "Unknown key 'ProtectEverything'"));
    CHECK(contains(bad.err, "/usr/bin/hashwatt is not executable"));

    // The hardening holds: systemd's own exposure score stays "OK" (below 2.0 of 10).
    const RunResult sec =
        run({"/usr/bin/systemd-analyze", "security", "--offline=yes", "--threshold=20",
             "--root=" + dir.path(), "/usr/lib/systemd/system/hashwatt-agent.service",
             "/usr/lib/systemd/system/hashwatt-collector.service"},
            60s);
    INFO(sec.out);
    CHECK(sec.exit_code == 0);
    CHECK(contains(sec.out, "Overall exposure level for hashwatt-agent.service"));
}

TEST_CASE("the units run as hashwatt with state, configuration, credentials and hardening") {
    for (const std::string name : {"hashwatt-agent", "hashwatt-collector"}) {
        CAPTURE(name);
        const std::string u = read_file(kSource + "/deploy/systemd/" + name + ".service");
        for (const char* line :
             {"Type=exec\n", "User=hashwatt\n", "Group=hashwatt\n", "StateDirectory=hashwatt\n",
              "ConfigurationDirectory=hashwatt\n", "Restart=on-failure\n",
              "RestartPreventExitStatus=2\n", "ProtectSystem=strict\n", "ProtectHome=yes\n",
              "PrivateTmp=yes\n", "PrivateDevices=yes\n", "NoNewPrivileges=yes\n",
              "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
              "SystemCallFilter=@system-service\n", "MemoryDenyWriteExecute=yes\n",
              "LockPersonality=yes\n", "LimitNOFILE=65536\n"}) {
            CHECK_MESSAGE(contains(u, line), std::string(line));
        }
        const std::string command = name.substr(9);  // agent, collector
        CHECK(contains(u, "\nExecStart=/usr/bin/hashwatt " + command + " --config /etc/hashwatt/" +
                              command + ".toml\n"));
        CHECK(contains(u, "\nLoadCredential="));
    }
    // Only the collector handles SIGHUP (it reloads the policy); for the agent it would be fatal.
    CHECK(contains(read_file(kSource + "/deploy/systemd/hashwatt-collector.service"),
                   "\nExecReload=/bin/kill -HUP $MAINPID\n"));
    CHECK(
        !contains(read_file(kSource + "/deploy/systemd/hashwatt-agent.service"), "\nExecReload="));
    // The state paths the units provide are the configs' defaults.
    CHECK(contains(read_file(kSource + "/deploy/config/collector.toml"),
                   "path = \"/var/lib/hashwatt/collector.db\""));
    CHECK(contains(read_file(kSource + "/deploy/config/agent.toml"),
                   "spool_dir = \"/var/lib/hashwatt/spool\""));
}

TEST_CASE("systemd-sysusers and systemd-tmpfiles create the user and the secrets directories") {
    TempDir dir;
    stage_install(dir);
    const RunResult users =
        run({"/usr/bin/systemd-sysusers", "--root=" + dir.path(), "hashwatt.conf"}, 30s);
    INFO(users.out, users.err);
    REQUIRE(users.exit_code == 0);
    const std::string passwd = read_file(dir.path() + "/etc/passwd");
    CHECK(contains(passwd, "hashwatt:x:"));
    CHECK(contains(passwd, ":/var/lib/hashwatt:/usr/sbin/nologin"));
    CHECK(contains(read_file(dir.path() + "/etc/group"), "hashwatt:x:"));

    const RunResult tmp = run(
        {"/usr/bin/systemd-tmpfiles", "--root=" + dir.path(), "--create", "hashwatt.conf"}, 30s);
    INFO(tmp.out, tmp.err);
    REQUIRE(tmp.exit_code == 0);
    for (const char* secrets : {"/etc/hashwatt/tokens", "/etc/hashwatt/secrets"}) {
        INFO(secrets);
        struct stat st {};
        REQUIRE(::stat((dir.path() + secrets).c_str(), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0700);
    }
}

TEST_CASE("maintainer scripts: postinst creates the user, never enables or starts a service") {
    TempDir dir;
    const std::string log = dir.path() + "/calls.log";
    const std::string path = "PATH=" + make_stubs(dir, log) + ":/usr/bin:/bin";
    const bool systemd_running = fs::exists("/run/systemd/system");
    auto script = [&](const std::string& name, const std::vector<std::string>& args) {
        fs::remove(log);
        std::vector<std::string> argv = {"/usr/bin/env", path, "/bin/sh",
                                         kSource + "/deploy/debian/" + name};
        argv.insert(argv.end(), args.begin(), args.end());
        const RunResult r = run(argv, 30s);
        INFO(name, r.out, r.err);
        CHECK(r.exit_code == 0);
        return fs::exists(log) ? read_file(log) : std::string();
    };
    for (const char* name : {"postinst", "prerm", "postrm"}) {
        const RunResult syntax = run({"/bin/sh", "-n", kSource + "/deploy/debian/" + name}, 10s);
        CHECK_MESSAGE(syntax.exit_code == 0, name << ": " << syntax.err);
    }

    const std::string fresh = script("postinst", {"configure", ""});
    CHECK(contains(fresh, "systemd-sysusers hashwatt.conf\n"));
    CHECK(contains(fresh, "systemd-tmpfiles --create hashwatt.conf\n"));
    CHECK(!contains(fresh, "enable"));
    CHECK(!contains(fresh, "systemctl start"));
    CHECK(!contains(fresh, "restart"));
    CHECK(contains(fresh, "systemctl daemon-reload") == systemd_running);

    // An upgrade restarts only the services already running (try-restart), on the new binary.
    const std::string upgrade = script("postinst", {"configure", "0.0.1-1"});
    CHECK(!contains(upgrade, "enable"));
    CHECK(contains(upgrade,
                   "systemctl try-restart hashwatt-collector.service "
                   "hashwatt-agent.service") == systemd_running);

    CHECK(contains(script("prerm", {"remove"}),
                   "systemctl stop hashwatt-agent.service "
                   "hashwatt-collector.service") == systemd_running);
    CHECK(!contains(script("prerm", {"upgrade", "0.2.0-1"}), "stop"));
    CHECK(!contains(script("postrm", {"remove"}), "hashwatt.conf"));
}

TEST_CASE("cpack builds hashwatt_<version>-1.deb with library Depends, conffiles and units") {
    TempDir dir;
    // zstd: the same package, compressed in a fraction of xz's time (Debian 12's dpkg reads it).
    const RunResult pack =
        run({HASHWATT_CPACK, "--config", std::string(HASHWATT_BUILD_DIR) + "/CPackConfig.cmake",
             "-B", dir.path(), "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=zstd"},
            170s);
    INFO(pack.out, pack.err);
    REQUIRE(pack.exit_code == 0);
    std::string deb;
    for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().extension() == ".deb") deb = e.path().string();
    }
    REQUIRE(!deb.empty());
    CHECK(fs::path(deb).filename().string().starts_with("hashwatt_" HASHWATT_VERSION "-1_"));

    const RunResult info = run({"/usr/bin/dpkg-deb", "--info", deb}, 30s);
    INFO(info.out, info.err);
    REQUIRE(info.exit_code == 0);
    CHECK(contains(info.out, " Package: hashwatt\n"));
    CHECK(contains(info.out, " Version: " HASHWATT_VERSION "-1\n"));
    // dpkg-shlibdeps found the libraries the binary links.
    const std::string depends = info.out.substr(info.out.find(" Depends: "));
    for (const char* lib : {"libc6", "libstdc++6", "libsqlite3-0", "libzstd1", "libssl3",
                            "libboost-json1.81.0", "libprometheus-cpp-core1.0", "systemd"}) {
        CHECK_MESSAGE(contains(depends.substr(0, depends.find('\n')), lib), std::string(lib));
    }
    // Maintainer scripts are executable (a * in dpkg-deb's listing).
    for (const char* script : {"postinst", "prerm", "postrm"}) {
        CHECK_MESSAGE(contains(info.out, std::string("*  ") + script), std::string(script));
    }

    const RunResult conffiles = run({"/usr/bin/dpkg-deb", "--info", deb, "conffiles"}, 30s);
    CHECK(contains(conffiles.out, "/etc/hashwatt/agent.toml\n"));
    CHECK(contains(conffiles.out, "/etc/hashwatt/collector.toml\n"));
    CHECK(contains(conffiles.out, "/etc/hashwatt/policy.toml\n"));

    const RunResult contents = run({"/usr/bin/dpkg-deb", "--contents", deb}, 60s);
    INFO(contents.err);
    REQUIRE(contents.exit_code == 0);
    for (const char* file :
         {"./usr/bin/hashwatt", "./usr/lib/systemd/system/hashwatt-agent.service",
          "./usr/lib/systemd/system/hashwatt-collector.service",
          "./usr/lib/sysusers.d/hashwatt.conf", "./usr/lib/tmpfiles.d/hashwatt.conf",
          "./etc/hashwatt/collector.toml", "./usr/share/hashwatt/grafana/dashboards/",
          "./usr/share/hashwatt/prometheus/rules/", "./usr/share/doc/hashwatt/operations.md"}) {
        CHECK_MESSAGE(contains(contents.out, file), std::string(file));
    }
    // Every conffile is in the package.
    std::istringstream lines(conffiles.out);
    for (std::string line; std::getline(lines, line);) {
        CHECK_MESSAGE(contains(contents.out, "." + line + "\n"), line);
    }
}
