"""The scoreboard's segments in /dev/shm: a master that was killed without
its cleanup leaves one; the next master's start removes it, and only it."""

from __future__ import annotations

import os
import subprocess

from sluice import scoreboard as sb


def segment(path, master: int, started: int, magic: int = sb.MAGIC) -> None:
    words = [0] * (sb.HEADER_WORDS + sb.SLOT_WORDS)
    words[sb.H_MAGIC], words[sb.H_MASTER], words[sb.H_PROC_START] = magic, master, started
    path.write_bytes(b"".join(w.to_bytes(8, "little") for w in words))


def test_a_new_master_removes_the_segments_of_dead_masters_only(tmp_path, monkeypatch):
    monkeypatch.setattr(sb, "SHM_DIR", tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names no process now
    live = subprocess.Popen(["sleep", "30"])
    try:
        started = sb.proc_start(live.pid)
        assert started
        segment(tmp_path / f"sluice.{dead.pid}", dead.pid, 123)
        segment(tmp_path / f"sluice.{live.pid}", live.pid, started)  # a running master's: kept
        recycled = tmp_path / f"sluice.{os.getppid()}"  # a pid alive now, but not the process that made it
        segment(recycled, os.getppid(), started + 10**9)
        segment(tmp_path / "sluice.7", 7, 0, magic=12345)  # not a scoreboard: not ours to remove
        (tmp_path / "sluice.notes").write_text("not a pid")
        board = sb.Scoreboard.create(2)
        try:
            left = sorted(p.name for p in tmp_path.iterdir())
            assert left == sorted([f"sluice.{live.pid}", f"sluice.{os.getpid()}", "sluice.7", "sluice.notes"])
            assert board.path == tmp_path / f"sluice.{os.getpid()}"
        finally:
            board.close(unlink=True)
        assert not board.path.exists()
    finally:
        live.kill()
        live.wait()
