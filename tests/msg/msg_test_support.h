// Helpers of the msg/ socket tests: an echo router, a server on 127.0.0.1
// port 0, running code on a loop thread and waiting for it.
#pragma once

#include <future>
#include <memory>

#include "msg/frame_builder.h"
#include "net/test_support.h"
#include "sluice/loop/loop_thread.h"
#include "sluice/msg/msg_client.h"
#include "sluice/msg/msg_server.h"

namespace sluice::msg::test {

using namespace std::chrono_literals;
using net::test::Deadline;

inline constexpr std::uint32_t kEchoId = 1;

// Replies to kEchoId with the same body and flags.
inline std::unique_ptr<Router> echo_router(UnknownIdPolicy unknown = UnknownIdPolicy::kDrop) {
  auto r = std::make_unique<Router>(unknown);
  (void)r->on(kEchoId, [](Link& link, const Frame& f) {
    if (!link.send(kEchoId, f.body, f.flags)) link.close(net::CloseReason::kError);
  });
  return r;
}

inline MsgServerOptions local_options(Millis interval = Millis{30'000}, int misses = 3) {
  MsgServerOptions o;
  o.tcp.listen.push_back(net::test::loopback_v4());
  o.tcp.threads = 1;
  o.heartbeat.interval = interval;
  o.heartbeat.misses = misses;
  return o;
}

// Runs fn on `loop`'s thread and waits for it.
template <class Fn>
void run_on(EventLoop& loop, Fn&& fn) {
  std::promise<void> done;
  loop.post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

// True when the peer closed `fd` (EOF or reset) before the deadline.
inline bool closed_by_peer(int fd, const Deadline& d) {
  net::test::ReadOutcome r = net::test::read_until_eof(fd, d);
  return r.eof || r.error != 0;
}

}  // namespace sluice::msg::test
