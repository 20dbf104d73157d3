"""Fixtures for the networking tests: networks cleaned up, subnets no other daemon uses, an "outside" host.

The engine's own daemon has the bridge mdt<N> and the subnet 10.213.<N>.0/24 (tests/harness/engine.py);
the networks these tests make take 10.<220+k>.<N>.0/24, so the workers' daemons never overlap.
The outside host is a network namespace of the test's own, joined to the host by a veth pair
(10.250.<N>.0/30): what a container reaches there has left the host through its NAT.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import sys
from typing import Iterator

import pytest

from tests.engine.conftest import Containers, busybox, containers, demultiplex  # noqa: F401 - fixtures

API = "/v1.41"


def engine_index(engine) -> int:
    """N of the daemon's 10.213.N.0/24; for an engine we did not start, 77 + the xdist worker's number.

    (That daemon is shared by the workers: each takes subnets of its own on it.)
    """
    status, _, raw = engine.api("GET", f"{API}/networks/bridge")
    subnet = ((json.loads(raw).get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet", "")
    if engine.kind == "minidock" and subnet.startswith("10.213."):
        return int(subnet.split(".")[2])
    return 77 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def gateway_of(network: dict) -> str:
    """The gateway of a network's first IPAM config (as GET /networks/NAME shows it).

    dockerd 20.10 shows a subnet it was given as given, without the gateway it then takes,
    the subnet's first address (and so for the default bridge); minidock shows both.
    """
    config = network["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


class Networks:
    """Networks made through the API with unique names; each removed at the end of the test."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.index = engine_index(engine)
        self.made: list[str] = []

    def subnet(self, k: int) -> str:
        """The k-th (0..9) subnet of this worker, overlapping no other worker's."""
        return f"10.{220 + k}.{self.index}.0/24"

    def name(self, stem: str = "net") -> str:
        name = f"mdn-{stem}-{secrets.token_hex(3)}"
        self.made.append(name)
        return name

    def create(self, stem: str = "net", subnet: str | None = None, **body) -> tuple[str, str]:
        """(name, id) of a new bridge network."""
        name = self.name(stem)
        if subnet:
            body.setdefault("IPAM", {"Config": [{"Subnet": subnet}]})
        status, _, raw = self.engine.api("POST", f"{API}/networks/create", {"Name": name, **body})
        assert status == 201, raw
        return name, json.loads(raw)["Id"]

    def inspect(self, name: str) -> dict:
        status, _, raw = self.engine.api("GET", f"{API}/networks/{name}")
        assert status == 200, raw
        return json.loads(raw)

    def remove_all(self) -> None:
        for name in self.made:
            self.engine.api("DELETE", f"{API}/networks/{name}")


@pytest.fixture
def networks(engine) -> Iterator[Networks]:
    made = Networks(engine)
    yield made
    made.remove_all()


def run_in(containers: Containers, *cmd: str, **fields) -> tuple[int, str]:
    """Run a command in a new container; (exit code, stdout)."""
    container_id, code = containers.run(*cmd, **fields)
    return code, containers.output(container_id)


def host(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, input=input)


class Outside:
    """A host outside: its own network namespace, a veth to this host, a TCP server that names its peer."""

    def __init__(self, index: int) -> None:
        tag = secrets.token_hex(2)
        self.netns = f"mdt-out-{tag}"
        self.veth = f"mdo{tag}"
        self.host_address = f"10.250.{index}.1"
        self.address = f"10.250.{index}.2"
        self.port = 7000 + index
        self.server: subprocess.Popen | None = None

    def up(self) -> None:
        host("ip", "netns", "add", self.netns)
        host("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        host("ip", "addr", "add", f"{self.host_address}/30", "dev", self.veth)
        host("ip", "link", "set", self.veth, "up")
        inside = ["nsenter", f"--net=/run/netns/{self.netns}"]
        host(*inside, "ip", "addr", "add", f"{self.address}/30", "dev", "eth0")
        host(*inside, "ip", "link", "set", "eth0", "up")
        host(*inside, "ip", "link", "set", "lo", "up")
        # answers each connection with the address it came from: NAT shows there
        script = ("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  f"s.bind(('0.0.0.0', {self.port})); s.listen(8); print('ready', flush=True)\n"
                  "while True:\n c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()\n")
        self.server = subprocess.Popen([*inside, sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert self.server.stdout.readline().strip() == "ready"

    def down(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        host("ip", "link", "del", self.veth, check=False)
        host("ip", "netns", "del", self.netns, check=False)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        """A command on the outside host."""
        return host("nsenter", f"--net=/run/netns/{self.netns}", *argv, check=False)


@pytest.fixture
def outside(engine) -> Iterator[Outside]:
    made = Outside(engine_index(engine))
    try:
        made.up()
        yield made
    finally:
        made.down()
