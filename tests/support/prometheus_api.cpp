#include "tests/support/prometheus_api.hpp"

#include "tests/support/net.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace hashwatt::test {

namespace json = boost::json;
using namespace std::chrono_literals;

unsigned free_port_on(const std::string& ip) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address(ip), 0});
    return a.local_endpoint().port();
}

std::string host_port(const std::string& ip, unsigned port) {
    return ip + ":" + std::to_string(port);
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string adapt(std::string text, const std::string& file, const std::string& from,
                  const std::string& to) {
    std::size_t at = text.find(from);
    if (at == std::string::npos) throw std::runtime_error(file + " no longer has " + from);
    for (; at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

bool wait_ready(const std::string& ip, unsigned port, Child& child, const std::string& path,
                std::chrono::milliseconds timeout) {
    return wait_until(
               [&] {
                   return http_request(ip, port, "GET", path, {}, {}, 1s).status == 200 ||
                          !child.running();
               },
               timeout, 100ms) &&
           child.running();
}

std::optional<json::value> PrometheusApi::api(const std::string& target, std::string* error) const {
    const auto r = http_request(ip, port, "GET", "/api/v1/" + target, {}, {}, 10s);
    boost::system::error_code ec;
    auto v = r.status == 200 ? json::parse(r.body, ec) : json::value();
    if (r.status != 200 || ec) {
        if (error) *error = std::to_string(r.status) + " " + r.body + r.error;
        return std::nullopt;
    }
    return v;
}

std::optional<json::value> PrometheusApi::query(const std::string& expr, std::string* error) const {
    auto v = api("query?query=" + boost::urls::encode(expr, boost::urls::unreserved_chars), error);
    if (!v) return std::nullopt;
    return v->at("data");
}

long PrometheusApi::series(const std::string& expr, std::string* error) const {
    const auto d = query(expr, error);
    if (!d) return -1;
    const auto& type = d->at("resultType").as_string();
    if (type == "scalar" || type == "string") return 1;
    return static_cast<long>(d->at("result").as_array().size());
}

std::optional<json::array> PrometheusApi::vector(const std::string& expr,
                                                 std::string* error) const {
    const auto d = query(expr, error);
    if (!d) return std::nullopt;
    if (d->at("resultType").as_string() != "vector") return json::array{};
    return d->at("result").as_array();
}

std::optional<double> PrometheusApi::value(const std::string& expr) const {
    const auto r = vector(expr);
    if (!r || r->size() != 1) return std::nullopt;
    return std::stod(std::string(r->at(0).at("value").at(1).as_string()));
}

std::map<std::string, double> PrometheusApi::by(const std::string& expr,
                                                const std::string& label) const {
    std::map<std::string, double> out;
    for (const auto& s : vector(expr).value_or(json::array{})) {
        const auto& m = s.at("metric").as_object();
        const std::string key = m.contains(label) ? std::string(m.at(label).as_string()) : "";
        out[key] = std::stod(std::string(s.at("value").at(1).as_string()));
    }
    return out;
}

}  // namespace hashwatt::test
