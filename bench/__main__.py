"""`python -m bench [NAME ...] [--rounds N] [--list]`: run the benchmarks, print one table."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import cli_startup, commit, isolation, layer_unpack, monitor_memory
from bench.harness import Benchmark, render, run_all

TOPICS = [cli_startup, isolation, monitor_memory, layer_unpack, commit]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default: each one's own)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
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
            chosen.extend(b for b in topic.benchmarks(workdir) if not args.names or b.name in args.names)
        if args.list:
            for benchmark in chosen:
                console.print(f"{benchmark.name}: {', '.join(c.name for c in benchmark.contenders)}")
            return 0
        unknown = set(args.names) - {b.name for b in chosen}
        if unknown:
            parser.error(f"no benchmark named {', '.join(sorted(unknown))} (see --list)")
        console.print(render(run_all(chosen, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
