"""Python allocations per request, for the HTTP peers of benchmarks/compare.

Every peer server module calls ``maybe_start()`` at import. It does nothing
unless the environment has ``SLUICE_BENCH_ALLOCS=DIR``; then, in this
process:

- it installs an allocator hook that counts every call of Python's
  ``PyMem_*`` (PYMEM_DOMAIN_MEM) and ``PyObject_*`` (PYMEM_DOMAIN_OBJ)
  allocators: malloc, calloc and realloc calls and the bytes they asked for,
  and frees. These are *gross* counts: a block allocated and freed within a
  request counts once. Pure Python cannot see this; the hook is a few lines
  of C, compiled by cffi on first use into benchmarks/build/allocs-hook/
  (cc and Python's headers: what building Sluice itself needs). The raw
  domain (PyMem_RawMalloc: called without the GIL, also by C extensions such
  as uvloop's libuv) is not counted;
- it starts tracemalloc (1 frame), whose view is *net*: the memory still
  allocated (``get_traced_memory()[0]``) and its high-water mark since the
  last reading (the peak);
- it answers on a Unix socket ``DIR/allocs-PID.sock``, from a daemon thread:
  each connection gets one JSON line with the counts so far,
  ``sys.getallocatedblocks()``, tracemalloc's current and peak bytes (the
  peak is reset by each reading), and the pid.

benchmarks/compare reads every socket in DIR before and after a measured
wrk run and divides the differences by the requests wrk counted.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from pathlib import Path

CDEF = """
void sl_allocs_install(void);
void sl_allocs_read(unsigned long long out[8]);
"""

SOURCE = r"""
#include <Python.h>

typedef struct {
    PyMemAllocatorEx orig;
    unsigned long long allocs, bytes, reallocs, frees;
} counter;

static counter mem, obj;
static int installed;

static void *c_malloc(void *ctx, size_t n) {
    counter *c = ctx;
    c->allocs++;
    c->bytes += n;
    return c->orig.malloc(c->orig.ctx, n);
}

static void *c_calloc(void *ctx, size_t k, size_t n) {
    counter *c = ctx;
    c->allocs++;
    c->bytes += k * n;
    return c->orig.calloc(c->orig.ctx, k, n);
}

static void *c_realloc(void *ctx, void *p, size_t n) {
    counter *c = ctx;
    c->reallocs++;
    c->bytes += n;
    return c->orig.realloc(c->orig.ctx, p, n);
}

static void c_free(void *ctx, void *p) {
    counter *c = ctx;
    if (p) c->frees++;
    c->orig.free(c->orig.ctx, p);
}

static void hook(PyMemAllocatorDomain domain, counter *c) {
    PyMemAllocatorEx a = {c, c_malloc, c_calloc, c_realloc, c_free};
    PyMem_GetAllocator(domain, &c->orig);
    PyMem_SetAllocator(domain, &a);
}

void sl_allocs_install(void) {
    if (installed) return;
    installed = 1;
    hook(PYMEM_DOMAIN_MEM, &mem);
    hook(PYMEM_DOMAIN_OBJ, &obj);
}

void sl_allocs_read(unsigned long long out[8]) {
    out[0] = mem.allocs; out[1] = mem.reallocs; out[2] = mem.bytes; out[3] = mem.frees;
    out[4] = obj.allocs; out[5] = obj.reallocs; out[6] = obj.bytes; out[7] = obj.frees;
}
"""

BUILD = Path(__file__).resolve().parent.parent / "build" / "allocs-hook"
_started = False


def _module():
    """The compiled hook (built on first use; a lock file keeps two builders apart)."""
    import fcntl
    import importlib

    BUILD.mkdir(parents=True, exist_ok=True)
    tag = "_sl_allocs_" + sys.implementation.cache_tag.replace("-", "_")
    sys.path.insert(0, str(BUILD))
    with open(BUILD / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return importlib.import_module(tag)
        except ImportError:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(CDEF)
            # PyMem_SetAllocator is not in the limited API, which cffi uses unless told not to
            ffi.set_source(tag, SOURCE, define_macros=[("_CFFI_NO_LIMITED_API", None)])
            ffi.compile(tmpdir=str(BUILD), verbose=False)
            importlib.invalidate_caches()
            return importlib.import_module(tag)


def _serve(path: str, mod, tracemalloc) -> None:
    out = mod.ffi.new("unsigned long long[8]")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        with conn:
            mod.lib.sl_allocs_read(out)
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            v = list(out)
            reply = {
                "pid": os.getpid(),
                "mem_allocs": v[0],
                "mem_reallocs": v[1],
                "mem_bytes": v[2],
                "mem_frees": v[3],
                "obj_allocs": v[4],
                "obj_reallocs": v[5],
                "obj_bytes": v[6],
                "obj_frees": v[7],
                "allocated_blocks": sys.getallocatedblocks(),
                "traced_current": current,
                "traced_peak": peak,
            }
            conn.sendall(json.dumps(reply).encode() + b"\n")


def maybe_start() -> None:
    global _started
    folder = os.environ.get("SLUICE_BENCH_ALLOCS")
    if not folder or _started:
        return
    _started = True
    import tracemalloc

    mod = _module()
    mod.lib.sl_allocs_install()
    tracemalloc.start(1)
    path = os.path.join(folder, f"allocs-{os.getpid()}.sock")
    if os.path.exists(path):
        os.unlink(path)
    threading.Thread(target=_serve, args=(path, mod, tracemalloc), daemon=True, name="allocs").start()
