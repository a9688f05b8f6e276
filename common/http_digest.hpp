// HTTP Digest authentication (RFC 2617, MD5), as stock Antminer web CGIs use it. Both sides live
// here: the agent answers challenges, the simulator checks answers.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hashwatt::http_digest {

// The parameters of a `Digest k="v", k=v, ...` header (WWW-Authenticate or Authorization), keys
// lower-cased. nullopt for another scheme or a malformed header.
std::optional<std::map<std::string, std::string>> parse(std::string_view header);

// The `response` value: MD5(HA1:nonce:nc:cnonce:qop:HA2) with qop "auth", MD5(HA1:nonce:HA2)
// without qop, where HA1 = MD5(user:realm:password) and HA2 = MD5(method:uri).
std::string response(std::string_view user, std::string_view realm, std::string_view password,
                     std::string_view method, std::string_view uri, std::string_view nonce,
                     std::string_view nc, std::string_view cnonce, std::string_view qop);

// The Authorization header value answering `challenge` (a WWW-Authenticate value) for one
// request. nullopt when the challenge is not a usable Digest challenge (only MD5 and qop "auth"
// or none are supported).
std::optional<std::string> authorization(std::string_view challenge, std::string_view user,
                                         std::string_view password, std::string_view method,
                                         std::string_view uri);

// Checks an Authorization header against the expected credentials for a request to `uri` (the
// request target; the header's uri must name it). The nonce is not checked for freshness (the
// simulator does not need replay protection).
bool verify(std::string_view authorization_header, std::string_view realm, std::string_view user,
            std::string_view password, std::string_view method, std::string_view uri);

}  // namespace hashwatt::http_digest
