// InetAddress: numeric parsing, error reporting, name resolution.
#include "sluice/net/inet_address.h"

#include <gtest/gtest.h>

namespace sluice::net {
namespace {

TEST(InetAddress, ParsesIpv4AndPort) {
  auto a = InetAddress::parse("127.0.0.1:8080");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->ip_string(), "127.0.0.1");
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a->length(), sizeof(sockaddr_in));
}

TEST(InetAddress, ParsesBracketedIpv6AndPort) {
  auto a = InetAddress::parse("[::1]:443");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->family(), AF_INET6);
  EXPECT_EQ(a->port(), 443);
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->to_string(), "[::1]:443");
  EXPECT_EQ(a->length(), sizeof(sockaddr_in6));

  auto b = InetAddress::parse("[2001:db8::7]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ip_string(), "2001:db8::7");
  EXPECT_FALSE(b->is_loopback());
}

TEST(InetAddress, WildcardHostMeansAnyIpv4) {
  for (const char* text : {":8080", "*:8080"}) {
    auto a = InetAddress::parse(text);
    ASSERT_TRUE(a.ok()) << text;
    EXPECT_EQ(a->family(), AF_INET) << text;
    EXPECT_EQ(a->ip_string(), "0.0.0.0") << text;
    EXPECT_EQ(a->port(), 8080) << text;
  }
}

TEST(InetAddress, RejectsBadInputWithAnError) {
  const char* bad[] = {
      "",                 // nothing
      "127.0.0.1",        // no port
      "127.0.0.1:",       // empty port
      "127.0.0.1:65536",  // port out of range
      "127.0.0.1:-1",     // negative port
      "127.0.0.1:80x",    // trailing garbage
      "127.0.0.1: 80",    // space
      "256.0.0.1:80",     // octet out of range
      "::1:80",           // v6 without brackets
      "[::1]80",          // no colon after ]
      "[::1]:",           // empty port
      "[::1",             // unterminated
      "[not-an-ip]:80",   // brackets around a non-address
      "localhost:80",     // a name: parse() is numeric only
  };
  for (const char* text : bad) {
    auto a = InetAddress::parse(text);
    EXPECT_FALSE(a.ok()) << "accepted '" << text << "' as " << (a.ok() ? a->to_string() : "");
    if (!a.ok()) {
      EXPECT_TRUE(a.error()) << text;
    }
  }
}

TEST(InetAddress, SetPortAndEqualityRoundTrip) {
  auto a = InetAddress::parse("10.1.2.3:1");
  ASSERT_TRUE(a.ok());
  a->set_port(65535);
  EXPECT_EQ(a->port(), 65535);
  auto b = InetAddress::parse("10.1.2.3:65535");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(*a == *b);
  b->set_port(2);
  EXPECT_FALSE(*a == *b);
  InetAddress copy = InetAddress::from_sockaddr(a->sockaddr_ptr(), a->length());
  EXPECT_TRUE(copy == *a);
}

TEST(InetAddress, ResolvesLocalhostToLoopbackWithThePort) {
  auto r = InetAddress::resolve("localhost:80");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_FALSE(r->empty());
  for (const InetAddress& a : *r) {
    EXPECT_TRUE(a.family() == AF_INET || a.family() == AF_INET6);
    EXPECT_EQ(a.port(), 80) << a.to_string();
    EXPECT_TRUE(a.is_loopback()) << a.to_string();
  }
}

TEST(InetAddress, ResolveTakesNumericAddressesWithoutLookup) {
  auto r = InetAddress::resolve("[::1]:9");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().to_string(), "[::1]:9");
}

TEST(InetAddress, ResolveReportsErrors) {
  EXPECT_FALSE(InetAddress::resolve("localhost").ok());                // no port
  EXPECT_FALSE(InetAddress::resolve("no-such-host.invalid:80").ok());  // RFC 2606: never resolves
}

}  // namespace
}  // namespace sluice::net
