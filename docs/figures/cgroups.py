"""Chapter 2's figures: one container's limits as files, in cgroup v1 and in v2.

Explained:  chapters/02-cgroups.md#one-limit-two-spellings

    one_limit()   `docker run` flags -> HostConfig -> linux.resources -> plan_v1 / plan_v2
"""

from __future__ import annotations

from docs.figures.graph import FILL, HOST, NEW, code_name, digraph, escape, quoted

# docker run --memory 64m --memory-swap 96m --cpu-shares 512 --cpus 0.5 --pids-limit 100
HOST_CONFIG = {"Memory": 64 << 20, "MemorySwap": 96 << 20, "CpuShares": 512,
               "NanoCpus": 500_000_000, "PidsLimit": 100}
FLAGS = "docker run --memory 64m --memory-swap 96m --cpu-shares 512 --cpus 0.5 --pids-limit 100"
GROUP = "minidock-runtime/web"  # the runtime's group for container "web" (runtime.create._reserve)


def _files(writes: list[tuple[str, str]]) -> str:
    rows = "".join(f'<TR><TD ALIGN="LEFT">{escape(file)}</TD><TD ALIGN="LEFT"><B>{escape(value)}</B></TD></TR>'
                   for file, value in writes)
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" BGCOLOR="{NEW}" '
            f'COLOR="#90a4ae">{rows}</TABLE>>')


def one_limit() -> str:
    """One container's limits as the files minidock writes (drawn from `minidock.engine.bundle.resources` and `minidock.cgroups.plan`): in v1 a directory per controller, in v2 one directory with every controller's files, some in other units."""
    from minidock.cgroups import Resources
    from minidock.cgroups.plan import plan_v1, plan_v2
    from minidock.engine.bundle import resources

    for name in ("engine.bundle:resources", "cgroups.plan:plan_v1", "cgroups.plan:plan_v2"):
        code_name("minidock." + name)
    limits = Resources.from_oci(resources(HOST_CONFIG))
    v1, v2 = plan_v1(limits), plan_v2(limits)
    lines = [f'flags [shape=plaintext, style="", fontname="monospace", label={quoted(FLAGS)}];',
             'v1 [label="cgroup v1: /sys/fs/cgroup/", fillcolor="#ffffff"];',
             'v2 [label="cgroup v2: /sys/fs/cgroup/", fillcolor="#ffffff"];',
             "flags -> v1 [style=invis]; flags -> v2 [style=invis];"]
    for controller in dict.fromkeys(controller for controller, _, _ in v1):
        writes = [(file, value) for owner, file, value in v1 if owner == controller]
        lines += [f'v1_{controller} [fillcolor="{HOST}", label={quoted(controller + "/")}];',
                  f"v1_{controller}_group [fillcolor={quoted(FILL)}, label={quoted(GROUP + '/')}];",
                  f'v1_{controller}_files [shape=plaintext, style="", label={_files(writes)}];',
                  f"v1 -> v1_{controller}; v1_{controller} -> v1_{controller}_group; "
                  f"v1_{controller}_group -> v1_{controller}_files;"]
    lines += [f"v2_group [fillcolor={quoted(FILL)}, label={quoted(GROUP + '/')}];",
              'v2_hop [shape=point, style=invis, width=0];',
              f'v2_files [shape=plaintext, style="", label={_files(v2)}];',
              "v2 -> v2_hop [arrowhead=none]; v2_hop -> v2_group; v2_group -> v2_files;"]
    return digraph(lines, nodesep="0.25")
