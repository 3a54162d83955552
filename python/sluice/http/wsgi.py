"""WSGI (PEP 3333) on Sluice's HTTP server.

``WSGIHandler(app)`` turns a WSGI application into a Sluice handler: the
environ is built from the request C parsed, the body the application
returns is collected, and the response goes out as one write with the head
C renders. Hop-by-hop headers the application sets (Connection,
Transfer-Encoding, Keep-Alive) are dropped: the server decides those.

The response body: a list (or tuple), or an iterable with a declared
Content-Length of at most 1 MiB, is collected and sent with its head in one
write. Any other iterable streams (sluice.http.streaming): the head goes
once the first non-empty block is there, then each block as the
application yields it (chunked on HTTP/1.1), unbuffered as PEP 3333 asks,
so server-sent events and long downloads work. With threads the
application's thread iterates it, waiting while the client is behind;
without, the loop pulls one block per turn. Blocks given to ``write()``
are sent before the iterable's.

With threads, a request body that has not all come with its head streams:
the application starts at once on a thread and ``wsgi.input`` is read as the
body arrives (sluice.http.stream.BodyStream), up to max_stream_body. Without
threads the application runs on the loop, which must not block, so the body
is buffered whole (up to max_body) before it starts.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable

from ..log import log_limited
from .request import _METHODS, _REC, FIELDS, FileResponse, Rendered, Request, header_block
from .streaming import COLLECT_MAX, StreamedAnswer

log = logging.getLogger("sluice.wsgi")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_DROP = _HOP | {"content-length"}  # what the server renders itself
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH", "transfer-encoding": ""}
_ENV_KEYS: dict[bytes, str] = {}  # a header name as it came -> its environ key ("": left out), cached


def _env_key(name: bytes) -> str:
    text = name.decode("latin-1").lower()
    key = _SPECIAL.get(text)
    if key is None:
        # X_Foo would read as X-Foo's HTTP_X_FOO (a header a proxy filters by
        # name getting past it): names with "_" are left out, as nginx and
        # gunicorn do
        key = "" if "_" in text else "HTTP_" + text.upper().replace("-", "_")
    if len(_ENV_KEYS) < 1000:
        _ENV_KEYS[name] = key
    return key


class _ErrorsToLog(io.TextIOBase):
    """wsgi.errors: what the application writes goes to the error log."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.error("wsgi.errors: %s", line)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


class FileWrapper:
    """wsgi.file_wrapper: a file the server sends with sendfile (from its
    current position to its end) when it has a descriptor, else by blocks."""

    def __init__(self, filelike, blksize: int = 65536):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        while True:
            block = self.filelike.read(self.blksize)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class WSGIHandler:
    """threads: run the application on a pool of that many threads while the
    loop goes on serving (0: on the loop's thread)."""

    def __init__(
        self,
        app: Callable,
        *,
        server_name: str = "127.0.0.1",
        server_port: int = 0,
        multiprocess: bool = True,
        threads: int = 0,
    ):
        self.app = app
        self.server_name = server_name
        self.server_port = str(server_port)
        self.multiprocess = multiprocess
        self.errors = _ErrorsToLog()
        self.threads = threads
        self._pool = None
        if threads > 0:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="sluice-wsgi")
        self._base_env = {  # the environ keys every request has alike
            "SCRIPT_NAME": "",
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": self.server_port,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": self.errors,
            "wsgi.multithread": threads > 0,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,  # read() returns at the end of the body, whole or streamed
        }

    def environ(self, req: Request) -> dict:
        conn = req.conn
        peer = None if conn is None else conn._peer or conn.peer
        path, query = req._path_and_query()
        body = None if req._stream is not None else req.body if req._rec[req._i + 13] else b""
        env = self._base_env.copy()
        rec, raw, s, i = req._rec, req._raw, req._start, req._i
        m = rec[i]
        env["REQUEST_METHOD"] = _METHODS[m] if m else req.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query
        env["SERVER_PROTOCOL"] = "HTTP/1.1" if rec[i + 2] else "HTTP/1.0"
        env["REMOTE_ADDR"] = peer[0] if peer else ""
        env["REMOTE_PORT"] = str(peer[1]) if peer else ""
        env["wsgi.input"] = req._stream if body is None else io.BytesIO(body)
        # the header lines from C's record: the name's bytes map to their key
        # (Transfer-Encoding is left out: C de-chunked the body, the app sees
        # it with its length); a repeated HTTP_ header's values are joined
        for a, an, b, bn in FIELDS(rec[i + _REC : i + _REC + 4 * rec[i + 15]]):
            a += s
            name = raw[a : a + an]
            key = _ENV_KEYS.get(name) or _env_key(name)
            if key:
                b += s
                value = raw[b : b + bn].decode("latin-1")
                env[key] = f"{env[key]},{value}" if key in env and key[0] == "H" else value
        if body and "CONTENT_LENGTH" not in env:  # a chunked body, de-chunked by C
            env["CONTENT_LENGTH"] = str(len(body))
        return env

    @property
    def streams(self) -> bool:
        return self._pool is not None

    def wants_stream(self, req: Request) -> bool:
        return self._pool is not None  # on a thread, a read waiting for the body blocks no one

    def __call__(self, req: Request):
        if self._pool is None:
            return self.run(req)
        deferred = req.defer()
        self._pool.submit(self._in_thread, req, deferred)
        return deferred

    def _in_thread(self, req: Request, deferred) -> None:
        try:
            result = self.run(req)
        except Exception:
            log.exception("sluice: the WSGI application raised on %r; answering 500", req)
            result = None
        if type(result) is not StreamedAnswer:
            deferred.resolve(result)
            return
        # a streamed body: this thread iterates it and pushes the blocks
        it, close = result.source, result.close
        result.source = result.close = None
        deferred.resolve(result)
        try:
            for block in it:
                if not result.push(block):
                    break  # the client went, or a HEAD: no more is wanted
            result.end()
        except Exception as exc:
            result.end(exc)
        finally:
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("sluice: closing the WSGI iterable of %r raised", req)

    def run(self, req: Request) -> Rendered | StreamedAnswer | FileResponse:
        state = _Start()
        result = self.app(self.environ(req), state.start_response)
        written = state.written
        if type(result) is FileWrapper and state.status is not None and not written:
            sent = self._file(result, state)
            if sent is not None:
                return sent
        close = getattr(result, "close", None)
        try:
            if isinstance(result, (list, tuple)):
                body = b"".join([*written, *result]) if written else b"".join(result)
            else:
                # write() appends to `written`: blocks are added to the same list,
                # so what the app writes while its iterable runs keeps its place
                it = iter(result)
                first = next((b for b in it if b), b"")  # the head waits for a first non-empty block
                if not isinstance(first, (bytes, bytearray, memoryview)):
                    raise TypeError(f"the WSGI iterable yielded {type(first).__name__}, not bytes")
                declared = _declared_length(state) if first else None
                if first and (declared is None or declared > COLLECT_MAX):
                    if state.status is None:
                        raise RuntimeError("the WSGI application yielded before calling start_response")
                    status = state.code
                    extra = header_block(_headers(state))
                    written.append(first)
                    answer = StreamedAnswer(status, extra, declared, written, source=it, close=close)
                    state.sink = answer  # write() from now on goes to the answer, in its order
                    close = None  # the answer closes it once its body has gone
                    state.sent = True
                    return answer
                if first:
                    written.append(first)
                for block in it:
                    written.append(block)
                body = b"".join(written)
        finally:
            if close is not None:
                close()
        if state.status is None:
            raise RuntimeError("the WSGI application returned without calling start_response")
        extra, declared = _header_lines(state.headers)
        length = None
        if declared is not None:
            if declared < len(body):  # PEP 3333: no more than Content-Length allows
                log_limited("wsgi-length", 30, "sluice: %r: the body is longer than its Content-Length", req)
                body = body[:declared]
            elif not body and req.method == "HEAD":  # the length the application gave (RFC 9110 §8.6)
                length = declared
        return Rendered(state.code, extra, body, length)

    @staticmethod
    def _file(wrapper: FileWrapper, state: _Start):
        """The wrapped file as a FileResponse (sendfile), or None to iterate."""
        try:
            fd = wrapper.filelike.fileno()
            pos = wrapper.filelike.tell()
            size = os.fstat(fd).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            return None
        length = max(0, size - pos)
        declared = _declared_length(state)
        if declared is not None and 0 <= declared < length:  # a range served as seek + Content-Length
            length = declared
        dup = os.dup(fd)
        wrapper.close()
        return FileResponse(dup, pos, length, state.code, _headers(state), close_fd=True)


class _Start:
    """One request's start_response (PEP 3333) and what it was given: a
    bound method of a small object costs less to make than a closure."""

    __slots__ = ("status", "code", "headers", "written", "sent", "sink")

    def __init__(self) -> None:
        self.status: str | None = None
        self.code = 0  # the status's number
        self.headers: list = []
        self.written: list[bytes] = []
        self.sent = False  # the head is on its way (a streamed answer)
        self.sink = None  # the StreamedAnswer once streaming: write() goes there

    def start_response(self, status: str, headers: list, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        code = _CODES.get(status) if type(status) is str else None
        if code is None:
            code = _status_code(status)
        if type(headers) is not list:
            raise TypeError(f"WSGI response headers: a list of (name, value) tuples, not {type(headers).__name__}")
        self.status = status
        self.code = code
        self.headers = headers
        return self.write

    def write(self, data) -> None:
        """PEP 3333's write(): the bytes go where the next block would."""
        if type(data) is not bytes and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"WSGI write() takes bytes, got {type(data).__name__}")
        sink = self.sink
        if sink is None:
            self.written.append(data)
        else:
            sink.add(data)


_CODES: dict[str, int] = {}  # the status lines seen, checked once: their numbers
_CODES_MAX = 256


def _status_code(status) -> int:
    """The number of a WSGI status ("200 OK"), or ValueError."""
    if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
        raise ValueError(f"WSGI status must be like '200 OK', got {status!r}")
    code = int(status[:3])
    if type(status) is str and len(_CODES) < _CODES_MAX:
        _CODES[status] = code
    return code


def _declared_length(state: _Start) -> int | None:
    for name, value in state.headers:
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _check_headers(headers) -> None:
    """PEP 3333: a list of (str, str) pairs, names HTTP tokens. Raises
    TypeError or ValueError (the request gets a 500)."""
    for pair in headers:
        if type(pair) not in (tuple, list) or len(pair) != 2:  # PEP 3333 says tuple; a 2-list passes too
            raise TypeError(f"WSGI response header {pair!r}: not a (name, value) tuple")
        name, value = pair
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"WSGI response header {pair!r}: name and value must be str")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"WSGI response header name {name!r}: not an HTTP token")


def _headers(state: _Start) -> list:
    _check_headers(state.headers)
    return [(n, v) for n, v in state.headers if n.lower() not in _DROP]


_BLOCKS: dict[tuple, tuple[bytes, int | None]] = {}  # header lists: as C takes them, declared length
_BLOCKS_MAX = 256


def _header_lines(headers: list) -> tuple[bytes, int | None]:
    """header_block of the headers the server does not render itself, and
    the Content-Length they declare (None: none, or not a number). An
    application sends the same few header lists again and again: they are
    checked once and kept, by content (at most 256 of them)."""
    try:
        key = tuple(headers)
        block = _BLOCKS.get(key)
    except TypeError:  # a list of lists, say: not a key
        key = block = None
    if block is None:
        _check_headers(headers)
        lines = header_block([(n, v) for n, v in headers if n.lower() not in _DROP])
        declared = next((v for n, v in headers if n.lower() == "content-length"), None)
        block = (lines, int(declared) if declared is not None and declared.strip().isdigit() else None)
        if key is not None and len(_BLOCKS) < _BLOCKS_MAX:
            _BLOCKS[key] = block
    return block
