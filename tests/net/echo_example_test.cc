// The echo-server example: starts, echoes, stops on SIGTERM with status 0.
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "net/test_support.h"

namespace sluice::net {
namespace {

using namespace test;
using namespace std::chrono_literals;

#ifndef ECHO_SERVER_PATH
#define ECHO_SERVER_PATH ""
#endif

TEST(EchoServerExample, EchoesAndExitsZeroOnSigterm) {
  const std::string path = ECHO_SERVER_PATH;
  if (path.empty()) GTEST_SKIP() << "built without the echo-server example";
  ignore_sigpipe_for_test();
  Child server({path, "--listen", "127.0.0.1:0", "--threads", "2"});
  ASSERT_TRUE(server.running());
  // "echo-server listening on port N with 2 thread(s)"
  Deadline d(20s);
  const std::string banner = server.read_line(d);
  const std::string key = "listening on port ";
  auto at = banner.find(key);
  ASSERT_NE(at, std::string::npos) << "no banner: '" << banner << "'";
  int port = std::atoi(banner.c_str() + at + key.size());
  ASSERT_GT(port, 0);
  ASSERT_LT(port, 65536);

  {
    UniqueFd c = connect_raw(loopback_v4(static_cast<std::uint16_t>(port)), d);
    EXPECT_TRUE(c.valid());
    if (c.valid()) {
      EXPECT_TRUE(echo_round_trip(c.get(), "hello, echo", d));
      EXPECT_TRUE(echo_round_trip(c.get(), pattern(3, 0, 100'000), d));
    }
  }
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  int status = 0;
  ASSERT_TRUE(server.wait_exit(status, Deadline(20s))) << "did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace sluice::net
