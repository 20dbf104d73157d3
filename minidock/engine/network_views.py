"""Networks and endpoints as the Engine API shows them: records, settings, filters. Pure.

Implements: spec/networking.md NET-050, NET-053
Explained:  chapters/07-networking.md#the-api
Modelled on: moby's api/types (NetworkResource, EndpointSettings, NetworkSettings)

    new_record(name, driver, id, ...) -> dict        a network's record: Docker's fields and ours
    endpoint_settings(network_id, config) -> dict    one entry of NetworkSettings.Networks
    settings_view(settings, exposed) -> dict         inspect's NetworkSettings
    matches(record, filters) -> bool                 `network ls --filter`
    daemon_id(data_root), mode_of(host_config)

Rules: a record's capitalised keys are Docker's NetworkResource fields, sent as they
are; its lower-case keys (endpoints, bridge, predefined) are minidock's own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os

from minidock.engine.container import now
from minidock.errors import InvalidArgument
from minidock.networking import ports


def daemon_id(data_root: str) -> str:
    """Eight hex digits naming this daemon's links and chains (its data root's digest)."""
    return hashlib.sha256(os.path.realpath(data_root).encode()).hexdigest()[:8]


def mode_of(host: dict) -> str:
    """HostConfig.NetworkMode with Docker's default spelled out: "default" is the bridge."""
    mode = host.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def bip_network(bip: str) -> str:
    """The subnet of a --bip (\"172.29.0.1/16\" -> \"172.29.0.0/16\")."""
    return str(ipaddress.IPv4Interface(bip).network)


def new_record(name: str, driver: str, network_id: str, internal: bool, labels: dict, options: dict,
            pools: list[dict]) -> dict:
    """A network's record: Docker's NetworkResource fields (capitalised) and ours (lower case)."""
    return {"Name": name, "Id": network_id, "Created": now(), "Scope": "local", "Driver": driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None if not pools else {},
                                          "Config": pools},
            "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Options": options, "Labels": labels, "endpoints": {}, "bridge": ""}


def endpoint_settings(network_id: str, config: dict) -> dict:
    """An EndpointSettings of inspect's NetworkSettings.Networks, before (or after) the run."""
    return {"IPAMConfig": config.get("IPAMConfig") or None, "Links": config.get("Links") or None,
            "Aliases": config.get("Aliases") or None, "NetworkID": network_id, "EndpointID": "",
            "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": config.get("DriverOpts") or None}


def settings_view(settings: dict, exposed: dict | None) -> dict:
    """inspect's NetworkSettings as Docker fills it: the default bridge's values at the top level."""
    networks = {name: {k: v for k, v in entry.items() if k[0].isupper()}
                for name, entry in (settings.get("Networks") or {}).items()}
    bridge = networks.get("bridge") or {}
    return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": ports.inspect_ports(exposed, settings.get("Ports") or []),
            "SandboxKey": settings.get("SandboxKey", ""), "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None, "EndpointID": bridge.get("EndpointID", ""),
            "Gateway": bridge.get("Gateway", ""), "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
            "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),  # [NET-085] the default bridge's
            "IPAddress": bridge.get("IPAddress", ""), "IPPrefixLen": bridge.get("IPPrefixLen", 0),
            "IPv6Gateway": bridge.get("IPv6Gateway", ""), "MacAddress": bridge.get("MacAddress", ""),
            "Networks": networks}


def matches(record: dict, filters: dict[str, list[str]], only: tuple[str, ...] | None = None) -> bool:
    """`network ls --filter`: name, id, driver, label, type (custom, builtin), scope."""
    for key, values in filters.items():
        if only is not None and key not in only:
            continue
        if key == "name" and not any(v in record["Name"] for v in values):
            return False
        if key == "id" and not any(record["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and record["Driver"] not in values:
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "type" and ("builtin" if record.get("predefined") else "custom") not in values:
            return False
        if key == "label":
            for wanted in values:
                name, sep, value = wanted.partition("=")
                if name not in record["Labels"] or (sep and record["Labels"][name] != value):
                    return False
        if key not in ("name", "id", "driver", "scope", "type", "label", "dangling"):
            raise InvalidArgument(f"invalid filter '{key}'")
    return True
