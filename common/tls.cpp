#include "common/tls.hpp"

#include <stdexcept>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace hashwatt::tls {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// What Asio reported for a refused certificate or key, from the error code (Asio has taken
// the error off OpenSSL's queue already).
std::string reason_of(const boost::system::error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        const auto e = static_cast<unsigned long>(ec.value());
        if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            return "the private key does not match the certificate";
        }
        if (const char* reason = ERR_reason_error_string(e)) return reason;
    }
    return ec.message();
}

// The oldest queued OpenSSL error as text, and the queue emptied (a stale entry would be
// blamed on the next, unrelated call).
std::string openssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    const char* reason = ERR_reason_error_string(e);
    return reason ? reason : "OpenSSL error " + std::to_string(e);
}

void common_setup(SSL_CTX* ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
        throw std::runtime_error("TLS: cipher list refused: " + openssl_reason());
    }
}

}  // namespace

std::shared_ptr<ssl::context> make_server_context(const std::string& cert_chain_pem,
                                                  const std::string& key_pem,
                                                  const std::string& what) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    common_setup(ctx->native_handle());
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    boost::system::error_code ec;
    ctx->use_certificate_chain(asio::buffer(cert_chain_pem), ec);
    if (ec) throw std::runtime_error(what + ": certificate not usable: " + reason_of(ec));
    ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
    if (ec) throw std::runtime_error(what + ": private key not usable: " + reason_of(ec));
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        throw std::runtime_error(what + ": the private key does not match the certificate (" +
                                 openssl_reason() + ")");
    }
    return ctx;
}

std::shared_ptr<ssl::context> make_client_context(const std::string& ca_file, bool pinned) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    common_setup(ctx->native_handle());
    boost::system::error_code ec;
    if (ca_file.empty()) {
        ctx->set_default_verify_paths(ec);
        if (ec) throw std::runtime_error("TLS: cannot load the system CA store: " + reason_of(ec));
    } else {
        ctx->load_verify_file(ca_file, ec);
        if (ec) {
            throw std::runtime_error("TLS: cannot load CA file '" + ca_file +
                                     "': " + reason_of(ec));
        }
    }
    if (pinned) {
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx->native_handle()),
                                    X509_V_FLAG_PARTIAL_CHAIN);
    }
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
}

bool expect_peer(SSL* ssl, const std::string& host) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) return false;
    // SSL_set_tlsext_host_name, spelt out: the macro's C cast trips -Wold-style-cast.
    return SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                    const_cast<char*>(host.c_str())) == 1;
}

std::string handshake_error(const boost::system::error_code& ec, SSL* ssl) {
    if (ssl != nullptr) {
        const long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
        }
    }
    if (ec.category() == asio::error::get_ssl_category()) {
        const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        if (reason) return reason;
    }
    if (ec == ssl::error::stream_truncated) return "the peer closed during the TLS handshake";
    return ec.message();
}

}  // namespace hashwatt::tls
