// Counters of one msg server or client (no statics: several per process).
// Thread rules: Stats is updated from every loop thread (relaxed atomics);
// snapshot() copies it into plain numbers.
#pragma once

#include <atomic>
#include <cstdint>

namespace sluice::msg {

struct StatsSnapshot {
  std::uint64_t opened = 0;
  std::uint64_t closed = 0;
  std::uint64_t frames_in = 0;   // every whole frame, heartbeats included
  std::uint64_t frames_out = 0;  // every frame sent, heartbeats included
  std::uint64_t pings_in = 0;
  std::uint64_t pings_out = 0;
  std::uint64_t pongs_in = 0;
  std::uint64_t pongs_out = 0;
  std::uint64_t unknown_dropped = 0;  // no route; dropped (UnknownIdPolicy::kDrop)
  std::uint64_t unknown_closed = 0;   // no route; connection closed (kClose)
  std::uint64_t bad_magic = 0;        // each of these closes its connection
  std::uint64_t bad_version = 0;
  std::uint64_t bad_flags = 0;
  std::uint64_t bad_length = 0;
  std::uint64_t truncated = 0;           // the peer closed in the middle of a frame
  std::uint64_t heartbeat_timeouts = 0;  // closed: nothing arrived for misses intervals
  std::uint64_t send_failures = 0;       // the pool refused memory for a frame

  std::uint64_t protocol_errors() const noexcept {
    return bad_magic + bad_version + bad_flags + bad_length;
  }
};

struct Stats {
  std::atomic<std::uint64_t> opened{0}, closed{0}, frames_in{0}, frames_out{0}, pings_in{0},
      pings_out{0}, pongs_in{0}, pongs_out{0}, unknown_dropped{0}, unknown_closed{0}, bad_magic{0},
      bad_version{0}, bad_flags{0}, bad_length{0}, truncated{0}, heartbeat_timeouts{0},
      send_failures{0};

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  StatsSnapshot snapshot() const noexcept {
    auto get = [](const std::atomic<std::uint64_t>& c) {
      return c.load(std::memory_order_relaxed);
    };
    StatsSnapshot s;
    s.opened = get(opened);
    s.closed = get(closed);
    s.frames_in = get(frames_in);
    s.frames_out = get(frames_out);
    s.pings_in = get(pings_in);
    s.pings_out = get(pings_out);
    s.pongs_in = get(pongs_in);
    s.pongs_out = get(pongs_out);
    s.unknown_dropped = get(unknown_dropped);
    s.unknown_closed = get(unknown_closed);
    s.bad_magic = get(bad_magic);
    s.bad_version = get(bad_version);
    s.bad_flags = get(bad_flags);
    s.bad_length = get(bad_length);
    s.truncated = get(truncated);
    s.heartbeat_timeouts = get(heartbeat_timeouts);
    s.send_failures = get(send_failures);
    return s;
  }
};

}  // namespace sluice::msg
