// net-swarm-client PORT COUNT MAX_CONNECTING
// Opens COUNT echo connections to 127.0.0.1:PORT, each sending its own
// pattern of 1-4 KiB and checking every byte comes back (EchoSwarm). Prints
// "verified N" or "failed WHY", keeps the connections open until a line (or
// EOF) arrives on stdin, closes them and prints "closed".
// A separate process, so the clients' descriptors do not count against the
// server's RLIMIT_NOFILE (the hard limit may be too low for both).
#include <cstdio>
#include <cstdlib>

#include "net/test_support.h"

int main(int argc, char** argv) {
  using namespace sluice::net;
  using namespace sluice::net::test;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT COUNT MAX_CONNECTING\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  EchoSwarm::Options o;
  o.count = static_cast<std::size_t>(std::atol(argv[2]));
  o.max_connecting = static_cast<std::size_t>(std::atol(argv[3]));
  o.length_of = [](std::size_t i) { return 1024 + (i * 37) % 3073; };
  raise_nofile_limit(o.count + 100);
  EchoSwarm swarm(loopback_v4(port), o);
  if (swarm.run(Deadline(std::chrono::seconds(60)))) {
    std::printf("verified %zu\n", swarm.verified());
  } else {
    std::printf("failed %s\n", swarm.error().c_str());
  }
  std::fflush(stdout);
  char line[16];
  (void)std::fgets(line, sizeof line, stdin);
  swarm.close_all();
  std::printf("closed\n");
  std::fflush(stdout);
  return 0;
}
