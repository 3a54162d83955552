"""The `sluice` command as a user runs it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

import sluice
from sluice.cli import main

from servers import EchoServer


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert sluice.__version__ in result.output


def test_echo_rejects_a_bad_bind_naming_the_option():
    result = CliRunner().invoke(main, ["echo", "--bind", "nonsense"])
    assert result.exit_code != 0
    assert "bind" in result.output and "HOST:PORT" in result.output


def test_echo_rejects_a_negative_idle_timeout():
    result = CliRunner().invoke(main, ["echo", "--idle-timeout", "-1"])
    assert result.exit_code != 0
    assert "idle-timeout" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--keepalive", "nan"],
        ["serve", "--header-timeout", "inf"],
        ["serve", "--timeout", "nan"],
        ["echo", "--idle-timeout", "inf"],
        ["serve", "--backlog", "99999999999"],
        ["serve", "--max-body", "99999999999999999999999999"],
    ],
)
def test_values_the_core_cannot_take_are_refused_naming_the_flag(args):
    """nan, inf and numbers past the core's fields passed before, then broke
    the workers (a traceback, or a kill-respawn loop for --timeout nan)."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert args[1] in result.output, result.output


@pytest.mark.parametrize("prefix", ["/", "//"])
def test_a_static_mount_at_the_root_is_refused(tmp_path, prefix):
    """A mount at / would take every path from --root or the app."""
    result = CliRunner().invoke(main, ["serve", "--root", str(tmp_path), "--static", f"{prefix}={tmp_path}", "-t"])
    assert result.exit_code != 0
    assert "static" in result.output and "--root" in result.output


def test_an_app_that_is_not_callable_fails_the_boot(tmp_path):
    (tmp_path / "notapp.py").write_text("app = 42\n")
    for spec, words in (("notapp:app", "int is not callable"), ("notapp", "expected MODULE:ATTRIBUTE")):
        proc = subprocess.run(
            [sys.executable, "-m", "sluice.cli", "serve", spec, "--workers", "0", "--bind", "127.0.0.1:0"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert proc.returncode == 3, proc.stderr
        assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_pid_file_that_cannot_be_written_says_so(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "echo", "--workers", "1", "--bind", "127.0.0.1:0"]
        + ["--pid-file", str(tmp_path / "no" / "such" / "dir" / "x.pid")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "--pid-file" in proc.stderr and "cannot write it" in proc.stderr and "cannot listen" not in proc.stderr


def test_the_installed_version_is_the_package_s():
    from importlib.metadata import version

    assert version("sluice") == sluice.__version__


def test_echo_reports_a_port_in_use_and_exits_1():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "echo", "--bind", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    s.close()
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr and "in use" in proc.stderr


def test_echo_serves_and_stops_on_sigterm():
    with EchoServer() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
            c.sendall(b"hello sluice")
            assert c.recv(100) == b"hello sluice"
        log = server.stop()
        assert server.proc.returncode == 0
    assert "stopping: 1 connections served" in log


def test_console_script_is_installed():
    proc = subprocess.run(["sluice", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "echo" in proc.stdout


def test_a_port_out_of_range_is_named_as_such():
    result = CliRunner().invoke(main, ["echo", "--bind", "127.0.0.1:70000"])
    assert result.exit_code == 2
    assert "port 70000" in result.output and "out of range" in result.output
    result = CliRunner().invoke(main, ["echo", "--bind", "127.0.0.1:²"])  # isdigit(), but no int
    assert result.exit_code == 2 and "expected HOST:PORT" in result.output


def test_a_pid_file_without_a_master_is_refused_not_ignored(tmp_path):
    result = CliRunner().invoke(main, ["echo", "--workers", "0", "--pid-file", str(tmp_path / "x.pid")])
    assert result.exit_code == 2
    assert "--pid-file" in result.output and "--workers 0" in result.output
    assert not (tmp_path / "x.pid").exists()
