"""RPS on the host's end of a container's veth (NET-113): its receive queues steer over the daemon's CPUs.

minidock only (dockerd leaves rps_cpus at 0). The test's daemon is started by this pytest
worker and has its CPU affinity, so the mask expected is the worker's own.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from minidock.networking import steering
from tests.networking.conftest import host
from tests.networking.test_bigtcp import host_end_of, only_minidock  # noqa: F401 - fixture

CPUS = os.sched_getaffinity(0)
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="RPS spreads over CPUs: this machine has one")


def rps_masks(ifname: str) -> list[int]:
    """The rps_cpus bitmap of each receive queue of host link ``ifname``."""
    queues = sorted(Path(f"/sys/class/net/{ifname}/queues").glob("rx-*"))
    return [int((queue / "rps_cpus").read_text().strip().replace(",", ""), 16) for queue in queues]


@needs_two_cpus
@pytest.mark.spec("NET-113")
def test_a_containers_veth_steers_what_the_host_receives_over_the_cpus(engine, only_minidock, containers):
    container_id = containers.create("sleep", "60")
    containers.start(container_id)
    masks = rps_masks(host_end_of(container_id))
    assert masks and masks == [sum(1 << cpu for cpu in CPUS)] * len(masks), masks


@pytest.mark.spec("NET-113")
def test_cpu_mask_is_written_in_32_bit_words():
    assert steering.cpu_mask({0, 1}) == "00000003"
    assert steering.cpu_mask({31}) == "80000000"
    assert steering.cpu_mask({0, 33}) == "00000002,00000001"
    assert steering.cpu_mask({64}) == "00000001,00000000,00000000"


@pytest.fixture
def scratch_veth():
    """A veth pair on the host of this test's own, removed at the end."""
    name = f"mdt-rps{secrets.token_hex(2)}"
    host("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p")
    try:
        yield name
    finally:
        host("ip", "link", "del", name, check=False)


def index_of(ifname: str) -> int:
    return int(Path(f"/sys/class/net/{ifname}/ifindex").read_text())


@needs_two_cpus
@pytest.mark.spec("NET-113")
def test_spread_receive_sets_only_the_link_asked_for(scratch_veth):
    assert steering.spread_receive(scratch_veth, index_of(scratch_veth)) == steering.cpu_mask(CPUS)
    assert set(rps_masks(scratch_veth)) == {sum(1 << cpu for cpu in CPUS)}
    assert set(rps_masks(scratch_veth + "p")) == {0}  # the peer, as the kernel made it


@needs_two_cpus
@pytest.mark.spec("NET-113")
def test_spread_receive_leaves_a_link_of_another_number_alone(scratch_veth):
    """A daemon in another namespace than /sys's finds a link of that name with another ifindex."""
    assert steering.spread_receive(scratch_veth, index_of(scratch_veth + "p")) == ""
    assert set(rps_masks(scratch_veth)) == {0}


@pytest.mark.spec("NET-113")
def test_spread_receive_of_a_missing_link_does_nothing():
    assert steering.spread_receive(f"mdt-none{secrets.token_hex(2)}", 1) == ""
