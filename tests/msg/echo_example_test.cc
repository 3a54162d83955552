// The msg-echo examples: the client sends 1000 messages to the server (both
// binaries, started here) and exits 0 when every echo came back.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>

#include "net/test_support.h"

namespace sluice::msg {
namespace {

using namespace std::chrono_literals;
using net::test::Child;
using net::test::Deadline;

#ifndef MSG_ECHO_SERVER_PATH
#define MSG_ECHO_SERVER_PATH ""
#define MSG_ECHO_CLIENT_PATH ""
#endif

int port_from_banner(Child& server) {
  const std::string banner = server.read_line(Deadline(20s));
  const std::string key = "listening on port ";
  auto at = banner.find(key);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no banner: '" << banner << "'";
    return 0;
  }
  return std::atoi(banner.c_str() + at + key.size());
}

void run_client_against(std::vector<std::string> server_args) {
  const std::string server_path = MSG_ECHO_SERVER_PATH;
  if (server_path.empty()) GTEST_SKIP() << "built without the msg-echo example";
  net::test::ignore_sigpipe_for_test();
  server_args.insert(server_args.begin(), server_path);
  Child server(server_args);
  ASSERT_TRUE(server.running());
  const int port = port_from_banner(server);
  ASSERT_GT(port, 0);
  Child client({MSG_ECHO_CLIENT_PATH, "--connect", "127.0.0.1:" + std::to_string(port),
                "--messages", "1000", "--heartbeat-interval-ms", "200", "--heartbeat-misses", "3",
                "--timeout-ms", "30000"});
  ASSERT_TRUE(client.running());
  int status = 0;
  ASSERT_TRUE(client.wait_exit(status, Deadline(60s))) << "the client did not finish";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(client.read_line(Deadline(5s)).find("1000/1000 echoes verified"), std::string::npos);

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  ASSERT_TRUE(server.wait_exit(status, Deadline(20s))) << "the server did not stop";
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(MsgEchoExample, ClientGetsAThousandEchoesFromOneProcessServer) {
  run_client_against(
      {"--listen", "127.0.0.1:0", "--heartbeat-interval-ms", "200", "--heartbeat-misses", "3"});
}

TEST(MsgEchoExample, ClientGetsAThousandEchoesFromMasterAndTwoWorkers) {
  run_client_against({"--listen", "127.0.0.1:0", "--workers", "2", "--heartbeat-interval-ms", "200",
                      "--heartbeat-misses", "3"});
}

}  // namespace
}  // namespace sluice::msg
