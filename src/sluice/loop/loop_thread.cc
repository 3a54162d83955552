#include "sluice/loop/loop_thread.h"

#include <pthread.h>

#include <future>

namespace sluice {

LoopThread::LoopThread(std::string name) {
  std::promise<EventLoop*> ready;
  auto got = ready.get_future();
  thread_ = std::thread([&ready, name = std::move(name)] {
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
    EventLoop loop;
    ready.set_value(&loop);
    loop.run();
  });
  loop_ = got.get();
}

LoopThread::~LoopThread() { join(); }

void LoopThread::join() {
  if (!thread_.joinable()) return;
  loop_->stop();
  thread_.join();
}

}  // namespace sluice
