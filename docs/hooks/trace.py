"""Traces in the book: `::: trace PHASE` becomes the steps of a real, traced start.

Implements: spec/trace.md TRACE-020, TRACE-021
Explained:  chapters/05-engine.md#tracing-a-start
Modelled on: docs/hooks/figures.py (drawn from the code when the book is built)

A chapter writes one line, alone:

    ::: trace namespaces        the namespaces steps of the book's traced run, linked

Once per build, the first page that asks runs the tracer: `minidock image bootstrap
busybox --bundle` into a temporary folder, a 64 MiB memory limit and the hostname
`book` in its config.json, then `minidock-runtime --trace --trace-format json run` of it.
Every page's excerpt comes from that one run (render.excerpt), with the bundle's folder
shown as `$BUNDLE`.

Rules: without root, or where ptrace is refused, the build still succeeds and each
excerpt is a visible note saying why; lines inside fenced code are left alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from fences import outside_fences  # docs/hooks/fences.py: MkDocs puts this folder on sys.path

DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*):::[ \t]+trace[ \t]+(?P<phase>[a-z]+)[ \t]*$")
LIMIT = 14  # steps per excerpt

_run: dict[str, object] = {}  # "steps" or "failure", for one build


def traced_run(root: Path) -> tuple[list, str]:
    """(steps, "") from one traced start of busybox, or ([], why not)."""
    if os.geteuid() != 0:
        return [], "the book was built without root, and a container's start needs root"
    environment = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory(prefix="minidock-book-trace-") as scratch:
        bundle = Path(scratch) / "bundle"
        made = subprocess.run([sys.executable, "-m", "minidock.cli.main", "image", "bootstrap", "busybox",
                               "--bundle", str(bundle)], capture_output=True, text=True, env=environment,
                              timeout=120)
        if made.returncode != 0:
            return [], f"no busybox bundle: {made.stderr.strip()}"
        config = json.loads((bundle / "config.json").read_text())
        config["process"].update(terminal=False, args=["true"])
        config["hostname"] = "book"
        config["linux"].setdefault("resources", {})["memory"] = {"limit": 64 * 2**20}
        (bundle / "config.json").write_text(json.dumps(config))
        done = subprocess.run([sys.executable, "-m", "minidock.runtime.cli", "--root", f"{scratch}/state",
                               "--trace", "--trace-format", "json", "run", "--bundle", str(bundle),
                               f"book{os.getpid()}"], capture_output=True, text=True, env=environment,
                              stdin=subprocess.DEVNULL, timeout=120)
        if done.returncode != 0 or not done.stdout.strip():
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return [], f"the tracer could not run here: {reason}"
        from minidock.runtime.trace.steps import Step

        text = done.stdout.replace(str(bundle), "$BUNDLE").replace(f"book{os.getpid()}", "book")
        return [Step.from_json(step) for step in json.loads(text)["steps"]], ""


def note(phase: str, why: str) -> str:
    """What stands in for an excerpt that could not be made."""
    return (f'!!! note "No trace of the {phase} phase in this build"\n\n'
            f"    {why}. Build the book as root (`sudo make docs`) to see the real steps here.")


def expand(markdown: str, page: str, steps: list, failure: str) -> str:
    """Replace each `::: trace PHASE` line outside fenced code with its excerpt (or a note)."""
    from minidock.runtime.trace import PHASES
    from minidock.runtime.trace.render import excerpt

    lines = markdown.split("\n")
    for number, line in outside_fences(lines):
        match = DIRECTIVE.match(line)
        if match is None:
            continue
        phase = match["phase"]
        if phase not in PHASES:
            raise ValueError(f"{page}: `::: trace {phase}`: the phases are {', '.join(PHASES)}")
        lines[number] = note(phase, failure) if failure else excerpt(steps, phase, page, LIMIT)
    return "\n".join(lines)


# --- the MkDocs hook -------------------------------------------------------------------


def on_config(config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """A new build traces afresh (`mkdocs serve` rebuilds in one process)."""
    _run.clear()
    return config


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001, ANN201
    """Put the book's traced run, one phase at a time, where the page asks for it."""
    if "::: trace" not in markdown:
        return markdown
    root = Path(config["config_file_path"]).parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if not _run:
        try:
            _run["steps"], _run["failure"] = traced_run(root)
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            _run["steps"], _run["failure"] = [], f"the tracer failed: {error}"
    try:
        return expand(markdown, page.file.src_uri, _run["steps"], _run["failure"])
    except ValueError as error:
        from mkdocs.exceptions import PluginError

        raise PluginError(str(error)) from None
