"""--tracemalloc for the echo peers: each report() (on SIGUSR1) writes to
stderr the allocations that grew since the previous report, by line."""

import sys
import tracemalloc


class MemReport:
    def __init__(self) -> None:
        tracemalloc.start(1)
        self.last = tracemalloc.take_snapshot()

    def report(self) -> None:
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(self.last, "lineno")
        self.last = snap
        grown = sum(s.size_diff for s in stats)
        print(f"tracemalloc: {grown} bytes grown in {sum(s.count_diff for s in stats)} blocks", file=sys.stderr)
        for s in stats[:15]:
            frame = s.traceback[0]
            print(
                f"tracemalloc: {s.size_diff:>10} B {s.count_diff:>7} blocks  {frame.filename}:{frame.lineno}",
                file=sys.stderr,
            )
        sys.stderr.flush()
