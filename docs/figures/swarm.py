"""Chapter 11's figures: a task's states, and one pass of the reconciler over a drained node.

Explained:  chapters/11-swarm.md#desired-and-observed-state

    task_states()    minidock.swarm.model.TRANSITIONS, one arrow per entry, coloured by who moves it
    drain_pass()     minidock.swarm.reconcile.reconcile run on DRAIN_EXAMPLE: the actions it returns

Rules: nothing here decides anything; the table and the reconciler do, so the pictures show
what the code does.
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, quoted

MANAGER = "#1565c0"  # blue 800: the managers' moves
AGENT = "#2e7d32"    # green 800: the agent's


def task_states() -> str:
    """A task's observed states, drawn from `minidock.swarm.model.TRANSITIONS`: blue arrows are the managers' moves, green ones the agent's; a double border is a final state."""
    from minidock.swarm.model import TERMINAL, TRANSITIONS, TaskState

    code_name("minidock.swarm.model:TRANSITIONS")
    lines = []
    for state in TaskState:
        fill = NEW if state is TaskState.RUNNING else HOST if state in TERMINAL else FILL
        border = ", peripheries=2" if state in TERMINAL else ""
        lines.append(f"{state.value} [fillcolor={quoted(fill)}{border}];")
    for state, moves in TRANSITIONS.items():
        for after, who in moves.items():
            colour = MANAGER if who == "manager" else AGENT
            lines.append(f"{state.value} -> {after.value} [color={quoted(colour)}];")
    lines.append("{rank=same; complete; failed; shutdown; rejected; orphaned}")
    return digraph(lines)


def drain_pass() -> str:
    """One pass of `reconcile()` after `node update --availability drain n1`: what it returns for a service of three replicas, task by task (the arrows are its actions)."""
    from minidock.swarm.model import Node, Service, Task, TaskState
    from minidock.swarm.reconcile import reconcile

    code_name("minidock.swarm.reconcile:reconcile")
    nodes = [Node(id="n1", availability="drain"), Node(id="n2"), Node(id="n3")]
    tasks = [Task(id=f"t{slot}", service_id="web", slot=slot, node_id=node, state=TaskState.RUNNING)
             for slot, node in ((1, "n1"), (2, "n2"), (3, "n1"))]
    actions = reconcile([Service(id="web", replicas=3)], nodes, tasks, now=0.0)
    lines = []
    for node in nodes:
        label = f"{node.id} ({node.availability})"
        inside = [f"{t.id} [label={quoted(f'web.{t.slot} ({t.id})')}, fillcolor={quoted(FILL)}];"
                  for t in tasks if t.node_id == node.id]
        lines.append(f"subgraph cluster_{node.id} {{ label={quoted(label)}; style=rounded; color=\"#90a4ae\"; "
                     + " ".join(inside) + f' anchor_{node.id} [shape=point, style=invis]; }}')
    for number, action in enumerate(actions):
        if action.kind == "shutdown":
            lines.append(f"{action.task_id} [fillcolor={quoted(HOST)}, xlabel={quoted('shutdown: ' + action.reason)}];")
        elif action.kind == "create":
            lines.append(f"new{number} [label={quoted(f'web.{action.slot} (new)')}, fillcolor={quoted(NEW)}];")
            lines.append(f"anchor_{action.node_id} -> new{number} [style=invis];")
            lines.append(f"subgraph cluster_{action.node_id} {{ new{number}; }}")
            old = next(t.id for t in tasks if t.slot == action.slot)
            lines.append(f"{old} -> new{number} [label={quoted(' create slot ' + str(action.slot))}, "
                         f"color={quoted(MANAGER)}, constraint=false];")
    return digraph(lines, rankdir="LR", compound="true")
