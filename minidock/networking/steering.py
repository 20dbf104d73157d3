"""Receive packet steering (RPS) on the host's end of a container's veth.

Implements: spec/networking.md NET-113
Explained:  chapters/07-networking.md#rps-a-veth-gets-a-network-cards-spreading

    cpu_mask({0, 1}) -> "00000003"     the bitmap sysfs takes: 32-bit hex words, commas between (pure)
    spread_receive("veth1a2b3c4", 17)  rps_cpus of link 17's receive queues = the CPUs this daemon may
                                       use; the mask written, "" where there is nothing to do or no way to

Why: a veth has no interrupt of its own. A packet a container sends is received by the host's
end inside the sender's own system call (veth_xmit calls netif_rx), so the bridge, the
netfilter hooks, the second veth and the receiving socket's TCP all run on the sending CPU,
one after the other with the sender's copying. A network card spreads its receive work over
the CPUs by a hash of each flow (RSS); RPS is the kernel's software version of that, set per
receive queue in /sys/class/net/<dev>/queues/rx-<n>/rps_cpus: netif_rx queues the packet on
the backlog of the CPU the flow's hash picks and wakes that CPU. One flow keeps one CPU (the
hash is the same both ways, so its ACKs go there too), which leaves the sender's CPU to the
sender whenever the two differ; on a quiet 2-CPU machine that took TCP between two containers
from 1.2x the loopback's time to 0.75x (the chapter's numbers).

Only the host's end is set: every packet a container sends enters the host there, whether it
goes to another container, the host or the outside. The mask is the daemon's own CPU affinity,
so a daemon confined to some CPUs (taskset, a cpuset) steers work to those only. Where /sys is
read-only (a daemon in a container) or the kernel has no RPS, nothing is set: the veth works
as before, only less spread. /sys shows the links of the namespace it was mounted in, not
the daemon's: a daemon entered with `nsenter --net` (the overlay tests' namespace hosts) would
find another link of that name there, or none, so the link's ifindex in /sys must be the one
netlink gave.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

SYS_NET = Path("/sys/class/net")
# what a /sys the daemon cannot write answers (read-only, no CONFIG_RPS, not root): steering is skipped
CANNOT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT}


def cpu_mask(cpus: Iterable[int]) -> str:
    """The bitmap of ``cpus`` as rps_cpus takes it: 8-hex-digit words, the highest first, commas between."""
    bits = sum(1 << cpu for cpu in set(cpus))
    words = [f"{bits & 0xFFFFFFFF:08x}"]
    while bits > 0xFFFFFFFF:
        bits >>= 32
        words.append(f"{bits & 0xFFFFFFFF:08x}")
    return ",".join(reversed(words))


def spread_receive(ifname: str, index: int) -> str:
    """[NET-113] Steer the received packets of link ``ifname`` (number ``index``) over this daemon's CPUs.

    The mask written, or "": one CPU, no such link in this /sys, or a /sys that cannot be written.
    """
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        return ""  # nowhere to spread to
    mask = cpu_mask(cpus)
    try:
        if int((SYS_NET / ifname / "ifindex").read_text()) != index:
            return ""  # another namespace's link of that name: this /sys is not the daemon's
        queues = sorted((SYS_NET / ifname / "queues").glob("rx-*"))
        for queue in queues:
            (queue / "rps_cpus").write_text(mask)
    except OSError as error:
        if error.errno not in CANNOT_WRITE:
            raise
        return ""
    return mask if queues else ""
