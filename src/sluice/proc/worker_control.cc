#include "sluice/proc/worker_control.h"

#include <signal.h>
#include <unistd.h>

#include "sluice/base/log.h"

namespace sluice::proc {

WorkerControl::WorkerControl(EventLoop& loop, pid_t master_pid, Callbacks callbacks)
    : master_pid_(master_pid),
      callbacks_(std::move(callbacks)),
      signals_(loop, {SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGHUP}, [this](int s) { on_signal(s); }),
      parent_check_(loop, [this] {
        if (master_pid_ != 0 && ::getppid() != master_pid_) {
          SLUICE_LOG(kWarn, "worker: master %d is gone; stopping", static_cast<int>(master_pid_));
          on_signal(SIGTERM);
        }
      }) {
  parent_check_.start(std::chrono::milliseconds(500), std::chrono::milliseconds(500));
}

void WorkerControl::on_signal(int signo) {
  switch (signo) {
    case SIGQUIT:
      if (stopping_) return;
      stopping_ = true;
      if (callbacks_.graceful_stop) callbacks_.graceful_stop();
      return;
    case SIGTERM:
    case SIGINT:
      stopping_ = true;
      if (callbacks_.fast_stop) callbacks_.fast_stop();
      return;
    case SIGUSR1:
      if (callbacks_.reopen_logs) callbacks_.reopen_logs();
      return;
    default: return;
  }
}

}  // namespace sluice::proc
