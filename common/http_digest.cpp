#include "common/http_digest.hpp"

#include "common/crypto.hpp"

#include <algorithm>
#include <cctype>

namespace hashwatt::http_digest {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string join(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto p : parts) {
        if (!out.empty()) out.push_back(':');
        out += p;
    }
    return out;
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse(std::string_view h) {
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    if (h.size() < 7 || !iequals(h.substr(0, 6), "Digest") || (h[6] != ' ' && h[6] != '\t')) {
        return std::nullopt;
    }
    std::map<std::string, std::string> out;
    std::size_t i = 7;
    while (i < h.size()) {
        while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
        if (i >= h.size()) break;
        const std::size_t key_start = i;
        while (i < h.size() && h[i] != '=' && h[i] != ' ' && h[i] != ',') ++i;
        if (i >= h.size() || h[i] != '=') return std::nullopt;
        std::string key(h.substr(key_start, i - key_start));
        for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ++i;  // '='
        std::string value;
        if (i < h.size() && h[i] == '"') {
            ++i;
            while (i < h.size() && h[i] != '"') {
                if (h[i] == '\\' && i + 1 < h.size()) ++i;
                value.push_back(h[i++]);
            }
            if (i >= h.size()) return std::nullopt;  // unterminated quote
            ++i;
        } else {
            while (i < h.size() && h[i] != ',' && h[i] != ' ') value.push_back(h[i++]);
        }
        out[key] = std::move(value);
    }
    return out;
}

std::string response(std::string_view user, std::string_view realm, std::string_view password,
                     std::string_view method, std::string_view uri, std::string_view nonce,
                     std::string_view nc, std::string_view cnonce, std::string_view qop) {
    const std::string ha1 = crypto::md5_hex(join({user, realm, password}));
    const std::string ha2 = crypto::md5_hex(join({method, uri}));
    if (qop.empty()) return crypto::md5_hex(join({ha1, nonce, ha2}));
    return crypto::md5_hex(join({ha1, nonce, nc, cnonce, qop, ha2}));
}

std::optional<std::string> authorization(std::string_view challenge, std::string_view user,
                                         std::string_view password, std::string_view method,
                                         std::string_view uri) {
    const auto p = parse(challenge);
    if (!p || !p->contains("realm") || !p->contains("nonce")) return std::nullopt;
    if (auto a = p->find("algorithm"); a != p->end() && !iequals(a->second, "MD5"))
        return std::nullopt;
    std::string qop;
    if (auto q = p->find("qop"); q != p->end()) {
        // "auth" or a list containing it; auth-int alone is not supported.
        std::string_view list = q->second;
        while (!list.empty() && qop.empty()) {
            const auto comma = std::min(list.find(','), list.size());
            std::string_view token = list.substr(0, comma);
            while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
            while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
            if (token == "auth") qop = "auth";
            list.remove_prefix(std::min(comma + 1, list.size()));
        }
        if (qop.empty()) return std::nullopt;
    }
    const std::string& realm = p->at("realm");
    const std::string& nonce = p->at("nonce");
    const std::string nc = "00000001";
    const std::string cnonce = crypto::random_token(8);
    std::string h = "Digest username=\"" + std::string(user) + "\", realm=\"" + realm +
                    "\", nonce=\"" + nonce + "\", uri=\"" + std::string(uri) + "\", response=\"" +
                    response(user, realm, password, method, uri, nonce, nc, cnonce, qop) + "\"";
    if (!qop.empty()) h += ", qop=" + qop + ", nc=" + nc + ", cnonce=\"" + cnonce + "\"";
    if (auto o = p->find("opaque"); o != p->end()) h += ", opaque=\"" + o->second + "\"";
    h += ", algorithm=MD5";
    return h;
}

bool verify(std::string_view authorization_header, std::string_view realm, std::string_view user,
            std::string_view password, std::string_view method, std::string_view uri) {
    const auto p = parse(authorization_header);
    if (!p) return false;
    auto get = [&](const char* k) -> std::string_view {
        auto it = p->find(k);
        return it == p->end() ? std::string_view{} : std::string_view(it->second);
    };
    if (get("username") != user || get("realm") != realm || get("nonce").empty() ||
        get("uri") != uri)
        return false;
    const auto expected = response(user, realm, password, method, get("uri"), get("nonce"),
                                   get("nc"), get("cnonce"), get("qop"));
    return crypto::constant_time_equal(expected, get("response"));
}

}  // namespace hashwatt::http_digest
