// The sluice-bench executable: text and JSON agree; webbench's lines; exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "json_lite.h"
#include "test_server.h"

namespace {

using bench_test::Json;
using bench_test::JsonReader;
using bench_test::TestServer;
using bench_test::TestServerConfig;

struct Output {
  std::string out;
  int status = -1;
};

Output run_tool(const std::string& args) {
  const std::string cmd = std::string(SLUICE_BENCH_PATH) + " " + args + " 2>/dev/null";
  Output o;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  const int rc = ::pclose(p);
  o.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return o;
}

std::string temp_path(const char* name) {
  return "/tmp/sluice-bench-test-" + std::to_string(::getpid()) + "-" + name;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The number after `label` (regex-escaped) on the line starting with `line`.
double figure(const std::string& text, const std::string& line, const std::string& label) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l.rfind(line, 0) != 0) continue;
    const std::regex re("(^|\\s)" + label + "\\s+([0-9.]+)");
    std::smatch m;
    const std::string rest = l.substr(line.size());
    if (std::regex_search(rest, m, re)) return std::stod(m[2]);
  }
  ADD_FAILURE() << "no '" << label << "' on line '" << line << "' in:\n" << text;
  return -1;
}

// The line after `line` (the percentile line follows "Latency (us):").
std::string line_after(const std::string& text, const std::string& line) {
  const auto at = text.find(line);
  if (at == std::string::npos) return {};
  const auto start = text.find('\n', at) + 1;
  return text.substr(start, text.find('\n', start) - start);
}

TEST(Binary, JsonHoldsTheSameFiguresAsTheText) {
  TestServerConfig config;
  config.error_every = 7;
  TestServer server(config);
  const std::string json_path = temp_path("out.json");
  const Output o = run_tool("-c 4 -t 2 -n 1500 --json-out " + json_path + " " + server.url());
  ASSERT_EQ(o.status, 0) << o.out;
  const std::string text = o.out;
  Json j;
  ASSERT_NO_THROW(j = JsonReader(read_all(json_path)).parse()) << read_all(json_path);
  std::remove(json_path.c_str());

  EXPECT_EQ(j.at("url").string, server.url());
  EXPECT_EQ(j.num("connections"), 4);
  EXPECT_EQ(j.num("threads"), 2);
  EXPECT_EQ(j.at("requests").num("completed"), 1500);
  EXPECT_EQ(j.at("requests").num("completed"), figure(text, "Requests:", "completed"));
  EXPECT_EQ(j.at("requests").num("sent"), figure(text, "Requests:", "sent"));
  EXPECT_EQ(j.at("requests").num("lost"), figure(text, "Requests:", "lost"));
  EXPECT_EQ(j.num("duration_s"), std::stod(text.substr(text.find("Duration:") + 9)));
  EXPECT_EQ(j.num("requests_per_sec"), std::stod(text.substr(text.find("Requests/sec:") + 13)));
  EXPECT_EQ(j.num("bytes_read"), std::stod(text.substr(text.find("Bytes read:") + 11)));
  const Json& lat = j.at("latency_us");
  EXPECT_EQ(lat.num("count"), 1500);
  for (const char* k : {"min", "mean", "stdev", "max"})
    EXPECT_EQ(lat.num(k), figure(text, "Latency (us):", k)) << k;
  const std::string pline = line_after(text, "Latency (us):");
  for (const char* k : {"p50", "p90", "p99", "p99.9", "p99.99"})
    EXPECT_EQ(lat.num(k), figure(pline, "", std::regex_replace(k, std::regex("\\."), "\\."))) << k;
  const Json& st = j.at("status");
  EXPECT_EQ(st.num("2xx"), figure(text, "Status:", "2xx"));
  EXPECT_EQ(st.num("5xx"), figure(text, "Status:", "5xx"));
  EXPECT_EQ(st.num("non_2xx"), figure(text, "Status:", "non-2xx"));
  EXPECT_EQ(st.at("codes").num("500"), static_cast<double>(server.answered_500()));
  EXPECT_EQ(st.at("codes").num("500"), figure(text, "Status codes:", "500"));
  EXPECT_EQ(st.at("codes").num("200"), figure(text, "Status codes:", "200"));
  for (const char* k : {"connect", "read", "write", "timeout", "protocol"})
    EXPECT_EQ(j.at("errors").num(k), figure(text, "Errors:", k)) << k;
}

TEST(Binary, JsonOnStdoutParses) {
  TestServer server;
  const Output o = run_tool("-c 2 -t 1 -n 100 --rate 2000 --json " + server.url());
  ASSERT_EQ(o.status, 0);
  Json j;
  ASSERT_NO_THROW(j = JsonReader(o.out).parse()) << o.out;
  EXPECT_EQ(j.at("requests").num("completed"), 100);
  EXPECT_EQ(j.at("latency_uncorrected_us").num("count"), 100);
  EXPECT_EQ(j.num("rate"), 2000);
}

TEST(Binary, WebbenchLines) {
  TestServerConfig config;
  config.error_every = 4;
  TestServer server(config);
  const Output o = run_tool("--webbench -c 3 -n 200 -2 " + server.url());
  ASSERT_EQ(o.status, 0) << o.out;
  EXPECT_NE(o.out.find("Benchmarking: GET " + server.url() + " (using HTTP/1.1)"),
            std::string::npos)
      << o.out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(o.out, m, std::regex("Speed=([0-9]+) pages/min, ([0-9]+) bytes/sec\\.")))
      << o.out;
  EXPECT_GT(std::stoull(m[1]), 0u);
  ASSERT_TRUE(
      std::regex_search(o.out, m, std::regex("Requests: ([0-9]+) susceed, ([0-9]+) failed\\.")));
  EXPECT_EQ(m[1], "200");
  EXPECT_EQ(m[2], "0");
  EXPECT_NE(o.out.find("Non-2xx responses: 50 (500: 50)"), std::string::npos) << o.out;
  EXPECT_EQ(server.requests(), 200u);
}

TEST(Binary, WebbenchHttp09IsSaidToBeUnsupported) {
  TestServer server;
  const Output o = run_tool("--webbench -9 -c 1 -n 5 " + server.url());
  ASSERT_EQ(o.status, 0);
  EXPECT_NE(o.out.find("HTTP/0.9 is not supported"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Requests: 5 susceed, 0 failed."), std::string::npos) << o.out;
}

TEST(Binary, ExitStatus) {
  EXPECT_EQ(run_tool("--help").status, 0);
  EXPECT_EQ(run_tool("--version").status, 0);
  EXPECT_EQ(run_tool("--bogus http://127.0.0.1/").status, 2);
  EXPECT_EQ(run_tool("-n 1 http://no-such-host.invalid/").status, 1);
}

TEST(Binary, LatencyTable) {
  TestServer server;
  const Output o = run_tool("-c 1 -t 1 -n 50 --latency " + server.url());
  ASSERT_EQ(o.status, 0);
  EXPECT_NE(o.out.find("Latency distribution:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("99.999%"), std::string::npos) << o.out;
}

}  // namespace
