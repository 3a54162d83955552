"""Sluice's C buffer pool vs glibc malloc+free, per size class.

    python benchmarks/pool.py [--quick] [--samples N] [--sample-ms MS]

Compiles benchmarks/pool_bench.c with csrc/*.c (cc -O2), runs it once per
class and mode, pinned (BENCHMARKING.md), and prints ns per allocate+release
pair: the median of the samples, pool and malloc alternated within one
process. Modes (see pool_bench.c): single (the owner thread: the issue's
goal, >= 4x faster than malloc+free at 4K-64K), foreign (a thread that is
not the owner: every call locked) and cross (allocated by the owner, released
by a second thread on the other CPU). Raw figures: docs/bench/pool.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import CSRC, HERE, compile_c, machine, summary, table, taskset, wait_quiet, write_json

CLASSES = [
    ("4K", 4 << 10),
    ("16K", 16 << 10),
    ("64K", 64 << 10),
    ("256K", 256 << 10),
    ("1M", 1 << 20),
    ("4M", 4 << 20),
    ("8M", 8 << 20),
]
MODES = ["single", "foreign", "cross"]
GOAL = 4.0  # x faster than malloc+free, 4K..64K, single


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 sample of 100 ms per case (CI: it works)")
    ap.add_argument("--samples", type=int, default=9, help="samples per allocator and case (default 9)")
    ap.add_argument("--sample-ms", type=float, default=200, help="length of one sample (default 200 ms)")
    args = ap.parse_args()
    machine()  # notes the commit measured
    samples, sample_ms = (1, 100) if args.quick else (args.samples, args.sample_ms)

    sources = sorted(p for p in CSRC.glob("*.c"))
    exe = compile_c("pool_bench", [HERE / "pool_bench.c", *sources], ["-lpthread"])
    results = []
    for mode in MODES:
        for name, size in CLASSES:
            # cross pins its two threads itself (CPU 1 allocates, CPU 0 releases)
            prefix = [] if mode == "cross" else taskset("1")
            cmd = prefix + [str(exe), mode, str(size), str(samples), str(sample_ms)]
            if not args.quick:
                wait_quiet()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out)
            ratios = [m / p for p, m in zip(r["pool_ns"], r["malloc_ns"], strict=True)]
            r.update(cls=name, pool=summary(r["pool_ns"]), malloc=summary(r["malloc_ns"]), ratio=summary(ratios))
            if "handover_ns" in r:
                r["handover"] = summary(r["handover_ns"])
            results.append(r)
            print(
                f"  {mode:7s} {name:4s} pool {r['pool']['median']:8.1f} ns  malloc {r['malloc']['median']:8.1f} ns",
                file=sys.stderr,
                flush=True,
            )

    texts = []
    for mode in MODES:
        rows = []
        for r in (r for r in results if r["mode"] == mode):
            rows.append(
                [
                    r["cls"],
                    f"{r['pool']['median']:.1f}",
                    f"{r['malloc']['median']:.1f}",
                    f"{r['ratio']['median']:.2f}x",
                    f"{r['ratio']['min']:.2f}-{r['ratio']['max']:.2f}",
                ]
                + ([f"{r['handover']['median']:.1f}"] if mode == "cross" else [])
            )
        title = f"\n{mode}: ns per alloc+release pair (median of {samples}); ratio = malloc / pool"
        headers = ["class", "pool ns", "malloc+free ns", "ratio", "ratio min-max"]
        if mode == "cross":
            headers.append("hand-over alone ns (in both)")
        texts.append(table(headers, rows, title))

    small = [r for r in results if r["mode"] == "single" and r["size"] <= 64 << 10]
    met = all(r["ratio"]["median"] >= GOAL for r in small)
    worst = min(r["ratio"]["median"] for r in small)
    verdict = f"goal >= {GOAL:g}x at 4K-64K (single): {'met' if met else 'NOT met'} (lowest {worst:.2f}x)"
    print("\n" + verdict)
    cmd = "python benchmarks/pool.py" + (" --quick" if args.quick else "")
    write_json(
        "pool",
        {
            "command": cmd,
            "machine": machine(),
            "samples": samples,
            "sample_ms": sample_ms,
            "goal": verdict,
            "goal_met": met,
            "results": results,
        },
        args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
