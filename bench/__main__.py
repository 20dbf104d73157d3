"""`python -m bench [NAME ...] [--rounds N] [--list] [--results FILE]`: run the benchmarks, print one table.

--results FILE also writes the rows as JSON, with the machine, the date and the tools'
versions (bench/results.py); `make bench` writes docs/bench/results.json, which the book
draws as charts (docs/hooks/bench.py).
Exit status 1 when a row failed: a check benchmark's run (engine-load) or a clean-up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import (build, cli_startup, commit, compose, container_run, engine_load, isolation, layer_unpack, monitor_memory,
                   networking, overlay, registry, swarm, volume_io)
from bench.harness import Benchmark, render, run_all

TOPICS = [cli_startup, isolation, monitor_memory, layer_unpack, commit, container_run, build, engine_load, volume_io,
          networking, overlay, swarm, compose, registry]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default: each one's own)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, metavar="FILE",
                        help="also write the rows, the machine, the date and the versions as JSON")
    parser.add_argument("--load-seconds", type=float, metavar="S",
                        help=f"how long engine-load's clients run (default: {engine_load.SECONDS:g})")
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # `make bench | tee`: keep the rows on one line
    with tempfile.TemporaryDirectory(prefix="minidock-bench-") as scratch:
        chosen: list[Benchmark] = []
        for topic in TOPICS:
            workdir = Path(scratch) / topic.__name__.rsplit(".", 1)[-1]
            workdir.mkdir()
            options = {"seconds": args.load_seconds} if topic is engine_load and args.load_seconds else {}
            chosen.extend(b for b in topic.benchmarks(workdir, **options) if not args.names or b.name in args.names)
        if args.list:
            for benchmark in chosen:
                console.print(f"{benchmark.name}: {', '.join(c.name for c in benchmark.contenders)}")
            return 0
        unknown = set(args.names) - {b.name for b in chosen}
        if unknown:
            parser.error(f"no benchmark named {', '.join(sorted(unknown))} (see --list)")
        rows = run_all(chosen, args.rounds)
        console.print(render(rows))
    if args.results:
        from bench.results import write_results

        write_results(args.results, rows, args.rounds, sys.argv[1:] if argv is None else argv)
    failed = [f"{row.benchmark} ({row.contender})" for row in rows if row.failed]
    if failed:
        console.print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
