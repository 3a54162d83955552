"""Static files: conditionals, ranges, HEAD, MIME, the open-file cache,
and every traversal attempt refused."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from sluice.static import StaticFiles

from httpclient import Conn, ThreadServer, get


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "sub" / "index.html").write_text("sub home")
    (root / "a.txt").write_text("0123456789")
    (root / "style.css").write_text("body{}")
    (root / "empty").mkdir()
    (root / "caf\u00e9.txt").write_text("utf-8 name")
    (tmp_path / "secret.txt").write_text("outside the root")
    os.symlink(tmp_path / "secret.txt", root / "link-out")
    os.symlink(root / "a.txt", root / "link-in")
    files = StaticFiles(str(root))
    with ThreadServer(files) as s:
        yield s, root


def fetch(port, raw: bytes, head_only=False):
    with Conn(port) as c:
        c.send(raw)
        return c.reply(head_only=head_only)


def test_files_index_mime_and_head(site):
    s, _ = site
    r = fetch(s.port, get("/a.txt"))
    assert (r.status, r.body, r.headers["content-type"]) == (200, b"0123456789", "text/plain; charset=utf-8")
    assert fetch(s.port, get("/")).body == b"<h1>home</h1>"
    assert fetch(s.port, get("/sub/")).body == b"sub home"
    assert fetch(s.port, get("/style.css")).headers["content-type"].startswith("text/css")
    assert fetch(s.port, get("/caf%C3%A9.txt")).body == b"utf-8 name"
    r = fetch(s.port, b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", head_only=True)
    assert r.status == 200 and r.headers["content-length"] == "10" and r.body == b""
    assert fetch(s.port, get("/link-in")).body == b"0123456789"  # a symlink inside the root is fine


def test_a_directory_without_its_slash_is_redirected_and_a_file_with_one_is_not_found(site):
    """As nginx: /sub answers 301 to /sub/ (the index's relative links then
    resolve inside it), the query kept; /a.txt/ is no file."""
    s, _ = site
    r = fetch(s.port, get("/sub?x=1"), head_only=True)
    assert r.status == 301 and r.headers["location"] == "/sub/?x=1"
    assert fetch(s.port, get("/sub/")).body == b"sub home"
    assert fetch(s.port, get("/a.txt/")).status == 404
    assert fetch(s.port, get("/empty")).status == 301  # then 404: no listing


@pytest.mark.parametrize(
    "target, location",
    [
        ("//evil.example/x/..%2F..%2Fsub", "/sub/"),  # was //evil.example/x/..%2F..%2Fsub/: another host
        ("//sub", "/sub/"),  # was //sub/: the host "sub"
        ("/./sub?q=//x", "/sub/?q=//x"),
        ("/caf%C3%A9", "/caf%C3%A9/"),
    ],
)
def test_the_directory_redirect_never_leaves_the_site(tmp_path, target, location):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "caf\u00e9").mkdir()
    with ThreadServer(StaticFiles(str(root))) as s:
        r = fetch(s.port, f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), head_only=True)
    assert r.status == 301 and r.headers["location"] == location


def test_a_compressed_file_is_typed_as_what_its_bytes_are(tmp_path):
    """notes.txt.gz holds gzip bytes: typed as gzip, not text (no
    Content-Encoding, which would have a browser unpack a download); an
    .svgz is an SVG image sent gzipped, and says so."""
    (tmp_path / "notes.txt.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "pack.tar.bz2").write_bytes(b"BZ")
    (tmp_path / "style.css.br").write_bytes(b"br")
    (tmp_path / "logo.svgz").write_bytes(b"\x1f\x8b")  # made to be sent gzipped: shown, not saved
    names = ("notes.txt.gz", "pack.tar.bz2", "style.css.br", "logo.svgz")
    with ThreadServer(StaticFiles(str(tmp_path))) as s:
        heads = {name: fetch(s.port, get("/" + name)).headers for name in names}
    assert {name: (h["content-type"], h.get("content-encoding")) for name, h in heads.items()} == {
        "notes.txt.gz": ("application/gzip", None),
        "pack.tar.bz2": ("application/x-bzip2", None),
        "style.css.br": ("application/octet-stream", None),
        "logo.svgz": ("image/svg+xml", "gzip"),
    }


def test_a_mount_s_own_path_is_redirected_to_its_slash(tmp_path):
    (tmp_path / "index.html").write_text("mounted")
    with ThreadServer(StaticFiles(str(tmp_path), prefix="/docs")) as s:
        r = fetch(s.port, get("/docs"), head_only=True)
        assert r.status == 301 and r.headers["location"] == "/docs/"
        assert fetch(s.port, get("/docs/")).body == b"mounted"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/%252e%252e/secret.txt",  # double-encoded: stays literal, not found
        "/a.txt%00.html",
        "/link-out",
        "/empty/",  # no listing
        "/nothing-here",
        "//etc/passwd",
    ],
)
def test_traversal_and_missing_are_refused(site, path):
    s, _ = site
    r = fetch(s.port, get(path))
    assert r.status in (403, 404), r
    assert b"outside the root" not in r.body and b"root:" not in r.body


def test_etag_and_last_modified_give_304(site):
    s, _ = site
    r = fetch(s.port, get("/a.txt"))
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    r = fetch(s.port, get("/a.txt", extra=f"If-None-Match: {etag}\r\n"))
    assert r.status == 304 and r.body == b"" and "content-length" not in r.headers
    assert fetch(s.port, get("/a.txt", extra='If-None-Match: "other"\r\n')).status == 200
    assert fetch(s.port, get("/a.txt", extra=f"If-Modified-Since: {lm}\r\n")).status == 304
    assert fetch(s.port, get("/a.txt", extra="If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n")).status == 200
    # If-None-Match wins over If-Modified-Since
    assert fetch(s.port, get("/a.txt", extra=f'If-None-Match: "x"\r\nIf-Modified-Since: {lm}\r\n')).status == 200


def test_if_match_and_if_unmodified_since_are_preconditions(site):
    """RFC 9110 §13.1.1, §13.1.4: false -> 412 and nothing of the file."""
    s, _ = site
    r = fetch(s.port, get("/a.txt"))
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    old = "Thu, 01 Jan 1990 00:00:00 GMT"
    cases = [
        ('If-Match: "other"', 412),
        (f"If-Match: {etag}", 200),
        (f'If-Match: "x", {etag}', 200),
        ("If-Match: *", 200),
        (f"If-Match: W/{etag}", 412),  # a weak tag never matches If-Match (strong comparison)
        (f"If-Unmodified-Since: {old}", 412),
        (f"If-Unmodified-Since: {lm}", 200),
        ("If-Unmodified-Since: not a date", 200),  # ignored
        (f"If-Match: {etag}\r\nIf-Unmodified-Since: {old}", 200),  # If-Match wins
        ('If-Match: "other"\r\nRange: bytes=0-1', 412),
    ]
    for header, status in cases:
        r = fetch(s.port, get("/a.txt", extra=header + "\r\n"))
        assert r.status == status, header
        assert r.body == (b"0123456789" if status == 200 else b"precondition failed\n"), header


def test_a_file_this_process_may_not_read_is_403_and_logged(site, monkeypatch, caplog):
    import logging

    import sluice.log
    import sluice.static

    s, root = site
    denied = str(root / "a.txt")
    real_open = os.open

    def guarded(path, *args, **kw):
        if path == denied:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kw)

    monkeypatch.setattr(sluice.log, "_limiter", sluice.log.RateLimiter())
    monkeypatch.setattr(sluice.static.os, "open", guarded)
    with caplog.at_level(logging.WARNING, logger="sluice"):
        r = fetch(s.port, get("/a.txt"))
    assert (r.status, r.body) == (403, b"forbidden\n")
    assert any("cannot open" in rec.getMessage() and "a.txt" in rec.getMessage() for rec in caplog.records)
    assert fetch(s.port, get("/style.css")).status == 200  # the others are served


@pytest.mark.parametrize(
    "spec, status, body, content_range",
    [
        ("bytes=0-3", 206, b"0123", "bytes 0-3/10"),
        ("bytes=5-", 206, b"56789", "bytes 5-9/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),
        ("bytes=10-", 416, b"", "bytes */10"),
        ("bytes=0-1,4-5", 200, b"0123456789", None),  # several ranges: the whole file
        ("lines=1-2", 200, b"0123456789", None),
        ("BYTES=0-1", 206, b"01", "bytes 0-1/10"),  # the unit's case does not matter
        # digits only (RFC 9110 §14.1.2): anything else is no range, the whole file
        ("bytes=1_0-2_0", 200, b"0123456789", None),
        ("bytes=+5-+9", 200, b"0123456789", None),
        ("bytes=-+3", 200, b"0123456789", None),
        ("bytes = 0-4", 200, b"0123456789", None),
        ("bytes=0 - 4", 200, b"0123456789", None),
        ("bytes=-", 200, b"0123456789", None),
    ],
)
def test_single_ranges(site, spec, status, body, content_range):
    s, _ = site
    r = fetch(s.port, get("/a.txt", extra=f"Range: {spec}\r\n"))
    assert (r.status, r.body) == (status, body)
    assert r.headers.get("content-range") == content_range


def test_the_open_file_cache_sees_a_changed_file(site):
    s, root = site
    assert fetch(s.port, get("/a.txt")).body == b"0123456789"
    (root / "a.txt").write_text("changed!")
    time.sleep(1.2)
    assert fetch(s.port, get("/a.txt")).body == b"changed!"


def test_a_same_size_change_of_a_small_file_kept_in_memory_is_seen(site):
    # a small file's bytes are kept with its entry: a rewrite of the same
    # size with a new mtime must drop them, as it drops the open file
    s, root = site
    assert fetch(s.port, get("/a.txt")).body == b"0123456789"
    (root / "a.txt").write_text("9876543210")
    st = os.stat(root / "a.txt")
    os.utime(root / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    time.sleep(1.2)
    assert fetch(s.port, get("/a.txt")).body == b"9876543210"


def test_files_kept_in_memory_and_sent_by_sendfile_answer_alike(tmp_path):
    from sluice.static import _INLINE_MAX

    root = tmp_path / "root"
    root.mkdir()
    small, big = os.urandom(_INLINE_MAX), os.urandom(_INLINE_MAX + 1)
    (root / "small.bin").write_bytes(small)
    (root / "big.bin").write_bytes(big)
    with ThreadServer(StaticFiles(str(root))) as s:
        a, b = fetch(s.port, get("/small.bin")), fetch(s.port, get("/big.bin"))
        assert (a.status, a.body, b.status, b.body) == (200, small, 200, big)
        assert a.headers.keys() == b.headers.keys()
        assert a.headers["content-length"] == str(len(small))
        for name in ("content-type", "accept-ranges"):
            assert a.headers[name] == b.headers[name]
        h = fetch(s.port, b"HEAD /small.bin HTTP/1.1\r\nHost: t\r\n\r\n", head_only=True)
        assert (h.status, h.headers["content-length"], h.body) == (200, str(len(small)), b"")
        r = fetch(s.port, get("/small.bin", extra="Range: bytes=10-19\r\n"))
        assert (r.status, r.body) == (206, small[10:20])


def test_a_large_file_whole_and_by_ranges_has_the_same_checksum(tmp_path):
    big = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for i in range(100):
            f.write(chunk[i:] + chunk[:i])
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    size = big.stat().st_size
    with ThreadServer(StaticFiles(str(tmp_path))) as s, Conn(s.port, timeout=60) as c:
        c.send(get("/big.bin"))
        r = c.reply()
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == want
        parts = []
        step = 30 << 20
        for first in range(0, size, step):
            last = min(size, first + step) - 1
            c.send(get("/big.bin", extra=f"Range: bytes={first}-{last}\r\n"))
            r = c.reply()
            assert r.status == 206
            parts.append(r.body)
        assert hashlib.sha256(b"".join(parts)).hexdigest() == want
