// Whole runs, in-process, against TestServer: the counts must be exact.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "options.h"
#include "report.h"
#include "runner.h"
#include "test_server.h"

namespace sluice::bench {
namespace {

using bench_test::BodyMode;
using bench_test::TestServer;
using bench_test::TestServerConfig;

Results run_with(std::vector<std::string> args) {
  Options o;
  const ParseOutcome parsed = parse_options(args, o);
  EXPECT_EQ(parsed.kind, ParseOutcome::Kind::kRun) << parsed.error;
  std::string error;
  auto r = run(o, RunControl{}, error);
  EXPECT_TRUE(r.has_value()) << error;
  return r ? *r : Results{};
}

std::uint64_t status(const Results& r, int code) {
  return r.totals.status[static_cast<std::size_t>(code)];
}

void expect_clean(const Results& r, std::uint64_t n) {
  EXPECT_EQ(r.totals.sent, n);
  EXPECT_EQ(r.totals.completed, n);
  EXPECT_EQ(status(r, 200), n);
  EXPECT_EQ(r.totals.errors.total(), 0u);
  EXPECT_EQ(r.totals.lost, 0u);
  EXPECT_EQ(r.totals.unfinished, 0u);
  EXPECT_EQ(r.totals.latency.count(), n);
}

TEST(Run, KeepAliveCountsAreExact) {
  TestServer server;
  const Results r = run_with({"-c", "8", "-t", "2", "-n", "2000", server.url()});
  expect_clean(r, 2000);
  EXPECT_EQ(server.requests(), 2000u);
  EXPECT_EQ(server.connections(), 8u);
  EXPECT_EQ(r.totals.connections_opened, 8u);
}

TEST(Run, PipelinedCountsAreExact) {
  TestServer server;
  const Results r =
      run_with({"-c", "4", "-t", "2", "--pipeline", "16", "-n", "1003", server.url()});
  expect_clean(r, 1003);
  EXPECT_EQ(server.requests(), 1003u);
}

TEST(Run, NoKeepaliveOpensAConnectionPerRequest) {
  TestServer server;
  const Results r = run_with({"-c", "4", "-t", "1", "--no-keepalive", "-n", "300", server.url()});
  expect_clean(r, 300);
  EXPECT_EQ(server.requests(), 300u);
  EXPECT_EQ(server.connections(), 300u);
  EXPECT_EQ(r.totals.connections_opened, 300u);
}

TEST(Run, Http10KeepsConnectionsAliveWhenAsked) {
  TestServer server;
  const Results r = run_with({"-c", "2", "-t", "1", "--http1.0", "-n", "200", server.url()});
  expect_clean(r, 200);
  EXPECT_EQ(server.connections(), 2u);
}

TEST(Run, WebbenchModeCountsAreExact) {
  TestServer server;
  const Results r = run_with({"--webbench", "-c", "4", "-n", "200", server.url()});
  expect_clean(r, 200);
  EXPECT_EQ(server.requests(), 200u);
  EXPECT_EQ(server.connections(), 200u);
}

TEST(Run, WebbenchForceCountsWrittenRequests) {
  TestServer server;
  const Results r = run_with({"--webbench", "-f", "-c", "2", "-n", "100", server.url()});
  EXPECT_EQ(r.totals.sent, 100u);
  EXPECT_EQ(r.totals.completed, 100u);
  EXPECT_EQ(r.totals.errors.total(), 0u);
  EXPECT_TRUE(server.wait_for_requests(100, std::chrono::seconds(3)));
  EXPECT_EQ(server.requests(), 100u);
}

TEST(Run, ServerErrorsAndAbortsAreCountedAsTheServerDidThem) {
  TestServerConfig config;
  config.error_every = 10;   // 10% answered 500
  config.abort_every = 100;  // 1% reset without an answer
  TestServer server(config);
  const Results r = run_with({"-c", "4", "-t", "2", "-n", "3000", server.url()});
  EXPECT_EQ(server.requests(), 3000u);
  EXPECT_EQ(server.aborted(), 30u);
  EXPECT_EQ(server.answered_500(), 270u);
  EXPECT_EQ(r.totals.sent, 3000u);
  EXPECT_EQ(status(r, 200), server.answered_200());
  EXPECT_EQ(status(r, 500), server.answered_500());
  EXPECT_EQ(r.non_2xx(), server.answered_500());
  EXPECT_EQ(r.totals.errors.read, server.aborted());
  EXPECT_EQ(r.totals.lost, server.aborted());
  EXPECT_EQ(r.totals.completed + r.totals.lost, 3000u);
  EXPECT_EQ(r.totals.errors.total(), r.totals.errors.read);
}

TEST(Run, StallShowsInCorrectedLatencyOnly) {
  TestServerConfig config;
  config.stall_at = 300;  // about 0.6 s into the run
  config.stall_ms = 1000;
  TestServer server(config);
  const Results r = run_with({"-c", "5", "-t", "1", "--rate", "500", "-d", "2500ms", server.url()});
  EXPECT_TRUE(r.rate_mode);
  EXPECT_EQ(r.totals.errors.total(), 0u);
  const std::uint64_t corrected = r.totals.latency.percentile(99);
  const std::uint64_t uncorrected = r.totals.latency_uncorrected.percentile(99);
  EXPECT_GE(corrected, 300'000u) << "corrected p99 (us)";
  EXPECT_LT(uncorrected, 100'000u) << "uncorrected p99 (us)";
  EXPECT_GE(r.totals.latency_uncorrected.max(), 900'000u);  // the stalled requests themselves
  // The schedule was kept: about 500/s for 2.5 s.
  EXPECT_GT(r.totals.completed, 1000u);
  EXPECT_LT(r.totals.completed, 1300u);
}

TEST(Run, ChunkedResponses) {
  TestServerConfig config;
  config.body = BodyMode::kChunked;
  TestServer server(config);
  const Results r = run_with({"-c", "3", "-t", "1", "--pipeline", "4", "-n", "500", server.url()});
  expect_clean(r, 500);
}

TEST(Run, ResponsesWrittenOneByteAtATime) {
  TestServerConfig config;
  config.byte_writes = true;
  config.body_text = std::string(100, 'b');
  TestServer server(config);
  const Results r = run_with({"-c", "2", "-t", "1", "--pipeline", "2", "-n", "200", server.url()});
  expect_clean(r, 200);
}

TEST(Run, ChunkedOneByteAtATime) {
  TestServerConfig config;
  config.byte_writes = true;
  config.body = BodyMode::kChunked;
  TestServer server(config);
  const Results r = run_with({"-c", "2", "-t", "1", "-n", "100", server.url()});
  expect_clean(r, 100);
}

TEST(Run, BodyUntilCloseIsAResponse) {
  TestServerConfig config;
  config.body = BodyMode::kUntilClose;
  TestServer server(config);
  const Results r = run_with({"-c", "2", "-t", "1", "-n", "50", server.url()});
  expect_clean(r, 50);
  EXPECT_EQ(r.totals.connections_opened, 50u);
}

TEST(Run, ContentLengthLargerThanTheDataThenCloseIsAnError) {
  TestServerConfig config;
  config.body = BodyMode::kShortThenClose;
  TestServer server(config);
  const Results r = run_with({"-c", "2", "-t", "1", "-n", "50", server.url()});
  EXPECT_EQ(server.requests(), 50u);
  EXPECT_EQ(r.totals.completed, 0u);
  EXPECT_EQ(r.totals.errors.read, 50u);
  EXPECT_EQ(r.totals.lost, 50u);
  EXPECT_EQ(r.non_2xx(), 0u);
}

TEST(Run, RequestBodiesAreSent) {
  TestServer server;
  const Results r = run_with(
      {"-c", "2", "-t", "1", "-m", "POST", "--body", "0123456789", "-n", "40", server.url()});
  expect_clean(r, 40);
  EXPECT_EQ(server.body_bytes_received(), 400u);
}

TEST(Run, SeveralSourceAddresses) {
  TestServer server;
  const Results r = run_with(
      {"-c", "6", "-t", "2", "--source", "127.0.0.2-127.0.0.4", "-n", "300", server.url()});
  expect_clean(r, 300);
}

TEST(Run, ATimeoutIsAnError) {
  TestServerConfig config;
  config.stall_at = 1;
  config.stall_ms = 1200;
  TestServer server(config);
  const Results r = run_with({"-c", "1", "-t", "1", "--timeout", "200ms", "-n", "1", server.url()});
  EXPECT_EQ(r.totals.errors.timeout, 1u);
  EXPECT_EQ(r.totals.lost, 1u);
  EXPECT_EQ(r.totals.completed, 0u);
}

TEST(Run, RefusedConnectionsAreConnectErrors) {
  // A port nobody listens on: bind, read the port, close.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  const Results r = run_with({"-c", "2", "-t", "1", "-d", "300ms", url});
  EXPECT_GT(r.totals.errors.connect, 0u);
  EXPECT_EQ(r.totals.completed, 0u);
  EXPECT_EQ(r.totals.sent, 0u);
}

TEST(Run, DurationStopsTheRun) {
  TestServer server;
  const Results r = run_with({"-c", "4", "-t", "2", "-d", "300ms", server.url()});
  EXPECT_GT(r.totals.completed, 0u);
  EXPECT_GE(r.seconds, 0.29);
  EXPECT_LT(r.seconds, 2.0);
  EXPECT_EQ(r.totals.sent, r.totals.completed + r.totals.lost + r.totals.unfinished);
  EXPECT_EQ(r.totals.errors.total(), 0u);
}

TEST(Report, CountersPast4GiB) {
  Results r;
  r.totals.bytes_read = 5'000'000'000ULL;
  r.totals.completed = 4'294'967'297ULL;
  r.seconds = 10;
  WorkerStats more;
  more.bytes_read = 5'000'000'000ULL;
  r.totals.add(more);
  Options o;
  const std::string text = format_text(o, r);
  EXPECT_NE(text.find("Bytes read:    10000000000"), std::string::npos) << text;
  EXPECT_NE(text.find("completed 4294967297"), std::string::npos) << text;
  EXPECT_NE(format_json(o, r).find("\"bytes_read\": 10000000000"), std::string::npos);
}

}  // namespace
}  // namespace sluice::bench
