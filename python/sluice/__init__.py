"""Sluice: network servers for Python on Linux over a small C core.

The C core (buffer pool, buffers, epoll loop, connections) does the bytes;
Python decides. Users see these types only:

- ``Loop``: the event loop (``run``, ``stop``, ``call_soon``, ``call_later``,
  ``call_every``, ``call_soon_threadsafe``, ``add_signal_handler``,
  ``create_server``, ``create_connection``);
- ``Protocol``, ``BufferedProtocol``, ``Transport``, ``Server``: TCP with
  asyncio's names and meanings;
- ``App``, ``Request``, ``Response``, ``HTTPServer``: HTTP/1.1 (``sluice.http``;
  WSGI in ``sluice.http.wsgi``);
- ``IdleWheel``, ``TimerWheel``: the timing wheels;
- ``pool_stats``, ``pool_set_limit``, ``pool_trim``: the buffer pool.
"""

from typing import TYPE_CHECKING

__version__ = "0.3.0"

# Where each public name lives. They are imported on first use (PEP 562), so
# that ``import sluice`` -- and every ``sluice`` command, ``sluice bench``
# above all -- loads only what it runs: the HTTP layer alone is about half of
# the package's import time.
_EXPORTS = {
    "Loop": "loop",
    "Protocol": "tcp",
    "BufferedProtocol": "tcp",
    "Transport": "tcp",
    "Server": "tcp",
    "App": "http",
    "Request": "http",
    "Response": "http",
    "HTTPServer": "http",
    "IdleWheel": "wheel",
    "TimerWheel": "wheel",
    "pool_stats": "stats",
    "pool_set_limit": "stats",
    "pool_trim": "stats",
}

__all__ = [
    "Loop",
    "Protocol",
    "BufferedProtocol",
    "Transport",
    "Server",
    "App",
    "Request",
    "Response",
    "HTTPServer",
    "IdleWheel",
    "TimerWheel",
    "pool_stats",
    "pool_set_limit",
    "pool_trim",
    "__version__",
]

if TYPE_CHECKING:
    from .http import App, HTTPServer, Request, Response
    from .loop import Loop
    from .stats import pool_set_limit, pool_stats, pool_trim
    from .tcp import BufferedProtocol, Protocol, Server, Transport
    from .wheel import IdleWheel, TimerWheel


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sluice' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
