"""The network service: networks and their records, and each container's place on them.

Implements: spec/networking.md NET-001 .. NET-005, NET-010 .. NET-015, NET-020 .. NET-022,
            NET-030 .. NET-039, NET-050 .. NET-056, NET-062, NET-064, NET-080 .. NET-086
Explained:  chapters/07-networking.md#the-network-service
Modelled on: moby's daemon/network.go and daemon/container_operations.go over libnetwork

    <data-root>/network/<id>.json       one network: Docker's fields, its endpoints (the IPAM's state)
    <exec-root>/netns/<container id>    a container's network namespace (a bind-mounted nsfs file)

    networks = NetworkService(data_root, exec_root, bridge, bip)
    await networks.start()                  rules, the default bridge, every network's bridge
    networks.plan_container(body) -> dict   at create: NetworkMode and EndpointsConfig checked
    await networks.attach(container) -> Attachment   at start: namespace, endpoints, ports, /etc files
    await networks.detach(container)        at the exit: all of it undone, addresses released
    create / remove / connect / disconnect / prune / lookup / inspect    the API's verbs
    await networks.shutdown(live_restore)   bridges and rules removed (unless containers live on)

Rules: addresses are allocated on the event loop (never two at once) and saved
before the kernel is touched; the kernel work (netlink, iptables) runs in a
thread. A daemon's bridges, veths and rules carry its ID, so daemons side by side
never share or remove each other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import tempfile
from typing import Any

from minidock.engine import overlays
from minidock.engine.container import Container
from minidock.engine.network_views import (bip_network, daemon_id, endpoint_settings, matches,  # noqa: F401 - re-exported
                                           mode_of, new_record, settings_view)
from minidock.errors import Conflict, Forbidden, InvalidArgument, NotFound
from minidock.networking import etcfiles, firewall, forwarding, ipam, ipv6, legacy_links, ports, sandbox
from minidock.networking.driver import (BridgeDriver, Driver, Endpoint, HostDriver, NetworkSpec,
                                        NullDriver, Published)
from minidock.networking.overlay import (OVERLAY_MTU, VNI_OPTION, VTEP_OPTION, OverlayDriver, overlay_options,
                                         vxlan_name)

log = logging.getLogger("minidockd.networks")
PREDEFINED = ("bridge", "host", "none")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
_NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclasses.dataclass
class Attachment:
    """What the engine puts in the bundle for the network: the namespace to join, the /etc files."""

    joined: dict[str, str]          # OCI namespace type -> path
    hosts: str | None               # files under the container's directory, bind-mounted
    resolv_conf: str | None
    env: list[str] = dataclasses.field(default_factory=list)  # [NET-039] the legacy links' variables


class NetworkService:
    """The networks of one daemon."""

    def __init__(self, data_root: str, exec_root: str, bridge: str, bip: str, live_restore: bool = False,
                 dns: tuple[str, ...] = (), fixed_cidr_v6: str = "") -> None:
        self.root = os.path.join(data_root, "network")
        self.netns_root = os.path.join(exec_root, "netns")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.bridge_name = bridge
        self.bip = bip
        self.live_restore = live_restore
        self.dns_servers = list(dns)             # [NET-062] the daemon's --dns: containers' and the embedded DNS's
        self.fixed_cidr_v6 = fixed_cidr_v6       # [NET-085] the default bridge's IPv6 subnet, or ""
        self._alive = None                       # this daemon's lock (networking.reaper), held while it runs
        self.id = daemon_id(data_root)
        self.tag = f"minidock:{self.id}"
        self.networks: dict[str, dict[str, Any]] = {}
        self.drivers: dict[str, Driver] = {}
        self.proxies: dict[str, list] = {}       # container id -> its userland proxies
        self.dns = None                          # the embedded DNS (minidock.networking.dns), at start
        self.links = None
        self.rules = None
        self.rules6 = None                       # ip6tables for IPv6 networks (NET-084), with the iptables backend
        self.containers = None                   # the ContainerService (container:<name> mode, names)

    # -- the daemon's life ----------------------------------------------------------------------

    async def start(self) -> None:
        """Rules and links of an earlier run gone, then every network's bridge and rules made."""
        try:
            await asyncio.to_thread(self._start)
        except BaseException:
            await self.shutdown(live_restore=False)  # whatever was made goes again
            raise
        from minidock.networking.dns import EmbeddedDNS

        self.dns = EmbeddedDNS(servers=self.dns_servers or None)
        for record in self.networks.values():
            if record["Driver"] in ("bridge", "overlay") and record["Name"] != "bridge":
                await self.dns.serve(record["Id"], self._spec(record).pool.gateway.compressed)
                overlays.restore_names(self, record)

    def _start(self) -> None:
        from minidock.networking import reaper
        from minidock.networking.links import Links

        self._alive = reaper.hold(self.id, self.live_restore, os.path.dirname(self.root))
        with _host_lock():
            for gone in reaper.reap(self.id):  # [NET-016] what daemons killed with SIGKILL left
                log.warning("removed the bridges, veths and rules of the dead daemon %s", gone)
        self.rules = firewall.choose(self.id, os.environ.get("MINIDOCK_FIREWALL", ""))
        self.links = Links(self.tag)
        self.rules.setup()
        if forwarding.enable(self.rules):  # [NET-043] as dockerd: the host must route for bridges
            log.info("turned on net.ipv4.ip_forward (and the FORWARD policy DROP, with iptables)")
        if isinstance(self.rules, firewall.Iptables) and firewall.has_ip6tables():
            self.rules6 = firewall.Iptables(firewall.chains(self.id), "ip6tables")
            self.rules6.setup()
        elif not isinstance(self.rules, firewall.Iptables):  # nftables: a table of the ip6 family beside it
            from minidock.networking.nftables import Nftables

            self.rules6 = Nftables(self.id, "ip6")
            self.rules6.setup()
        self.drivers = {"bridge": BridgeDriver(self.links, self.rules), "null": NullDriver(),
                        "host": HostDriver(), "overlay": OverlayDriver(self.links, self.rules)}
        for entry in sorted(os.listdir(self.root)):
            if entry.endswith(".json"):
                with open(os.path.join(self.root, entry)) as file:
                    record = json.load(file)
                self.networks[record["Id"]] = record
        self._predefined()
        with _host_lock():
            for record in self.networks.values():
                spec = self._spec(record)
                try:
                    self.drivers[record["Driver"]].create_network(spec)
                    if record["Driver"] == "overlay":
                        overlays.restore(self, record)  # [NET-105] the peers of the record again
                except Exception:
                    if record["Name"] == "bridge":
                        raise  # [NET-015] the default bridge is not ours to take: refuse to start
                    log.exception("cannot set up network %s", record["Name"])
            for record in self.networks.values():
                try:
                    self._setup_ipv6(record)
                except Exception:  # noqa: BLE001 - its IPv4 half works on
                    log.exception("cannot set up IPv6 on network %s", record["Name"])

    def _predefined(self) -> None:
        """The networks every daemon has: bridge (from --bridge and --bip), host, none."""
        pool = ipam.make_pool(str(ipam.parse_network(bip_network(self.bip))), self.bip.split("/")[0])
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            record = self._by_name(name)
            if record is None:
                record = new_record(name, driver, secrets.token_hex(32), internal=False, labels={}, options={},
                                 pools=[])
                record["predefined"] = True
            if name == "bridge":
                record["IPAM"]["Config"] = [pool.to_api()]
                if self.fixed_cidr_v6:  # [NET-085]
                    record["IPAM"]["Config"].append(ipv6.make_pool6(self.fixed_cidr_v6).to_api())
                record["EnableIPv6"] = bool(self.fixed_cidr_v6)
                record["Options"] = {"com.docker.network.bridge.default_bridge": "true",
                                     "com.docker.network.bridge.enable_icc": "true",
                                     "com.docker.network.bridge.enable_ip_masquerade": "true",
                                     BRIDGE_NAME_OPTION: self.bridge_name,
                                     "com.docker.network.driver.mtu": "1500"}
                record["bridge"] = self.bridge_name
            self._save(record)

    async def reconcile(self, running: set[str]) -> None:
        """[NET-005] After a crash: namespaces, veths and endpoints of containers no longer running."""
        def clean() -> None:
            for entry in sandbox.listed(self.netns_root):
                if entry not in running:
                    sandbox.remove(os.path.join(self.netns_root, entry))
            for name, kind, alias in self.links.ours():
                owner = alias.split(":")[-1]
                if kind == "veth" and not any(c.startswith(owner) for c in running):
                    self.links.remove(name)
        await asyncio.to_thread(clean)
        for record in self.networks.values():
            stale = [eid for eid, e in record["endpoints"].items() if e["container"] not in running]
            for eid in stale:
                del record["endpoints"][eid]
            if stale:
                self._save(record)
        for container_id in running:
            if self.containers is not None and container_id in self.containers.containers:
                await self._readopt(self.containers.containers[container_id])
        await overlays.restore_ingress(self)  # [NET-110] after the sweep above took the old sandboxes

    async def _readopt(self, container: Container) -> None:
        """A container that ran on through a restart (--live-restore): its names and ports again."""
        settings = container.network_settings
        for entry in (settings.get("Networks") or {}).values():
            record = self.networks.get(entry.get("NetworkID", ""))
            if entry.get("EndpointID") and record is not None and not record.get("predefined"):
                self.dns.add(record["Id"], entry["EndpointID"], entry["IPAddress"], self._dns_names(container, entry),
                             entry.get("GlobalIPv6Address", ""), container.host_config.get("Dns") or [])
        if settings.get("Ports"):
            settings["Ports"] = []  # the rules went with the old chains: publish again
            try:
                await self._publish(container)
            except Exception:  # noqa: BLE001 - the container runs on without them
                log.exception("cannot publish the ports of %s again", container.name)
            container.save()

    async def shutdown(self, live_restore: bool) -> None:
        """[NET-005] A daemon that stops leaves no bridge and no rule (unless its containers live on)."""
        if self.dns is not None:
            await self.dns.close()
        for proxies in self.proxies.values():
            for proxy in proxies:
                await proxy.close()
        if self.links is None or self.rules is None:
            return
        running = self.containers is not None and any(c.running for c in self.containers.containers.values())
        if live_restore and running:
            return  # [NET-014] they run on, on these bridges, through these rules

        def clean() -> None:
            for record in self.networks.values():
                if record["Driver"] in ("bridge", "overlay"):
                    try:
                        self.links.remove(vxlan_name(record["Id"]))  # [NET-106] (no such link on a bridge network)
                        if record.get("ingress"):
                            overlays.close_ingress(self, record)
                        self.links.remove(record["bridge"])
                    except Exception:  # noqa: BLE001 - go on with the others
                        log.exception("cannot remove bridge %s", record["bridge"])
            self.rules.teardown()
            if self.rules6 is not None:
                self.rules6.teardown()
            if "overlay" in self.drivers:
                self.drivers["overlay"].close()
            self.links.close()
        await asyncio.to_thread(clean)
        if self._alive is not None:
            os.unlink(self._alive.name)  # nothing left to reap
            self._alive.close()

    # -- records --------------------------------------------------------------------------------

    def _save(self, record: dict) -> None:
        self.networks[record["Id"]] = record
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".net-")
        with os.fdopen(fd, "w") as file:
            json.dump(record, file, indent=1)
        os.rename(temporary, os.path.join(self.root, record["Id"] + ".json"))

    def _by_name(self, name: str) -> dict | None:
        return next((r for r in self.networks.values() if r["Name"] == name), None)

    def lookup(self, name_or_id: str) -> dict:
        """By full ID, name, then unique ID prefix (Docker's order); Docker's words if none."""
        if name_or_id in self.networks:
            return self.networks[name_or_id]
        record = self._by_name(name_or_id)
        if record is not None:
            return record
        matches = [r for r in self.networks.values() if name_or_id and r["Id"].startswith(name_or_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"network {name_or_id} is ambiguous ({len(matches)} matches found based on ID prefix)")
        # [NET-050] Docker's words
        raise NotFound(f"network {name_or_id} not found")

    def _spec(self, record: dict) -> NetworkSpec:
        config = (record["IPAM"].get("Config") or [None])[0]
        pool = ipam.make_pool(config["Subnet"], config.get("Gateway"), config.get("IPRange")) if config else None
        options = record.get("Options") or {}
        overlay = record["Driver"] == "overlay"
        # [NET-100] an overlay's default MTU leaves room for VXLAN's 50 bytes
        mtu = options.get(MTU_OPTION) or (str(OVERLAY_MTU) if overlay else "1500")
        if not str(mtu).isdigit() or not 68 <= int(mtu) <= 65535:
            raise InvalidArgument(f"invalid MTU {mtu!r} ({MTU_OPTION}): 68 to 65535")
        return NetworkSpec(record["Id"], record["Name"], record.get("bridge", ""), pool, record["Internal"], int(mtu),
                           int(options.get(VNI_OPTION) or 0) if overlay else 0,
                           options.get(VTEP_OPTION, "") if overlay else "")

    def inspect(self, record: dict) -> dict:
        """GET /networks/{id}: Docker's NetworkResource."""
        prefix = self._spec(record).pool.subnet.prefixlen if record["IPAM"]["Config"] else 0
        containers = {}
        for endpoint_id, e in record["endpoints"].items():
            containers[e["container"]] = {"Name": e["name"], "EndpointID": endpoint_id, "MacAddress": e["mac"],
                                          "IPv4Address": f"{e['address']}/{prefix}" if e["address"] else "",
                                          "IPv6Address": (f"{e['address6']}/{self._pool6(record).subnet.prefixlen}"
                                                          if e.get("address6") else "")}
        return {key: value for key, value in record.items() if key[0].isupper()} | {"Containers": containers}

    # -- the API's verbs ------------------------------------------------------------------------

    async def create(self, body: dict) -> dict:
        """POST /networks/create: check the name and the IPAM, make the bridge, save."""
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("a network name is required (\"Name\")")
        if not _NETWORK_NAME.match(name):
            raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        driver = body.get("Driver") or "bridge"
        if name in PREDEFINED or driver in ("host", "null"):
            raise Forbidden(f"{name} is a pre-defined network and cannot be created" if name in PREDEFINED
                            else f"only one instance of \"{driver}\" network is allowed")
        if driver not in ("bridge", "overlay"):
            raise InvalidArgument(f"plugin \"{driver}\" not found")
        if self._by_name(name) is not None:
            # [NET-050] Docker's words
            raise Conflict(f"network with name {name} already exists")
        configs = ((body.get("IPAM") or {}).get("Config")) or []
        v4_config, v6_config = ipv6.split_configs(configs, bool(body.get("EnableIPv6")))
        configs = [v4_config] if v4_config else []
        pool6 = ipv6.make_pool6(v6_config["Subnet"], v6_config.get("Gateway")) if v6_config else None
        if pool6 is not None and driver != "bridge":
            # [NET-083] the IPv6 half is the bridge driver's (the overlay's VXLAN peers are IPv4)
            raise InvalidArgument(f"minidock has IPv6 on bridge networks only, not on {driver} ones")
        if pool6 is not None and any(ipv6.overlapping6(pool6.subnet, r["IPAM"].get("Config") or [])
                                     for r in self.networks.values()):
            # [NET-083] Docker's words
            raise Forbidden("Pool overlaps with other one on this address space")
        options = body.get("Options") or {}
        if driver == "overlay":
            options = overlay_options(options, {int(r["Options"][VNI_OPTION]): r["Name"]
                                                for r in self.networks.values() if r["Driver"] == "overlay"})
        network_id = secrets.token_hex(32)
        bridge = options.get(BRIDGE_NAME_OPTION) or f"br-{network_id[:12]}"
        taken = [self._spec(r).pool.subnet for r in self.networks.values() if r["IPAM"]["Config"]]
        pool = None
        if configs:
            config = configs[0]
            if not config.get("Subnet"):
                raise InvalidArgument("minidock needs a Subnet in an IPAM config")
            pool = ipam.make_pool(config["Subnet"], config.get("Gateway"), config.get("IPRange"))
            if ipam.overlapping(pool.subnet, taken) is not None:
                # [NET-011] Docker's words
                raise Forbidden("Pool overlaps with other one on this address space")
        record = new_record(name, driver, network_id, internal=bool(body.get("Internal")),
                         labels=body.get("Labels") or {}, options=options, pools=[])
        record["bridge"] = bridge
        if driver == "overlay":
            record["Scope"] = "swarm"  # [NET-100] as dockerd shows an overlay
        record["Attachable"] = bool(body.get("Attachable"))
        record["EnableIPv6"] = pool6 is not None

        def make() -> None:
            # [NET-013] one daemon at a time on this host chooses a subnet and makes its bridge
            with _host_lock():
                chosen = pool or ipam.make_pool(str(ipam.choose_subnet([*taken, *self.links.host_networks()])))
                record["IPAM"].update(Options={}, Config=[chosen.to_api(), *([pool6.to_api()] if pool6 else [])])
                self.drivers[driver].create_network(self._spec(record))
        await asyncio.to_thread(make)
        try:
            await asyncio.to_thread(self._setup_ipv6, record)
        except BaseException:
            await asyncio.to_thread(self.drivers[driver].delete_network, self._spec(record))
            raise
        pool = self._spec(record).pool
        self._save(record)
        await self.dns.serve(network_id, str(pool.gateway))
        return record

    async def remove(self, name_or_id: str) -> dict:
        """DELETE /networks/{id}: refused for the predefined ones and while containers are on it."""
        record = self.lookup(name_or_id)
        if record.get("predefined"):
            # [NET-052] Docker's words
            raise Forbidden(f"{record['Name']} is a pre-defined network and cannot be removed")
        if record["endpoints"]:
            # [NET-052] Docker's words (dockerd 20.10)
            raise Forbidden(f"error while removing network: network {record['Name']} id {record['Id']} "
                            "has active endpoints")
        await self.dns.stop(record["Id"])
        pool6 = self._pool6(record)
        if pool6 is not None and self.rules6 is not None:
            await asyncio.to_thread(self.rules6.delete, self.rules6.network_rules(record["bridge"], str(pool6.subnet),
                                                                                 record["Internal"]))
        await overlays.drop_ingress(self, record)  # [NET-110] this node's routing mesh on it, if any
        await asyncio.to_thread(self.drivers[record["Driver"]].delete_network, self._spec(record))
        os.unlink(os.path.join(self.root, record["Id"] + ".json"))
        del self.networks[record["Id"]]
        return record

    async def prune(self, filters: dict[str, list[str]]) -> list[str]:
        """POST /networks/prune: every user-defined network with no endpoint."""
        removed = []
        for record in list(self.networks.values()):
            if record.get("predefined") or record["endpoints"] or not matches(record, filters, only=("label",)):
                continue
            await self.remove(record["Id"])
            removed.append(record["Name"])
        return removed

    # -- containers ------------------------------------------------------------------------------

    def plan_container(self, body: dict) -> dict:
        """[NET-051] At create: the network mode and the endpoints' configs, checked; NetworkSettings to keep."""
        host = body.get("HostConfig") or {}
        mode = mode_of(host)
        ports.check(host.get("PortBindings"))
        for entry in host.get("ExtraHosts") or []:
            etcfiles.parse_extra_host(entry)
        if host.get("Links") and self.containers is not None:
            self._check_links(mode, host["Links"])
        endpoints = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig")) or {}
        if mode.startswith("container:"):
            if self.containers is not None:
                self.containers.get(mode.split(":", 1)[1])
            if host.get("PortBindings") or host.get("PublishAllPorts"):
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            return {"Networks": {}, "Ports": []}
        record = self.lookup(mode)
        networks = {}
        for name, config in {record["Name"]: endpoints.get(mode) or endpoints.get(record["Name"]) or {},
                             **endpoints}.items():
            target = self.lookup("bridge" if name == "default" else name)  # the docker CLI's "default"
            config = config or {}
            wanted = ((config.get("IPAMConfig") or {}).get("IPv4Address")) or ""
            if wanted and (target.get("predefined")):
                # [NET-012] Docker's words
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if wanted:
                ipam.allocate(self._spec(target).pool, [], wanted)  # inside the subnet, or a 400 now
            self._check_ip6(target, config)
            if config.get("Aliases") and target.get("predefined"):
                raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
            networks[target["Name"]] = endpoint_settings(target["Id"], config)
        if len(networks) > 1 and any(self.lookup(n)["Driver"] in ("host", "null") for n in networks):
            raise InvalidArgument("conflicting options: a container on the host or none network joins no other")
        # published ports on the host network are ignored, as Docker ignores them (with a warning)
        return {"Networks": networks, "Ports": []}

    async def attach(self, container: Container) -> Attachment:
        """[NET-001] At start: a namespace, an endpoint per network, the ports, the /etc files."""
        mode = mode_of(container.host_config)
        if mode.startswith("container:"):
            other = self.containers.get(mode.split(":", 1)[1])
            if not other.running:
                # Docker's words
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            return Attachment({"network": f"/proc/{other.state.pid}/ns/net"},
                              os.path.join(other.root, "hosts"), os.path.join(other.root, "resolv.conf"))
        settings = container.network_settings
        records = [self.lookup(settings_entry["NetworkID"]) for settings_entry in settings["Networks"].values()]
        if any(r["Driver"] == "host" for r in records):
            return Attachment({}, None, None)  # the host's own files, as Docker does
        netns = os.path.join(self.netns_root, container.id)
        await asyncio.to_thread(sandbox.create, netns)
        settings["SandboxKey"] = netns
        try:
            for record in records:
                await self._join(container, record, netns)
            await self._publish(container)
            env = self._resolve_links(container)
        except BaseException:
            await self.detach(container)
            raise
        return Attachment({"network": netns}, *self.write_etc_files(container), env)

    def _check_links(self, mode: str, links: list) -> None:
        """[NET-038] At create: each --link well formed, its container known, on the default bridge only."""
        if not isinstance(links, list):
            raise InvalidArgument("invalid links: a list of \"name:alias\" is expected")
        for entry in links:
            name, _ = legacy_links.parse_link(str(entry))
            try:
                self.containers.get(name)
            except NotFound as error:
                # Docker's words (and its 400)
                raise InvalidArgument(f"could not get container for {name}: {error.message}") from None
        if links and mode not in ("default", "bridge"):
            # minidock: dockerd makes the alias a DNS name for this container alone there
            raise InvalidArgument("--link works on the default bridge network only in minidock: on a "
                                  "user-defined network use the containers' names or --network-alias")

    def _resolve_links(self, container: Container) -> list[str]:
        """[NET-037] [NET-039] At start: each linked container's hosts line and variables (it must run)."""
        entries, env = [], []
        for entry in container.host_config.get("Links") or []:
            name, alias = legacy_links.parse_link(str(entry))
            child = self.containers.get(name)
            address = ((child.network_settings.get("Networks") or {}).get("bridge") or {}).get("IPAddress")
            if not child.running or not address:
                # [NET-038] Docker's words
                raise Conflict(f"Cannot link to a non running container: /{child.name} AS /{container.name}/{alias}")
            hostname = child.config.get("Hostname") or child.id[:12]
            entries.append(legacy_links.hosts_entry(alias, hostname, child.name, address))
            env += legacy_links.link_env(container.name, alias, address, list(child.config.get("ExposedPorts") or {}),
                                         child.config.get("Env") or [])
        container.network_settings["links"] = entries  # kept: the hosts file is written again on connect
        return env

    async def _join(self, container: Container, record: dict, netns: str) -> None:
        """One endpoint: an address (saved first), then the driver's veth."""
        spec = self._spec(record)
        entry = container.network_settings["Networks"][record["Name"]]
        if record["Driver"] not in ("bridge", "overlay"):
            entry["NetworkID"] = record["Id"]
            return
        used = [e["address"] for e in record["endpoints"].values()] + overlays.reserved(record)
        wanted = ((entry.get("IPAMConfig") or {}).get("IPv4Address")) or None
        address = ipam.allocate(spec.pool, used, wanted)
        endpoint_id = secrets.token_hex(32)
        taken = {e.get("ifname") for e in container.network_settings["Networks"].values() if e.get("EndpointID")}
        ifname = next(f"eth{n}" for n in range(64) if f"eth{n}" not in taken)
        endpoint = Endpoint(endpoint_id, container.id, ifname, address, ipam.mac_for(address),
                            f"veth{endpoint_id[:7]}", default_route=ifname == "eth0")
        record["endpoints"][endpoint_id] = {"container": container.id, "name": container.name, "address": address,
                                            "mac": endpoint.mac, "ifname": ifname, "veth": endpoint.host_veth}
        self._save(record)
        try:
            await asyncio.to_thread(self.drivers[record["Driver"]].join, spec, endpoint,
                                    container.network_settings["SandboxKey"])
            if record.get("vips"):
                await overlays.apply_vips(self, container.id)  # [NET-108] the services' VIPs, here too
        except BaseException:
            del record["endpoints"][endpoint_id]
            self._save(record)
            raise
        entry.update({"NetworkID": record["Id"], "EndpointID": endpoint_id, "Gateway": str(spec.pool.gateway),
                      "IPAddress": address, "IPPrefixLen": spec.pool.subnet.prefixlen, "MacAddress": endpoint.mac,
                      "ifname": ifname})
        pool6 = self._pool6(record)
        if pool6 is not None:
            await self._join6(container, record, pool6, endpoint_id, entry)
        if not record.get("predefined") and self.dns is not None:
            self.dns.add(record["Id"], endpoint_id, address, self._dns_names(container, entry),
                         entry.get("GlobalIPv6Address", ""), container.host_config.get("Dns") or [])

    async def _join6(self, container: Container, record: dict, pool6: ipv6.Pool6, endpoint_id: str,
                     entry: dict) -> None:
        """[NET-081] The endpoint's IPv6 half: an address (saved first), set inside with its ::/0 route."""
        used = [e["address6"] for e in record["endpoints"].values() if e.get("address6")]
        address6 = ipv6.allocate6(pool6, used, ((entry.get("IPAMConfig") or {}).get("IPv6Address")) or None)
        record["endpoints"][endpoint_id]["address6"] = address6
        self._save(record)
        await asyncio.to_thread(ipv6.configure_inside6, container.network_settings["SandboxKey"], entry["ifname"],
                                address6, pool6.subnet.prefixlen, str(pool6.gateway) if entry["ifname"] == "eth0"
                                else None)
        entry.update({"GlobalIPv6Address": address6, "GlobalIPv6PrefixLen": pool6.subnet.prefixlen,
                      "IPv6Gateway": str(pool6.gateway)})

    def _check_ip6(self, record: dict, config: dict) -> None:
        """[NET-083] An --ip6 only on a network with IPv6, inside its subnet (a 400 now, not at start)."""
        wanted6 = ((config.get("IPAMConfig") or {}).get("IPv6Address")) or ""
        if wanted6:
            if self._pool6(record) is None:
                # Docker's words
                raise InvalidArgument("user specified IP address is supported only when connecting to "
                                      "networks with user configured subnets")
            ipv6.allocate6(self._pool6(record), [], wanted6)

    def _pool6(self, record: dict) -> ipv6.Pool6 | None:
        """The network's IPv6 pool (NET-080), or None for an IPv4-only network."""
        config = next((c for c in record["IPAM"].get("Config") or [] if ipv6.is_ipv6(c)), None)
        return ipv6.make_pool6(config["Subnet"], config.get("Gateway")) if config else None

    def _setup_ipv6(self, record: dict) -> None:
        """[NET-080] [NET-084] An IPv6 network's gateway address on its bridge and its ip6tables rules."""
        pool6 = self._pool6(record)
        if pool6 is None or record["Driver"] != "bridge":
            return
        ipv6.address_bridge(record["bridge"], pool6)
        if self.rules6 is not None:
            rules = self.rules6.network_rules(record["bridge"], str(pool6.subnet), record["Internal"])
            self.rules6.delete(rules)  # a crash may have left them
            self.rules6.add(rules)

    def _dns_names(self, container: Container, entry: dict) -> list[str]:
        return [container.name, container.id[:12], *(entry.get("Aliases") or [])]

    async def _publish(self, container: Container) -> None:
        """[NET-030] [NET-031] Each published port: the proxy's bind first (a port in use fails there), then DNAT."""
        from minidock.networking.proxy import PortInUse, open_proxy

        bindings = ports.plan(container.host_config.get("PortBindings"), container.config.get("ExposedPorts"),
                              bool(container.host_config.get("PublishAllPorts")))
        if not bindings:
            return
        first = next((n for n in container.network_settings["Networks"].values() if n.get("IPAddress")), None)
        if first is None:
            return  # none: nothing to publish to
        record = self.lookup(first["NetworkID"])
        spec = self._spec(record)
        published = container.network_settings["Ports"]
        opened = self.proxies.setdefault(container.id, [])
        for binding in bindings:
            try:
                proxy = await open_proxy(binding.protocol, binding.host_ip, binding.host_port,
                                         first["IPAddress"], binding.container_port, binding.host_port_end)
            except PortInUse as error:
                # [NET-032] Docker's words around the kernel's answer
                raise Conflict(f"driver failed programming external connectivity on endpoint "
                               f"{container.name} ({first['EndpointID']}): {error.message}") from None
            opened.append(proxy)
            port = Published(binding.protocol, binding.host_ip, proxy.port, first["IPAddress"], binding.container_port)
            await asyncio.to_thread(self.drivers["bridge"].publish, spec, port)
            published.append({"key": binding.key, "host_ip": binding.host_ip, "host_port": proxy.port,
                              "container_ip": first["IPAddress"], "network": record["Id"]})
            six = first.get("GlobalIPv6Address")
            if six and binding.host_ip == "0.0.0.0":
                # [NET-086] the same port on the host's IPv6 addresses, to the container's IPv6 address (as
                # dockerd's proxy); no DNAT: minidock routes no IPv6 into the bridge (NET-081)
                try:
                    proxy6 = await open_proxy(binding.protocol, "::", proxy.port, six, binding.container_port)
                except PortInUse as error:
                    raise Conflict(f"driver failed programming external connectivity on endpoint "
                                   f"{container.name} ({first['EndpointID']}): {error.message}") from None
                opened.append(proxy6)
                published.append({"key": binding.key, "host_ip": "::", "host_port": proxy6.port,
                                  "container_ip": six, "network": record["Id"]})

    async def detach(self, container: Container) -> None:
        """[NET-005] At the exit: proxies, DNAT, endpoints, the namespace; addresses released."""
        settings = container.network_settings
        if not settings:
            return
        for proxy in self.proxies.pop(container.id, []):
            await proxy.close()
        for entry in settings.get("Ports") or []:
            record = self.networks.get(entry["network"])
            if record is not None and ":" not in entry["host_ip"]:  # an IPv6 one has its proxy only (NET-086)
                port = Published(entry["key"].split("/")[1], entry["host_ip"], entry["host_port"],
                                 entry["container_ip"], int(entry["key"].split("/")[0]))
                await asyncio.to_thread(self.drivers["bridge"].unpublish, self._spec(record), port)
        settings["Ports"] = []
        veths = []
        for name, entry in settings.get("Networks", {}).items():
            if entry.get("EndpointID"):
                veths += await self._leave(container, name, entry, namespace_going=True)
        netns = settings.pop("SandboxKey", None)
        if netns:
            await asyncio.to_thread(sandbox.remove, netns)
        if veths:
            # the kernel deletes a veth whose namespace dies (and its peer with it), in the
            # background: no need to wait ~30 ms per pair here; what stays is removed later
            asyncio.get_running_loop().call_later(2.0, lambda: asyncio.ensure_future(self._sweep(veths)))

    async def _sweep(self, veths: list[str]) -> None:
        for name in veths:
            try:
                await asyncio.to_thread(self.links.remove, name)
            except Exception:  # noqa: BLE001 - the daemon's next start sweeps again
                log.exception("cannot remove %s", name)

    async def _leave(self, container: Container, name: str, entry: dict, namespace_going: bool = False) -> list[str]:
        """Release one endpoint; with ``namespace_going`` its veth is left to the namespace's end."""
        record = self.networks.get(entry["NetworkID"])
        endpoint_id = entry["EndpointID"]
        left = []
        if record is not None:
            stored = record["endpoints"].pop(endpoint_id, None)
            if stored is not None:
                if self.dns is not None:
                    self.dns.remove(record["Id"], endpoint_id)
                endpoint = Endpoint(endpoint_id, container.id, stored["ifname"], stored["address"], stored["mac"],
                                    stored["veth"], False)
                if namespace_going:
                    left.append(stored["veth"])
                else:
                    await asyncio.to_thread(self.drivers[record["Driver"]].leave, self._spec(record), endpoint)
                self._save(record)
        entry.update(endpoint_settings(entry["NetworkID"], entry))
        return left

    def write_etc_files(self, container: Container) -> tuple[str, str]:
        """[NET-020] [NET-021] /etc/hosts and /etc/resolv.conf under the container's directory."""
        hostname = container.config.get("Hostname") or container.id[:12]
        networks = container.network_settings.get("Networks", {})
        addresses = [e["IPAddress"] for e in networks.values() if e.get("IPAddress")]
        addresses += [e["GlobalIPv6Address"] for e in networks.values() if e.get("GlobalIPv6Address")]  # [NET-081]
        hosts_path = os.path.join(container.root, "hosts")
        resolv_path = os.path.join(container.root, "resolv.conf")
        # written in place (no rename): the container's bind mount sees the same inode
        with open(hosts_path, "w") as file:
            file.write(etcfiles.hosts(hostname, addresses, [*(container.host_config.get("ExtraHosts") or []),
                                                            *container.network_settings.get("links", [])]))
        embedded = next((e["Gateway"] for name, e in networks.items()
                         if e.get("Gateway") and not self.lookup(e["NetworkID"]).get("predefined")), None)
        try:
            with open("/etc/resolv.conf") as file:
                host_text = file.read()
        except OSError:
            host_text = ""
        host = container.host_config
        with open(resolv_path, "w") as file:
            file.write(etcfiles.resolv_conf(host_text, host.get("Dns") or self.dns_servers, host.get("DnsSearch") or [],
                                            host.get("DnsOptions") or [], embedded))
        return hosts_path, resolv_path

    async def connect(self, name_or_id: str, container: Container, config: dict) -> None:
        """POST /networks/{id}/connect: now if the container runs, at its next start otherwise."""
        record = self.lookup(name_or_id)
        mode = mode_of(container.host_config)
        if record["Driver"] == "host" or mode == "host":
            raise Forbidden("container cannot be disconnected from host network or connected to host network")
        if mode == "none" or mode.startswith("container:") or record["Driver"] == "null":
            raise Forbidden("container cannot be connected to multiple networks with one of the networks "
                            "in private (none) mode")
        if record["Name"] in container.network_settings["Networks"]:
            # Docker's words
            raise Forbidden(f"endpoint with name {container.name} already exists in network {record['Name']}")
        wanted = ((config.get("IPAMConfig") or {}).get("IPv4Address")) or ""
        if wanted and record.get("predefined"):
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        self._check_ip6(record, config)
        container.network_settings["Networks"][record["Name"]] = endpoint_settings(record["Id"], config)
        if container.running and container.network_settings.get("SandboxKey"):
            try:
                await self._join(container, record, container.network_settings["SandboxKey"])
            except BaseException:
                del container.network_settings["Networks"][record["Name"]]
                raise
            self.write_etc_files(container)
        container.save()

    async def disconnect(self, name_or_id: str, container: Container) -> None:
        """POST /networks/{id}/disconnect."""
        record = self.lookup(name_or_id)
        entry = container.network_settings["Networks"].get(record["Name"])
        if entry is None:
            raise Forbidden(f"container {container.id} is not connected to network {record['Name']}")
        if record["Driver"] == "host":
            raise Forbidden("container cannot be disconnected from host network or connected to host network")
        if entry.get("EndpointID"):
            await self._leave(container, record["Name"], entry)
            if record.get("vips"):
                await overlays.apply_vips(self, container.id)  # [NET-108] that network's VIPs gone from it
        del container.network_settings["Networks"][record["Name"]]
        if container.running and container.network_settings.get("SandboxKey"):
            self.write_etc_files(container)
        container.save()


HOST_LOCK = "/run/lock/minidock-networks.lock"


@contextlib.contextmanager
def _host_lock():
    """A lock shared by every daemon of this host (flock), held while a subnet is chosen and taken."""
    import fcntl

    os.makedirs(os.path.dirname(HOST_LOCK), exist_ok=True)
    with open(HOST_LOCK, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield
