"""``sluice bench``: the load tester that succeeds webbench.

Python forks the load processes and merges their reports; the per-request
work is C (csrc/client.c). ``bench`` is the click command (``sluice.cli``
registers it: ``from sluice.bench.cli import bench``); ``sluice.bench.run``
is the engine (``Plan``, ``run``, ``Result``), ``sluice.bench.webbench``
webbench 1.5's command line over it.
"""

__all__ = ["bench"]


def __getattr__(name: str):
    if name == "bench":  # lazily: `python -m sluice.bench.cli` must not find cli imported already
        from .cli import bench

        return bench
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
