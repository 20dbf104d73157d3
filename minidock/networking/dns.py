"""The embedded DNS of user-defined networks: container names, aliases and short IDs.

Implements: spec/networking.md NET-060 .. NET-064, NET-082
Explained:  chapters/07-networking.md#embedded-dns
Modelled on: libnetwork's resolver.go (dockerd answers at 127.0.0.11 in each container,
             through NAT; minidock answers on each network's gateway address instead)

    dns = EmbeddedDNS()
    await dns.serve(network_id, "10.1.0.1")     a UDP responder on the gateway's port 53
    dns.add(network_id, endpoint_id, "10.1.0.2", ["web", "1c2d3e4f5a6b", "alias"], "fd00:1::2")
    dns.remove(network_id, endpoint_id)         the names go with the container
    answer(query_bytes, records) -> reply bytes | None    pure: None means "not ours, forward"

Rules: a name is answered only on the networks the asking container shares with
it (each network has its own responder and its own records). A name with no dot
that is not ours is NXDOMAIN at once (it cannot be a name on the Internet); any
other is forwarded to the host's nameservers, which the daemon, in the host's
namespace, can reach.
"""

from __future__ import annotations

import asyncio
import logging

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

from minidock.networking.etcfiles import host_nameservers

log = logging.getLogger("minidockd.dns")
TTL = 600          # as dockerd's resolver
FORWARD_TIMEOUT = 2.0


def answer(query: bytes, records: dict[str, list[str]]) -> bytes | None:
    """[NET-060] The reply for ``query`` from ``records`` (name -> addresses), or None to forward."""
    try:
        request = DNSRecord.parse(query)
    except Exception:  # noqa: BLE001 - dnslib raises several kinds for garbage
        return None
    reply = request.reply()
    question = request.q
    name = str(question.qname).rstrip(".").lower()
    addresses = records.get(name)
    if addresses is None:
        if "." in name:
            return None
        reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack()
    for address in addresses:
        if ":" not in address and question.qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        elif ":" in address and question.qtype in (QTYPE.AAAA, QTYPE.ANY):
            # [NET-082] the IPv6 addresses of a dual-stack network's containers
            reply.add_answer(RR(question.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=TTL))
    return reply.pack()  # the rest: no error, no answer (the name exists)


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, network: "_Network") -> None:
        self.network = network
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, client) -> None:
        reply = answer(data, self.network.names_for(client[0]))
        if reply is not None:
            self.transport.sendto(reply, client)
            return
        asyncio.ensure_future(self._forward(data, client))

    async def _forward(self, data: bytes, client) -> None:
        """[NET-062] Names not ours go to the host's resolvers (or the asker's own --dns); their answer comes back."""
        for server in self.network.upstreams.get(client[0]) or self.network.upstream:
            try:
                reply = await asyncio.wait_for(_ask(server, data), FORWARD_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                continue
            self.transport.sendto(reply, client)
            return
        try:
            failure = DNSRecord.parse(data).reply()
            failure.header.rcode = RCODE.SERVFAIL
            self.transport.sendto(failure.pack(), client)
        except Exception:  # noqa: BLE001
            pass


async def _ask(server: str, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, reply: bytes, _) -> None:
            if not done.done():
                done.set_result(reply)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(server, 53))
    try:
        transport.sendto(data)
        return await done
    finally:
        transport.close()


class _Network:
    def __init__(self, upstream: list[str], everyone: dict[str, "_Network"] | None = None) -> None:
        self.endpoints: dict[str, tuple[str, list[str]]] = {}   # endpoint id -> (address, names)
        self.upstream = upstream
        self.upstreams: dict[str, list[str]] = {}   # [NET-064] a container's address -> its own --dns servers
        self.transport: asyncio.DatagramTransport | None = None
        self.everyone = everyone if everyone is not None else {}  # all the daemon's networks, by id

    def names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for address, names in self.endpoints.values():
            for name in names:
                out.setdefault(name.lower(), []).append(address)
        return out

    def names_for(self, client: str) -> dict[str, list[str]]:
        """[NET-061] The names the asking container may resolve: those of every network it is on.

        Its resolv.conf names one gateway (its first network's); dockerd's resolver also
        answers for its other networks. The asker is known by its address on this network,
        and the same container elsewhere by its names (its short ID among them).
        """
        mine = {name for address, names in self.endpoints.values() if address == client for name in names}
        if not mine:
            return self.names()
        out: dict[str, list[str]] = {}
        for network in self.everyone.values():
            if network is self or any(mine & set(names) for _, names in network.endpoints.values()):
                for name, addresses in network.names().items():
                    out.setdefault(name, []).extend(a for a in addresses if a not in out.get(name, []))
        return out


class EmbeddedDNS:
    """One responder per user-defined network, all in the daemon's event loop."""

    def __init__(self, resolv_conf: str = "/etc/resolv.conf", servers: list[str] | None = None) -> None:
        """[NET-062] The upstream: ``servers`` (the daemon's --dns) or the host's resolv.conf's nameservers."""
        if servers is None:
            try:
                with open(resolv_conf) as file:
                    servers, _, _ = host_nameservers(file.read())
            except OSError:
                servers = []
        self.upstream = [s for s in servers if ":" not in s]
        self.networks: dict[str, _Network] = {}

    async def serve(self, network_id: str, address: str) -> None:
        network = self.networks.setdefault(network_id, _Network(self.upstream, self.networks))
        if network.transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            network.transport, _ = await loop.create_datagram_endpoint(lambda: _Responder(network),
                                                                       local_addr=(address, 53))
        except OSError as error:
            log.warning("no embedded DNS on %s:53: %s", address, error.strerror)

    async def stop(self, network_id: str) -> None:
        network = self.networks.pop(network_id, None)
        if network is not None and network.transport is not None:
            network.transport.close()

    def add(self, network_id: str, endpoint_id: str, address: str, names: list[str], address6: str = "",
            servers: list[str] = ()) -> None:
        """[NET-061] The endpoint's names answer on its network from now on (AAAA too with ``address6``);
        [NET-064] the names it asks for and nobody here has go to ``servers`` (its --dns) when given."""
        network = self.networks.setdefault(network_id, _Network(self.upstream, self.networks))
        network.endpoints[endpoint_id] = (address, names)
        if address6:
            network.endpoints[f"{endpoint_id}/6"] = (address6, names)  # [NET-082]
        own = [server for server in servers if ":" not in server]
        for asker in filter(None, (address, address6)):
            if own:
                network.upstreams[asker] = own
            else:
                network.upstreams.pop(asker, None)

    def remove(self, network_id: str, endpoint_id: str) -> None:
        network = self.networks.get(network_id)
        if network is not None:
            for key in (endpoint_id, f"{endpoint_id}/6"):
                address, _ = network.endpoints.pop(key, ("", []))
                network.upstreams.pop(address, None)

    async def close(self) -> None:
        for network_id in list(self.networks):
            await self.stop(network_id)
