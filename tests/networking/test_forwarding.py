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
def test_a_host_that_did_not_forward_forwards_with_a_drop_policy(netns):
    inside(netns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    assert enable_inside(netns, "iptables") is True
    assert inside(netns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    assert "-P FORWARD DROP" in inside(netns, "iptables", "-S", "FORWARD")


@pytest.mark.spec("NET-043")
def test_a_host_that_forwards_already_is_left_as_it_is(netns):
    inside(netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    assert enable_inside(netns, "iptables") is False
    assert "-P FORWARD ACCEPT" in inside(netns, "iptables", "-S", "FORWARD")


@pytest.mark.spec("NET-043")
def test_with_nftables_only_forwarding_is_turned_on(netns):
    inside(netns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    assert enable_inside(netns, "nftables") is True
    assert inside(netns, "sysctl", "-n", "net.ipv4.ip_forward").strip() == "1"
    assert "-P FORWARD ACCEPT" in inside(netns, "iptables", "-S", "FORWARD")
