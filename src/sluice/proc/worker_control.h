// WorkerControl: the worker side of the signal contract, on the worker's loop.
//   QUIT -> graceful stop (stop accepting, finish in-flight work, exit)
//   TERM, INT -> fast stop
//   USR1 -> reopen logs
//   HUP -> ignored (reload is the master's business)
// It also checks every 500 ms that the master is alive (PR_SET_PDEATHSIG
// covers most cases; the check covers a master that died before the
// worker set it) and fast-stops when it is not.
// Thread rules: construct on the loop's thread.
#pragma once

#include <sys/types.h>

#include <functional>

#include "sluice/loop/event_loop.h"

namespace sluice::proc {

class WorkerControl {
 public:
  struct Callbacks {
    std::function<void()> graceful_stop;
    std::function<void()> fast_stop;
    std::function<void()> reopen_logs;
  };
  WorkerControl(EventLoop& loop, pid_t master_pid, Callbacks callbacks);

  bool stopping() const noexcept { return stopping_; }

 private:
  void on_signal(int signo);

  pid_t master_pid_;
  Callbacks callbacks_;
  SignalWatcher signals_;
  Timer parent_check_;
  bool stopping_ = false;
};

}  // namespace sluice::proc
