"""Applications of the tests' own, served by `sluice tcp` in subprocesses."""
