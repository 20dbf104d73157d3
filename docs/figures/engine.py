"""Chapter 5's figures: the path of `docker run -d`, from the CLI to the container's process.

Explained:  chapters/05-engine.md#a-daemon-a-socket-a-client

    request_path()   the processes and the calls between them, each call a name in the code

No table in the code holds this path, so the figure is written by hand; every function it
names is looked up in the code when the book is built (graph.code_name), so a renamed or
removed step fails the build instead of leaving the picture wrong.
"""

from __future__ import annotations

from docs.figures.graph import HOST, NEW, code_name, digraph, escape

# (process, its label, its colour)
PROCESSES = [
    ("cli", "docker / minidock (the CLI)", "#ffffff"),
    ("daemon", "minidockd (the engine)", "#eceff1"),
    ("forkserver", "the runtime's fork server", "#eceff1"),
    ("monitor", "monitor (one per container)", HOST),
    ("init", "init: PID 1 of the container", NEW),
]

# (from, to, what travels, the code that receives it); numbered in this order
STEPS = [
    ("cli", "daemon", "POST /containers/create", "minidock.engine.containers:ContainerService.create"),
    ("cli", "daemon", "POST /containers/ID/start", "minidock.engine.containers:ContainerService.start"),
    ("daemon", "daemon", "mount the snapshot, write config.json", "minidock.engine.containers:ContainerService._start"),
    ("daemon", "forkserver", "create(bundle, ID)", "minidock.engine.runtime_server:RuntimeCreator.create"),
    ("forkserver", "monitor", "fork: the monitor detaches", "minidock.runtime.create:create"),
    ("monitor", "init", "cgroup, namespaces, pivot_root; waits", "minidock.runtime.monitor:Monitor.launch"),
    ("daemon", "monitor", "start (monitor.sock)", "minidock.runtime.lifecycle:start"),
    ("monitor", "init", "the start byte: init execs the command", "minidock.runtime.monitor:Monitor.release"),
    ("init", "monitor", "exit: reaped, code in state.json", "minidock.runtime.monitor:Monitor.wait"),
    ("monitor", "daemon", "monitor gone: pidfd readable", "minidock.engine.containers:ContainerService._watch"),
]


def request_path() -> str:
    """What `docker run -d busybox` sets in motion: five processes and the calls between them, numbered in order (each step names the function in minidock that does it)."""
    lines = []
    for name, label, fill in PROCESSES:
        lines.append(f'{name} [label=<<B>{escape(label)}</B>>, fillcolor="{fill}"];')
    for number, (source, target, what, code) in enumerate(STEPS, 1):
        qualname = code_name(code)
        module = code.partition(":")[0].removeprefix("minidock.")
        label = (f'<<FONT POINT-SIZE="10">{number}. {escape(what)}</FONT><BR/>'
                 f'<FONT POINT-SIZE="8" FACE="monospace">{escape(module)}:{escape(qualname)}</FONT>>')
        back = ", constraint=false" if (source, target) in {("init", "monitor"), ("monitor", "daemon")} else ""
        lines.append(f"{source} -> {target} [label={label}{back}];")
    return digraph(lines, ranksep="0.4", nodesep="0.9")
