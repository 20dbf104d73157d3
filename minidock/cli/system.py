"""`minidock stats`, `update`, `system df` and `system prune`: the daemon's view of its resources.

Implements: spec/engine.md ENGINE-STAT-001, ENGINE-STAT-002, ENGINE-SYS-001
Explained:  chapters/05-engine.md#stats-and-update
Modelled on: docker/cli's command/container/stats.go, update.go and command/system/df.go

    stats [--no-stream] [-a] [NAME...]    CPU %, memory, block I/O and pids, as docker computes them
    update [-m] [--memory-swap] [--cpus] [--cpu-shares] [--pids-limit] [--restart] NAME...
    system df | system prune [-f] [-a]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse

from minidock.cli.common import client, human_size, table


def cpu_percent(document: dict) -> float:
    """docker's calculateCPUPercentUnix: the container's share of the host's CPU time, times CPUs."""
    cpu, previous = document["cpu_stats"], document["precpu_stats"]
    container = cpu["cpu_usage"]["total_usage"] - previous.get("cpu_usage", {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - previous.get("system_cpu_usage", 0)
    if container <= 0 or system <= 0:
        return 0.0
    return container / system * cpu.get("online_cpus", 1) * 100.0


def _binary(size: float) -> str:
    """go-units BytesSize: powers of 1024 ("360KiB", "64MiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    index = 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{size:.4g}{units[index]}"


def memory_usage(memory: dict) -> int:
    """The usage less the inactive page cache, which the kernel can take back: the docker CLI's
    number (`total_inactive_file` in v1's memory.stat, `inactive_file` in v2's)."""
    usage = memory.get("usage", 0)
    stat = memory.get("stats") or {}
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return usage - inactive if inactive < usage else usage


def row(document: dict) -> list[str]:
    memory = document["memory_stats"]
    usage, limit = memory_usage(memory), memory.get("limit", 0)
    io = {"read": 0, "write": 0}  # summed over devices, by the op's name in any case
    for entry in document["blkio_stats"].get("io_service_bytes_recursive") or []:
        if entry["op"].lower() in io:
            io[entry["op"].lower()] += entry["value"]
    return [document["id"][:12], document["name"].lstrip("/"), f"{cpu_percent(document):.2f}%",
            f"{_binary(usage)} / {_binary(limit)}", f"{(usage / limit * 100) if limit else 0:.2f}%",
            "0B / 0B", f"{human_size(io['read'])} / {human_size(io['write'])}",
            str(document["pids_stats"].get("current", 0))]


HEADERS = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]


def cmd_stats(args: argparse.Namespace) -> int:
    api = client(args)
    names = args.names or [c["Id"] for c in api.json("GET", "/containers/json" + ("?all=1" if args.all else ""))]
    if args.no_stream:
        rows = [row(json.loads(api.stream("GET", f"/containers/{urllib.parse.quote(n)}/stats?stream=0").read()))
                for n in names]
        print(table(rows, HEADERS))
        return 0
    from rich.console import Console
    from rich.live import Live

    import threading

    latest: dict[str, list[str]] = {}

    def follow(name: str) -> None:
        response = api.stream("GET", f"/containers/{urllib.parse.quote(name)}/stats?stream=1")
        for line in response:
            latest[name] = row(json.loads(line))

    for name in names:
        threading.Thread(target=follow, args=(name,), daemon=True).start()
    try:
        with Live(console=Console(), auto_refresh=False) as live:
            while True:
                live.update(table([latest[n] for n in names if n in latest], HEADERS), refresh=True)
                threading.Event().wait(1)
    except KeyboardInterrupt:
        return 0


def cmd_update(args: argparse.Namespace) -> int:
    from minidock.cli.run_options import nano_cpus, ram_in_bytes, restart_policy

    body: dict = {}
    if args.memory:
        body["Memory"] = ram_in_bytes(args.memory)
    if args.memory_swap:
        body["MemorySwap"] = -1 if args.memory_swap == "-1" else ram_in_bytes(args.memory_swap)
    if args.cpus:
        body["NanoCpus"] = nano_cpus(args.cpus)
    if args.cpu_shares:
        body["CpuShares"] = int(args.cpu_shares)
    if args.pids_limit:
        body["PidsLimit"] = int(args.pids_limit)
    if args.restart:
        body["RestartPolicy"] = restart_policy(args.restart)
    api, failed = client(args), 0
    for name in args.names:
        try:
            api.json("POST", f"/containers/{urllib.parse.quote(name)}/update", body)
            print(name)
        except Exception as error:  # noqa: BLE001 - docker goes on with the next name
            print(f"Error response from daemon: {getattr(error, 'message', error)}", file=sys.stderr)
            failed = 1
    return failed


def cmd_df(args: argparse.Namespace) -> int:
    usage = client(args).json("GET", "/system/df")
    images, containers = usage["Images"], usage["Containers"]
    active_images = sum(1 for image in images if image["Containers"])
    reclaimable = sum(image["Size"] for image in images if not image["Containers"])
    size = usage["LayersSize"]
    rows = [["Images", str(len(images)), str(active_images), human_size(size),
             f"{human_size(reclaimable)} ({(reclaimable / size * 100) if size else 0:.0f}%)"],
            ["Containers", str(len(containers)), str(sum(1 for c in containers if c["State"] == "running")),
             "0B", "0B"],
            volumes_row(usage.get("Volumes") or []), ["Build Cache", "0", "0", "0B", "0B"]]
    print(table(rows, ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]))
    return 0


def volumes_row(volumes: list[dict]) -> list[str]:
    """[VOL-018] docker's Local Volumes row: active ones have a container, the rest is reclaimable."""
    sizes = [max(0, (v.get("UsageData") or {}).get("Size", 0)) for v in volumes]
    active = [bool((v.get("UsageData") or {}).get("RefCount")) for v in volumes]
    size, reclaimable = sum(sizes), sum(s for s, used in zip(sizes, active) if not used)
    return ["Local Volumes", str(len(volumes)), str(sum(active)), human_size(size),
            f"{human_size(reclaimable)} ({(reclaimable / size * 100) if size else 0:.0f}%)"]


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        volumes = " and volumes not used by at least one container" if args.volumes else ""
        print(f"WARNING! This will remove all stopped containers{volumes} and dangling images.")
        if input("Are you sure you want to continue? [y/N] ").strip().lower() not in ("y", "yes"):
            return 0
    api = client(args)
    containers = api.json("POST", "/containers/prune") or {}
    if containers.get("ContainersDeleted"):
        print("Deleted Containers:\n" + "\n".join(containers["ContainersDeleted"]) + "\n")
    reclaimed = 0
    if args.volumes:  # [VOL-017] after the containers, whose removal may free them
        volumes = api.json("POST", "/volumes/prune") or {}
        reclaimed += volumes.get("SpaceReclaimed") or 0
        if volumes.get("VolumesDeleted"):
            print("Deleted Volumes:\n" + "\n".join(volumes["VolumesDeleted"]) + "\n")
    images = api.json("POST", "/images/prune" + ("?filters=" + urllib.parse.quote('{"dangling":["false"]}') if args.all else "")) or {}
    if images.get("ImagesDeleted"):
        print("Deleted Images:")
        for entry in images["ImagesDeleted"]:
            for key, value in entry.items():
                print(f"{key.lower()}: {value}")
        print()
    print(f"Total reclaimed space: {human_size(reclaimed + (images.get('SpaceReclaimed') or 0))}")
    return 0


def add_parsers(verbs, only: str | None = None) -> None:
    """Add this topic's verbs; ``only`` (the command line's verb) is ignored: they are few."""
    stats = verbs.add_parser("stats", help="a live stream of containers' resource usage")
    stats.add_argument("names", nargs="*")
    stats.add_argument("-a", "--all", action="store_true", help="all containers (default: running)")
    stats.add_argument("--no-stream", action="store_true", help="print one reading and quit")
    stats.set_defaults(handler=cmd_stats)
    update = verbs.add_parser("update", help="change the limits of containers")
    update.add_argument("names", nargs="+")
    update.add_argument("-m", "--memory")
    update.add_argument("--memory-swap")
    update.add_argument("--cpus")
    update.add_argument("-c", "--cpu-shares")
    update.add_argument("--pids-limit")
    update.add_argument("--restart")
    update.set_defaults(handler=cmd_update)
    system = verbs.add_parser("system", help="manage minidock").add_subparsers(dest="system_verb", required=True)
    system.add_parser("df", help="show minidock disk usage").set_defaults(handler=cmd_df)
    prune = system.add_parser("prune", help="remove stopped containers and dangling images")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask")
    prune.add_argument("-a", "--all", action="store_true", help="remove unused images too")
    prune.add_argument("--volumes", action="store_true", help="prune volumes too")
    prune.set_defaults(handler=cmd_prune)
