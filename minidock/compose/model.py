"""A compose service as the Engine API's create body: names, labels, ports, volumes, networks. Pure.

Implements: spec/compose.md COMPOSE-007 .. COMPOSE-009, COMPOSE-017
Explained:  chapters/10-compose.md#from-a-service-to-containers
Modelled on: docker-compose 1.29's compose/service.py (_get_container_create_options) and
             compose v2's convert.go; the labels are Docker Compose's own

    Project(document)                 .services (in dependency order), .networks, .volumes
    project.create_body(service, number) -> (container name, body for POST /containers/create)
    config_hash(service) -> sha256    what decides "changed: recreate"
    parse_port("127.0.0.1:8080:80/udp") -> [{"target": 80, "published": "8080", ...}]

Rules: every resource a project makes carries com.docker.compose.project (and the
service's, its number, its config hash), so that `down`, `ps` and docker-compose itself
find them; names are PROJECT_NAME (networks, volumes) and PROJECT-SERVICE-N (containers).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from typing import Any

from minidock.compose.loader import ComposeError
from minidock.engine.device_flags import device, device_cgroup_rule, device_mapping

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
CONFIG_HASH = "com.docker.compose.config-hash"
ONEOFF = "com.docker.compose.oneoff"
NETWORK_LABEL = "com.docker.compose.network"
VOLUME_LABEL = "com.docker.compose.volume"
WORKING_DIR = "com.docker.compose.project.working_dir"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$", re.I)


def duration_ns(value, where: str) -> int:
    """"1m30s" (or a number of seconds) in nanoseconds."""
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    total, at = 0, 0
    for match in _DURATION.finditer(str(value)):
        if match.start() != at:
            break
        total += int(float(match.group(1)) * _NS[match.group(2)])
        at = match.end()
    if at != len(str(value)) or not str(value):
        raise ComposeError(f"{where}: invalid duration {value!r}")
    return total


def size_bytes(value, where: str) -> int:
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ComposeError(f"{where}: invalid size {value!r}")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))


def parse_port(entry, where: str) -> list[dict]:
    """Short ("[IP:][HOST:]CONTAINER[/PROTO]", ranges) or long syntax, as long entries."""
    if isinstance(entry, dict):
        if not str(entry.get("target", "")).isdigit():  # the schema lets a string through, for ${VAR}
            raise ComposeError(f"{where}: invalid container port {entry.get('target')!r}")
        return [{"target": int(entry["target"]), "published": str(entry.get("published") or ""),
                 "host_ip": entry.get("host_ip", ""), "protocol": entry.get("protocol", "tcp")}]
    text = str(entry)
    text, _, protocol = text.partition("/")
    parts = text.rsplit(":", 2) if text.count(":") <= 2 else [text[:text.rindex("]") + 1]] + text[text.rindex("]") + 2:].split(":")
    host_ip, published, target = "", "", parts[-1]
    if len(parts) == 2:
        published = parts[0]
    elif len(parts) == 3:
        host_ip, published = parts[0].strip("[]"), parts[1]

    def span(text: str) -> list[int]:
        first, dash, last = text.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ComposeError(f"{where}: invalid port {entry!r}")
        return list(range(int(first), int(last or first) + 1))

    targets = span(target)
    published_ports = span(published) if published else []
    if published_ports and len(published_ports) not in (1, len(targets)):
        raise ComposeError(f"{where}: port ranges don't match in {entry!r}")
    out = []
    for index, port in enumerate(targets):
        host = str(published_ports[index] if len(published_ports) == len(targets) else
                   (published_ports[0] if published_ports else ""))
        out.append({"target": port, "published": host, "host_ip": host_ip, "protocol": protocol or "tcp"})
    return out


def _command(value) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def _mapping(value, separator: str = "=") -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        key, found, text = str(item).partition(separator)
        out[key] = text if found else None
    return out


def config_hash(service: dict) -> str:
    """[COMPOSE-009] the service's resolved config, hashed: a change of it means recreate."""
    return hashlib.sha256(json.dumps(service, sort_keys=True, default=str).encode()).hexdigest()


class Project:
    """A loaded compose document, ready to become engine resources."""

    def __init__(self, document: dict) -> None:
        self.name = document["name"]
        self.folder = document.get("folder", os.getcwd())
        self.services: dict[str, dict] = document.get("services") or {}
        self.networks: dict[str, dict] = {key: value or {} for key, value in (document.get("networks") or {}).items()}
        self.volumes: dict[str, dict] = {key: value or {} for key, value in (document.get("volumes") or {}).items()}
        if any(not service.get("networks") and not service.get("network_mode") for service in self.services.values()) \
                or "default" in self.networks:
            self.networks.setdefault("default", {})
        self.order = dependency_order(self.services)

    # -- names --------------------------------------------------------------------------------

    def network_name(self, key: str) -> str:
        spec = self.networks.get(key) or {}
        if spec.get("external"):
            return spec.get("name") or key
        return spec.get("name") or f"{self.name}_{key}"

    def volume_name(self, key: str) -> str:
        spec = self.volumes.get(key) or {}
        if spec.get("external"):
            return spec.get("name") or key
        return spec.get("name") or f"{self.name}_{key}"

    def image_name(self, service_name: str) -> str:
        return self.services[service_name].get("image") or f"{self.name}-{service_name}"

    def container_name(self, service_name: str, number: int) -> str:
        return self.services[service_name].get("container_name") or f"{self.name}-{service_name}-{number}"

    def scale(self, service_name: str, overrides: dict[str, int] | None = None) -> int:
        service = self.services[service_name]
        if overrides and service_name in overrides:
            return overrides[service_name]
        deploy = service.get("deploy") or {}
        return int(service.get("scale", deploy.get("replicas", 1)))

    def service_networks(self, service_name: str) -> dict[str, dict]:
        """{network key: {"aliases": [...], "ipv4_address": ...}} in the order given."""
        service = self.services[service_name]
        if service.get("network_mode"):
            return {}
        networks = service.get("networks") or ["default"]
        if isinstance(networks, list):
            return {key: {} for key in networks}
        return {key: value or {} for key, value in networks.items()}

    # -- a container's create body ------------------------------------------------------------

    def labels(self, service_name: str, number: int) -> dict[str, str]:
        service = self.services[service_name]
        return {**{str(k): str(v) for k, v in _mapping(service.get("labels")).items()},
                PROJECT: self.name, SERVICE: service_name, NUMBER: str(number), ONEOFF: "False",
                CONFIG_HASH: config_hash(service), WORKING_DIR: self.folder, "com.docker.compose.version": "2.0.0-minidock"}

    def environment(self, service: dict) -> list[str]:
        values: dict[str, Any] = {}
        from minidock.compose.loader import read_env_file

        files = service.get("env_file") or []
        for entry in files if isinstance(files, list) else [files]:
            path = entry if isinstance(entry, str) else entry["path"]
            required = True if isinstance(entry, str) else entry.get("required", True)
            full = os.path.join(self.folder, path)
            if not required and not os.path.exists(full):
                continue
            values.update(read_env_file(full))
        values.update(_mapping(service.get("environment")))
        return [f"{key}={value}" if value is not None else f"{key}={os.environ.get(key, '')}"
                for key, value in values.items()]

    def create_body(self, service_name: str, number: int) -> tuple[str, dict]:
        """The container's name and the body of POST /containers/create for it."""
        service = self.services[service_name]
        where = f"services.{service_name}"
        ports = [port for index, entry in enumerate(service.get("ports") or [])
                 for port in parse_port(entry, f"{where}.ports[{index}]")]
        exposed = {f"{port['target']}/{port['protocol']}": {} for port in ports}
        for entry in service.get("expose") or []:
            text = str(entry)
            exposed[text if "/" in text else f"{text}/tcp"] = {}
        bindings: dict[str, list[dict]] = {}
        for port in ports:
            bindings.setdefault(f"{port['target']}/{port['protocol']}", []).append(
                {"HostIp": port["host_ip"], "HostPort": port["published"]})
        binds, mounts = self._volumes(service, where)
        host: dict[str, Any] = {
            "PortBindings": bindings, "Binds": binds, "Mounts": mounts,
            "RestartPolicy": _restart(service.get("restart")), "CapAdd": service.get("cap_add"),
            "CapDrop": service.get("cap_drop"), "Privileged": bool(service.get("privileged")),
            "ReadonlyRootfs": bool(service.get("read_only")), "Init": service.get("init"),
            "ExtraHosts": [f"{k}:{v}" for k, v in _mapping(service.get("extra_hosts"), ":").items()] or None,
            "Dns": ([service["dns"]] if isinstance(service.get("dns"), str) else service.get("dns")),
            "Devices": [_device(entry, f"{where}.devices[{index}]")
                        for index, entry in enumerate(service.get("devices") or [])],
            "DeviceCgroupRules": [_checked(device_cgroup_rule, rule, f"{where}.device_cgroup_rules[{index}]")
                                  for index, rule in enumerate(service.get("device_cgroup_rules") or [])],
        }
        if service.get("tmpfs"):
            entries = service["tmpfs"] if isinstance(service["tmpfs"], list) else [service["tmpfs"]]
            host["Tmpfs"] = {entry.split(":", 1)[0]: (entry.split(":", 1) + [""])[1] for entry in entries}
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        memory = service.get("mem_limit") or limits.get("memory")
        if memory:
            host["Memory"] = size_bytes(memory, f"{where}.mem_limit")
        cpus = service.get("cpus") or limits.get("cpus")
        if cpus:
            host["NanoCpus"] = int(float(cpus) * 1e9)
        pids = service.get("pids_limit") or limits.get("pids")
        if pids:
            host["PidsLimit"] = int(pids)
        networks = self.service_networks(service_name)
        if service.get("network_mode"):
            mode = service["network_mode"]
            if mode.startswith("service:"):
                mode = "container:" + self.container_name(mode.split(":", 1)[1], 1)
            host["NetworkMode"] = mode
        elif networks:
            host["NetworkMode"] = self.network_name(next(iter(networks)))
        if service.get("volumes_from"):
            host["VolumesFrom"] = [self.container_name(entry.split(":")[0], 1)
                                   if entry.split(":")[0] in self.services else entry.replace("container:", "")
                                   for entry in service["volumes_from"]]
        body: dict[str, Any] = {
            "Image": self.image_name(service_name), "Cmd": _command(service.get("command")),
            "Entrypoint": _command(service.get("entrypoint")), "Env": self.environment(service),
            "Labels": self.labels(service_name, number), "ExposedPorts": exposed or None,
            "Hostname": service.get("hostname") or "", "User": str(service.get("user") or ""),
            "WorkingDir": service.get("working_dir") or "", "Tty": bool(service.get("tty")),
            "OpenStdin": bool(service.get("stdin_open")), "StopSignal": service.get("stop_signal"),
            "HostConfig": {key: value for key, value in host.items() if value not in (None, [], {})},
        }
        if service.get("healthcheck"):
            body["Healthcheck"] = _healthcheck(service["healthcheck"], f"{where}.healthcheck")
        if networks and not service.get("network_mode"):
            first, spec = next(iter(networks.items()))
            body["NetworkingConfig"] = {"EndpointsConfig": {self.network_name(first): _endpoint(service_name, spec)}}
        return self.container_name(service_name, number), {k: v for k, v in body.items() if v is not None}

    def endpoint(self, service_name: str, key: str) -> dict:
        return _endpoint(service_name, self.service_networks(service_name).get(key) or {})

    def _volumes(self, service: dict, where: str) -> tuple[list[str], list[dict]]:
        """Short syntax as Binds (the daemon makes a missing bind source, as for -v); long as Mounts."""
        binds, mounts = [], []
        for index, entry in enumerate(service.get("volumes") or []):
            if isinstance(entry, str):
                binds.append(self._bind(entry, f"{where}.volumes[{index}]"))
            else:
                mounts.append(self._mount(entry, f"{where}.volumes[{index}]"))
        return binds, mounts

    def _source(self, kind: str, source: str, where: str) -> str:
        if kind == "bind":
            return os.path.normpath(os.path.join(self.folder, os.path.expanduser(source)))
        if source not in self.volumes:
            raise ComposeError(f"{where}: service uses undefined volume {source!r}")
        return self.volume_name(source)

    def _bind(self, entry: str, where: str) -> str:
        """"src:dst[:ro]", "/dst" (anonymous) -> a Binds entry with the project's names."""
        parts = entry.split(":")
        if len(parts) == 1:
            return parts[0]
        kind = "bind" if parts[0].startswith((".", "/", "~")) else "volume"
        return ":".join([self._source(kind, parts[0], where), *parts[1:]])

    def _mount(self, entry: dict, where: str) -> dict:
        """Long volume syntax as an API Mount."""
        kind = entry.get("type", "volume")
        mount: dict[str, Any] = {"Type": kind, "Target": entry["target"], "ReadOnly": bool(entry.get("read_only"))}
        source = entry.get("source")
        if kind in ("bind", "volume") and source:
            mount["Source"] = self._source(kind, source, where)
        if kind == "volume" and (entry.get("volume") or {}).get("nocopy"):
            mount["VolumeOptions"] = {"NoCopy": True}
        if kind == "bind" and (entry.get("bind") or {}).get("propagation"):
            mount["BindOptions"] = {"Propagation": entry["bind"]["propagation"]}
        if kind == "tmpfs" and (entry.get("tmpfs") or {}).get("size"):
            mount["TmpfsOptions"] = {"SizeBytes": size_bytes(entry["tmpfs"]["size"], where)}
        return mount


def _endpoint(service_name: str, spec: dict) -> dict:
    endpoint: dict[str, Any] = {"Aliases": [service_name, *(spec.get("aliases") or [])]}
    if spec.get("ipv4_address"):
        endpoint["IPAMConfig"] = {"IPv4Address": spec["ipv4_address"]}
    return endpoint


def _restart(value: str | None) -> dict:
    if not value or value == "no":
        return {"Name": "no", "MaximumRetryCount": 0}
    name, _, count = value.partition(":")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def _checked(parse, value, where: str):
    """``parse(value)``, its ValueError a compose error that names the key."""
    try:
        return parse(value)
    except ValueError as error:
        raise ComposeError(f"{where}: {error}") from None


def _device(entry, where: str) -> dict:
    """[COMPOSE-017] "HOST[:CONTAINER[:PERMS]]" or {source, target, permissions}, as `run --device`."""
    if isinstance(entry, dict):
        return _checked(lambda e: device(str(e["source"]), str(e.get("target") or ""),
                                         str(e.get("permissions") or "rwm")), entry, where)
    return _checked(device_mapping, str(entry), where)


def _healthcheck(spec: dict, where: str) -> dict:
    if spec.get("disable"):
        return {"Test": ["NONE"]}
    test = spec.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    check: dict[str, Any] = {"Test": test}
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
        if spec.get(key) is not None:
            check[field] = duration_ns(spec[key], f"{where}.{key}")
    if spec.get("retries") is not None:
        check["Retries"] = int(spec["retries"])
    return check


def dependency_order(services: dict[str, dict]) -> list[str]:
    """Services so that each comes after what it depends on; a cycle is an error (COMPOSE-008)."""
    def needs(name: str) -> list[str]:
        service = services[name]
        found = list(_mapping_keys(service.get("depends_on")))
        mode = service.get("network_mode") or ""
        if mode.startswith("service:"):
            found.append(mode.split(":", 1)[1])
        found += [entry.split(":")[0] for entry in service.get("volumes_from") or [] if entry.split(":")[0] in services]
        for link in service.get("links") or []:
            found.append(link.split(":")[0])
        return found

    # lab 10: begin: each service after what needs() names (a depth-first search); refuse a cycle and an undefined service
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*path[path.index(name):], name))
            raise ComposeError(f"dependency cycle detected: {cycle}")
        state[name] = "visiting"
        for other in needs(name):
            if other not in services:
                raise ComposeError(f"service {name!r} depends on undefined service {other!r}: invalid compose project")
            visit(other, (*path, name))
        state[name] = "done"
        order.append(name)

    for name in services:
        visit(name, ())
    return order
    # lab 10: end


def _mapping_keys(value) -> list[str]:
    if isinstance(value, dict):
        return list(value)
    return list(value or [])


def conditions(service: dict) -> dict[str, str]:
    """depends_on as {service: condition}."""
    value = service.get("depends_on")
    if isinstance(value, dict):
        return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}
    return {name: "service_started" for name in value or []}
