"""The HTTP/1.1 request parser and the frame codec, fuzzed.

Two ways, so that something runs on every machine:

- ``test_libfuzzer_target_finds_nothing[http1|frame]`` builds a libFuzzer target of csrc/fuzz/
  (``clang -fsanitize=fuzzer,address,undefined``) and runs it bounded, from the seed corpus of
  csrc/fuzz/corpus_*; it must exit 0 (the targets trap only on a broken invariant; ASan, UBSan and
  LeakSanitizer report the rest). Without clang or its libFuzzer runtime it skips: CI installs them
  (Debian: ``apt-get install clang libclang-rt-dev``). SLUICE_FUZZ_RUNS and SLUICE_FUZZ_SECONDS set
  the bounds for a longer run by hand.
- ``test_mutated_*`` need no compiler: they drive sl_http_parse through cffi on 10,000 requests
  mutated from the same seeds with a fixed seed, fed whole, split in two (moved to a new buffer in
  between) and, for a third of them, a byte at a time, and check what the fuzz target checks: one
  of the defined answers, the same however the bytes came, every offset inside the bytes given;
  and sl_frame_scan likewise on mutated frame streams, whole and as a caller reads them.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sluice._binding import ffi, lib

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
FUZZ = CSRC / "fuzz"
CLANG = os.environ.get("CLANG", "clang")
FUZZ_FLAGS = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]
STRICT = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
# ~15-25 s per target on one core here; the time bound keeps a slow CI machine under a minute each
RUNS = int(os.environ.get("SLUICE_FUZZ_RUNS", "200000"))
SECONDS = int(os.environ.get("SLUICE_FUZZ_SECONDS", "30"))
RUN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
NO_FUZZER = "clang with libFuzzer not found: CI installs it; apt-get install clang libclang-rt-dev"

# (target, its source in csrc/fuzz, the unit it fuzzes, the seed corpus)
TARGETS = {
    "http1": ("fuzz_http1.c", "http1_parse.c", "corpus_http"),
    "frame": ("fuzz_frame.c", "frame.c", "corpus_frame"),
}


# ---- libFuzzer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    """A scratch directory, once clang has shown it can link a libFuzzer program; else skip."""
    d = tmp_path_factory.mktemp("fuzz")
    if shutil.which(CLANG) is None:
        pytest.skip(f"{NO_FUZZER} (no {CLANG} on PATH)")
    probe = d / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    r = subprocess.run(
        [CLANG, *FUZZ_FLAGS, str(probe), "-o", str(d / "probe")], capture_output=True, text=True, timeout=120
    )
    if r.returncode != 0:
        pytest.skip(f"{NO_FUZZER} ({CLANG} cannot link -fsanitize=fuzzer: {r.stderr.strip()[-300:]})")
    return d


def _artifacts(d: Path) -> str:
    """The inputs libFuzzer saved (crash-*, leak-*, timeout-*...), shown as Python bytes."""
    shown = []
    for p in sorted(d.glob("art-*")):
        data = p.read_bytes()
        shown.append(f"{p.name} ({len(data)} bytes): {data[:600]!r}")
    return "\n".join(shown)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_libfuzzer_target_finds_nothing(fuzz_dir: Path, target: str):
    source, unit, corpus = TARGETS[target]
    exe = fuzz_dir / f"fuzz_{target}"
    build = subprocess.run(
        [CLANG, *FUZZ_FLAGS, *STRICT, f"-I{CSRC}", str(FUZZ / source), str(CSRC / unit), "-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"building {source} failed:\n{build.stderr}"
    # new inputs go to the first directory (scratch), the seeds are only read
    found = fuzz_dir / f"corpus_{target}"
    found.mkdir()
    seeds = FUZZ / corpus
    assert any(seeds.iterdir()), f"no seeds in {seeds}"
    run = subprocess.run(
        [
            str(exe),
            f"-runs={RUNS}",
            f"-max_total_time={SECONDS}",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={fuzz_dir}/art-{target}-",
            str(found),
            str(seeds),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        env={**os.environ, **RUN_ENV},
    )
    tail = "\n".join(run.stderr.splitlines()[-60:])
    assert run.returncode == 0, f"{target}: libFuzzer exited {run.returncode}\n{_artifacts(fuzz_dir)}\n{tail}"
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done and int(done.group(1)) > 0, tail


# ---- mutations through cffi -----------------------------------------------------------------

NEED_MORE, HEAD_DONE, DONE, ERROR = lib.SL_HTTP_NEED_MORE, lib.SL_HTTP_HEAD_DONE, lib.SL_HTTP_DONE, lib.SL_HTTP_ERROR
STATUSES = {400, 413, 414, 417, 431, 501, 505}
CHUNKED = lib.SL_HTTP_F_CHUNKED
MUTATIONS = 10000
BYTEWISE_EVERY = 3  # a byte at a time costs a call per byte: every 3rd mutation

# (max_request_line, max_header_line, max_head, max_headers, max_body), headers array; None: the defaults
LIMIT_SETS = [
    (None, 128),
    ((40, 40, 120, 4, 32), 128),
    ((200, 100, 400, 10, 300), 6),
    ((16, 8, 16, 1, 0), 1),
    ((8190, 8190, 65536, 100, 4), 128),  # bodies over the limit: 413
]

# Pieces the mutator splices in: the bytes and lines the parser decides on.
TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"0",
    b"Host: h\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"0\r\n\r\n",
    b"5;x=y\r\nhello\r\n",
    b"ffffffffffffffffff\r\n",
    b" HTTP/1.1\r\n",
    b" HTTP/2.0\r\n",
    b"GET ",
    b"OPTIONS * HTTP/1.1\r\n",
    b"http://a/",
]


def _seeds() -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted((FUZZ / "corpus_http").iterdir())]
    assert seeds, "the seed corpus csrc/fuzz/corpus_http is empty"
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        at = rng.randint(0, len(b))
        if op == 0 and b:  # flip a byte
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op == 1:  # a token the parser decides on
            b[at:at] = rng.choice(TOKENS)
        elif op == 2 and b:  # delete a run
            del b[at : at + rng.randint(1, 8)]
        elif op == 3 and b:  # repeat a slice (long lines, many headers)
            s = rng.randint(0, len(b) - 1)
            piece = b[s : s + rng.randint(1, 40)]
            b[at:at] = piece * rng.randint(1, 20)
        elif op == 4:  # cut short
            del b[at:]
        elif op == 5 and b:  # change a letter's case
            i = min(at, len(b) - 1)
            b[i] = b[i] ^ 0x20 if chr(b[i]).isascii() and chr(b[i]).isalpha() else b[i]
        else:  # a random byte
            b[at:at] = bytes([rng.randrange(256)])
    return bytes(b)


class Parse:
    """One request parsed through cffi; the bytes kept as the parser left them."""

    def __init__(self, limits, cap: int):
        self.r = ffi.new("sl_http_request *")
        lib.sl_http_request_reset(self.r)
        self.h = ffi.new("sl_http_header[]", cap)
        self.cap = cap
        self.limits = limits
        if limits is None:
            self.lim = ffi.NULL
        else:
            self.lim = ffi.new("sl_http_limits *")
            (
                self.lim.max_request_line,
                self.lim.max_header_line,
                self.lim.max_head,
                self.lim.max_headers,
                self.lim.max_body,
            ) = limits
        self.buf = ffi.new("char[]", 1)
        self.len = 0
        self.rc = NEED_MORE
        self.head_done = False

    def feed(self, data: bytes, upto: int) -> int:
        """The first upto bytes of data, from a new buffer (a caller may move it)."""
        buf = ffi.new("char[]", max(upto, 1))
        ffi.memmove(buf, self.buf, self.len)  # as the parser left them
        ffi.memmove(buf + self.len, data[self.len : upto], upto - self.len)
        self.buf, self.len = buf, upto
        before = self.rc
        rc = lib.sl_http_parse(self.r, buf, upto, self.h, self.cap, self.lim)
        if before in (DONE, ERROR):
            assert rc == before, "DONE and ERROR are sticky"
        if rc == HEAD_DONE:
            assert not self.head_done and before != DONE, "HEAD_DONE comes at most once, before DONE"
            self.head_done = True
        self.rc = rc
        return rc

    def bytes_at(self, off: int, n: int) -> bytes:
        return ffi.unpack(self.buf + off, n)

    def head_complete(self) -> bool:
        return self.head_done or self.rc == DONE

    def summary(self) -> tuple:
        """What must not depend on how the bytes came."""
        r = self.r
        rc = NEED_MORE if self.rc == HEAD_DONE else self.rc
        if rc == ERROR:
            return (rc, r.status)
        headers = [(h.name_off, h.name_len, h.value_off, h.value_len) for h in self.h[0 : r.n_headers]]
        if not self.head_complete():
            return (rc, headers)
        fields = (
            r.method_off,
            r.method_len,
            r.target_off,
            r.target_len,
            r.path_off,
            r.path_len,
            r.authority_off,
            r.authority_len,
            r.version_minor,
            r.method,
            r.target_form,
            r.flags,
            r.head_len,
            r.body_off,
            r.content_length,
            r.body_len,
        )
        body = self.bytes_at(r.body_off, r.body_len)
        return (rc, headers, fields, body, r.consumed if rc == DONE else None)


def _check_answer(p: Parse, data: bytes) -> None:
    r, n = p.r, p.len
    assert p.rc in (NEED_MORE, HEAD_DONE, DONE, ERROR)
    if p.rc == ERROR:
        assert r.status in STATUSES and r.error != ffi.NULL, (r.status, data)
        return
    assert r.error == ffi.NULL and r.status == 0
    max_headers = p.limits[3] if p.limits else lib.SL_HTTP_DEFAULT_MAX_HEADERS
    assert r.n_headers <= min(p.cap, max_headers)
    for h in p.h[0 : r.n_headers]:
        assert h.name_off + h.name_len < h.value_off and h.value_off + h.value_len <= n
        line_end = h.value_off + h.value_len
        assert p.bytes_at(h.name_off, line_end - h.name_off) == data[h.name_off : line_end], "head bytes changed"
        assert p.bytes_at(h.name_off + h.name_len, 1) == b":"
        value = p.bytes_at(h.value_off, h.value_len)
        assert value == value.strip(b" \t") and not set(value) & {0, 10, 13}
    if p.rc == NEED_MORE:
        return
    assert r.body_off == r.head_len <= n and p.bytes_at(0, r.head_len) == data[: r.head_len]
    for off, length in ((r.method_off, r.method_len), (r.target_off, r.target_len)):
        assert length > 0 and off + length <= r.head_len
    assert r.path_off + r.path_len <= r.head_len and r.authority_off + r.authority_len <= r.head_len
    assert r.version_minor in (0, 1) and 1 <= r.target_form <= 4
    assert r.body_off + r.body_len <= n
    if r.flags & CHUNKED:
        assert r.content_length == 0 and r.version_minor == 1
    else:
        assert r.body_len <= r.content_length
    if p.rc == HEAD_DONE:
        return
    assert r.body_off + r.body_len <= r.consumed <= n
    if not r.flags & CHUNKED:
        assert r.consumed == r.head_len + r.content_length
    assert p.bytes_at(r.consumed, n - r.consumed) == data[r.consumed :], "wrote at or past consumed"


def test_mutated_requests_get_defined_answers_however_split():
    rng = random.Random(14)
    seeds = _seeds()
    answers = {NEED_MORE: 0, HEAD_DONE: 0, DONE: 0, ERROR: 0}
    statuses = set()
    for i in range(MUTATIONS):
        data = _mutate(rng, rng.choice(seeds))
        limits, cap = rng.choice(LIMIT_SETS)
        whole = Parse(limits, cap)
        whole.feed(data, len(data))
        _check_answer(whole, data)
        answers[whole.rc] += 1
        statuses.add(whole.r.status)

        k = rng.randint(0, len(data))
        split = Parse(limits, cap)
        split.feed(data, k)
        _check_answer(split, data[:k])
        split.feed(data, len(data))
        _check_answer(split, data)
        assert split.summary() == whole.summary(), f"split at {k}: {data!r}"

        if i % BYTEWISE_EVERY == 0:
            bytewise = Parse(limits, cap)
            for j in range(1, len(data) + 1):
                before = bytewise.rc
                if bytewise.feed(data, j) == DONE and before != DONE:
                    assert bytewise.r.consumed == j, "DONE when the last byte arrives"
            _check_answer(bytewise, data)
            assert bytewise.summary() == whole.summary(), f"a byte at a time: {data!r}"
    # the mutations reach every answer, not only errors, and the limits' statuses
    assert all(answers.values()), answers
    assert {400, 413, 414, 431, 501} <= statuses, statuses


def test_mutated_frame_streams_scan_alike_however_split():
    rng = random.Random(14)
    seeds = [p.read_bytes() for p in sorted((FUZZ / "corpus_frame").iterdir())]
    out = ffi.new("sl_frame[]", 1024)
    n_out, consumed = ffi.new("size_t *"), ffi.new("size_t *")

    def scan(data: bytes, max_payload: int, cap: int) -> tuple[int, list, int]:
        rc = lib.sl_frame_scan(data, len(data), max_payload, out, cap, n_out, consumed)
        return rc, [(f.off, f.len, f.flags, f.type) for f in out[0 : n_out[0]]], consumed[0]

    for _ in range(MUTATIONS):
        data = bytes(_mutate(rng, b"".join(rng.choice(seeds) for _ in range(rng.randint(1, 3)))))
        max_payload = rng.choice([0, 1, 16, 300])
        rc, frames, end = scan(data, max_payload, 1024)
        assert rc in range(lib.SL_FRAME_BIG_HEARTBEAT, 1)
        pos = 0
        for off, length, _, _ in frames:
            assert off == pos + lib.SL_FRAME_HEADER and off + length <= len(data)
            pos = off + length
        assert end == pos <= len(data)
        # as a caller reads it: two pieces, an out array of 1..4
        cap, k = rng.randint(1, 4), rng.randint(0, len(data))
        got, base, pending, err = [], 0, b"", 0
        for piece in (data[:k], data[k:]):
            pending += piece
            while not err:
                err, some, used = scan(pending, max_payload, cap)
                got += [(off + base, length, flags, typ) for off, length, flags, typ in some]
                pending, base = pending[used:], base + used
                if len(some) < cap:
                    break
        assert (err, got) == (rc, frames), f"split at {k}, cap {cap}: {data!r}"
        if rc:
            assert base == end, "the bad frame starts at the same place"
