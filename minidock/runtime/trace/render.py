"""A trace for people and for tools: text, JSON, HTML, and the book's Markdown excerpts.

Implements: spec/trace.md TRACE-007 .. TRACE-009, TRACE-020
Explained:  chapters/05-engine.md#tracing-a-start

    render(trace, "text" | "json" | "html", book="") -> str
    excerpt(steps, phase, page, limit) -> Markdown     a chapter's own phase, linked

Steps stay in the order the kernel ran them; a heading is printed each time the phase
changes, so the phases show as groups and an interleaving (the monitor writing a cgroup
file while init mounts) stays visible. Every line links to the chapter section that
explains its call: `--format html` and the book do; text and JSON name the section.
"""

from __future__ import annotations

import html
import json
import posixpath
from collections.abc import Iterable

from minidock.runtime.trace.calls import PHASES
from minidock.runtime.trace.steps import Step
from minidock.runtime.trace.tracer import Trace

FORMATS = ("text", "json", "html")


def groups(steps: Iterable[Step]) -> list[tuple[str, list[Step]]]:
    """Consecutive steps of one phase, as (phase, steps), in order."""
    grouped: list[tuple[str, list[Step]]] = []
    for step in steps:
        if not grouped or grouped[-1][0] != step.phase:
            grouped.append((step.phase, []))
        grouped[-1][1].append(step)
    return grouped


def _line(step: Step) -> str:
    return step.text + (f" = -1 {step.error}" if step.error else "")


def _ending(trace: Trace) -> str:
    if trace.interrupted:
        return "interrupted: the container was killed, the runtime cleaned up"
    return f"exit code {trace.exit_code}"


def render(trace: Trace, form: str = "text", book: str = "") -> str:
    """The whole trace in one format; ``book`` prefixes the chapter links (a URL or a path)."""
    if form == "json":
        return json.dumps({"phases": list(PHASES), "exit_code": trace.exit_code,
                           "interrupted": trace.interrupted,
                           "steps": [step.to_json() for step in trace.steps]}, indent=1)
    if form == "html":
        return _html(trace, book)
    lines = []
    for phase, steps in groups(trace.steps):
        lines.append(f"── {phase}")
        lines.extend(f"  [{step.pid}] {_line(step)}" for step in steps)
    lines.append(f"── {_ending(trace)}")
    return "\n".join(lines)


def _html(trace: Trace, book: str) -> str:
    """A page that reads without scripts: one list per group, each line a link to its section."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>minidock trace</title>",
             "<style>body{font-family:sans-serif;max-width:72em;margin:auto}"
             "code{white-space:pre-wrap}li{margin:.2em 0}.error{color:#a00}</style>",
             "</head><body>", "<h1>What the kernel was asked to do</h1>"]
    for phase, steps in groups(trace.steps):
        parts.append(f"<h2>{html.escape(phase)}</h2><ol>")
        for step in steps:
            link = html.escape(book + step.anchor, quote=True)
            css = ' class="error"' if step.error else ""
            parts.append(f'<li{css}><a href="{link}"><code>{html.escape(_line(step))}</code></a>'
                         f" <small>pid {step.pid}</small></li>")
        parts.append("</ol>")
    parts.append(f"<p>{html.escape(_ending(trace))}</p></body></html>")
    return "\n".join(parts)


def section_title(anchor: str) -> str:
    """``chapters/03-runtime.md#the-order-of-things`` -> ``the order of things``."""
    return anchor.partition("#")[2].replace("-", " ")


def excerpt(steps: Iterable[Step], phase: str, page: str, limit: int = 12,
            replacements: dict[str, str] | None = None) -> str:
    """The book's Markdown list of one phase's steps, each linked relative to ``page``.

    ``replacements`` shortens long paths (the bundle's temporary folder -> $BUNDLE).
    Markdown links, not HTML: the strict build checks that every anchor exists.
    """
    chosen = [step for step in steps if step.phase == phase]
    lines = []
    for step in chosen[:limit]:
        text = _line(step)
        for old, new in (replacements or {}).items():
            text = text.replace(old, new)
        target = posixpath.relpath(step.anchor.partition("#")[0], posixpath.dirname(page) or ".")
        link = f"{target}#{step.anchor.partition('#')[2]}"
        lines.append(f"1. `{text}` (pid {step.pid}) — [{section_title(step.anchor)}]({link})")
    if len(chosen) > limit:
        lines.append(f"\n*… and {len(chosen) - limit} more {phase} steps.*")
    return "\n".join(lines)
