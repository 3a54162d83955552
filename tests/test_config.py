"""The configuration file: every flag a key, errors that name the key and
its line, flags over the file, the example complete, HUP re-reads it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sluice.cli import serve
from sluice.config import keys_of

from httpclient import Conn, get
from servers import ServerProcess, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sluice.toml"


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_example_lists_every_key_and_is_valid():
    text = EXAMPLE.read_text()
    named = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.M))
    assert set(keys_of(serve)) - named == set()
    r = check(EXAMPLE)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "body, line, words",
    [
        ('bind = "127.0.0.1:1"\nworkers = "many"\n', 2, ["workers", "not a valid integer"]),
        ("keepalive = 3\nnonsense = 1\n", 2, ["unknown key 'nonsense'"]),
        ('workers = 1\nbind = "nope"\n', 2, ["bind", "HOST:PORT"]),
        ('root = "/does/not/exist"\n', 1, ["root", "not a directory"]),
        ('reuse_port = "yes"\n', 1, ["reuse_port", "true or false"]),
        ("max-body = 0\n", 1, ["max-body"]),
        ('static = ["nope"]\n', 1, ["static", "/PREFIX=DIR"]),
        ('log_level = "loud"\n', 1, ["log_level", "loud"]),
        ("max_body = 1.5\n", 1, ["max_body", "not an integer"]),  # was cut to 1
        ("timeout = nan\n", 1, ["timeout", "seconds from 0"]),  # was "valid", then killed every worker
        ("keepalive = inf\n", 1, ["keepalive", "seconds from 0"]),
        ("backlog = 99999999999\n", 1, ["backlog", "65535"]),  # was valid, then a traceback
        ("max_body = 99999999999999999999999999\n", 1, ["max_body"]),
    ],
)
def test_a_bad_file_names_the_key_its_line_and_why(tmp_path, body, line, words):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    r = check(f)
    assert r.returncode == 1
    assert f"{f}:{line}:" in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.mark.parametrize(
    "body, words",
    [
        ('app = "nosuch_module_here:app"\n', ["cannot import 'nosuch_module_here'"]),
        ('error_log = "/no/such/dir/e.log"\n', ["--error-log", "no such directory"]),
        ('pid_file = "/no/such/dir/x.pid"\n', ["--pid-file", "no such directory"]),
    ],
)
def test_check_finds_what_a_start_would_meet(tmp_path, body, words):
    """The values were valid, the start would fail: -t says so (it said
    "valid" before)."""
    f = tmp_path / "c.toml"
    f.write_text(body)
    r = check(f)
    assert r.returncode == 1, r.stdout
    for w in words:
        assert w in r.stderr, r.stderr


def test_a_file_that_is_not_utf8_is_an_error_not_a_traceback(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_bytes(b'bind = "\xff\xfe"\n')
    r = check(f)
    assert r.returncode == 1 and "not valid TOML: not UTF-8" in r.stderr and "Traceback" not in r.stderr


def test_invalid_toml_is_an_error_with_its_position(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("workers = 1\nbind = 127.0.0.1:8080\n")
    r = check(f)
    assert r.returncode == 1 and "not valid TOML" in r.stderr and "line" in r.stderr


def test_flags_on_the_command_line_win_over_the_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("from a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("from b")
    f = tmp_path / "s.toml"
    f.write_text(f'root = "{tmp_path / "a"}"\nworkers = 1\nkeepalive = 5\n')
    with ServerProcess(["serve"], "--config", str(f), "--root", str(tmp_path / "b")) as s, Conn(s.port) as c:
        c.send(get("/x.txt"))
        assert c.reply().body == b"from b"
        s.stop()


def test_hup_rereads_the_file_and_a_broken_one_keeps_the_old_workers(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    f = tmp_path / "s.toml"
    f.write_text(f'root = "{tmp_path}"\nworkers = 1\n')
    with ServerProcess(["serve"], "--config", str(f)) as s:
        f.write_text(f'root = "{tmp_path}"\nworkers = 2\n')
        s.send_signal(signal.SIGHUP)
        s.wait_log(r"reload done: 2 new workers")
        f.write_text(f'root = "{tmp_path}"\nworkers = "two"\n')
        n = len(s.lines)
        s.send_signal(signal.SIGHUP)
        s.wait_log(r"configuration failed to load .*workers", after=n)
        time.sleep(0.5)
        with Conn(s.port) as c:
            c.send(get("/x.txt"))
            assert c.reply().body == b"x"
        s.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_bind_dropped_by_a_reload_stops_being_served(tmp_path):
    """The new workers get the binds of the new configuration only (before,
    they kept the dropped address open for as long as they lived)."""
    (tmp_path / "x.txt").write_text("x")
    old, new = _free_port(), _free_port()
    f = tmp_path / "s.toml"
    f.write_text(f'root = "{tmp_path}"\nworkers = 1\nbind = ["127.0.0.1:{old}"]\n')
    with ServerProcess(["serve"], "--config", str(f), bind=False) as s:
        f.write_text(f'root = "{tmp_path}"\nworkers = 1\nbind = ["127.0.0.1:{new}"]\n')
        s.send_signal(signal.SIGHUP)
        s.wait_log(r"reload done")
        with Conn(new) as c:
            c.send(get("/x.txt"))
            assert c.reply().body == b"x"

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", old), timeout=2).close()
                return False
            except ConnectionRefusedError:
                return True

        assert wait_until(refused, 20), "the dropped bind is still served"
        s.stop()
