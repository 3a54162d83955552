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

from .http import App, HTTPServer, Request, Response
from .loop import Loop
from .stats import pool_set_limit, pool_stats, pool_trim
from .tcp import BufferedProtocol, Protocol, Server, Transport
from .wheel import IdleWheel, TimerWheel

__version__ = "0.3.0"

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
