"""From Docker's container config to an OCI runtime config: what `docker run` flags become.

Implements: spec/engine.md ENGINE-CTR-010 .. ENGINE-CTR-014
Explained:  chapters/05-engine.md#from-flags-to-a-bundle
Modelled on: moby's daemon/oci_linux.go (createSpec and its WithXxx options)

    command(config, image_config) -> [args]          Entrypoint + Cmd, as Docker merges them
    environment(config, image_config, hostname)      image Env, then the container's, by key
    resolve_user(rootfs, "name:group") -> (uid, gid, additional gids)
    oci_config(container, image_config, rootfs, ...) -> dict   the config.json

Rules: pure but for reading the container's /etc/passwd and /etc/group. Every
HostConfig field minidock takes has one line here; the rest are refused when
the container is created (engine.containers), never silently dropped.
"""

from __future__ import annotations

import os
from typing import Any

from minidock.engine import devices
from minidock.errors import InvalidArgument
from minidock.runtime.config import DEFAULT_PATH, default_config
from minidock.runtime.security import docker_fields, merge

CPU_PERIOD = 100_000  # µs; --cpus=N becomes a quota of N periods (as dockerd)
INIT_BINARY = "/usr/bin/tini-static"  # Debian's tini: what dockerd ships as docker-init
INIT_PATH = "/sbin/docker-init"


def command(config: dict, image_config: dict) -> list[str]:
    """The container's argv: Entrypoint then Cmd, each from the container or else the image."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint") or []
        if cmd is None:
            cmd = image_config.get("Cmd") or []
    elif cmd is None:
        cmd = []  # [ENGINE-CTR-010] a new entrypoint drops the image's Cmd, as in Docker
    args = [*_as_list(entrypoint), *_as_list(cmd)]
    if not args:
        # Docker's words
        raise InvalidArgument("No command specified")
    return args


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def merged_config(config: dict, image_config: dict) -> dict:
    """The container's Config as inspect shows it: the image's values where the body has none.

    [ENGINE-CTR-010] Cmd comes from the image only when the entrypoint is not overridden.
    """
    merged = dict(config)
    if config.get("Entrypoint") is None:
        merged["Entrypoint"] = image_config.get("Entrypoint")
        if config.get("Cmd") is None:
            merged["Cmd"] = image_config.get("Cmd")
    merged["Env"] = [e for e in environment(config, image_config, "") if not e.startswith("HOSTNAME=")]
    for key in ("WorkingDir", "User", "StopSignal", "Healthcheck"):
        if not config.get(key) and image_config.get(key):
            merged[key] = image_config[key]
    labels = {**(image_config.get("Labels") or {}), **(config.get("Labels") or {})}
    merged["Labels"] = labels
    if image_config.get("ExposedPorts") or config.get("ExposedPorts"):
        merged["ExposedPorts"] = {**(image_config.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})}
    return merged


def environment(config: dict, image_config: dict, hostname: str) -> list[str]:
    """PATH, HOSTNAME, the image's Env, then the container's, later ones winning by key."""
    merged: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    for entry in [*(image_config.get("Env") or []), *(config.get("Env") or [])]:
        key, sep, value = entry.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {entry}")
        if sep:
            merged[key] = value
    if config.get("Tty"):
        merged.setdefault("TERM", "xterm")
    return [f"{key}={value}" for key, value in merged.items()]


def find_program(rootfs: str, program: str, env: list[str]) -> None:
    """Check that ``program`` can be executed in ``rootfs`` (PATH searched as execvp does).

    runc finds out in `create`, before the container's first instruction; minidock's
    init would only find out at exec and exit 127, so the engine looks first and
    refuses the start with Docker's words (and exit code 127 or 126).
    """
    from minidock.runtime.mounts import secure_join

    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    candidates = [program] if "/" in program else [f"{d or '.'}/{program}" for d in path.split(":")]
    for candidate in candidates:
        resolved = secure_join(rootfs, candidate if candidate.startswith("/") else "/" + candidate)
        if os.path.isdir(resolved):
            if "/" in program:
                # [ENGINE-CTR-015] Docker's words
                raise ProgramNotRunnable(126, f'exec: "{program}": is a directory: permission denied')
            continue
        if os.path.isfile(resolved):
            if not os.access(resolved, os.X_OK):
                raise ProgramNotRunnable(126, f'exec: "{program}": permission denied')
            return
    if "/" in program:
        raise ProgramNotRunnable(127, f'exec: "{program}": stat {program}: no such file or directory')
    raise ProgramNotRunnable(127, f'exec: "{program}": executable file not found in $PATH')


class ProgramNotRunnable(InvalidArgument):
    """The container's program is missing (127) or not executable (126)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(f"failed to create task for container: {message}: unknown")
        self.exit_code = exit_code


def _table(path: str) -> list[list[str]]:
    try:
        with open(path) as file:
            return [line.rstrip("\n").split(":") for line in file if line.strip() and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def resolve_user(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """Docker's user string (name, uid, name:group, uid:gid) read against the container's files."""
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    passwd = _table(os.path.join(rootfs, "etc/passwd"))
    groups = _table(os.path.join(rootfs, "etc/group"))
    uid = gid = None
    login = None
    for entry in passwd:
        if len(entry) >= 4 and (entry[0] == name or entry[2] == name):
            uid, gid, login = int(entry[2]), int(entry[3]), entry[0]
            break
    if uid is None:
        if not name.isdigit():
            # [ENGINE-CTR-012] Docker's words
            raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(name), 0
    if group:
        found = [int(entry[2]) for entry in groups if len(entry) >= 3 and (entry[0] == group or entry[2] == group)]
        if found:
            gid = found[0]
        elif group.isdigit():
            gid = int(group)
        else:
            raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
    extra = sorted({int(entry[2]) for entry in groups
                    if len(entry) >= 4 and login and login in entry[3].split(",") and int(entry[2]) != gid})
    return uid, gid, extra


# HostConfig field -> (linux.resources section, its key), copied as they are when set
RESOURCE_FIELDS = {
    "Memory": ("memory", "limit"), "MemorySwap": ("memory", "swap"),
    "MemoryReservation": ("memory", "reservation"), "CpuShares": ("cpu", "shares"),
    "CpuQuota": ("cpu", "quota"), "CpuPeriod": ("cpu", "period"), "CpusetCpus": ("cpu", "cpus"),
    "CpusetMems": ("cpu", "mems"), "BlkioWeight": ("blockIO", "weight"),
}


def resources(host: dict) -> dict:
    """HostConfig's limits as OCI linux.resources."""
    out: dict[str, dict[str, Any]] = {}
    if host.get("NanoCpus"):
        # [ENGINE-CTR-013] --cpus=1.5 -> 150000 µs in every 100000 (an explicit CpuQuota wins)
        out["cpu"] = {"quota": host["NanoCpus"] * CPU_PERIOD // 10**9, "period": CPU_PERIOD}
    for field, (section, key) in RESOURCE_FIELDS.items():
        if host.get(field):
            out.setdefault(section, {})[key] = host[field]
    if host.get("PidsLimit") and host["PidsLimit"] > 0:  # 0 and -1: no limit
        out["pids"] = {"limit": host["PidsLimit"]}
    return out


def namespaces(host: dict, joined: dict[str, str]) -> list[dict]:
    """One entry per namespace: new, or joined by path (``joined``: OCI type -> path)."""
    entries = []
    for kind, mode_key in (("pid", "PidMode"), ("network", "NetworkMode"), ("ipc", "IpcMode"),
                           ("uts", "UTSMode"), ("mount", None), ("cgroup", "CgroupnsMode")):
        mode = host.get(mode_key) if mode_key else None
        if mode == "host":
            continue  # [ENGINE-CTR-014] the host's own: no entry at all
        if kind in joined:
            entries.append({"type": kind, "path": joined[kind]})
        else:
            entries.append({"type": kind})
    return entries


def oci_config(container_id: str, config: dict, host: dict, image_config: dict, rootfs: str,
               extra_mounts: list[dict], joined: dict[str, str] | None = None) -> dict:
    """The config.json for one container (root.path is "rootfs", beside it in the bundle)."""
    hostname = config.get("Hostname") or container_id[:12]
    uid, gid, additional = resolve_user(rootfs, config.get("User") or image_config.get("User") or "")
    base = default_config()
    security = docker_fields(cap_add=host.get("CapAdd") or (), cap_drop=host.get("CapDrop") or (),
                             privileged=bool(host.get("Privileged")),
                             no_new_privileges="no-new-privileges" in (host.get("SecurityOpt") or ()))
    document = merge(base, security)
    document["process"].update({
        "terminal": bool(config.get("Tty")),
        "user": {"uid": uid, "gid": gid, **({"additionalGids": additional} if additional else {})},
        "args": command(config, image_config),
        "env": environment(config, image_config, hostname),
        "cwd": config.get("WorkingDir") or image_config.get("WorkingDir") or "/",
    })
    if host.get("Ulimits"):
        document["process"]["rlimits"] = [
            {"type": "RLIMIT_" + u["Name"].upper(), "soft": u["Soft"], "hard": u["Hard"]}
            for u in host["Ulimits"]]
    if host.get("Init"):
        # [ENGINE-CTR-016] --init: a small init as PID 1 reaps zombies and forwards signals
        if not os.path.exists(INIT_BINARY):
            raise InvalidArgument(f"--init needs {INIT_BINARY} (Debian's tini; make setup installs it)")
        extra_mounts = [*extra_mounts, {"destination": INIT_PATH, "type": "bind", "source": INIT_BINARY,
                                        "options": ["rbind", "ro"]}]
        document["process"]["args"] = [INIT_PATH, "--", *document["process"]["args"]]
    document["root"] = {"path": "rootfs", "readonly": bool(host.get("ReadonlyRootfs"))}
    document["hostname"] = hostname
    document["mounts"] = [*document["mounts"], *extra_mounts]
    document["linux"]["namespaces"] = namespaces(host, joined or {})
    # linux.resources: the limits, after docker_fields' device rule ("deny all" or "allow all")
    nodes, device_rules = devices.oci_devices(host)
    document["linux"]["resources"] = {**document["linux"].get("resources", {}), **resources(host)}
    document["linux"]["resources"]["devices"] = [
        *document["linux"]["resources"].get("devices", []), *device_rules]
    if nodes:
        document["linux"]["devices"] = nodes
    return document
