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
# which imports inspect, ast and dis; typing, which the records do without: minidock/records.py;
# json, re, enum, signal's enums and contextlib, which the start path does without:
# minidock/jsonfile.py, minidock/runtime/__init__.py): none of it on the way to a foreground container.
NOT_ON_THE_WAY = {"dataclasses", "inspect", "ast", "subprocess", "socket", "selectors", "shutil",
                  "threading", "datetime", "ctypes.util", "platform", "tempfile", "argparse", "gettext",
                  "locale", "typing", "json", "re", "enum", "signal", "contextlib", "functools", "string",
                  "termios", "tty", "collections", "operator"}


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
             f"argv = {argv!r}; args = cli.quick_parse(argv);"
             "from minidock.runtime import config, create; config.load(args.bundle);"
             "print(sorted(sys.modules))")
    # without coverage.py (make test measures every process), which imports much of this itself
    unmeasured = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    loaded = set(json.loads(subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True,
                                           text=True, env=unmeasured, check=True).stdout.replace("'", '"')))
    assert {"minidock.runtime.create", "minidock.runtime.init", "minidock.runtime.security.seccomp"} <= loaded
    assert "warnings" in loaded  # os.execvpe imports it in init, after pivot_root: too late there
    assert not loaded & NOT_ON_THE_WAY, sorted(loaded & NOT_ON_THE_WAY)
    # the cgroup driver imports the one of v1 and v2 that the host has, when it opens a group
    assert not loaded & {"minidock.cgroups.v1", "minidock.cgroups.v2", "minidock.cgroups.ebpf"}


QUICK_LINES = [
    ["run", "c1"], ["run", "--bundle", "/b", "c1"], ["--root", "/r", "run", "-b", "/b", "c1"],
    ["create", "--bundle", "/b", "c1"], ["start", "c1"], ["state", "c1"], ["kill", "c1"],
    ["kill", "c1", "KILL"], ["--root", "/r", "kill", "c1", "9"], ["delete", "c1"], ["delete", "--force", "c1"],
    ["delete", "-f", "c1"], ["--root", "/r", "delete", "c1"],
    # a shim's lines (RT-SHIM-001): conmon's and containerd-shim's create and kill
    ["create", "--bundle", "/b", "--pid-file", "/p", "c1"], ["create", "--no-new-keyring", "c1"],
    ["create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "c1"], ["kill", "--all", "c1", "9"],
    ["run", "-d", "--pid-file", "/p", "c1"], ["run", "--detach", "--bundle", "/b", "c1"],
]
ARGPARSE_LINES = [
    [], ["--help"], ["run"], ["run", "--help"], ["run", "c1", "--bundle", "/b"], ["run", "--bundle=/b", "c1"],
    ["run", "--bun", "/b", "c1"], ["run", "--bundle"], ["--root=/r", "start", "c1"], ["start", "c1", "c2"],
    ["kill", "c1", "KILL", "x"], ["delete", "--force"], ["run", "--", "c1"], ["list"], ["ps", "c1"],
    ["exec", "c1", "true"], ["spec"], ["--trace", "run", "c1"], ["nonsense", "c1"], ["start", "-x"],
    ["--log", "/l", "--log-format", "json", "start", "c1"], ["--systemd-cgroup", "start", "c1"],
]


@pytest.mark.spec("RT-CLI-006")
@pytest.mark.parametrize("argv", QUICK_LINES, ids=" ".join)
def test_the_common_lines_are_read_as_argparse_reads_them(argv):
    quick = cli.quick_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(cli.build_parser(cli.first_verb(argv)).parse_args(argv))


@pytest.mark.spec("RT-CLI-006")
@pytest.mark.parametrize("argv", ARGPARSE_LINES, ids=lambda argv: " ".join(argv) or "nothing")
def test_every_other_line_is_left_to_argparse(argv):
    assert cli.quick_parse(argv) is None


@pytest.mark.spec("RT-CLI-006")
def test_a_line_argparse_refuses_is_still_refused_in_its_words(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "c1", "--bundle"])
    assert exited.value.code == 2
    assert "expected one argument" in capsys.readouterr().err
