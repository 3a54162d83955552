#include "sluice/net/tcp_server.h"

#include <fcntl.h>

#include <future>

#include "sluice/base/log.h"

namespace sluice::net {

struct TcpServer::PerLoop {
  PerLoop(std::size_t index, ConnectionHandler& handler, const ConnectionOptions& options,
          mem::BufferPool& pool)
      : thread("sluice-io-" + std::to_string(index)) {
    // The registry lives and dies on its loop's thread.
    run_sync([&] {
      registry = std::make_unique<ConnectionRegistry>(thread.loop(), handler, options, pool);
    });
  }
  ~PerLoop() {
    run_sync([&] {
      acceptors.clear();
      registry.reset();
    });
    thread.join();
  }
  template <class F>
  void run_sync(F&& fn) {
    std::promise<void> done;
    auto fut = done.get_future();
    thread.loop().post([&] {
      fn();
      done.set_value();
    });
    fut.get();
  }

  LoopThread thread;
  std::unique_ptr<ConnectionRegistry> registry;
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  std::vector<UniqueFd> pending_listeners;  // created before the loop adopts them
  std::uint64_t accepted = 0;
  std::uint64_t rejected_limit = 0;
};

TcpServer::TcpServer(TcpServerOptions options, ConnectionHandler& handler, mem::BufferPool& pool)
    : options_(std::move(options)), handler_(handler), pool_(pool) {}

TcpServer::~TcpServer() { stop(Duration::zero()); }

Status TcpServer::start() {
  if (started_) return Errc::kInvalidArgument;
  int threads = options_.threads > 0 ? options_.threads : 1;
  ListenOptions lo;
  lo.backlog = options_.backlog;
  lo.reuse_port = options_.spread == TcpServerOptions::Spread::kReusePort;
  std::size_t listener_sets = options_.spread == TcpServerOptions::Spread::kReusePort
                                  ? static_cast<std::size_t>(threads)
                                  : 1;

  // Open every listener first, so a bind error leaves nothing running.
  std::vector<std::vector<UniqueFd>> sets(listener_sets);
  if (!options_.inherited_fds.empty()) {
    for (std::size_t s = 0; s < listener_sets; ++s) {
      for (int fd : options_.inherited_fds) {
        int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) return errno_code();
        sets[s].emplace_back(copy);
      }
    }
    port_ = local_address(options_.inherited_fds.front()).port();
  } else {
    if (options_.listen.empty()) return Errc::kInvalidArgument;
    std::vector<InetAddress> addrs = options_.listen;
    for (std::size_t s = 0; s < listener_sets; ++s) {
      for (InetAddress& addr : addrs) {
        auto fd = listen_tcp(addr, lo);
        if (!fd) return fd.error();
        if (addr.port() == 0) addr.set_port(local_address(fd->get()).port());  // same port for all
        sets[s].push_back(std::move(*fd));
      }
    }
    port_ = addrs.front().port();
  }

  for (int i = 0; i < threads; ++i) {
    loops_.push_back(std::make_unique<PerLoop>(static_cast<std::size_t>(i), handler_,
                                               options_.connection, pool_));
  }
  for (std::size_t s = 0; s < listener_sets; ++s) loops_[s]->pending_listeners = std::move(sets[s]);

  AcceptorOptions ao;
  ao.edge_triggered = options_.edge_triggered_accept;
  Status result;
  for (auto& pl : loops_) {
    PerLoop* p = pl.get();
    p->run_sync([&, p] {
      for (UniqueFd& fd : p->pending_listeners) {
        auto acc = std::make_unique<Acceptor>(
            p->thread.loop(), std::move(fd),
            [this, p](UniqueFd conn) {
              if (options_.spread == TcpServerOptions::Spread::kRoundRobin) {
                std::size_t n = next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
                PerLoop* target = loops_[n].get();
                if (target == p) {
                  adopt(*p, std::move(conn));
                } else {
                  int raw = conn.release();
                  target->thread.loop().post(
                      [this, target, raw] { adopt(*target, UniqueFd(raw)); });
                }
              } else {
                adopt(*p, std::move(conn));
              }
            },
            ao);
        if (auto st = acc->start(); !st) result = st;
        p->acceptors.push_back(std::move(acc));
      }
      p->pending_listeners.clear();
    });
  }
  started_ = true;
  if (!result) {
    stop(Duration::zero());
    return result;
  }
  return {};
}

void TcpServer::adopt(PerLoop& pl, UniqueFd fd) {
  if (pl.registry->live() >= options_.max_connections_per_loop) {
    ++pl.rejected_limit;
    SLUICE_LOG_EVERY_MS(kWarn, 1000, "connection limit (%zu per loop) reached; closing new ones",
                        options_.max_connections_per_loop);
    return;  // fd closes here
  }
  ++pl.accepted;
  pl.registry->add(std::move(fd));
}

EventLoop& TcpServer::loop(std::size_t i) { return loops_[i]->thread.loop(); }

void TcpServer::run_on_all(const std::function<void(PerLoop&)>& fn) {
  for (auto& pl : loops_) {
    PerLoop* p = pl.get();
    p->run_sync([&fn, p] { fn(*p); });
  }
}

void TcpServer::stop_accepting() {
  run_on_all([](PerLoop& pl) {
    for (auto& a : pl.acceptors) a->close();
  });
}

void TcpServer::stop(Duration grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stop_accepting();
  if (grace > Duration::zero()) {
    run_on_all([this](PerLoop& pl) {
      pl.registry->for_each([this](TcpConnection& c) { handler_.on_drain(c); });
    });
    auto deadline = Clock::now() + grace;
    while (live_connections() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  run_on_all([](PerLoop& pl) { pl.registry->close_all(CloseReason::kLocalClose); });
  loops_.clear();  // destroys registries on their loops, then joins the threads
}

std::vector<LoopStats> TcpServer::stats() {
  std::vector<LoopStats> out(loops_.size());
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    PerLoop* p = loops_[i].get();
    p->run_sync([&out, i, p] {
      LoopStats& s = out[i];
      s.accepted = p->accepted;
      s.rejected_limit = p->rejected_limit;
      for (auto& a : p->acceptors) s.rejected_no_fd += a->stats().rejected_no_fd;
      s.live = p->registry->live();
    });
  }
  return out;
}

std::uint64_t TcpServer::live_connections() {
  std::uint64_t n = 0;
  for (const LoopStats& s : stats()) n += s.live;
  return n;
}

}  // namespace sluice::net
