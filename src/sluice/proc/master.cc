#include "sluice/proc/master.h"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "sluice/base/log.h"
#include "sluice/net/socket.h"
#include "sluice/proc/pid_file.h"

namespace sluice::proc {

struct Master::Listener {
  net::InetAddress address;
  std::vector<UniqueFd> fds;  // one per worker slot with reuse_port, else one
};

struct Master::Worker {
  pid_t pid = 0;
  int slot = 0;
  int stats_slot = -1;
  std::uint64_t generation = 0;
  bool retiring = false;
  TimePoint started;
};

struct Master::SlotState {
  Duration backoff{};
  std::unique_ptr<Timer> respawn_timer;
};

namespace {

bool same_address(const net::InetAddress& a, const net::InetAddress& b) { return a == b; }

Status drop_privileges(const std::string& user) {
  if (user.empty() || ::geteuid() != 0) return {};
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) return Errc::kInvalidArgument;
  if (::setgroups(0, nullptr) != 0 && errno != EPERM) return errno_code();
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0) return errno_code();
  if (::setgid(pw->pw_gid) != 0) return errno_code();
  if (::setuid(pw->pw_uid) != 0) return errno_code();
  return {};
}

}  // namespace

Master::Master(Program& program, MasterOptions options)
    : program_(program), options_(std::move(options)) {}

Master::~Master() {
  if (stats_) SharedStats::destroy(stats_);
}

bool Master::open_listeners(const Plan& plan, std::vector<Listener>& out, std::string& error) {
  std::size_t per_address = plan.reuse_port ? static_cast<std::size_t>(plan.workers) : 1;
  net::ListenOptions lo;
  lo.backlog = plan.backlog;
  lo.reuse_port = plan.reuse_port;
  std::vector<Listener> result;
  for (const net::InetAddress& addr : plan.listen) {
    Listener l;
    l.address = addr;
    // Reuse what is open already, so a reload keeps its accept queues.
    for (Listener& old : out) {
      if (same_address(old.address, addr)) {
        for (UniqueFd& fd : old.fds) l.fds.push_back(std::move(fd));
        old.fds.clear();
        break;
      }
    }
    // An existing socket set can be reused only in the same mode.
    if (!l.fds.empty()) {
      int reuse = 0;
      socklen_t len = sizeof reuse;
      ::getsockopt(l.fds.front().get(), SOL_SOCKET, SO_REUSEPORT, &reuse, &len);
      if ((reuse != 0) != plan.reuse_port && plan.reuse_port) l.fds.clear();
    }
    if (l.fds.size() > per_address) l.fds.resize(per_address);
    while (l.fds.size() < per_address) {
      auto fd = net::listen_tcp(addr, lo);
      if (!fd) {
        error = "cannot listen on " + addr.to_string() + ": " + fd.error().message();
        // Give reused sockets back so that the running set stays whole.
        for (Listener& old : out) {
          if (same_address(old.address, addr) && old.fds.empty()) {
            for (UniqueFd& f : l.fds) old.fds.push_back(std::move(f));
          }
        }
        for (Listener& r : result) {
          for (Listener& old : out) {
            if (same_address(old.address, r.address) && old.fds.empty()) old.fds = std::move(r.fds);
          }
        }
        return false;
      }
      l.fds.push_back(std::move(*fd));
    }
    result.push_back(std::move(l));
  }
  out = std::move(result);  // sockets no longer listed close here
  return true;
}

int Master::run() {
  pid_ = ::getpid();
  if (auto err = program_.stage()) {
    SLUICE_LOG(kError, "%s", err->c_str());
    return kExitFailure;
  }
  const Plan plan = program_.staged_plan();  // a copy: commit() replaces it
  if (plan.nofile_limit) net::raise_nofile_limit(plan.nofile_limit);
  std::string error;
  if (!open_listeners(plan, listeners_, error)) {
    SLUICE_LOG(kError, "%s", error.c_str());
    return kExitFailure;
  }
  program_.commit();
  stats_ = SharedStats::create();
  if (!stats_) {
    SLUICE_LOG(kError, "cannot map the shared statistics segment: %s", std::strerror(errno));
    return kExitFailure;
  }
  if (!options_.pid_file.empty()) {
    if (auto st = write_pid_file(options_.pid_file); !st) {
      SLUICE_LOG(kError, "cannot write pid file %s: %s", options_.pid_file.c_str(),
                 st.error().message().c_str());
      return kExitFailure;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  loop_ = std::make_unique<EventLoop>();
  signals_ = std::make_unique<SignalWatcher>(
      *loop_, std::vector<int>{SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD},
      [this](int s) { on_signal(s); });
  kill_timer_ = std::make_unique<Timer>(*loop_, [this] {
    SLUICE_LOG(kWarn, "master: workers still running after the timeout; sending SIGKILL");
    signal_workers(SIGKILL);
  });
  slots_.resize(static_cast<std::size_t>(plan.workers));
  for (int i = 0; i < plan.workers; ++i) spawn(i);
  SLUICE_LOG(kInfo, "master %d started %d worker(s)", static_cast<int>(pid_), plan.workers);
  loop_->run();
  remove_pid_file(options_.pid_file);
  SLUICE_LOG(kInfo, "master %d exiting", static_cast<int>(pid_));
  return exit_code_;
}

void Master::spawn(int slot) {
  if (stopping_) return;
  int stats_slot = stats_->claim(-1, generation_);  // claimed now, pid set below
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    SLUICE_LOG_EVERY_MS(kError, 1000, "master: fork failed: %s", std::strerror(errno));
    if (stats_slot >= 0) stats_->release(static_cast<std::size_t>(stats_slot));
    SlotState& s = slots_[static_cast<std::size_t>(slot)];
    if (!s.respawn_timer)
      s.respawn_timer = std::make_unique<Timer>(*loop_, [this, slot] { spawn(slot); });
    s.respawn_timer->start(std::chrono::seconds(1));
    return;
  }
  if (pid == 0) worker_main(slot, stats_slot);
  if (stats_slot >= 0) stats_->slot(static_cast<std::size_t>(stats_slot)).pid.store(pid);
  Worker w;
  w.pid = pid;
  w.slot = slot;
  w.stats_slot = stats_slot;
  w.generation = generation_;
  w.started = Clock::now();
  workers_.push_back(w);
}

void Master::worker_main(int slot, int stats_slot) {
  // In the child: nothing of the master's loop may run here.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != pid_) ::_exit(kExitFailure);  // the master died before prctl
  EventLoop::forget_after_fork();
  const Plan& plan = program_.plan();
  if (plan.cpu_affinity) {
    long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(slot % (ncpu > 0 ? ncpu : 1)), &set);
    ::sched_setaffinity(0, sizeof set, &set);
  }
  if (auto st = drop_privileges(plan.user); !st) {
    SLUICE_LOG(kError, "worker: cannot switch to user '%s': %s", plan.user.c_str(),
               st.error().message().c_str());
    ::_exit(kExitFatalConfig);
  }
  WorkerEnv env;
  env.slot = slot;
  env.generation = generation_;
  env.master_pid = pid_;
  for (Listener& l : listeners_) {
    std::size_t i = l.fds.size() > 1 ? static_cast<std::size_t>(slot) % l.fds.size() : 0;
    env.listen_fds.push_back(l.fds[i].get());
  }
  // Close the other slots' listeners: this worker must not hold them open.
  for (Listener& l : listeners_) {
    for (std::size_t i = 0; i < l.fds.size(); ++i) {
      if (l.fds.size() > 1 && i != static_cast<std::size_t>(slot) % l.fds.size()) l.fds[i].reset();
    }
  }
  env.stats = stats_;
  env.my_stats = stats_slot >= 0 ? &stats_->slot(static_cast<std::size_t>(stats_slot)) : nullptr;
  if (env.my_stats) env.my_stats->pid.store(::getpid());
  int code = program_.run_worker(env);
  std::fflush(nullptr);
  ::_exit(code);
}

void Master::on_signal(int signo) {
  switch (signo) {
    case SIGCHLD: reap(); return;
    case SIGTERM:
    case SIGINT: begin_stop(false); return;
    case SIGQUIT: begin_stop(true); return;
    case SIGHUP: reload(); return;
    case SIGUSR1:
      SLUICE_LOG(kInfo, "master: reopening logs");
      program_.reopen_logs();
      signal_workers(SIGUSR1);
      return;
    default: return;
  }
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    auto it = std::find_if(workers_.begin(), workers_.end(),
                           [pid](const Worker& w) { return w.pid == pid; });
    if (it == workers_.end()) continue;
    Worker w = *it;
    workers_.erase(it);
    if (w.stats_slot >= 0) stats_->release(static_cast<std::size_t>(w.stats_slot));
    bool exited = WIFEXITED(status);
    int code = exited ? WEXITSTATUS(status) : -1;
    if (w.retiring || stopping_) continue;
    // An unexpected death of a current worker: respawn it.
    const Plan& plan = program_.plan();
    if (w.generation != generation_ || w.slot >= plan.workers) continue;
    SlotState& s = slots_[static_cast<std::size_t>(w.slot)];
    bool fatal = exited && code == kExitFatalConfig;
    bool quick = Clock::now() - w.started < std::chrono::seconds(5);
    if (fatal) {
      s.backoff = s.backoff < options_.fatal_backoff_initial
                      ? options_.fatal_backoff_initial
                      : std::min(options_.fatal_backoff_max, s.backoff * 2);
    } else if (!quick) {
      s.backoff = Duration::zero();
    } else {
      s.backoff = s.backoff == Duration::zero()
                      ? options_.respawn_backoff_initial
                      : std::min(options_.respawn_backoff_max, s.backoff * 2);
    }
    if (exited) {
      SLUICE_LOG(kWarn, "master: worker %d (slot %d) exited with code %d%s; respawning in %lld ms",
                 static_cast<int>(pid), w.slot, code, fatal ? " (fatal configuration)" : "",
                 static_cast<long long>(std::chrono::duration_cast<Millis>(s.backoff).count()));
    } else {
      SLUICE_LOG(kWarn, "master: worker %d (slot %d) killed by signal %d; respawning in %lld ms",
                 static_cast<int>(pid), w.slot, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                 static_cast<long long>(std::chrono::duration_cast<Millis>(s.backoff).count()));
    }
    if (s.backoff == Duration::zero()) {
      spawn(w.slot);
    } else {
      int slot = w.slot;
      if (!s.respawn_timer)
        s.respawn_timer = std::make_unique<Timer>(*loop_, [this, slot] { spawn(slot); });
      s.respawn_timer->start(s.backoff);
    }
  }
  maybe_finish();
}

void Master::reload() {
  if (stopping_) return;
  SLUICE_LOG(kInfo, "master: reloading the configuration");
  if (auto err = program_.stage()) {
    SLUICE_LOG(kError, "reload failed, keeping the running configuration: %s", err->c_str());
    return;
  }
  const Plan plan = program_.staged_plan();  // a copy: commit() replaces it
  std::string error;
  if (!open_listeners(plan, listeners_, error)) {
    SLUICE_LOG(kError, "reload failed, keeping the running configuration: %s", error.c_str());
    return;
  }
  program_.commit();
  if (plan.nofile_limit) net::raise_nofile_limit(plan.nofile_limit);
  ++generation_;
  for (SlotState& s : slots_) {
    if (s.respawn_timer) s.respawn_timer->cancel();
  }
  slots_.clear();
  slots_.resize(static_cast<std::size_t>(plan.workers));
  // The new generation starts first; the old one then drains. The listening
  // sockets stay open throughout, so no connection is refused in between.
  std::vector<pid_t> old;
  for (Worker& w : workers_) {
    if (!w.retiring) old.push_back(w.pid);
  }
  for (int i = 0; i < plan.workers; ++i) spawn(i);
  for (Worker& w : workers_) {
    if (std::find(old.begin(), old.end(), w.pid) != old.end()) {
      w.retiring = true;
      ::kill(w.pid, SIGQUIT);
    }
  }
  SLUICE_LOG(kInfo, "master: generation %llu started with %d worker(s)",
             static_cast<unsigned long long>(generation_), plan.workers);
}

void Master::begin_stop(bool graceful) {
  const Plan& plan = program_.plan();
  if (stopping_ && graceful) return;
  stopping_ = true;
  for (SlotState& s : slots_) {
    if (s.respawn_timer) s.respawn_timer->cancel();
  }
  listeners_.clear();  // new connections are refused once the workers close theirs
  SLUICE_LOG(kInfo, "master: %s stop", graceful ? "graceful" : "fast");
  signal_workers(graceful ? SIGQUIT : SIGTERM);
  kill_timer_->start(graceful ? plan.shutdown_timeout + std::chrono::seconds(1)
                              : plan.stop_timeout);
  maybe_finish();
}

void Master::signal_workers(int signo, bool only_current_generation) {
  for (const Worker& w : workers_) {
    if (only_current_generation && w.generation != generation_) continue;
    ::kill(w.pid, signo);
  }
}

void Master::maybe_finish() {
  if (stopping_ && workers_.empty()) loop_->stop();
}

int signal_master(const std::string& pid_file, const std::string& command) {
  int signo = signal_for_command(command);
  if (signo == 0) {
    std::fprintf(stderr, "unknown signal command '%s' (want stop, quit, reload or reopen)\n",
                 command.c_str());
    return kExitFailure;
  }
  auto pid = read_pid_file(pid_file);
  if (!pid) {
    std::fprintf(stderr, "cannot signal the master: pid file %s: %s\n", pid_file.c_str(),
                 pid.error().message().c_str());
    return kExitFailure;
  }
  if (::kill(*pid, signo) != 0) {
    std::fprintf(stderr, "cannot signal process %d: %s\n", static_cast<int>(*pid),
                 std::strerror(errno));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace sluice::proc
