"""BIG TCP on the bridge driver's veths (NET-112): a container's eth0 and its host end allow 512 KiB packets.

minidock only (dockerd leaves the kernel's 64 KiB): the limits are read in the container's
namespace (`nsenter --net=` its SandboxKey) with rtnetlink, as iproute2 6.1 does not show
the IPv4 ones.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from minidock.networking import bigtcp
from tests.networking.conftest import host

ROOT = Path(__file__).resolve().parents[2]
BIG = {"gso_max_size": 524280, "gro_max_size": 524280, "gso_ipv4_max_size": 524280, "gro_ipv4_max_size": 524280}


@pytest.fixture
def only_minidock(engine):
    if engine.kind != "minidock":
        pytest.skip("BIG TCP on the veths is minidock's; dockerd leaves the 64 KiB limits")


def python_in(netns: str, expression: str):
    """The JSON value of ``expression`` (bigtcp and socket at hand) in a Python that joined ``netns``."""
    code = f"import json, socket; from minidock.networking import bigtcp; print(json.dumps({expression}))"
    done = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def limits_in(netns: str, ifname: str) -> dict[str, int]:
    """bigtcp.limits of ``ifname`` in the namespace file ``netns``."""
    return python_in(netns, f"bigtcp.limits(socket.if_nametoindex({ifname!r}))")


def host_end_of(container_id: str) -> str:
    """The host's end of the container's veth: the link whose ifalias names the container."""
    for link in json.loads(host("ip", "-j", "link").stdout):
        if container_id[:12] in (link.get("ifalias") or ""):
            return link["ifname"]
    raise AssertionError(f"no veth of {container_id[:12]} on the host")


@pytest.mark.spec("NET-112")
def test_a_containers_veth_allows_big_tcp_at_both_ends(engine, only_minidock, containers):
    container_id = containers.create("sleep", "60")
    containers.start(container_id)
    netns = containers.inspect(container_id)["NetworkSettings"]["SandboxKey"]
    inside = limits_in(netns, "eth0")
    assert {name: inside.get(name) for name in BIG} == BIG, inside
    outside = bigtcp.limits(int(Path(f"/sys/class/net/{host_end_of(container_id)}/ifindex").read_text()))
    assert {name: outside.get(name) for name in BIG} == BIG, outside


@pytest.fixture
def scratch_netns():
    """A network namespace of this test's own, removed with everything in it."""
    name = f"mdt-bigtcp-{secrets.token_hex(3)}"
    host("ip", "netns", "add", name)
    try:
        yield f"/run/netns/{name}"
    finally:
        host("ip", "netns", "del", name, check=False)


@pytest.mark.spec("NET-112")
def test_raise_limits_stops_at_the_links_tso_max_size(scratch_netns):
    """A veth's ceiling is 512 KiB; a bridge without ports has 64 KiB and is left as it is."""
    nsenter = ["nsenter", f"--net={scratch_netns}"]
    host(*nsenter, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    host(*nsenter, "ip", "link", "add", "br0", "type", "bridge")
    assert python_in(scratch_netns, "[bigtcp.raise_limits(socket.if_nametoindex(n)) for n in ('v0', 'br0')]") \
        == [524280, 0]
    assert limits_in(scratch_netns, "v0")["gso_ipv4_max_size"] == 524280
    assert limits_in(scratch_netns, "v1")["gso_ipv4_max_size"] == 65536  # only the link asked for
    assert limits_in(scratch_netns, "br0")["gso_max_size"] == 65536
