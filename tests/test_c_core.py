"""The C core's own unit tests (csrc/tests), run from pytest.

The core and the tests are compiled once per session with ASan + UBSan
(LeakSanitizer included: ``detect_leaks=1`` works here, each test's child
process is leak-checked at its exit) and ``-DSL_DEBUG``. Each C test is its
own pytest test, ``test_c[<name>]``; the runner runs the selected ones in a
single invocation, each in a forked child with a timeout.

If the compiler cannot link the sanitizer runtime, the build falls back to a
plain ``-O2`` one and says so in a warning. A build that fails does not skip:
every C test (and ``test_c[<build>]``) fails with the compiler's output.

``test_core_builds_alone_optimized`` builds the core by itself (no test code)
at ``-O2 -Werror`` without sanitizers, links the tests to that archive, and
checks that whatever passes in the sanitized build passes there too.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CTESTS = CSRC / "tests"
CC = os.environ.get("CC", "cc")

STRICT = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"]
SANITIZED = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-DSL_DEBUG"]
FALLBACK = ["-g", "-O2", "-DSL_DEBUG"]
RUN_ENV = {
    # abort_on_error=0: a report ends the child with a status the runner names
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
RUN_TIMEOUT_S = 300  # the runner's own per-test limit is 30 s
BUILD_FAILED = "<build>"  # the one test id when the build fails

_LINE = re.compile(r"^(ok|FAIL) (\S+)(?:: (.*)| # skipped: (.*))?$")
_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def _core_sources() -> list[str]:
    return sorted(str(p) for p in CSRC.glob("*.c"))


def _test_sources() -> list[str]:
    return sorted(str(p) for p in CTESTS.glob("*.c"))


def _cc(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CC, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@functools.cache
def _workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="sluice-ctest-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.cache
def _sanitizers_work() -> bool:
    """Can cc build and run a program with ASan + UBSan here?"""
    d = _workdir()
    src = d / "probe.c"
    src.write_text("#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n")
    r = _cc([*SANITIZED, str(src), "-o", str(d / "probe")], d)
    if r.returncode != 0:
        return False
    env = {**os.environ, **RUN_ENV}
    return subprocess.run([str(d / "probe")], env=env, capture_output=True).returncode == 0


@dataclass
class Build:
    runner: Path | None
    flavour: str
    error: str = ""
    names: list[str] = field(default_factory=list)


def _list(runner: Path) -> list[str]:
    r = subprocess.run([str(runner), "--list"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"runner --list failed ({r.returncode}): {r.stderr}")
    return r.stdout.split()


@functools.cache
def build() -> Build:
    """The sanitized runner (or the -O2 fallback), built once; never raises."""
    if shutil.which(CC) is None:
        return Build(None, "none", f"no C compiler: {CC!r} not found")
    if _sanitizers_work():
        flags, flavour = SANITIZED, "asan+ubsan"
    else:
        warnings.warn(
            "the sanitizer runtime is missing (cc -fsanitize=address,undefined does not link or run): "
            "the C tests run from a plain -O2 build",
            stacklevel=1,
        )
        flags, flavour = FALLBACK, "plain -O2"
    out = _workdir() / "runner"
    r = _cc([*STRICT, *flags, f"-I{CSRC}", *_core_sources(), *_test_sources(), "-o", str(out)], ROOT)
    if r.returncode != 0:
        return Build(None, flavour, f"{CC} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    try:
        return Build(out, flavour, names=_list(out))
    except (RuntimeError, subprocess.SubprocessError) as e:
        return Build(None, flavour, str(e))


def _param_names() -> list[str]:
    b = build()
    return b.names if b.runner else [BUILD_FAILED]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    outcomes: dict[str, tuple[str, str]]  # name -> (ok|skip|FAIL, reason)
    stderr_of: dict[str, str]
    summary: tuple[int, int] | None


def run_runner(runner: Path, names: list[str]) -> Run:
    env = {**os.environ, **RUN_ENV}
    r = subprocess.run([str(runner), *names], capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    outcomes: dict[str, tuple[str, str]] = {}
    summary = None
    for line in r.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            verdict, name, reason, skipped = m.groups()
            if skipped is not None:
                outcomes[name] = ("skip", skipped)
            else:
                outcomes[name] = (verdict, reason or "")
        elif _SUMMARY.match(line):
            s = _SUMMARY.match(line)
            summary = (int(s.group(1)), int(s.group(2)))
    stderr_of: dict[str, str] = {}
    for part in re.split(r"^---- stderr of ", r.stderr, flags=re.M)[1:]:
        name, _, text = part.partition("\n")
        stderr_of[name.strip()] = re.sub(r"^time .*\n?", "", text, flags=re.M)
    return Run(r.returncode, r.stdout, r.stderr, outcomes, stderr_of, summary)


@pytest.fixture(scope="session")
def c_build() -> Build:
    return build()


@pytest.fixture(scope="session")
def c_run(request, c_build) -> Run:
    """One runner invocation for every C test this session selected."""
    if not c_build.runner:
        pytest.fail(f"the C tests did not build:\n{c_build.error}", pytrace=False)
    selected = [
        item.callspec.params["name"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_c" and hasattr(item, "callspec")
    ]
    return run_runner(c_build.runner, selected or c_build.names)


@pytest.mark.parametrize("name", _param_names())
def test_c(name, c_build, c_run):
    if name == BUILD_FAILED:
        pytest.fail(f"the C tests did not build:\n{c_build.error}", pytrace=False)
    verdict, reason = c_run.outcomes.get(name, ("missing", ""))
    if verdict == "skip":
        pytest.skip(reason)
    if verdict != "ok":
        detail = c_run.stderr_of.get(name, "")
        if verdict == "missing":
            reason = f"no result line (runner exit {c_run.returncode})\n{c_run.stdout[-2000:]}"
        pytest.fail(f"[{c_build.flavour}] {name}: {reason}\n{detail}", pytrace=False)


def test_c_runner_reports_a_consistent_summary(c_run):
    """The last line counts the result lines; the exit status is 0 iff none failed."""
    assert c_run.summary is not None, c_run.stdout[-2000:]
    passed, failed = c_run.summary
    assert passed + failed == len(c_run.outcomes)
    assert failed == sum(v == "FAIL" for v, _ in c_run.outcomes.values())
    assert (c_run.returncode == 0) == (failed == 0)
    assert c_run.stdout.splitlines()[-1] == f"{passed} passed, {failed} failed"


def test_c_runner_isolates_crashes_and_hangs(tmp_path):
    """A crash, a hang (the alarm), a failed CHECK and a pass, each reported as its own line."""
    src = tmp_path / "selftest.c"
    src.write_text(
        '#include <signal.h>\n#include <unistd.h>\n#include "harness.h"\n'
        "TEST(passes) { CHECK(1 + 1 == 2); }\n"
        "TEST(fails_check) { CHECK(1 + 1 == 3); CHECK_EQ_I(2, 3); }\n"
        "TEST(crashes) { raise(SIGSEGV); }\n"
        'TEST(skips) { harness_skip("not here"); }\n'
        "TEST(hangs) { alarm(1); pause(); }\n"
    )
    exe = tmp_path / "selftest"
    r = _cc([*STRICT, "-O1", f"-I{CTESTS}", str(src), str(CTESTS / "runner.c"), "-o", str(exe)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert _list(exe) == ["passes", "fails_check", "crashes", "skips", "hangs"]
    run = run_runner(exe, [])
    assert run.outcomes["passes"] == ("ok", "")
    assert run.outcomes["skips"] == ("skip", "not here")
    verdict, reason = run.outcomes["fails_check"]
    assert verdict == "FAIL" and "selftest.c:5: CHECK(1 + 1 == 3) (and 1 more)" in reason
    assert run.outcomes["crashes"][0] == "FAIL" and "signal 11" in run.outcomes["crashes"][1]
    assert run.outcomes["hangs"][0] == "FAIL" and "timed out" in run.outcomes["hangs"][1]
    assert run.summary == (2, 3) and run.returncode == 1
    assert "2 == 3: 2 != 3" in run.stderr_of["fails_check"]
    only = run_runner(exe, ["passes"])
    assert only.summary == (1, 0) and only.returncode == 0
    bad = subprocess.run([str(exe), "no_such_test"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_core_builds_alone_optimized(tmp_path, c_run):
    """The core alone (no test code) at -O2 -Werror, no sanitizers; the tests linked to it."""
    objs = []
    for src in _core_sources():
        obj = tmp_path / (Path(src).stem + ".o")
        r = _cc([*STRICT, "-O2", "-c", src, "-o", str(obj)], ROOT)
        assert r.returncode == 0, f"{src}:\n{r.stderr}"
        objs.append(str(obj))
    lib = tmp_path / "libsluice_core.a"
    subprocess.run(["ar", "rcs", str(lib), *objs], check=True)
    exe = tmp_path / "runner-O2"
    r = _cc([*STRICT, "-O2", f"-I{CSRC}", *_test_sources(), str(lib), "-o", str(exe)], ROOT)
    assert r.returncode == 0, r.stderr
    run = run_runner(exe, [])
    assert run.summary is not None, run.stdout[-2000:]
    # What fails in the sanitized run is reported by its own test_c[...] already.
    passed_sanitized = {n for n, (v, _) in c_run.outcomes.items() if v == "ok"}
    regressions = {n: reason for n, (v, reason) in run.outcomes.items() if v == "FAIL" and n in passed_sanitized}
    assert not regressions, f"pass with sanitizers, fail at -O2: {regressions}"


def test_core_header_can_be_included_twice(tmp_path):  # failed before patch 05 (a9537b8)
    """core.h's include guard covers the whole header."""
    src = tmp_path / "twice.c"
    src.write_text('#include "core.h"\n#include "core.h"\nint main(void) { return 0; }\n')
    r = _cc([*STRICT, "-fsyntax-only", f"-I{CSRC}", str(src)], tmp_path)
    first_errors = "\n".join(line for line in r.stderr.splitlines() if "error:" in line)
    assert r.returncode == 0, f"core.h included twice does not compile:\n{first_errors[:1500]}"
