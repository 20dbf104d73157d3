"""Network drivers: what a network is made of on the host, behind one small interface.

Implements: spec/networking.md NET-001 .. NET-005, NET-040 .. NET-042, NET-112, NET-113
Explained:  chapters/07-networking.md#drivers
Modelled on: libnetwork's driverapi.Driver (CreateNetwork, DeleteNetwork, Join, Leave,
             ProgramExternalConnectivity)

    Driver (Protocol)         create_network, delete_network, join, leave, publish, unpublish
    BridgeDriver(links, fw)   a Linux bridge per network, a veth per endpoint, iptables
    NullDriver                `none`: the namespace keeps only its loopback
    HostDriver                `host`: no namespace of its own, nothing to do

Rules: a driver acts on records it is handed (NetworkSpec, Endpoint) and keeps
no state of its own, so the engine's persisted records are the only truth and a
restarted daemon can drive the same network again. The overlay (VXLAN) driver
(overlay.py) fits the same shape: create_network makes a bridge and a vxlan device,
join is the bridge driver's veth, and the forwarding entries (add_peer) come from
the cluster store through the engine.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from minidock.networking import firewall
from minidock.networking.ipam import Pool
from minidock.networking.links import Links, configure_inside
from minidock.networking.nftables import Nftables


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """What a driver needs to know of a network."""

    id: str
    name: str
    bridge: str            # the Linux bridge (bridge driver)
    pool: Pool | None      # None for host and none
    internal: bool = False
    mtu: int = 1500        # com.docker.network.driver.mtu: the bridge's and every veth's
    vni: int = 0           # overlay: the VXLAN network identifier (com.docker.network.driver.overlay.vxlanid_list)
    vtep: str = ""         # overlay: this host's tunnel address ("" lets the kernel choose by route)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One container's attachment to one network."""

    id: str
    container_id: str
    ifname: str            # inside the container: eth0, eth1, ...
    address: str           # "10.1.0.2"
    mac: str
    host_veth: str         # the veth's end on the host
    default_route: bool    # the first network of a container gives its default route


@dataclasses.dataclass(frozen=True)
class Published:
    """One published port once bound: the host side and the container's address."""

    protocol: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int


class Driver(Protocol):
    """The seam between the engine's network service and the kernel."""

    name: str

    def create_network(self, network: NetworkSpec) -> None: ...
    def delete_network(self, network: NetworkSpec) -> None: ...
    def join(self, network: NetworkSpec, endpoint: Endpoint, netns_path: str) -> None: ...
    def leave(self, network: NetworkSpec, endpoint: Endpoint) -> None: ...
    def publish(self, network: NetworkSpec, port: Published) -> None: ...
    def unpublish(self, network: NetworkSpec, port: Published) -> None: ...


class BridgeDriver:
    """Linux bridges, veth pairs and iptables rules (libnetwork's "bridge")."""

    name = "bridge"
    big_tcp = True  # [NET-112] container veths take 512 KiB packets (join)
    steer_receive = True  # [NET-113] their host ends spread received packets over the CPUs (join)

    def __init__(self, links: Links, rules: firewall.Iptables | Nftables) -> None:
        self.links = links
        self.rules = rules

    def _network_rules(self, network: NetworkSpec) -> dict:
        return self.rules.network_rules(network.bridge, str(network.pool.subnet), network.internal)

    def create_network(self, network: NetworkSpec) -> None:
        """[NET-015] The bridge with the gateway's address, then its NAT and isolation rules."""
        self.links.check_subnet_free(network.pool.subnet, network.bridge)
        self.links.ensure_bridge(network.bridge, f"{network.pool.gateway}/{network.pool.subnet.prefixlen}",
                                 network.mtu)
        try:
            self.rules.delete(self._network_rules(network))  # a crash may have left them
            self.rules.add(self._network_rules(network))
        except BaseException:
            self.links.remove(network.bridge)
            raise

    def delete_network(self, network: NetworkSpec) -> None:
        """[NET-005] Its rules, then the bridge."""
        self.rules.delete(self._network_rules(network))
        self.links.remove(network.bridge)

    def join(self, network: NetworkSpec, endpoint: Endpoint, netns_path: str) -> None:
        """[NET-001] A veth from the bridge into the namespace, addressed, with the default route.

        [NET-112] Its two ends allow BIG TCP's 512 KiB packets: between two containers on the
        bridge the bytes never meet a device that must cut them into segments.
        [NET-113] The host's end receives on the CPU its flow's hash picks (RPS), not always
        on the sender's.
        """
        self.links.add_veth(endpoint.host_veth, network.bridge, netns_path, endpoint.mac,
                            endpoint.container_id[:12], endpoint.ifname, network.mtu, big_tcp=self.big_tcp,
                            steer=self.steer_receive)
        try:
            configure_inside(netns_path, endpoint.ifname, f"{endpoint.address}/{network.pool.subnet.prefixlen}",
                             str(network.pool.gateway) if endpoint.default_route else None)
        except BaseException:
            self.links.remove(endpoint.host_veth)
            raise

    def leave(self, network: NetworkSpec, endpoint: Endpoint) -> None:
        """[NET-005] Deleting the host's end deletes the pair."""
        self.links.remove(endpoint.host_veth)

    def _port_rules(self, network: NetworkSpec, port: Published) -> dict:
        return self.rules.port_rules(network.bridge, port.container_ip, port.protocol, port.host_ip,
                                     port.host_port, port.container_port)

    def publish(self, network: NetworkSpec, port: Published) -> None:
        """[NET-030] DNAT from the host's addresses to the container."""
        self.rules.add(self._port_rules(network, port))

    def unpublish(self, network: NetworkSpec, port: Published) -> None:
        self.rules.delete(self._port_rules(network, port))


class NullDriver:
    """`--network none`: a namespace with its loopback only; nothing on the host."""

    name = "null"

    def create_network(self, network: NetworkSpec) -> None:
        pass

    def delete_network(self, network: NetworkSpec) -> None:
        pass

    def join(self, network: NetworkSpec, endpoint: Endpoint, netns_path: str) -> None:
        pass

    def leave(self, network: NetworkSpec, endpoint: Endpoint) -> None:
        pass

    def publish(self, network: NetworkSpec, port: Published) -> None:
        pass

    def unpublish(self, network: NetworkSpec, port: Published) -> None:
        pass


class HostDriver(NullDriver):
    """`--network host`: the container uses the host's namespace (no entry in config.json)."""

    name = "host"
