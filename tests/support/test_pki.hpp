// A throwaway certificate authority made at run time with OpenSSL's C API (nothing on disk
// until a test writes it): EC P-256 keys, SHA-256 signatures, certificates for loopback names
// with chosen SANs and validity. For the TLS tests only; never a pattern for real keys.
#pragma once

#include <string>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace hashwatt::test {

struct PemPair {
    std::string cert;  // PEM certificate
    std::string key;   // PEM private key (PKCS#8)
};

class TestCa {
  public:
    explicit TestCa(const std::string& common_name);
    ~TestCa();
    TestCa(const TestCa&) = delete;
    TestCa& operator=(const TestCa&) = delete;

    const std::string& cert_pem() const noexcept { return cert_pem_; }

    // A server certificate signed by this CA for the DNS names and IP addresses given (as
    // subjectAltName entries), valid from now + not_before_s to now + not_after_s (seconds;
    // negative values lie in the past, for an expired certificate). Throws on OpenSSL failure.
    PemPair issue_server(const std::vector<std::string>& dns, const std::vector<std::string>& ips,
                         long not_before_s = -3600, long not_after_s = 86400) const;

  private:
    EVP_PKEY* key_ = nullptr;
    X509* cert_ = nullptr;
    std::string cert_pem_;
};

}  // namespace hashwatt::test
