// Why a connection closed.
#pragma once

#include <cstdint>

namespace sluice::net {

enum class CloseReason : std::uint8_t {
  kPeerClosed,  // the peer closed (EOF) and pending output was flushed
  kReset,       // the peer reset the connection (ECONNRESET, EPIPE)
  kTimeout,     // an idle, read or write timeout
  kError,       // another socket error, or the pool refused memory
  kLocalClose,  // this side closed it (close(), or a graceful shutdown ended)
  kLimit,       // a limit: input over its cap, too many connections
  kAbort,       // this side reset it (abort(): RST)
};

inline const char* to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::kPeerClosed: return "peer closed";
    case CloseReason::kReset: return "reset by peer";
    case CloseReason::kTimeout: return "timeout";
    case CloseReason::kError: return "error";
    case CloseReason::kLocalClose: return "local close";
    case CloseReason::kLimit: return "limit";
    case CloseReason::kAbort: return "aborted";
  }
  return "unknown";
}

}  // namespace sluice::net
