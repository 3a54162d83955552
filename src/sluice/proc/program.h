// Program: what a Sluice program gives the master–worker process model.
//
// proc/ knows nothing about HTTP: a program loads its own configuration,
// tells the master what to listen on and how many workers to run (a Plan),
// and runs a "worker body" in each worker process. Loading is two-phase, so
// that a reload whose configuration is invalid, or whose sockets cannot be
// opened, leaves the running configuration untouched.
// Thread rules: the master calls these on its single thread; run_worker runs
// in the forked worker process (which owns a copy of the committed config).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/base/clock.h"
#include "sluice/net/inet_address.h"
#include "sluice/proc/shared_stats.h"

namespace sluice::proc {

// Exit codes of a worker (and of the master), documented in operations.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
// The worker cannot run with this configuration (e.g. a root it cannot open).
// The master does not respawn it in a loop: it waits a long backoff first.
inline constexpr int kExitFatalConfig = 78;  // EX_CONFIG of sysexits.h

struct Plan {
  std::vector<net::InetAddress> listen;
  int workers = 1;                                       // already resolved ("auto" = online CPUs)
  bool reuse_port = true;                                // a listener per worker slot, else shared
  bool cpu_affinity = false;                             // pin worker slot i to CPU i % ncpu
  int backlog = 0;                                       // 0: somaxconn
  Duration shutdown_timeout = std::chrono::seconds(10);  // QUIT: drain bound
  Duration stop_timeout = std::chrono::seconds(3);       // TERM: until SIGKILL
  std::uint64_t nofile_limit = 0;                        // RLIMIT_NOFILE to raise to; 0: leave
  std::string user;                                      // drop to this user in workers (when root)
};

struct WorkerEnv {
  int slot = 0;                  // worker slot 0..workers-1
  std::uint64_t generation = 0;  // bumped by each reload
  pid_t master_pid = 0;
  std::vector<int> listen_fds;    // in Plan::listen order
  SharedStats* stats = nullptr;   // whole-server counters
  StatsSlot* my_stats = nullptr;  // this worker's slot in `stats`
};

class Program {
 public:
  virtual ~Program() = default;
  // Parses and validates the configuration into a staged copy. On error,
  // returns a message naming the file, line and key; nothing changes.
  virtual std::optional<std::string> stage() = 0;
  virtual const Plan& staged_plan() const = 0;
  // The staged configuration becomes the running one.
  virtual void commit() = 0;
  // The running configuration's plan.
  virtual const Plan& plan() const = 0;
  // Runs in a worker process; returns its exit code.
  virtual int run_worker(WorkerEnv& env) = 0;
  // USR1 in the master: reopen the master's own log files.
  virtual void reopen_logs() {}
};

}  // namespace sluice::proc
