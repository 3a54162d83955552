#include "sluice/loop/loop_thread.h"

#include <pthread.h>

#include <future>

namespace sluice {

LoopThread::LoopThread(std::string name) {
  std::promise<EventLoop*> ready;
  auto got = ready.get_future();
  thread_ = std::thread([&ready, released = release_.get_future(), name = std::move(name)] {
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
    EventLoop loop;
    ready.set_value(&loop);
    loop.run();
    // run() may return while another thread's stop() is still writing to the
    // loop's eventfd: destroy the loop only once join() is done with it.
    released.wait();
  });
  loop_ = got.get();
}

LoopThread::~LoopThread() { join(); }

void LoopThread::join() {
  if (!thread_.joinable()) return;
  loop_->stop();
  release_.set_value();
  thread_.join();
}

}  // namespace sluice
