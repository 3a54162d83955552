// LoopThread: a thread that owns and runs one EventLoop.
// The constructor returns once the loop exists; the destructor stops the loop
// and joins the thread. Thread rules: construct and destroy on one thread;
// loop() may be used from any thread (post, stop).
#pragma once

#include <future>
#include <string>
#include <thread>

#include "sluice/loop/event_loop.h"

namespace sluice {

class LoopThread {
 public:
  explicit LoopThread(std::string name = "sluice-loop");
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  EventLoop& loop() noexcept { return *loop_; }
  // Stops the loop and joins; idempotent.
  void join();

 private:
  EventLoop* loop_ = nullptr;
  // Set by join() once it is done with the loop: the thread keeps the loop
  // alive until then (stop() may still be inside wake() when run() returns).
  std::promise<void> release_;
  std::thread thread_;
};

}  // namespace sluice
