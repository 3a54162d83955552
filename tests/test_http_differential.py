"""The C request parser against h11, a reference parser, on the same valid requests.

A few thousand requests are generated from a fixed seed: methods (RFC 9110's and random tokens),
origin-form targets with segments, queries and percent-escapes (and some asterisk- and
absolute-form ones), 0-20 headers of random names and values, a body by Content-Length or chunked
(chunk extensions, trailers), HTTP/1.1 with Host or HTTP/1.0 with or without it, CRLF or bare-LF
line ends. Each is parsed by sl_http_parse through cffi and by h11 (``h11.Connection(h11.SERVER)``,
``receive_data``, ``next_event`` until ``EndOfMessage``); the two must agree on the method, the
target, the version, the header lines in order (names as sent, values as trimmed), the
100-continue expectation and the de-chunked body, and the C parser must also give the same when
the request arrives in two reads, followed by the start of the next one.

The generator keeps to what both parsers and RFC 9112 call valid. Where the two differ, it stays
on the common side; each such place is marked "h11:" or "ours:" in the generator:

- h11 refuses empty lines before the request line (RFC 9112 §2.2 lets a server skip them; we do);
- h11 refuses obs-text (0x80-0xFF) in the request-target; we let it through;
- h11 refuses whitespace before a chunk extension's ";" (RFC 9112 §7.1.1 allows BWS there; we
  accept it), a bare LF in the chunk framing and chunk sizes over 20 hex digits (we take all
  three), but accepts whitespace after a chunk size with no extension and control bytes in an
  extension (the RFC does not; we refuse both);
- h11 accepts control bytes (0x01-0x08, 0x0E-0x1F, 0x7F) in field values; RFC 9110 §5.5 and we do
  not, so values are VCHAR, obs-text and inner SP/HTAB only;
- h11 unfolds obs-fold lines; we refuse them (400, RFC 9112 §5.2 allows either);
- h11 lets Transfer-Encoding win over Content-Length; we refuse the pair (400: request smuggling),
  so a request has at most one framing header;
- ours: Expect other than 100-continue is 417, Transfer-Encoding on HTTP/1.0 is 400, CONNECT needs
  authority-form, "*" is for OPTIONS only, and HTTP/1.2 is 505 (RFC 9110 §6.2 would read it as
  1.1, as h11 does); h11 takes all of them. None is generated;
- h11 merges repeated Content-Length headers of one value into one (and rewrites "5, 5" as
  "5"); we keep every line. So at most one Content-Length line, with one value, is generated;
- h11 takes any Host value; we refuse one with characters a host cannot have (400: RFC 9112 §3.2
  says MUST). None is generated;
- h11 lower-cases the value of Transfer-Encoding; that one value is compared case-insensitively.

Trailers are generated and must be consumed, but are not compared: the C parser checks and drops
them (http1.h), h11 hands them over in EndOfMessage.
"""

from __future__ import annotations

import random
import string

import pytest

from sluice._binding import ffi, lib

h11 = pytest.importorskip("h11", reason="h11 is a test dependency: pip install '.[test]'")

N_REQUESTS = 5000
MAX_HEADERS = 20
TCHAR = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# RFC 3986 pchar without pct-encoded (added separately): unreserved, sub-delims, ":" and "@"
PCHAR = string.ascii_letters + string.digits + "-._~" + "!$&'()*+,;=" + ":@"
VCHAR = bytes(range(0x21, 0x7F))
OBS_TEXT = bytes(range(0x80, 0x100))
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]
# names the parsers act on: generated on purpose only, never as a random name
SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect", "te", "trailer"}


# ---- the generator -------------------------------------------------------------------------


def _token(rng: random.Random, lo: int = 1, hi: int = 16) -> str:
    return "".join(rng.choice(TCHAR) for _ in range(rng.randint(lo, hi)))


def _header_name(rng: random.Random) -> str:
    while True:
        name = _token(rng, 1, 24)
        if name.lower() not in SPECIAL:
            return name


def _case(rng: random.Random, name: str) -> str:
    """A name as a client might spell it: canonical, lower, upper or mixed case."""
    pick = rng.randrange(4)
    if pick == 0:
        return name
    if pick == 1:
        return name.lower()
    if pick == 2:
        return name.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


def _field_value(rng: random.Random) -> bytes:
    """VCHAR and obs-text, with SP/HTAB runs inside only (the value both parsers hand back)."""
    words = []
    for _ in range(rng.randint(0, 5)):
        alphabet = VCHAR if rng.random() < 0.9 else OBS_TEXT
        words.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 12))))
    out = b""
    for i, w in enumerate(words):
        if i:
            out += bytes(rng.choice(b" \t") for _ in range(rng.randint(1, 3)))
        out += w
    return out


def _ows(rng: random.Random) -> bytes:
    return bytes(rng.choice(b" \t") for _ in range(rng.choice([0, 0, 0, 1, 2])))


def _segment(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 10)):
        out.append(f"%{rng.randrange(256):02{rng.choice('xX')}}" if rng.random() < 0.15 else rng.choice(PCHAR))
    return "".join(out)


def _origin_form(rng: random.Random) -> str:
    path = "/" + "/".join(_segment(rng) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.4:
        # query = *( pchar / "/" / "?" )
        query = (rng.choice(PCHAR + "/?") if rng.random() > 0.1 else "%2F" for _ in range(rng.randint(0, 30)))
        path += "?" + "".join(query)
    return path


def _host(rng: random.Random) -> str:
    pick = rng.randrange(4)
    if pick == 0:
        # ours: reg-name characters only (RFC 3986: unreserved, sub-delims); h11 takes any token
        chars = "abcdefghijklmnopqrstuvwxyz0123456789-_~!$&'()*+,;="
        host = ".".join("".join(rng.choice(chars) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 3)))
    elif pick == 1:
        host = ".".join(str(rng.randrange(256)) for _ in range(4))
    elif pick == 2:
        host = "[::1]"
    else:
        host = "localhost"
    return host + (f":{rng.randrange(1, 65536)}" if rng.random() < 0.5 else "")


def _chunk_ext(rng: random.Random) -> bytes:
    # chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), without the BWS
    # (h11: none before ";"), the value a token or a quoted-string
    out = b""
    for _ in range(rng.choice([0, 0, 1, 2])):
        out += b";" + _token(rng, 1, 8).encode()
        if rng.random() < 0.6:
            if rng.random() < 0.5:
                out += b"=" + _token(rng, 1, 8).encode()
            else:
                qd = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\') + b"\t"
                out += b'="' + bytes(rng.choice(qd) for _ in range(rng.randint(0, 10))) + b'"'
    return out


def _chunked(rng: random.Random, body: bytes, eol: bytes) -> bytes:
    """body as chunks (sizes in hex of either case, some zero-padded), the last chunk, trailers."""
    out, i = b"", 0
    while i < len(body):
        n = min(rng.randint(1, 120), len(body) - i)
        size = f"{n:{rng.choice('xX')}}".rjust(rng.choice([0, 0, 0, 3, 8]), "0")
        out += size.encode() + _chunk_ext(rng) + b"\r\n" + body[i : i + n] + b"\r\n"
        i += n
    out += b"0" * rng.randint(1, 3) + _chunk_ext(rng) + b"\r\n"
    for _ in range(rng.choice([0, 0, 1, 3])):
        out += _header_name(rng).encode() + b":" + _ows(rng) + _field_value(rng) + _ows(rng) + eol
    return out + eol


class Generated:
    """One valid request and what a parser must find in it."""

    def __init__(self, rng: random.Random):
        self.version = rng.choice([1, 1, 1, 0])
        if rng.random() < 0.05:
            self.method, self.target = "OPTIONS", "*"
        else:
            self.method = rng.choice(METHODS) if rng.random() < 0.8 else _token(rng, 1, 12)
            if self.method == "CONNECT":  # ours: CONNECT takes authority-form only
                self.method = "GET"
            self.target = _origin_form(rng)
            if rng.random() < 0.05:
                self.target = rng.choice(["http", "https", "HTTP"]) + "://" + _host(rng) + self.target
        # bare LF line ends (RFC 9112 §2.2: a recipient MAY accept them; both do), not in chunk framing
        eol = b"\n" if rng.random() < 0.1 else b"\r\n"

        headers: list[tuple[bytes, bytes]] = [
            (_header_name(rng).encode(), _field_value(rng)) for _ in range(rng.randint(0, MAX_HEADERS))
        ]

        def insert(name: str, value: bytes) -> None:
            headers.insert(rng.randint(0, len(headers)), (_case(rng, name).encode(), value))

        if self.version == 1 or rng.random() < 0.5:  # Host: required on 1.1, exactly one
            insert("Host", _host(rng).encode())
        if rng.random() < 0.2:
            insert("Connection", rng.choice([b"keep-alive", b"close", b"Keep-Alive, x-token", b"close, keep-alive"]))
        self.expect_continue = False
        if rng.random() < 0.1:  # ours: any other expectation is 417
            insert("Expect", rng.choice([b"100-continue", b"100-Continue"]))
            self.expect_continue = self.version == 1  # RFC 9110 §10.1.1: ignored on HTTP/1.0
        self.body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 10, 100, 300])))
        framing = rng.random()
        self.chunked = self.version == 1 and framing < 0.35  # ours: no Transfer-Encoding on HTTP/1.0
        if self.chunked:
            insert("Transfer-Encoding", rng.choice([b"chunked", b"Chunked", b"CHUNKED"]))
        elif self.body or framing < 0.7:
            length = str(len(self.body)).rjust(rng.choice([0, 0, 0, 3]), "0")
            insert("Content-Length", length.encode())
        else:
            self.body = b""  # no framing header: a request without a body
        self.headers = headers

        head = f"{self.method} {self.target} HTTP/1.{self.version}".encode() + eol
        for name, value in headers:
            head += name + b":" + _ows(rng) + value + _ows(rng) + eol
        head += eol
        self.head_len = len(head)
        self.raw = head + (_chunked(rng, self.body, eol) if self.chunked else self.body)


# ---- the two parsers -----------------------------------------------------------------------


def _c_parse(data: bytes, cuts: list[int]) -> dict:
    """sl_http_parse fed data[:cut] for each cut, then all of it, each time from a new buffer."""
    r = ffi.new("sl_http_request *")
    lib.sl_http_request_reset(r)
    cap = 128
    hdrs = ffi.new("sl_http_header[]", cap)
    buf, have, rc = ffi.new("char[]", 1), 0, lib.SL_HTTP_NEED_MORE
    for upto in [*cuts, len(data)]:
        new = ffi.new("char[]", max(upto, 1))
        ffi.memmove(new, buf, have)  # as the parser left them (chunked: decoded in place)
        ffi.memmove(new + have, data[have:upto], upto - have)
        buf, have = new, upto
        rc = lib.sl_http_parse(r, buf, have, hdrs, cap, ffi.NULL)
    if rc != lib.SL_HTTP_DONE:
        error = ffi.string(r.error).decode() if r.error != ffi.NULL else ""
        return {"rc": rc, "status": r.status, "error": error}

    def span(off: int, n: int) -> bytes:
        assert off + n <= have
        return ffi.unpack(buf + off, n)

    return {
        "rc": rc,
        "method": span(r.method_off, r.method_len),
        "target": span(r.target_off, r.target_len),
        "version": b"1.%d" % r.version_minor,
        "headers": [(span(h.name_off, h.name_len), span(h.value_off, h.value_len)) for h in hdrs[0 : r.n_headers]],
        "body": span(r.body_off, r.body_len),
        "expect_continue": bool(r.flags & lib.SL_HTTP_F_EXPECT_CONTINUE),
        "chunked": bool(r.flags & lib.SL_HTTP_F_CHUNKED),
        "consumed": r.consumed,
    }


def _h11_parse(data: bytes) -> dict:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request, body, expect_continue = None, b"", False
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            request = event
            expect_continue = conn.they_are_waiting_for_100_continue
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(f"h11 stopped at {event!r}")
    return {
        "method": bytes(request.method),
        "target": bytes(request.target),
        "version": bytes(request.http_version),
        "headers": [(bytes(n), bytes(v)) for n, v in request.headers.raw_items()],
        "body": body,
        "expect_continue": expect_continue,
    }


def _comparable_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    # h11 lower-cases Transfer-Encoding's value (the one it normalises that we generate)
    return [(n, v.lower() if n.lower() == b"transfer-encoding" else v) for n, v in headers]


# ---- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def requests() -> list[Generated]:
    rng = random.Random(9112)
    return [Generated(rng) for _ in range(N_REQUESTS)]


def test_generator_covers_the_cases(requests):
    """The generated set holds every kind of request the comparison is meant to cover."""
    assert sum(g.chunked for g in requests) > N_REQUESTS // 5
    assert sum(bool(g.body) and not g.chunked for g in requests) > N_REQUESTS // 5
    assert sum(g.version == 0 for g in requests) > N_REQUESTS // 10
    assert sum(g.expect_continue for g in requests) > 20
    assert sum("%" in g.target for g in requests) > N_REQUESTS // 5
    assert sum("?" in g.target for g in requests) > N_REQUESTS // 5
    assert sum(len(g.headers) >= MAX_HEADERS for g in requests) > 20
    assert sum(g.chunked and b";" in g.raw[g.head_len :] for g in requests) > 50  # chunk extensions
    assert sum(g.raw.endswith(b"\n\n") and not g.raw.endswith(b"\r\n\r\n") for g in requests) > 50  # bare LF


def test_c_parser_agrees_with_h11_on_valid_requests(requests):
    for g in requests:
        ours = _c_parse(g.raw, [])
        assert ours["rc"] == lib.SL_HTTP_DONE, f"{ours}: {g.raw!r}"
        theirs = _h11_parse(g.raw)
        for key in ("method", "target", "version", "body", "expect_continue"):
            assert ours[key] == theirs[key], f"{key}: ours {ours[key]!r}, h11 {theirs[key]!r}: {g.raw!r}"
        assert _comparable_headers(ours["headers"]) == _comparable_headers(theirs["headers"]), g.raw
        # and both are what was generated
        assert ours["method"] == g.method.encode() and ours["target"] == g.target.encode()
        assert ours["headers"] == g.headers and ours["body"] == g.body and ours["chunked"] == g.chunked
        assert ours["consumed"] == len(g.raw)


def test_c_parser_gives_the_same_in_two_reads(requests):
    rng = random.Random(7230)
    for g in requests:
        whole = _c_parse(g.raw, [])
        # the start of a next request follows: it must be left unconsumed and unread
        follow = b"GET /next HTTP/1.1\r\nHo"[: rng.randint(0, 22)]
        cut = rng.randint(0, len(g.raw))
        split = _c_parse(g.raw + follow, [cut])
        assert split == whole, f"split at {cut}: {g.raw!r}"
