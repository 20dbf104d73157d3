"""The conformance report: its document, the host it ran on, and its page, one run or two.

Implements: spec/harness.md HARNESS-REPORT-004, HARNESS-REPORT-007 .. HARNESS-REPORT-008
Explained:  spec/README.md#what-the-report-shows
Modelled on: the runtime-spec's validation report (every rule, and what became of it)

    build_report(requirements, statuses, tests, engine, selection) -> document   JSON-ready, with "host"
    host_facts()                 -> {"hostname", "kernel", "cgroup", "python"}
    cgroup_mode(mountinfo_text)  -> "v1" | "v2" | "hybrid (v1 + v2)" | "none"     pure
    render_markdown(document, others=()) -> the page; one status column per run
    write_report(directory, document)   DIR/conformance.json, DIR/conformance.md
    python -m tests.harness.report DIR  render DIR/conformance.md again, with the other runs

A run of the whole suite writes DIR/conformance.json. Another run of the same suite on another
host (`make vm-test`: a Debian 12 VM with pure cgroup v2) writes its own report into a
subdirectory, DIR/v2/. The page of DIR then shows every run side by side:

    | ID | level | cgroup hybrid (v1 + v2) | cgroup v2 | requirement | tests |

Rules: everything but host_facts(), write_report() and main() is pure; the tests column lists
the first run's tests, and another run's cell names its own failing tests.
"""

from __future__ import annotations

import json
import platform
import re
import socket
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from tests.harness.specs import STATUSES, Requirement

REPORT_JSON = "conformance.json"
REPORT_PAGE = "conformance.md"


# -- the document ---------------------------------------------------------------


def count_statuses(statuses: dict[str, str]) -> dict[str, int]:
    """{status: how many requirements have it}, with every status present."""
    counts = {status: 0 for status in STATUSES}
    for status in statuses.values():
        counts[status] += 1
    return counts


def cgroup_mode(mountinfo_text: str) -> str:
    """The cgroup layout that mountinfo(5) text shows: v1, v2, a hybrid of both, or none."""
    fstypes = {line.partition(" - ")[2].split(" ", 1)[0] for line in mountinfo_text.splitlines()}
    v1, v2 = "cgroup" in fstypes, "cgroup2" in fstypes
    if v1 and v2:
        return "hybrid (v1 + v2)"
    return "v1" if v1 else "v2" if v2 else "none"


def host_facts() -> dict[str, str]:
    """[HARNESS-REPORT-007] the machine a run happened on: kernel, cgroup mode, Python."""
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "cgroup": cgroup_mode(Path("/proc/self/mountinfo").read_text()),
        "python": platform.python_version(),
    }


def build_report(
    requirements: dict[str, Requirement],
    statuses: dict[str, str],
    tests: dict[str, list[tuple[str, str]]],
    engine: str | None,
    selection: list[str] | None = None,
) -> dict:
    """The conformance report as JSON-ready data (also the source of the Markdown page).

    selection: the tests the run was given (pytest's file and node arguments).
    """
    return {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "host": host_facts(),
        "selection": selection or [],
        "summary": count_statuses(statuses),
        "requirements": [
            {
                "id": req.id,
                "level": req.level,
                "text": req.text,
                "file": req.file,
                "line": req.line,
                "status": statuses[req.id],
                "note": req.note,
                "tests": [{"nodeid": nodeid, "outcome": outcome} for nodeid, outcome in tests.get(req.id, [])],
            }
            for req in sorted(requirements.values(), key=lambda r: (r.file, r.line))
        ],
    }


# -- the page ---------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


def _unlink(text: str) -> str:
    """Keep a link's words, drop its target: spec links are relative to spec/, not to the report."""
    return _LINK.sub(r"\1", text)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span that survives backticks in the text."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _function(nodeid: str) -> str:
    """A test's function: its node ID without the parameters."""
    return nodeid.split("[", 1)[0]


def _tests_cell(tests: list[dict]) -> str:
    """One line per test function; the cases of a parametrized test are counted, not listed."""
    by_function: dict[str, list[str]] = defaultdict(list)
    for test in tests:
        by_function[_function(test["nodeid"])].append(test["outcome"])
    lines = []
    for function, outcomes in by_function.items():
        if len(outcomes) == 1:
            summary = outcomes[0]
        else:
            counts = {o: outcomes.count(o) for o in ("passed", "failed", "skipped") if o in outcomes}
            summary = f"×{len(outcomes)}: " + ", ".join(f"{n} {o}" for o, n in counts.items())
        lines.append(f"{_code(_cell(function))} {summary}")
    return "<br>".join(lines) or "—"


def _status_cell(requirement: dict | None, name_failures: bool = False) -> str:
    """A requirement's status in one run (— when that run's specs lacked it)."""
    if requirement is None:
        return "—"
    status = requirement["status"] + (f" ({requirement['note']})" if requirement["note"] else "")
    if name_failures and requirement["status"] == "failed":
        failed = dict.fromkeys(_function(t["nodeid"]) for t in requirement["tests"] if t["outcome"] == "failed")
        status += ": " + ", ".join(_code(name) for name in failed)
    return _cell(status)


def run_label(document: dict) -> str:
    """A run's column heading: the cgroup layout it ran under."""
    return f"cgroup {document.get('host', {}).get('cgroup', '?')}"


def _hosts_table(runs: list[tuple[str, dict]]) -> list[str]:
    """[HARNESS-REPORT-007] one row per run: the machine it ran on, and when."""
    lines = ["| run | host | kernel | cgroup | Python | generated | tests |", "|---|---|---|---|---|---|---|"]
    for where, document in runs:
        host = document.get("host", {})
        selection = "<br>".join(_code(_cell(arg)) for arg in document.get("selection", [])) or "—"
        lines.append(f"| {where} | {host.get('hostname', '?')} | {host.get('kernel', '?')} | {host.get('cgroup', '?')} "
                     f"| {host.get('python', '?')} | {document['generated']} | {selection} |")
    return lines


def _summary_table(runs: list[tuple[str, dict]]) -> list[str]:
    """Counts per status: one column, or one per run."""
    headings = [_cell(run_label(doc)) for _, doc in runs] if len(runs) > 1 else ["requirements"]
    lines = [f"| status | {' | '.join(headings)} |", "|---" * (1 + len(headings)) + "|"]
    for status in STATUSES:
        counts = " | ".join(str(doc["summary"].get(status, 0)) for _, doc in runs)
        lines.append(f"| {status} | {counts} |")
    return lines


def render_markdown(document: dict, others: list[tuple[str, dict]] = ()) -> str:
    """The report as a page of the docs site: where it ran, then one table per spec file.

    others: [(a relative link to the run's own page, its document)] of runs beside this one.
    """
    runs = [(f"[this run]({REPORT_PAGE})" if others else "this run", document), *others]
    engine = document.get("engine") or "minidock"
    lines = ["# Conformance report", "",
             f"Engine: `{engine}`. Generated {document['generated']} by `pytest --conformance-report`.", ""]
    if others:
        lines += ["The suite ran on each host below (`make test` on this machine, `make vm-test` in a "
                  "Debian 12 VM with pure cgroup v2): each status column is one run, and the tests column "
                  "says what that run was given (an emulated VM runs a part of the suite: the tests where "
                  "cgroup v2 and the VM's kernel make a difference).", ""]
    lines += _hosts_table(runs) + [""] + _summary_table(runs)
    headings = [_cell(run_label(doc)) for _, doc in runs]
    by_id = [{req["id"]: req for req in doc["requirements"]} for _, doc in runs]
    by_file: dict[str, list[dict]] = defaultdict(list)
    for requirement in document["requirements"]:
        by_file[requirement["file"]].append(requirement)
    for file, requirements in sorted(by_file.items()):
        status_headings = " | ".join(headings) if others else "status"
        lines += ["", f"## spec/{file}", "",
                  f"| ID | level | {status_headings} | requirement | tests |",
                  "|---" * (4 + len(runs)) + "|"]
        for req in requirements:
            statuses = [_status_cell(req)] + [_status_cell(run.get(req["id"]), name_failures=True)
                                              for run in by_id[1:]]
            lines.append(f"| `{req['id']}` | {req['level']} | {' | '.join(statuses)} "
                         f"| {_cell(_unlink(req['text']))} | {_tests_cell(req['tests'])} |")
    return "\n".join(lines) + "\n"


# -- the files --------------------------------------------------------------------


def other_runs(directory: Path) -> list[tuple[str, dict]]:
    """[HARNESS-REPORT-008] the reports of other runs in DIR's subdirectories (DIR/v2/ of make vm-test)."""
    return [(f"[{path.parent.name}]({path.parent.name}/{REPORT_PAGE})", json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(directory.glob(f"*/{REPORT_JSON}"))]


def write_report(directory: Path, document: dict) -> None:
    """Write conformance.json and conformance.md into directory (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / REPORT_JSON).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (directory / REPORT_PAGE).write_text(render_markdown(document, other_runs(directory)), encoding="utf-8")


def main(argv: list[str]) -> int:
    """python -m tests.harness.report DIR: render DIR's page again, with the runs beside it."""
    if len(argv) != 1:
        print("usage: python -m tests.harness.report DIR", file=sys.stderr)
        return 2
    directory = Path(argv[0])
    if not (directory / REPORT_JSON).exists():
        print(f"report: no {directory / REPORT_JSON} (the host's own run) to put the others beside; "
              f"their pages are in {directory}/*/{REPORT_PAGE}")
        return 0
    write_report(directory, json.loads((directory / REPORT_JSON).read_text(encoding="utf-8")))
    print(f"report: {directory / REPORT_PAGE} shows this host and {len(other_runs(directory))} other run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
