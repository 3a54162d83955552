"""The C core's counters as plain Python dicts (the loop's, the pool's)."""

from __future__ import annotations

from ._binding import ffi, lib

CLOSE_REASONS = {
    lib.SL_CLOSE_PEER: "peer closed",
    lib.SL_CLOSE_RESET: "reset",
    lib.SL_CLOSE_ERROR: "error",
    lib.SL_CLOSE_IDLE: "idle",
    lib.SL_CLOSE_SHUTDOWN: "server shutdown",
    lib.SL_CLOSE_POOL: "pool exhausted",
    lib.SL_CLOSE_PROTOCOL: "protocol error",
    lib.SL_CLOSE_LOCAL: "closed",
    lib.SL_CLOSE_ABORT: "aborted",
    lib.SL_CLOSE_INPUT_LIMIT: "input limit",
    lib.SL_CLOSE_TIMEOUT: "timeout",
}

_LOOP_FIELDS = (
    "turns",
    "accepted",
    "accept_errors",
    "conns_open",
    "reads",
    "writes",
    "bytes_in",
    "bytes_out",
)


def loop_stats(c_loop) -> dict:
    s = ffi.new("sl_loop_stats *")
    lib.sl_loop_get_stats(c_loop, s)
    out = {name: getattr(s, name) for name in _LOOP_FIELDS}
    out["closed"] = {CLOSE_REASONS[r]: s.closed[r] for r in CLOSE_REASONS}
    out["closed_by_code"] = list(s.closed)
    return out


def pool_stats() -> dict:
    """The process's buffer pool: bytes held and, per size class, blocks in
    use, free, peak, allocations and failures."""
    s = ffi.new("buf_pool_stats *")
    lib.buf_pool_get_stats(lib.buf_pool_instance(), s)
    classes = []
    for i in range(lib.SL_NUM_CLASSES):
        c = s.cls[i]
        classes.append(
            {
                "block_size": c.block_size,
                "in_use": c.in_use,
                "free": c.free,
                "peak": c.peak,
                "allocs": c.allocs,
                "failures": c.failures,
            }
        )
    return {"limit": s.limit, "held_bytes": s.held_bytes, "in_use_bytes": s.in_use_bytes, "classes": classes}


def pool_set_limit(limit: int) -> None:
    """Bytes the process's pool may hold; 0 restores the default (1 GiB)."""
    if limit < 0:
        raise ValueError("pool limit: must be 0 (the default) or a number of bytes")
    lib.buf_pool_set_limit(lib.buf_pool_instance(), limit)


def pool_trim() -> int:
    """Give the free blocks' memory back to the OS; returns the bytes released."""
    return lib.buf_pool_trim(lib.buf_pool_instance())
