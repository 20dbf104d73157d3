"""IP forwarding on at the daemon's start, as dockerd turns it on (NET-043).

Each test works in a network namespace of its own, where ip_forward starts at 0 and
the FORWARD policy at ACCEPT, so the host's own settings are never touched.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def netns():
    name = f"mdt-fwd-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def inside(netns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True,
                          check=True).stdout


def enable_inside(netns: str, backend: str) -> bool:
    """forwarding.enable() run in ``netns`` with an iptables or an nftables backend."""
    rules = ("firewall.Iptables(firewall.chains('t'))" if backend == "iptables"
             else "nftables.Nftables('t')")
    probe = (f"import sys; sys.path.insert(0, {str(REPOSITORY)!r});"
             "from minidock.networking import firewall, forwarding, nftables;"
             f"print(forwarding.enable({rules}))")
    return inside(netns, sys.executable, "-c", probe).strip() == "True"


@pytest.mark.spec("NET-043")
@pytest.mark.parametrize("backend, policy", [("iptables", "DROP"), ("nftables", "ACCEPT")])
def test_a_host_that_did_not_forward_forwards(netns, backend, policy):
    # with iptables the FORWARD policy becomes DROP, as dockerd sets it; nftables has no shared chain
    inside(netns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    assert enable_inside(netns, backend) is True
    assert inside(netns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    assert f"-P FORWARD {policy}" in inside(netns, "iptables", "-S", "FORWARD")


@pytest.mark.spec("NET-043")
def test_a_host_that_forwards_already_is_left_as_it_is(netns):
    inside(netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    assert enable_inside(netns, "iptables") is False
    assert "-P FORWARD ACCEPT" in inside(netns, "iptables", "-S", "FORWARD")
