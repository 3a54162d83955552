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
from collections.abc import Callable
from typing import Any

from .request import FileResponse, Rendered, Request, header_block
from .streaming import COLLECT_MAX, StreamedAnswer

log = logging.getLogger("sluice.wsgi")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_DROP = _HOP | {"content-length"}  # what the server renders itself
_HEADER_KEYS: dict[str, str] = {}  # header name -> environ key, cached


def _key(name: str) -> str:
    k = _HEADER_KEYS.get(name)
    if k is None:
        k = "HTTP_" + name.upper().replace("-", "_")
        if len(_HEADER_KEYS) < 1000:
            _HEADER_KEYS[name] = k
    return k


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
        peer = req.conn.peer if req.conn is not None else None
        path, query = req._path_and_query()
        body = None if req._stream is not None else req.body
        env = self._base_env.copy()
        env["REQUEST_METHOD"] = req.method
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query
        env["SERVER_PROTOCOL"] = req.version
        env["REMOTE_ADDR"] = peer[0] if peer else ""
        env["REMOTE_PORT"] = str(peer[1]) if peer else ""
        env["wsgi.input"] = req._stream if body is None else io.BytesIO(body)
        for name, value in req._pairs():
            if name == "content-type":
                env["CONTENT_TYPE"] = value
            elif name == "content-length":
                env["CONTENT_LENGTH"] = value
            elif name == "transfer-encoding":
                continue  # C de-chunked the body: the app sees it with its length
            else:
                key = _key(name)
                env[key] = f"{env[key]},{value}" if key in env else value
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
        state: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, headers: list, exc_info=None):
            if exc_info is not None:
                try:
                    if state.get("sent"):
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif "status" in state:
                raise AssertionError("start_response called twice without exc_info")
            if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
                raise ValueError(f"WSGI status must be like '200 OK', got {status!r}")
            state["status"] = status
            state["headers"] = headers
            return written.append

        result = self.app(self.environ(req), start_response)
        if type(result) is FileWrapper and "status" in state and not written:
            sent = self._file(result, state)
            if sent is not None:
                return sent
        close = getattr(result, "close", None)
        try:
            if isinstance(result, list | tuple):
                body = b"".join([*written, *result]) if written else b"".join(result)
            else:
                it = iter(result)
                first = next((b for b in it if b), b"")  # the head waits for a first non-empty block
                declared = _declared_length(state) if first else None
                if first and (declared is None or declared > COLLECT_MAX):
                    if "status" not in state:
                        raise RuntimeError("the WSGI application yielded before calling start_response")
                    status = int(state["status"][:3])
                    extra = header_block(_headers(state))
                    answer = StreamedAnswer(status, extra, declared, [*written, first], source=it, close=close)
                    close = None  # the answer closes it once its body has gone
                    return answer
                body = b"".join([*written, first, *it])
        finally:
            if close is not None:
                close()
        if "status" not in state:
            raise RuntimeError("the WSGI application returned without calling start_response")
        return Rendered(int(state["status"][:3]), header_block(_headers(state)), body)

    @staticmethod
    def _file(wrapper: FileWrapper, state: dict):
        """The wrapped file as a FileResponse (sendfile), or None to iterate."""
        try:
            fd = wrapper.filelike.fileno()
            pos = wrapper.filelike.tell()
            size = os.fstat(fd).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            return None
        dup = os.dup(fd)
        wrapper.close()
        return FileResponse(dup, pos, max(0, size - pos), int(state["status"][:3]), _headers(state), close_fd=True)


def _declared_length(state: dict) -> int | None:
    for name, value in state["headers"]:
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _headers(state: dict) -> list:
    return [(n, v) for n, v in state["headers"] if n.lower() not in _DROP]
