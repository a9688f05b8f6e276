#include "common/http_digest.hpp"

#include <doctest/doctest.h>

using namespace hashwatt;

TEST_CASE("digest: the RFC 2617 example") {
    CHECK(http_digest::response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                                "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
                                "0a4f113b", "auth") == "6629fae49393a05397450978507c4ef1");
}

TEST_CASE("digest: parse challenges, answer them, verify the answer") {
    const std::string challenge =
        R"(Digest realm="antMiner Configuration", nonce="abc123", qop="auth", opaque="xyz")";
    const auto p = http_digest::parse(challenge);
    REQUIRE(p);
    CHECK(p->at("realm") == "antMiner Configuration");
    CHECK(p->at("qop") == "auth");
    const auto auth = http_digest::authorization(challenge, "root", "root", "GET",
                                                 "/cgi-bin/get_system_info.cgi");
    REQUIRE(auth);
    CHECK(auth->find("opaque=\"xyz\"") != std::string::npos);
    CHECK(http_digest::verify(*auth, "antMiner Configuration", "root", "root", "GET",
                              "/cgi-bin/get_system_info.cgi"));
    CHECK_FALSE(http_digest::verify(*auth, "antMiner Configuration", "root", "wrong", "GET",
                                    "/cgi-bin/get_system_info.cgi"));
    CHECK_FALSE(http_digest::verify(*auth, "antMiner Configuration", "root", "root", "POST",
                                    "/cgi-bin/get_system_info.cgi"));
    CHECK_FALSE(http_digest::verify(*auth, "antMiner Configuration", "root", "root", "GET",
                                    "/cgi-bin/reboot.cgi"));
    // Without qop (RFC 2069 style) too.
    const auto old =
        http_digest::authorization(R"(Digest realm="r", nonce="n")", "u", "p", "GET", "/");
    REQUIRE(old);
    CHECK(old->find("qop") == std::string::npos);
    CHECK(http_digest::verify(*old, "r", "u", "p", "GET", "/"));
}

TEST_CASE("digest: other schemes and broken headers are refused") {
    CHECK_FALSE(http_digest::parse("Basic cm9vdDpyb290"));
    CHECK_FALSE(http_digest::parse(R"(Digest realm="unterminated)"));
    CHECK_FALSE(http_digest::authorization(R"(Digest realm="r", nonce="n", algorithm=SHA-256)", "u",
                                           "p", "GET", "/"));
    CHECK_FALSE(http_digest::authorization(R"(Digest realm="r", nonce="n", qop="auth-int")", "u",
                                           "p", "GET", "/"));
    CHECK_FALSE(http_digest::authorization(R"(Digest nonce="n")", "u", "p", "GET", "/"));
    CHECK_FALSE(http_digest::verify("", "r", "u", "p", "GET", "/"));
}
