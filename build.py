"""The cffi builder of sluice._core (API mode, out of line).

The declarations cffi sees are the marked section of csrc/sluice.h, so the
header and the binding cannot drift; the few ``extern "Python"`` callbacks
the binding hands to the core are declared here, beside the two calls that
release the GIL (see BINDING) and nothing else.
Used by setup.py (``cffi_modules``) only. Note: in this directory
``python -m build`` would import this file instead of the ``build`` package;
use ``python -P -m build`` (``-P``: do not put the current directory first).
"""

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = "csrc"
# Every .c file of csrc/ (not its tests/) is part of the core.
SOURCES = sorted(p.name for p in (HERE / CSRC).glob("*.c"))
# sluice.h first (the others use its types), then each unit's own header.
HEADERS = ["sluice.h"] + sorted(p.name for p in (HERE / CSRC).glob("*.h") if p.name not in ("sluice.h", "core.h"))

CALLBACKS = """
extern "Python" void _sl_on_events(void *ud, sl_event *events, size_t n, const char *data, size_t data_len);
extern "Python" void _sl_on_log(void *ud, int level, const char *msg);
"""

# cffi releases the GIL around every call it wraps. Dropping and taking it
# again costs about 420 instructions a call (callgrind, CPython 3.11: mutex,
# condition variable, thread state), more than most of the core's calls
# cost themselves (a write into an output buffer is about 360), and the
# calls that write, answer or close never block. So the wrappers keep the
# GIL, and only the two calls that wait in epoll_wait release it, through
# the functions below: threads of the user's run while the loop waits, as
# before. (The extern "Python" callbacks take the GIL themselves,
# PyGILState_Ensure, whether it is held or not.)
BINDING_CDEF = """
int sl_py_loop_run_once(sl_loop *loop, int timeout_ms);
int sl_py_bench_run(const sl_bench_config *cfg, sl_bench_result *out, struct sl_hist *latency);
"""
BINDING_SOURCE = """
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
static int sl_py_loop_run_once(sl_loop *loop, int timeout_ms) {
    PyThreadState *ts = PyEval_SaveThread();
    int r = sl_loop_run_once(loop, timeout_ms);
    PyEval_RestoreThread(ts);
    return r;
}
static int sl_py_bench_run(const sl_bench_config *cfg, sl_bench_result *out, struct sl_hist *latency) {
    PyThreadState *ts = PyEval_SaveThread();
    int r = sl_bench_run(cfg, out, latency);
    PyEval_RestoreThread(ts);
    return r;
}
"""


def header_cdef(path: Path) -> str:
    """The text between the CDEF-BEGIN and CDEF-END markers of one header."""
    text = path.read_text()
    match = re.search(r"/\* CDEF-BEGIN \*/(.*?)/\* CDEF-END \*/", text, re.S)
    if not match:
        raise RuntimeError(f"{path}: no CDEF-BEGIN/CDEF-END section")
    return match.group(1)


def core_cdef() -> str:
    """The marked sections of every public header, sluice.h first."""
    return "".join(header_cdef(HERE / CSRC / name) for name in HEADERS)


def compile_args() -> list[str]:
    args = ["-O2", "-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden"]
    if os.environ.get("SLUICE_WERROR"):
        args.append("-Werror")
    if os.environ.get("SLUICE_DEBUG"):
        args.append("-DSL_DEBUG")
    return args


ffibuilder = FFI()
ffibuilder.cdef(core_cdef() + CALLBACKS + BINDING_CDEF)
ffibuilder.set_source(
    "sluice._core",
    "".join(f'#include "{name}"\n' for name in HEADERS) + BINDING_SOURCE,
    sources=[f"{CSRC}/{name}" for name in SOURCES],
    include_dirs=[CSRC],
    extra_compile_args=compile_args(),
    libraries=["pthread"],
)

if __name__ == "__main__":
    import sys

    sys.exit(
        "build.py is the cffi builder that setup.py uses; it builds nothing by itself.\n"
        "Install: pip install .  (or pip install -e . to develop)\n"
        "An sdist: python -P -m build --sdist  (-P keeps this file from shadowing the build package)"
    )
