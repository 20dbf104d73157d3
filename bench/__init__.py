"""Benchmarks: minidock and the real tools it re-implements, timed side by side.

    harness.py     Benchmark, Contender, run_all(), the table (pure parts unit tested
                   in tests/bench/)
    cli_startup.py how long `minidock --version` takes, next to docker and podman
    isolation.py   a process in fresh namespaces: unshare, runc, crun, minidock-runtime
    __main__.py    `make bench` = `.venv/bin/python -m bench [NAME ...] [--rounds N]`

Every topic module has `benchmarks(workdir) -> list[Benchmark]`; workdir is a
temporary folder the run removes afterwards.
"""
