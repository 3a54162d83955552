"""The package's shape: one source of truth for the cdef, nothing compiled
committed, an sdist that carries the C sources and installs elsewhere."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_build_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sluice_build", ROOT / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_function_of_the_header_section_is_in_the_extension():
    from sluice._binding import lib

    cdef = re.sub(r"/\*.*?\*/", "", load_build_module().core_cdef(), flags=re.S)
    # prototypes start at column 0; struct members are indented
    funcs = re.findall(r"^(?!typedef)[A-Za-z_][\w\s\*]*?\b(\w+)\(", cdef, flags=re.M)
    assert len(funcs) > 20
    missing = [n for n in funcs if not hasattr(lib, n)]
    assert missing == []


def test_the_header_section_holds_no_preprocessor_lines_cffi_cannot_parse():
    cdef = load_build_module().core_cdef()
    for line in cdef.splitlines():
        if line.startswith("#"):
            assert re.match(r"#define \w+ -?\d+\b", line), line


def test_no_compiled_file_is_tracked():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    bad = [f for f in files.splitlines() if re.search(r"\.(so|o|a|pyd)$|_core\.c$|__pycache__", f)]
    assert bad == []


def test_no_cpp_source_remains():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert [f for f in files.splitlines() if re.search(r"\.(cc|cpp|hpp|hh)$|CMakeLists", f)] == []


@pytest.mark.slow
def test_sdist_carries_the_c_core_and_installs_in_a_fresh_venv(tmp_path):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    dist = tmp_path / "dist"
    pytest.importorskip("build", reason="the test extra's `build` is needed for an sdist")
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "build", "--sdist", "-o", str(dist), str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sdist,) = dist.glob("sluice-*.tar.gz")
    names = tarfile.open(sdist).getnames()
    top = names[0].split("/")[0]
    for needed in ["build.py", "setup.py", "pyproject.toml", "csrc/sluice.h", "csrc/event_loop.c"]:
        assert f"{top}/{needed}" in names
    assert not [n for n in names if n.endswith((".so", ".o"))]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = venv / "bin" / "pip"
    proc = subprocess.run([str(pip), "install", "-q", str(sdist)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sluice, sluice.serve; l = sluice.Loop(); l.close(); "
         "assert (sluice.serve.SITE / 'index.html').is_file(); print(sluice.__version__)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    import sluice

    assert out.returncode == 0 and out.stdout.strip() == sluice.__version__, out.stderr


def test_every_public_name_resolves_and_is_the_module_s_own():
    import sluice
    from sluice import http, loop, stats, tcp, wheel

    homes = {"loop": loop, "tcp": tcp, "http": http, "wheel": wheel, "stats": stats}
    for name in sluice.__all__:
        if name == "__version__":
            continue
        assert getattr(sluice, name) is getattr(homes[sluice._EXPORTS[name]], name), name
    assert set(sluice._EXPORTS) | {"__version__"} == set(sluice.__all__)
    assert set(sluice.__all__) <= set(dir(sluice))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sluice.Nope  # noqa: B018


def test_import_sluice_and_sluice_bench_load_only_what_they_use():
    """The public names are imported on first use: `import sluice` and the
    start of `sluice bench` load no HTTP and no message layer (the CLI's
    start-up is CPU every load-test run pays)."""
    probe = (
        "import sys, sluice, sluice.cli\n"
        "cmd = sluice.cli.main.get_command(None, 'bench')\n"
        "assert cmd is not None and cmd.name == 'bench'\n"
        "print(' '.join(m for m in ('sluice.http', 'sluice.messages', 'sluice.loop', 'sluice.tcp')"
        " if m in sys.modules))\n"
        "from sluice import App\n"
        "print('sluice.http' in sys.modules, App.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    first, second = out.stdout.splitlines()
    assert first == ""
    assert second == "True sluice.http.app"


def test_the_sluice_command_lists_and_runs_its_lazy_commands():
    from click.testing import CliRunner

    from sluice.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("bench", "msg-echo", "msg-client", "serve", "echo"):
        assert f"  {name} " in result.output, name
    result = CliRunner().invoke(main, ["msg-echo", "--help"])
    assert result.exit_code == 0 and "--max-payload" in result.output
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2 and "No such command" in result.output
