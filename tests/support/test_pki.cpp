#include "tests/support/test_pki.hpp"

#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace hashwatt::test {

namespace {

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

EVP_PKEY* new_key() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    check(k != nullptr, "EC key generation");
    return k;
}

std::string drain(BIO* bio) {
    std::string out(static_cast<std::size_t>(BIO_ctrl_pending(bio)), '\0');
    const int n = BIO_read(bio, out.data(), static_cast<int>(out.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    BIO_free(bio);
    return out;
}

std::string cert_to_pem(X509* x) {
    BIO* bio = BIO_new(BIO_s_mem());
    check(bio && PEM_write_bio_X509(bio, x) == 1, "PEM_write_bio_X509");
    return drain(bio);
}

std::string key_to_pem(EVP_PKEY* k) {
    BIO* bio = BIO_new(BIO_s_mem());
    check(bio && PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "PEM_write_bio_PrivateKey");
    return drain(bio);
}

void add_ext(X509* x, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

// A certificate for `key`'s public half named `cn`, signed by `signer` (itself when null).
X509* make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* signer,
                long not_before_s, long not_after_s) {
    X509* x = X509_new();
    check(x != nullptr, "X509_new");
    X509_set_version(x, 2);
    unsigned char serial[8];
    check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
    serial[0] &= 0x7F;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("hashwatt tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509* ext_issuer = issuer ? issuer : x;
    add_ext(x, ext_issuer, NID_subject_key_identifier, "hash");
    add_ext(x, ext_issuer, NID_authority_key_identifier, "keyid:always");
    if (!issuer) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    check(X509_sign(x, signer ? signer : key, EVP_sha256()) > 0, "X509_sign");
    return x;
}

}  // namespace

TestCa::TestCa(const std::string& common_name) {
    key_ = new_key();
    cert_ = make_cert(key_, common_name, nullptr, nullptr, -3600, 86400);
    cert_pem_ = cert_to_pem(cert_);
}

TestCa::~TestCa() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
}

PemPair TestCa::issue_server(const std::vector<std::string>& dns,
                             const std::vector<std::string>& ips, long not_before_s,
                             long not_after_s) const {
    EVP_PKEY* key = new_key();
    const std::string cn = dns.empty() ? (ips.empty() ? "server" : ips.front()) : dns.front();
    // make_cert signs; the server extensions are added after and the result signed again.
    X509* x = make_cert(key, cn, cert_, key_, not_before_s, not_after_s);
    std::string san;
    for (const auto& d : dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& i : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + i;
    if (!san.empty()) add_ext(x, cert_, NID_subject_alt_name, san);
    add_ext(x, cert_, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, cert_, NID_key_usage, "critical,digitalSignature");
    add_ext(x, cert_, NID_ext_key_usage, "serverAuth");
    check(X509_sign(x, key_, EVP_sha256()) > 0, "X509_sign");
    PemPair out{cert_to_pem(x), key_to_pem(key)};
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

}  // namespace hashwatt::test
