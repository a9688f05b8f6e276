#include "tests/support/sim_process.hpp"

#include "tests/support/net.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace hashwatt::test {

SimProcess::SimProcess(const std::string& binary, std::vector<std::string> args,
                       const std::string& log_prefix) {
    if (std::find(args.begin(), args.end(), "--admin") == args.end() &&
        std::find(args.begin(), args.end(), "--replay") == args.end()) {
        args.insert(args.end(), {"--admin", "127.0.0.1:0"});
    }
    args.insert(args.begin(), {binary, "sim"});
    child_ = std::make_unique<Child>(args, log_prefix);
    const bool ready = wait_until(
        [&] {
            return child_->stdout_text().find("ready\n") != std::string::npos || !child_->running();
        },
        std::chrono::seconds(60));
    const std::string out = child_->stdout_text();
    if (!ready || out.find("ready\n") == std::string::npos) {
        throw std::runtime_error("hashwatt sim did not start: " + child_->stderr_text());
    }
    // The first lines are documented in docs/simulator.md: "... rpc=P http=P", "admin: URL".
    if (const auto a = out.find("admin: "); a != std::string::npos) {
        std::tie(admin_ip_, admin_port_) = split_url(out.substr(a + 7, out.find('\n', a) - a - 7));
    }
    auto number_after = [&](const std::string& key) -> unsigned {
        const auto k = out.find(key);
        return k == std::string::npos
                   ? 0U
                   : static_cast<unsigned>(std::stoul(out.substr(k + key.size())));
    };
    http_port_ = number_after("http=");
    rpc_port_ = number_after("rpc=");
}

std::string SimProcess::get(const std::string& path) const {
    const auto r = http_request(admin_ip_, admin_port_, "GET", path);
    if (r.status != 200) {
        throw std::runtime_error("GET " + path + " -> " + std::to_string(r.status) + " " + r.error +
                                 " " + r.body);
    }
    return r.body;
}

int SimProcess::post(const std::string& path, const std::string& body) const {
    return http_request(admin_ip_, admin_port_, "POST", path, body).status;
}

int SimProcess::del(const std::string& path) const {
    return http_request(admin_ip_, admin_port_, "DELETE", path).status;
}

}  // namespace hashwatt::test
