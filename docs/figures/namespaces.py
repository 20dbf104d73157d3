"""Chapter 1's figures: the namespaces of a container, as the engine asks for them.

Explained:  chapters/01-namespaces.md#a-containers-namespaces

    container()   minidock.engine.bundle.namespaces() for a plain `docker run`, and the kinds
"""

from __future__ import annotations

from docs.figures.graph import HOST, NEW, code_name, digraph, escape


def container() -> str:
    """The namespaces of a container from a plain `docker run busybox` (drawn from `minidock.engine.bundle.namespaces` and `minidock.namespaces.Namespace`): a new one of each kind the engine lists, made with its `CLONE_NEW*` flag; the host's own for the rest."""
    from minidock.engine.bundle import namespaces
    from minidock.kernel import syscalls
    from minidock.namespaces import Namespace

    code_name("minidock.engine.bundle:namespaces")
    flags = {value: name for name, value in vars(syscalls).items() if name.startswith("CLONE_NEW")}
    new = {entry["type"] for entry in namespaces({}, {})}
    lines = ['init [label="the container\'s init (PID 1 inside)", fillcolor="#ffffff", penwidth=1.5];',
             'shell [label="a shell on the host", fillcolor="#ffffff"];']
    host_nodes, own_nodes = [], []
    for kind in Namespace.ALL:
        host = f"host_{kind.proc}"
        host_nodes.append(host)
        lines.append(f'{host} [fillcolor="{HOST}", label=<<B>{escape(kind.proc)}</B><BR/>'
                     f'<FONT POINT-SIZE="9">the host\'s</FONT>>];')
        lines.append(f"{host} -> shell [arrowhead=none];")
        if kind.oci_type in new:
            own = f"own_{kind.proc}"
            own_nodes.append(own)
            lines.append(f'{own} [fillcolor="{NEW}", label=<<B>{escape(kind.proc)}</B><BR/>'
                         f'<FONT POINT-SIZE="9">new: {escape(flags[kind.flag])}</FONT>>];')
            lines.append(f"init -> {own} [arrowhead=none, penwidth=1.5];")
            lines.append(f"{own} -> {host} [style=invis];")  # one row per kind
        else:
            lines.append(f'init -> {host} [arrowhead=none, style=dashed, label=" shared"];')
    lines.append("{rank=same; " + "; ".join(host_nodes) + "}")
    lines.append("{rank=same; " + "; ".join(own_nodes) + "}")
    return digraph(lines, rankdir="LR", ranksep="0.5", nodesep="0.15")
