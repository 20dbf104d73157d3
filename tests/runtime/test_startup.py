"""`minidock-runtime run`'s start: one verb's parser, and none of the modules only other paths need.

The imports are checked in a fresh `python -S` that starts as the venv's minidock-runtime
does (Makefile): the parser of `run`, the runtime, the bundle's config read and checked.
`make bench` (isolated-process) times the whole command against runc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minidock.runtime import cli

REPOSITORY = Path(__file__).resolve().parents[2]

# What only a detached container, a terminal, a hook, or a fallback needs (and dataclasses,
# which imports inspect, ast and dis): none of it on the way to a foreground container.
NOT_ON_THE_WAY = {"dataclasses", "inspect", "ast", "subprocess", "socket", "selectors", "shutil",
                  "threading", "datetime", "ctypes.util", "platform", "tempfile"}


@pytest.mark.spec("RT-CLI-005")
@pytest.mark.parametrize("argv, verb", [
    (["run", "--bundle", "b", "c1"], "run"), (["--root", "run", "list"], "list"),
    (["--root=/r", "--trace", "--trace-format", "json", "run", "c1"], "run"), (["--help"], None), ([], None)])
def test_the_verb_is_found_past_the_global_options(argv, verb):
    assert cli.first_verb(argv) == verb


@pytest.mark.spec("RT-CLI-005")
def test_only_the_verbs_parser_is_built():
    choices = cli.build_parser("run")._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(choices) == {"run"}
    every = cli.build_parser("nonsense")._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(every) == set(cli.VERBS)  # an unknown verb gets argparse's usual refusal


@pytest.mark.spec("RT-CLI-005")
def test_a_run_imports_nothing_it_does_not_use(busybox_bundle):
    argv = ["--root", "/run/unused", "run", "--bundle", str(busybox_bundle), "c1"]
    probe = (f"import sys; sys.path.append({str(REPOSITORY)!r}); from minidock.runtime import cli;"
             f"argv = {argv!r}; args = cli.build_parser(cli.first_verb(argv)).parse_args(argv);"
             "from minidock.runtime import config, create; config.load(args.bundle);"
             "print(sorted(sys.modules))")
    # without coverage.py (make test measures every process), which imports much of this itself
    unmeasured = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    loaded = set(json.loads(subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True,
                                           text=True, env=unmeasured, check=True).stdout.replace("'", '"')))
    assert {"minidock.runtime.create", "minidock.runtime.init", "minidock.runtime.security.seccomp"} <= loaded
    assert not loaded & NOT_ON_THE_WAY, sorted(loaded & NOT_ON_THE_WAY)
