"""Static files: ``StaticFiles(root)`` is a handler that serves a directory.

GET and HEAD; index.html for a directory (no listings; 301 to add a missing
trailing slash, 404 for a file with one); MIME types from the
standard ``mimetypes``; ``ETag`` with ``If-None-Match`` and
``Last-Modified`` with ``If-Modified-Since`` (304), ``If-Match`` and
``If-Unmodified-Since`` (412); one ``Range`` (206, or 416); 403 for a file
this process may not open; the body goes out with sendfile from C. An open-file cache keeps hot
files open (looked at again at most once a second, so a changed file is
seen); a small file's bytes are kept with it, and a whole small file goes
out in one send with its head (no sendfile, no dup of the fd). Safety: the
path is percent-decoded, then normalised; NUL bytes, a ``..`` that would
leave the root and symlinks that resolve outside it are refused (404, never
the file).
"""

from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .http import FileResponse, Request
from .http.request import Rendered, header_block
from .log import log_limited

_CACHE_MAX = 256  # open files kept
_RECHECK_S = 1.0
# A file up to this size is kept in memory too (at most 256 x 16 KiB = 4 MiB):
# sending it with its head costs one send, where sendfile costs a dup of the
# fd, a send for the head, the sendfile and a close.
_INLINE_MAX = 16 * 1024


@dataclass
class _Entry:
    fd: int
    size: int
    mtime: float
    etag: str
    last_modified: str
    ctype: str
    checked: float
    block: bytes = b""  # the header lines of a 200, rendered once
    whole: Rendered | None = None  # a small file's 200, bytes and all
    encoding: str = ""  # a Content-Encoding (an .svgz only)

    def headers(self) -> list[tuple[str, str]]:
        h = [
            ("Content-Type", self.ctype),
            ("ETag", self.etag),
            ("Last-Modified", self.last_modified),
            ("Accept-Ranges", "bytes"),
        ]
        if self.encoding:
            h.append(("Content-Encoding", self.encoding))
        return h


def _not_found():
    return 404, [], "not found\n"


FORBIDDEN: Any = object()  # _entry's answer for a file this process may not open
_CODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
SLASH = "/"  # resolve's answer for a directory asked for without its trailing slash (a 301 to it)


class StaticFiles:
    def __init__(self, root: str, *, prefix: str = "", index: str = "index.html"):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise ValueError(f"root: {root!r} is not a directory")
        self.prefix = prefix.rstrip("/")
        self.index = index
        self._cache: dict[str, _Entry] = {}
        self._resolved: dict[str, tuple[str | None, float]] = {}  # URL path -> file, when looked up

    def resolve(self, url_path: str) -> str | None:
        """resolve_now's answer, remembered for a second (a hot path costs no
        syscall; a change on disk is seen within a second)."""
        now = time.monotonic()
        hit = self._resolved.get(url_path)
        if hit is not None and now - hit[1] < _RECHECK_S:
            return hit[0]
        path = self.resolve_now(url_path)
        if len(self._resolved) >= 4 * _CACHE_MAX:
            self._resolved.clear()
        self._resolved[url_path] = (path, now)
        return path

    def resolve_now(self, url_path: str) -> str | None:
        """The file for a (decoded) URL path, None when refused or missing,
        or SLASH for a directory named without its trailing slash (its
        index's relative links would resolve against the parent)."""
        if "\0" in url_path:
            return None
        bare = False  # the mount's own path, without its slash
        if self.prefix:
            if url_path != self.prefix and not url_path.startswith(self.prefix + "/"):
                return None
            bare = url_path == self.prefix
            url_path = url_path[len(self.prefix) :] or "/"
        # as latin-1 from the request; file names are UTF-8 bytes
        try:
            path = url_path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        norm = posixpath.normpath("/" + path)
        if any(part == ".." for part in norm.split("/")):
            return None
        full = os.path.join(self.root, norm.lstrip("/"))
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + os.sep):
            return None  # a symlink (or ..) out of the root
        if os.path.isdir(real):
            if bare or not url_path.endswith("/"):
                return SLASH
            real = os.path.join(real, self.index)
            if not os.path.isfile(real):
                return None  # no directory listings
        elif url_path.endswith("/"):
            return None  # a file is not a directory: /a.txt/ is not /a.txt
        return real if os.path.isfile(real) else None

    def _entry(self, path: str) -> _Entry | None:
        now = time.monotonic()
        e = self._cache.get(path)
        if e is not None and now - e.checked < _RECHECK_S:
            return e
        try:
            st = os.stat(path)
        except OSError:
            self._drop(path)
            return None
        if e is not None and e.size == st.st_size and e.mtime == st.st_mtime:
            e.checked = now
            return e
        self._drop(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except PermissionError as exc:
            # the file is there but this process may not read it: say so to
            # the operator (a 404 would hide a wrong mode), 403 to the client
            log_limited("static-perm", logging.WARNING, "sluice: cannot open %s: %s", path, exc.strerror)
            return FORBIDDEN
        except OSError:
            return None
        if len(self._cache) >= _CACHE_MAX:
            self._drop(next(iter(self._cache)))
        ctype, coding = mimetypes.guess_type(path)
        encoding = ""
        if path.endswith(".svgz"):  # an image made to be sent gzipped: browsers unpack and show it
            ctype, encoding = "image/svg+xml", "gzip"
        elif coding is not None:  # notes.txt.gz is gzip bytes, not text: say what the bytes are
            ctype = _CODING_TYPES.get(coding, "application/octet-stream")
        ctype = ctype or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        e = _Entry(
            fd,
            st.st_size,
            st.st_mtime,
            f'"{int(st.st_mtime_ns):x}-{st.st_size:x}"',
            email.utils.formatdate(st.st_mtime, usegmt=True),
            ctype,
            now,
            encoding=encoding,
        )
        e.block = header_block(e.headers())
        if st.st_size <= _INLINE_MAX:
            try:
                body = os.pread(fd, st.st_size, 0)
            except OSError:
                body = b""
            if len(body) == st.st_size:  # else it changed under us: sendfile it
                e.whole = Rendered(200, e.block, body)
        self._cache[path] = e
        return e

    def _drop(self, path: str) -> None:
        e = self._cache.pop(path, None)
        if e is not None:
            os.close(e.fd)

    def close(self) -> None:
        for path in list(self._cache):
            self._drop(path)

    def __call__(self, req: Request):
        if req.method not in ("GET", "HEAD"):
            return 405, [("Allow", "GET, HEAD")], "method not allowed\n"
        path = self.resolve(req.path)
        if path is None:
            return _not_found()
        if path == SLASH:
            # the Location from the path as resolved (decoded, normalised, one
            # leading slash), never from the raw target: "//host/..%2Fdir"
            # must not send the client to another host
            norm = posixpath.normpath("/" + req.path.lstrip("/"))
            _, q, query = req._origin().partition("?")
            location = quote(norm.encode("latin-1"), safe="/") + "/" + q + query
            return 301, [("Location", location)], "moved: the directory's address ends with /\n"
        e = self._entry(path)
        if e is None:
            return _not_found()
        if e is FORBIDDEN:
            return 403, [], "forbidden\n"
        head = req.head_bytes().lower()
        if b"\nif-" not in head and b"\nrange:" not in head:  # the common case: the whole file
            if e.whole is not None:
                return e.whole
            return FileResponse(e.fd, 0, e.size, 200, raw_headers=e.block)
        headers = e.headers()
        # preconditions in RFC 9110 §13.2.2's order: If-Match (strong
        # comparison: our tags are strong), else If-Unmodified-Since; then
        # If-None-Match, else If-Modified-Since; then If-Range
        im = req.header("if-match")
        if im is not None:
            if im.strip() != "*" and e.etag not in [t.strip() for t in im.split(",")]:
                return 412, [], "precondition failed\n"
        else:
            since = _http_date(req.header("if-unmodified-since"))
            if since is not None and int(e.mtime) > since:
                return 412, [], "precondition failed\n"
        inm = req.header("if-none-match")
        if inm is not None:
            if inm.strip() == "*" or e.etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
                return FileResponse(e.fd, 0, 0, 304, headers, no_body=True)
        else:
            since = _http_date(req.header("if-modified-since"))
            if since is not None and int(e.mtime) <= since:
                return FileResponse(e.fd, 0, 0, 304, headers, no_body=True)
        rng = req.header("range")
        if rng is not None and req.header("if-range") in (None, e.etag, e.last_modified):
            span = _range(rng, e.size)
            if span == "unsatisfiable":
                return 416, [("Content-Range", f"bytes */{e.size}")], ""
            if span is not None:
                first, last = span
                headers.append(("Content-Range", f"bytes {first}-{last}/{e.size}"))
                return FileResponse(e.fd, first, last - first + 1, 206, headers)
        return FileResponse(e.fd, 0, e.size, 200, headers)


def _http_date(value: str | None) -> float | None:
    """An HTTP date as a timestamp; None when absent or not a date (the
    condition is then ignored, RFC 9110 §13.1.3)."""
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_RANGE = re.compile(r"[Bb][Yy][Tt][Ee][Ss]=([0-9]*)-([0-9]*)")


def _range(value: str, size: int):
    """One 'bytes=' range -> (first, last), 'unsatisfiable', or None (ignore:
    several ranges or a malformed header are answered with the whole file)."""
    m = _RANGE.fullmatch(value.strip())  # digits only (RFC 9110 §14.1.2): no signs, spaces or "1_0"
    if m is None:
        return None
    first, last = m.groups()
    if first == "":
        if last == "":
            return None
        n = int(last)
        if n <= 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1) if size else "unsatisfiable"
    a = int(first)
    b = int(last) if last else size - 1
    if a < 0 or (last and b < a):
        return None
    if a >= size:
        return "unsatisfiable"
    return a, min(b, size - 1)
