"""Benchmarks: minidock and the real tools it re-implements, timed side by side.

    harness.py         Benchmark, Contender, run_all(), the table (pure parts unit
                       tested in tests/bench/)
    cli_startup.py     how long `minidock --version` takes, next to docker and podman
    isolation.py       a process in fresh namespaces: unshare, runc, crun, minidock-runtime
    monitor_memory.py  the PSS of the process watching an idle container: minidock-runtime's
                       monitor, containerd-shim, conmon
    layer_unpack.py    a 200 MB gzipped layer into a directory: tar, umoci, minidock
    commit.py          10,000 changed files into a gzipped layer blob: tar, umoci repack, minidock
    layer_trees.py     the made-up layer, OCI layout and changed files those two share
    __main__.py        `make bench` = `.venv/bin/python -m bench [NAME ...] [--rounds N]`

Every topic module has `benchmarks(workdir) -> list[Benchmark]`; workdir is a
temporary folder the run removes afterwards.
"""
