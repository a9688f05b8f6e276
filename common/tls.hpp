// TLS for the collector API: the server context (the collector's listener) and the client
// context (the agent's uplink and command loop, the CLI), built the same way everywhere so
// that the protocol floor and the ciphers live in one place. OpenSSL underneath, through
// Boost.Asio's ssl wrappers. docs/operations.md says how to provision the files.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

typedef struct ssl_st SSL;

namespace hashwatt::tls {

// TLS 1.2 at least; for 1.2 only ECDHE key exchange with AEAD ciphers (forward secrecy, no
// CBC, no RSA key transport); 1.3 keeps OpenSSL's defaults, which are all of that already.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// A server context from a PEM certificate chain (leaf first) and its PEM private key, both
// given as text (the caller read the key with the secret-file care). Throws
// std::runtime_error saying which part OpenSSL refused and why (e.g. the key does not match
// the certificate). `what` names the source in that message ("[api] tls_cert_file ...").
std::shared_ptr<boost::asio::ssl::context> make_server_context(const std::string& cert_chain_pem,
                                                               const std::string& key_pem,
                                                               const std::string& what);

// A client context that verifies the peer: against the PEM CA bundle `ca_file`, or the
// system's default store when it is empty. There is deliberately no way to turn verification
// off. Throws std::runtime_error naming the file when it cannot be loaded. `pinned`: the
// certificates in `ca_file` are trusted as they are, a leaf included (the collector's own
// embedded agents trust exactly its certificate file).
std::shared_ptr<boost::asio::ssl::context> make_client_context(const std::string& ca_file,
                                                               bool pinned = false);

// Before the client handshake: sends `host` as SNI (names only, as RFC 6066 wants) and makes
// the handshake fail unless the certificate is for `host` (DNS name or IP address SAN).
// Returns false when OpenSSL refuses the name.
bool expect_peer(SSL* ssl, const std::string& host);

// A failed handshake as one line: "certificate verify failed: unable to get local issuer
// certificate", "certificate verify failed: hostname mismatch", "wrong version number", ...
// `ssl` supplies the verification result when the certificate was the problem.
std::string handshake_error(const boost::system::error_code& ec, SSL* ssl);

}  // namespace hashwatt::tls
