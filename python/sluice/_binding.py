"""The doorway to the C core: ``ffi``, ``lib`` and the ``extern "Python"``
callbacks the core is given at init. Private: only sluice's own modules
import it, and nothing from ffi or lib reaches users.

Each callback is defined once here. An exception that escapes one is kept by
``onerror`` (cffi would otherwise print and lose it) and re-raised by
``raise_pending()`` after the C call that led to it returns.
"""

from __future__ import annotations

import logging

from ._core import ffi, lib

__all__ = ["ffi", "lib", "raise_pending"]

_pending: list[BaseException] = []
_c_log = logging.getLogger("sluice.core")


def _keep(exc_type, exc_value, tb) -> None:
    if exc_value is None:
        exc_value = exc_type()
    _pending.append(exc_value.with_traceback(tb))


def raise_pending() -> None:
    """Re-raise the first exception a callback let escape, if any."""
    if _pending:
        exc = _pending[0]
        _pending.clear()
        raise exc


@ffi.def_extern(onerror=_keep)
def _sl_on_events(ud, events, n, data, data_len):
    ffi.from_handle(ud)._dispatch(events, n, data, data_len)


@ffi.def_extern(onerror=_keep)
def _sl_on_log(ud, level, msg):
    _c_log.log(level, "%s", ffi.string(msg).decode("utf-8", "replace"))
