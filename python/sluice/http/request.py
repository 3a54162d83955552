"""Request and response types of the native handler API.

A Request is built from the record C made of it (offsets into the request's
bytes, which it owns: a copy, never a view of a pool block); everything a
handler does not touch (headers, query, decoded path) costs nothing.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from types import FunctionType
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from .._binding import lib

_METHODS = ("", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")
METHOD_CODES = {name: code for code, name in enumerate(_METHODS) if name}  # C's SL_HTTP_GET...
_KEEP_ALIVE = lib.SL_HTTP_F_KEEP_ALIVE
_REC = lib.SL_HTTP_REC_WORDS
# a header line's words after the record: name offset, name length, value offset, value length
FIELDS = struct.Struct("=4I").iter_unpack


class Headers(Mapping):
    """The request's headers, case-insensitive; a repeated header's values
    joined with ", " (``getall`` gives them apart)."""

    __slots__ = ("_pairs", "_map")

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs  # names lower-case, in order
        m: dict[str, str] = {}
        for name, value in pairs:
            m[name] = f"{m[name]}, {value}" if name in m else value
        self._map = m

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def getall(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self._pairs if n == name]

    def raw(self) -> list[tuple[str, str]]:
        """Every header line as (lower-case name, value), in order."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


def direct(handler: Any) -> Any:
    """The callable to call for handler: its bound ``__call__`` when its
    class defines one in Python (calling the instance goes through the
    type's call slot, which looks the method up and calls it with a dict
    each time: ~500 instructions a call here), else handler itself."""
    call = getattr(type(handler), "__call__", None)  # noqa: B004 (the function itself is wanted)
    return handler.__call__ if isinstance(call, FunctionType) else handler


class Request:
    """One request: ``method``, ``target`` (raw), ``path`` (percent-decoded,
    no query), ``query_string`` (raw), ``query`` (a dict, parsed on first
    use), ``version``, ``headers`` (case-insensitive), ``body`` (bytes),
    ``stream`` (the body as it arrives, on a streamed route),
    ``path_params`` (from the route), ``client`` ((host, port)),
    ``keep_alive``; ``defer()`` to answer later. Each field is made from C's
    record when first read."""

    __slots__ = ("conn", "_raw", "_start", "_rec", "_i", "_stream", "__dict__")
    # made when first read, into the instance's __dict__ (itself made only
    # then): a request that never reads them does not pay for them
    _params: dict[str, str] | None = None
    _headers: Headers | None = None
    _query: dict[str, str] | None = None
    _path: str | None = None
    _qs: str | None = None  # the raw query string, once the target was split

    def __init__(self, conn, raw: bytes, start: int, rec: list[int], i: int):
        # (the server's hot path sets these same six fields inline: keep the two alike)
        self.conn = conn
        self._raw = raw
        self._start = start
        self._rec = rec
        self._i = i
        self._stream = None  # the BodyStream of a streamed route's request

    @property
    def path_params(self) -> dict[str, str]:
        if self._params is None:
            self._params = {}
        return self._params

    @path_params.setter
    def path_params(self, params: dict[str, str]) -> None:
        self._params = params

    @property
    def method(self) -> str:
        rec, i = self._rec, self._i
        m = rec[i]
        if m:
            return _METHODS[m]
        s = self._start + rec[i + 4]
        return self._raw[s : s + rec[i + 5]].decode("latin-1")

    @property
    def target(self) -> str:
        rec, i = self._rec, self._i
        t = self._start + rec[i + 8]
        return self._raw[t : t + rec[i + 9]].decode("latin-1")

    @property
    def version(self) -> str:
        return "HTTP/1.1" if self._rec[self._i + 2] else "HTTP/1.0"

    @property
    def keep_alive(self) -> bool:
        return bool(self._rec[self._i + 1] & _KEEP_ALIVE)

    @property
    def body(self) -> bytes:
        if self._stream is not None and self._stream._conn is not None:
            raise RuntimeError("request.body: this route streams its bodies; read request.stream")
        rec, i = self._rec, self._i
        n = rec[i + 13]
        if not n:
            return b""
        b = self._start + rec[i + 12]
        return self._raw[b : b + n]

    @property
    def stream(self):
        """The body as a BodyStream (sluice.http.stream): as it arrives on a
        route made with stream=True, else the whole body."""
        if self._stream is None:
            from .stream import BodyStream

            self._stream = BodyStream(whole=self.body)
        return self._stream

    def _origin(self) -> str:
        rec, i = self._rec, self._i
        a = self._start + rec[i + 6]
        return self._raw[a : a + rec[i + 7]].decode("latin-1")

    @property
    def path(self) -> str:
        """The path, percent-decoded (UTF-8 bytes seen as latin-1, as WSGI's
        PATH_INFO), without the query."""
        return self._path if self._path is not None else self._path_and_query()[0]

    @property
    def query_string(self) -> str:
        return self._origin().partition("?")[2]

    @property
    def query(self) -> dict[str, str]:
        """The query's fields (the first of a repeated name), parsed on first use."""
        if self._query is None:
            q: dict[str, str] = {}
            for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                q.setdefault(k, v)
            self._query = q
        return self._query

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._pairs())
        return self._headers

    def _pairs(self) -> list[tuple[str, str]]:
        """The header lines as (lower-case name, value), in order."""
        if self._headers is not None:
            return self._headers._pairs
        rec, raw, s, i = self._rec, self._raw, self._start, self._i
        pairs = []
        for a, an, b, bn in FIELDS(rec[i + _REC : i + _REC + 4 * rec[i + 15]]):
            a += s
            b += s
            pairs.append((raw[a : a + an].decode("latin-1").lower(), raw[b : b + bn].decode("latin-1")))
        return pairs

    def _path_and_query(self) -> tuple[str, str]:
        """path and query_string from one look at the target (kept: a
        server's routing and a WSGI environ both ask)."""
        if self._qs is not None:
            return self._path, self._qs
        raw = self._origin()
        q = raw.find("?")
        path, query = (raw, "") if q < 0 else (raw[:q], raw[q + 1 :])
        if self._path is None:
            # an absolute-form target with no path ("http://h", "http://h?q") means "/" (RFC 9110 §4.2.3)
            self._path = unquote_to_bytes(path).decode("latin-1") if "%" in path else path or "/"
        self._qs = query
        return self._path, query

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def head_bytes(self) -> bytes:
        """The request's head as received (request line and header lines)."""
        rec, i = self._rec, self._i
        n = rec[i + 12]  # the body starts right after the head
        return self._raw[self._start : self._start + n]

    @property
    def client(self) -> tuple[str, int] | None:
        return self.conn.peer if self.conn is not None else None

    def defer(self) -> Deferred:
        """Answer later: return this from the handler, then call
        ``resolve(response)`` from any thread. Later pipelined answers on the
        same connection wait for it, so the order holds."""
        return Deferred(self)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} {self.version}>"


class Deferred:
    """A request answered later (see Request.defer)."""

    __slots__ = ("request", "result", "done")

    def __init__(self, request: Request):
        self.request = request
        self.result: Any = None
        self.done = False

    def resolve(self, response: Any) -> None:
        """Safe from any thread; the answer is sent from the loop's thread.
        Once the loop is closed it does nothing: the connection has gone."""
        conn = self.request.conn
        conn._loop._threadsafe(conn._resolve, (self, response))


class Response:
    """``Response(body, status=200, headers=...)``: headers a dict or pairs;
    a str body is sent as UTF-8 text/plain unless headers say otherwise."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, body: bytes | str = b"", status: int = 200, headers: Mapping | Iterable = ()):
        self.status = status
        self.headers = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        self.body = body


class FileResponse:
    """len bytes of the open file fd from offset, sent by sendfile (the
    caller keeps fd open; the connection dups it). no_body: a 304."""

    __slots__ = ("fd", "offset", "length", "status", "headers", "no_body", "close_fd", "raw_headers")

    def __init__(
        self,
        fd: int,
        offset: int,
        length: int,
        status: int = 200,
        headers=(),
        no_body: bool = False,
        close_fd: bool = False,
        raw_headers: bytes | None = None,
    ):
        self.close_fd = close_fd  # the server closes fd once the answer is queued
        self.raw_headers = raw_headers  # the header lines already rendered (instead of headers)
        self.fd = fd
        self.offset = offset
        self.length = length
        self.status = status
        self.headers = list(headers)
        self.no_body = no_body


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n"
ERROR_BODY = b"internal server error\n"  # a 500's body, with TEXT
JSON = b"Content-Type: application/json\r\n"
BINARY = b"Content-Type: application/octet-stream\r\n"


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    if not isinstance(headers, (list, tuple)):
        headers = list(headers)
    out = [f"{name}: {value}\r\n" for name, value in headers]
    text = "".join(out)
    # each line brings one CR and one LF: any more, or a NUL, is in a name or a value
    if text.count("\r") != len(out) or text.count("\n") != len(out) or "\0" in text:
        for name, value in headers:
            if any(c in str(name) or c in str(value) for c in "\r\n\0"):
                raise ValueError(f"response header {str(name)!r}: CR, LF or NUL in it")
    return text.encode("latin-1")


class Rendered:
    """An answer already in the form C takes (WSGI makes these): status,
    header lines (header_block's), body bytes, and the Content-Length to
    send when it is not the body's (a HEAD's, as the application gave it)."""

    __slots__ = ("status", "extra", "body", "length")

    def __init__(self, status: int, extra: bytes, body: bytes, length: int | None = None):
        self.status, self.extra, self.body, self.length = status, extra, body, length


def render(result: Any) -> tuple[int, bytes, bytes]:
    """A handler's result as (status, extra header lines, body)."""
    if type(result) is Rendered:
        return result.status, result.extra, result.body
    if isinstance(result, bytes):
        return 200, BINARY, result
    if isinstance(result, str):
        return 200, TEXT, result.encode()
    if isinstance(result, Response):
        status, headers, body = result.status, result.headers, result.body
    elif isinstance(result, tuple) and len(result) == 3:
        status, headers, body = result
        if type(headers) is not list and isinstance(headers, Mapping):  # (a list skips the slow ABC check)
            headers = list(headers.items())
    elif isinstance(result, (dict, list)):
        return 200, JSON, json.dumps(result).encode()
    else:
        raise TypeError(f"a handler returned {type(result).__name__}; expected Response, bytes, str, dict or tuple")
    if isinstance(body, str):
        body = body.encode()
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers = [*headers, ("Content-Type", "text/plain; charset=utf-8")]
    return int(status), header_block(headers), bytes(body)
