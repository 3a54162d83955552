// Command lines (native and webbench), URLs and the rendered request.
#include "options.h"

#include <gtest/gtest.h>

#include "request.h"
#include "url.h"

namespace sluice::bench {
namespace {

using Kind = ParseOutcome::Kind;

TEST(Url, Parts) {
  Url u;
  std::string err;
  ASSERT_TRUE(parse_url("http://127.0.0.1:8080/a/b?x=1#frag", u, err)) << err;
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/a/b?x=1");
  EXPECT_EQ(u.authority, "127.0.0.1:8080");
  ASSERT_TRUE(parse_url("localhost", u, err));
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/");
  ASSERT_TRUE(parse_url("http://[::1]:99/", u, err));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.host_port(), "[::1]:99");
  EXPECT_FALSE(parse_url("https://x/", u, err));
  EXPECT_NE(err.find("https"), std::string::npos);
  EXPECT_FALSE(parse_url("http://x:0/", u, err));
  EXPECT_FALSE(parse_url("http://x:70000/", u, err));
  EXPECT_FALSE(parse_url("http:///path", u, err));
}

TEST(Options, Native) {
  Options o;
  auto r = parse_options({"-c", "100", "-t2", "-d", "500ms", "--pipeline=16", "-H", "X-A: b",
                          "--latency", "--json", "http://127.0.0.1:1/"},
                         o);
  ASSERT_EQ(r.kind, Kind::kRun) << r.error;
  EXPECT_EQ(o.connections, 100u);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.duration, std::chrono::milliseconds(500));
  EXPECT_EQ(o.pipeline, 16u);
  ASSERT_EQ(o.headers.size(), 1u);
  EXPECT_EQ(o.headers[0].first, "X-A");
  EXPECT_EQ(o.headers[0].second, "b");
  EXPECT_TRUE(o.latency_table);
  EXPECT_EQ(o.format, OutputFormat::kJson);
}

TEST(Options, DefaultsAndLimits) {
  Options o;
  ASSERT_EQ(parse_options({"http://h/"}, o).kind, Kind::kRun);
  EXPECT_EQ(o.duration, std::chrono::seconds(10));
  ASSERT_EQ(parse_options({"-n", "1000", "http://h/"}, o).kind, Kind::kRun);
  EXPECT_EQ(o.duration.count(), 0);  // -n alone: no time limit
  EXPECT_EQ(o.requests, 1000u);
  ASSERT_EQ(parse_options({"--rate", "2500.5", "--timeout", "2s", "http://h/"}, o).kind,
            Kind::kRun);
  EXPECT_DOUBLE_EQ(o.rate, 2500.5);
  EXPECT_EQ(o.timeout, std::chrono::seconds(2));
  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"-c", "0", "http://h/"},
           {"-c", "x", "http://h/"},
           {"--pipeline", "0", "http://h/"},
           {"--pipeline", "4", "--no-keepalive", "http://h/"},
           {"--rate", "-1", "http://h/"},
           {"-d", "5parsecs", "http://h/"},
           {"-H", "no colon", "http://h/"},
           {"--bogus", "http://h/"},
           {"http://a/", "http://b/"},
           {"-c", "10"},
           {"--body-file", "/nonexistent/file", "http://h/"},
       }) {
    EXPECT_EQ(parse_options(bad, o).kind, Kind::kError) << bad[0];
  }
  EXPECT_EQ(parse_options({"--help"}, o).kind, Kind::kHelp);
  EXPECT_EQ(parse_options({"--version"}, o).kind, Kind::kVersion);
}

TEST(Options, SourceRanges) {
  Options o;
  ASSERT_EQ(
      parse_options({"--source", "127.0.0.2-127.0.0.4", "--source=127.0.1.1", "http://h/"}, o).kind,
      Kind::kRun);
  EXPECT_EQ(o.sources,
            (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1"}));
  EXPECT_EQ(parse_options({"--source", "127.0.0.9-127.0.0.1", "http://h/"}, o).kind, Kind::kError);
  EXPECT_EQ(parse_options({"--source", "nonsense", "http://h/"}, o).kind, Kind::kError);
}

TEST(Options, Webbench) {
  Options o;
  auto r =
      parse_options({"--webbench", "-c", "50", "-t", "3", "-r", "-2", "http://127.0.0.1:1/"}, o);
  ASSERT_EQ(r.kind, Kind::kRun) << r.error;
  EXPECT_EQ(o.format, OutputFormat::kWebbench);
  EXPECT_EQ(o.connections, 50u);
  EXPECT_EQ(o.duration, std::chrono::seconds(3));
  EXPECT_FALSE(o.keepalive);
  EXPECT_FALSE(o.http10);
  EXPECT_TRUE(o.wait_for_reply);
  EXPECT_TRUE(o.webbench_reload);

  ASSERT_EQ(parse_options({"--webbench", "-f", "-9", "--head", "http://h/"}, o).kind, Kind::kRun);
  EXPECT_FALSE(o.wait_for_reply);
  EXPECT_TRUE(o.http10);
  EXPECT_EQ(o.webbench_http_version, 9);
  EXPECT_EQ(o.method, "HEAD");
  EXPECT_EQ(o.duration, std::chrono::seconds(30));

  ASSERT_EQ(parse_options({"--webbench", "-n", "100", "http://h/"}, o).kind, Kind::kRun);
  EXPECT_EQ(o.requests, 100u);
  EXPECT_EQ(o.duration.count(), 0);
  EXPECT_EQ(parse_options({"--webbench", "-p", "proxy:80", "http://h/"}, o).kind, Kind::kError);
}

TEST(Request, Rendering) {
  Options o;
  ASSERT_EQ(
      parse_options({"-m", "POST", "--body", "abc", "-H", "X-Y: z", "http://127.0.0.1:8080/p"}, o)
          .kind,
      Kind::kRun);
  EXPECT_EQ(render_request(o),
            "POST /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: sluice-bench\r\n"
            "X-Y: z\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(parse_options({"--http1.0", "-H", "Host: other", "http://h/"}, o).kind, Kind::kRun);
  EXPECT_EQ(render_request(o),
            "GET / HTTP/1.0\r\nUser-Agent: sluice-bench\r\nConnection: keep-alive\r\n"
            "Host: other\r\n\r\n");
  ASSERT_EQ(parse_options({"--no-keepalive", "http://h/"}, o).kind, Kind::kRun);
  EXPECT_NE(render_request(o).find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace sluice::bench
