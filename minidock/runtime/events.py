"""`events`: a container's counters and OOM kills as runc's JSON events (containerd reads them).

Implements: spec/runtime.md RT-VERB-009
Explained:  chapters/03-runtime.md#under-a-shim
Modelled on: runc events (libcontainer's types.Event and types.Stats)

    stats_event(root, id) -> dict      {"type": "stats", "id": ..., "data": {cpu, memory, pids, blkio}}
    follow(root, id, interval, write)  a stats event every interval, and an "oom" event once the
                                       OOM killer has killed in the group, until the container stops

Rules: the counters are the cgroup's, read by the group's stats() (chapter 2); a number
the host does not give is left out, never sent as 0. The names and nesting are runc's,
so a shim written for runc reads them: data.cpu.usage.total (ns), data.memory.usage
{usage, max, limit}, data.memory.raw (memory.stat as the kernel writes it), data.pids
{current, limit}, data.blkio.ioServiceBytesRecursive (an entry per device and operation:
{major, minor, op, value}).
"""

from __future__ import annotations

import time

from minidock.cgroups import open_driver
from minidock.errors import Conflict
from minidock.runtime import state as states
from minidock.runtime.state import Status


def _live(root: str, container_id: str):
    current = states.load(root, container_id)
    if states.live_status(current) not in (Status.CREATED, Status.RUNNING, Status.PAUSED):
        raise Conflict("container not running")  # [RT-VERB-009] runc's words
    return current


def stats_event(root: str, container_id: str) -> dict:
    """[RT-VERB-009] One reading of the container's cgroup, as runc's `events --stats` prints it."""
    current = _live(root, container_id)
    read = open_driver().open(current.cgroup).stats()
    data: dict = {}
    if read.cpu_usage_ns is not None:
        data["cpu"] = {"usage": {"total": read.cpu_usage_ns}}
    usage = _known(usage=read.memory_usage, max=read.memory_max_usage, limit=read.memory_limit)
    if usage:
        data["memory"] = {"usage": usage}
    if read.memory_stat is not None:
        data.setdefault("memory", {})["raw"] = read.memory_stat
    pids = _known(current=read.pids_current, limit=read.pids_limit)
    if pids:
        data["pids"] = pids
    if read.io_by_device:
        data["blkio"] = {"ioServiceBytesRecursive": [
            {"major": major, "minor": minor, "op": op, "value": value}
            for major, minor, op, value in read.io_by_device]}
    return {"type": "stats", "id": container_id, "data": data}


def follow(root: str, container_id: str, interval: float, write) -> None:
    """A stats event every ``interval`` seconds, an "oom" event once there is an OOM kill; until it stops."""
    current = _live(root, container_id)
    group = open_driver().open(current.cgroup)
    oom_seen = group.oom_killed()
    while True:
        if not oom_seen and group.oom_killed():  # before the stats: the kill may have stopped it
            oom_seen = True
            write({"type": "oom", "id": container_id})
        try:
            write(stats_event(root, container_id))
        except Conflict:
            return  # stopped: runc's events ends too
        time.sleep(interval)


def _known(**values: int | None) -> dict[str, int]:
    return {name: value for name, value in values.items() if value is not None}
