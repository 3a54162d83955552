// Master: supervises worker processes, nginx style.
//
// The master loads the program's configuration, opens the listening sockets
// (so they survive reloads), forks the workers and never touches client
// traffic. Its signals arrive through a signalfd on its own loop:
//   TERM, INT  fast stop: TERM to every worker, SIGKILL after stop_timeout
//   QUIT       graceful stop: listeners closed, QUIT to every worker, SIGKILL
//              after shutdown_timeout
//   HUP        reload: stage the configuration; if valid (and its sockets
//              open), start a new generation and QUIT the old one; if not,
//              log the error and keep running the old configuration
//   USR1       reopen logs, in the master and in every worker
//   CHLD       reap; respawn a worker that died unexpectedly (at once the
//              first time, then with a doubling backoff); one that exited
//              with kExitFatalConfig waits a long backoff
// Workers die with the master: PR_SET_PDEATHSIG, plus WorkerControl's check.
// Thread rules: single-threaded; run() blocks until the master stops.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/base/unique_fd.h"
#include "sluice/loop/event_loop.h"
#include "sluice/proc/program.h"

namespace sluice::proc {

struct MasterOptions {
  std::string pid_file;  // empty: none
  Duration respawn_backoff_initial = std::chrono::milliseconds(100);
  Duration respawn_backoff_max = std::chrono::seconds(10);
  Duration fatal_backoff_initial = std::chrono::seconds(5);
  Duration fatal_backoff_max = std::chrono::minutes(5);
};

class Master {
 public:
  Master(Program& program, MasterOptions options = {});
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Loads the configuration, opens the sockets, starts the workers and runs
  // until stopped. Returns the process exit code (1 when the configuration
  // or a socket fails at start).
  int run();

 private:
  struct Listener;
  struct Worker;
  struct SlotState;

  bool open_listeners(const Plan& plan, std::vector<Listener>& out, std::string& error);
  void spawn(int slot);
  [[noreturn]] void worker_main(int slot, int stats_slot);
  void on_signal(int signo);
  void reap();
  void reload();
  void begin_stop(bool graceful);
  void signal_workers(int signo, bool only_current_generation = false);
  void maybe_finish();

  Program& program_;
  MasterOptions options_;
  pid_t pid_ = 0;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<SignalWatcher> signals_;
  std::unique_ptr<Timer> kill_timer_;
  std::vector<Listener> listeners_;
  std::vector<Worker> workers_;
  std::vector<SlotState> slots_;
  SharedStats* stats_ = nullptr;
  std::uint64_t generation_ = 1;
  bool stopping_ = false;
  int exit_code_ = kExitOk;
};

// Sends the signal named by `command` (stop|quit|reload|reopen) to the
// master whose pid is in `pid_file`. Prints an error and returns 1 on failure.
int signal_master(const std::string& pid_file, const std::string& command);

}  // namespace sluice::proc
