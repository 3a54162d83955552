"""The bundled page in headless Chromium (Debian's `chromium`): the live
figures appear, and change after a burst of requests; a screenshot is kept
(in $SLUICE_ARTIFACTS when set, else the test's temporary directory)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from httpclient import Conn, get
from servers import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found: CI installs it (apt-get install chromium)"
)


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def figure(dom: str, name: str) -> str:
    m = re.search(rf'id="{name}"[^>]*>([^<]*)<', dom)
    assert m, f"no #{name} in the page"
    return m.group(1)


def test_the_default_page_shows_live_figures_that_change(tmp_path):
    artifacts = Path(os.environ.get("SLUICE_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    with ServerProcess(["serve"], "--workers", "1") as s:
        url = f"http://127.0.0.1:{s.port}/"
        time.sleep(1.2)  # the first heartbeat
        dom = chromium("--virtual-time-budget=3000", "--dump-dom", url).stdout
        assert figure(dom, "state") == "live", dom[:2000]
        before = int(figure(dom, "requests"))
        assert re.search(r"<td>\d+</td><td>serving</td>", dom), "no worker row"
        with Conn(s.port) as c:
            for _ in range(50):
                c.send(get("/style.css"))
                assert c.reply().status == 200
        time.sleep(1.5)  # a heartbeat publishes them
        dom = chromium("--virtual-time-budget=3000", "--dump-dom", url).stdout
        after = int(figure(dom, "requests"))
        assert after >= before + 50, (before, after)
        shot = artifacts / "sluice-serve-page.png"
        r = chromium("--virtual-time-budget=3000", "--window-size=1000,1400", f"--screenshot={shot}", url)
        assert shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
        s.stop()
