"""The charts of benchmarks/compare, from its JSON (run with the venv's python, which has matplotlib):

    python compare_charts.py docs/bench/compare.json docs/bench compare-

Writes PREFIXhello-cpu.png, PREFIXhello-rps.png, PREFIXstatic.png,
PREFIXframes.png and PREFIXidle.png into the folder, for the scenarios the
JSON has: medians as bars, min-max as error bars, Sluice in its own colour.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SLUICE, PEER = "#1f77b4", "#b0b0b0"


def bars(ax, names, stats, title, xlabel, log=False):
    """Horizontal bars: median, min-max whiskers; names without figures are left out."""
    pairs = [(n, s) for n, s in zip(names, stats, strict=True) if s]
    if not pairs:
        ax.set_visible(False)
        return
    names = [n for n, _ in pairs]
    med = [s["median"] for _, s in pairs]
    lo = [s["median"] - s["min"] for _, s in pairs]
    hi = [s["max"] - s["median"] for _, s in pairs]
    y = range(len(names))
    colours = [SLUICE if n.startswith("sluice") else PEER for n in names]
    ax.barh(y, med, xerr=[lo, hi], color=colours, capsize=3)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    for i, m in enumerate(med):
        ax.text(m, i, f" {m:,.2f}" if m < 100 else f" {m:,.0f}", va="center", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def hello(data, out: Path, prefix: str) -> None:
    h = data.get("hello")
    if not h:
        return
    cases = list(h["cases"].values())
    for key, label, fname, log in (
        ("cpu_us_per_req", "server CPU µs per request (lower is better)", "hello-cpu.png", True),
        ("rps", "requests/s (higher is better)", "hello-rps.png", False),
    ):
        fig, axes = plt.subplots(1, len(cases), figsize=(5.2 * len(cases), 4.2), squeeze=False)
        for ax, case in zip(axes[0], cases, strict=True):
            names = list(case["servers"])
            bars(ax, names, [case["servers"][n][key] for n in names], case["about"], label, log)
        fig.suptitle(f"Hello, one worker, server on CPU 1 — {data['machine']['date']}", fontsize=11)
        fig.tight_layout()
        fig.savefig(out / f"{prefix}{fname}", dpi=110)
        plt.close(fig)


def static(data, out: Path, prefix: str) -> None:
    s = data.get("static")
    if not s:
        return
    cases = list(s["cases"].values())
    fig, axes = plt.subplots(2, len(cases), figsize=(5.2 * len(cases), 5.5), squeeze=False)
    for j, case in enumerate(cases):
        names = list(case["servers"])
        bars(axes[0][j], names, [case["servers"][n]["rps"] for n in names], case["about"], "requests/s")
        bars(axes[1][j], names, [case["servers"][n]["cpu_us_per_req"] for n in names], "", "server CPU µs/request")
    fig.suptitle("Static files, keep-alive, one worker", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / f"{prefix}static.png", dpi=110)
    plt.close(fig)


def frames(data, out: Path, prefix: str) -> None:
    f = data.get("frames")
    if not f:
        return
    cases = list(f["cases"].values())
    fig, axes = plt.subplots(2, len(cases), figsize=(5.2 * len(cases), 4.5), squeeze=False)
    for j, case in enumerate(cases):
        names = list(case["servers"])
        bars(axes[0][j], names, [case["servers"][n]["msgs_per_s"] for n in names], case["about"], "frames/s")
        bars(axes[1][j], names, [case["servers"][n]["cpu_us_per_msg"] for n in names], "", "server CPU µs/frame")
    fig.suptitle("Frame echo, 64-byte frames, one process", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / f"{prefix}frames.png", dpi=110)
    plt.close(fig)


def idle(data, out: Path, prefix: str) -> None:
    i, w = data.get("idle"), data.get("wheel")
    panels = []
    if i:
        names = list(i["servers"])
        panels.append(
            (f"HTTP keep-alive, {i['conns']:,} idle", names, [i["servers"][n]["bytes_per_conn"] for n in names])
        )
    if w:
        names = [n for n, r in w["servers"].items() if not r.get("failed")]
        stats = []
        for n in names:
            v = w["servers"][n]["bytes_per_conn"]
            stats.append({"median": v, "min": v, "max": v})
        panels.append((f"frames, {w['conns']:,} connections PINGing", names, stats))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.2), squeeze=False)
    for ax, (title, names, stats) in zip(axes[0], panels, strict=True):
        bars(ax, names, stats, title, "RSS bytes per connection")
    fig.tight_layout()
    fig.savefig(out / f"{prefix}idle.png", dpi=110)
    plt.close(fig)


def main() -> int:
    data = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) > 3 else "compare-"
    out.mkdir(parents=True, exist_ok=True)
    for fn in (hello, static, frames, idle):
        fn(data, out, prefix)
    print(f"charts: {out}/{prefix}*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
