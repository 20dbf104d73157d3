"""Chapter 3's figures: the runtime's life cycle, drawn from its table.

Explained:  chapters/03-runtime.md#the-life-cycle

    life_cycle()   minidock.runtime.state.TRANSITIONS, one arrow per entry
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted


def life_cycle() -> str:
    """The runtime's life cycle, drawn from `minidock.runtime.state.TRANSITIONS`: one arrow per entry of the table, and no other move is legal."""
    from minidock.runtime.state import TRANSITIONS, Status

    code_name("minidock.runtime.state:TRANSITIONS")
    lines = ['start [shape=circle, label="", width=0.15, style=filled, fillcolor="#37474f"];',
             f"start -> {Status.CREATING} [label={quoted(' create')}];"]
    for status in Status.ALL:
        fill = NEW if status == Status.RUNNING else HOST if status == Status.STOPPED else FILL
        shape = ', peripheries=2' if status == Status.STOPPED else ""
        lines.append(f"{status} [fillcolor={quoted(fill)}{shape}];")
    for (status, event), after in TRANSITIONS.items():
        lines.append(f"{status} -> {after} [label={quoted(' ' + event)}];")
    lines.append("{rank=same; running; paused}")
    return digraph(lines)
