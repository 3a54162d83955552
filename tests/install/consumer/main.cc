// A program outside the Sluice tree: a timer on an event loop and a pooled
// buffer, through the installed headers and library only.
#include <cstdio>

#include "sluice/loop/event_loop.h"
#include "sluice/mem/buffer_pool.h"

int main() {
  sluice::mem::BufferPool pool;
  auto buf = pool.allocate(100);
  if (!buf || buf->capacity() != 4096) return 1;
  sluice::EventLoop loop;
  int fired = 0;
  sluice::Timer timer(loop, [&] {
    ++fired;
    loop.stop();
  });
  timer.start(std::chrono::milliseconds(1));
  loop.run();
  if (fired != 1) return 2;
  std::printf("consumer ok\n");
  return 0;
}
