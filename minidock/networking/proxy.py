"""The userland proxy: a published port answered on the host's own addresses, loopback included.

Implements: spec/networking.md NET-031, NET-032, NET-035 (a host port range), NET-086 (IPv6)
Explained:  chapters/07-networking.md#the-userland-proxy
Modelled on: docker-proxy (moby's cmd/docker-proxy: tcp_proxy.go, udp_proxy.go)

    proxy = await open_proxy("tcp", "0.0.0.0", 8080, "10.1.0.2", 80) -> Proxy
    proxy.port                 the bound port (the chosen one when 0 was asked)
    await proxy.close()

Rules: DNAT does not see a connection to 127.0.0.1 (it never leaves the host's
loopback, and a DNAT to another interface would be a martian), so something must
listen there: this. Binding the port is also how a port in use is found, with
the kernel's own answer. One asyncio task per connection; no thread, no process.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from minidock.errors import MinidockError

UDP_IDLE = 60.0  # seconds a UDP "connection" lives without traffic (docker-proxy's UDPConnTrackTimeout)


class PortInUse(MinidockError):
    """The host port is taken (by another program or another daemon)."""


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()  # half-close: the other way may still be talking
        except OSError:
            pass


class Proxy:
    """One published port's listener."""

    def __init__(self, protocol: str, port: int) -> None:
        self.protocol = protocol
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task] = set()
        self._peers: dict = {}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._transport is not None:
            self._transport.close()
        for peer in list(self._peers.values()):
            peer.close()
        for task in list(self._tasks):
            task.cancel()


def _listening_socket(kind: int, host_ip: str, host_port: int) -> socket.socket:
    six = ":" in host_ip  # [NET-086] "::": the host's IPv6 addresses, and only those (IPV6_V6ONLY)
    sock = socket.socket(socket.AF_INET6 if six else socket.AF_INET, kind)
    if six:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if kind == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host_ip, host_port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            # [NET-032] the words dockerd's proxy uses
            where = f"[{host_ip}]:{host_port}" if six else f"{host_ip}:{host_port}"
            raise PortInUse(f"Error starting userland proxy: listen {'tcp' if kind == socket.SOCK_STREAM else 'udp'}"
                            f"{'6' if six else '4'} {where}: bind: address already in use") from None
        raise MinidockError(f"cannot bind {host_ip}:{host_port}: {error.strerror}") from None
    sock.setblocking(False)
    return sock


async def open_proxy(protocol: str, host_ip: str, host_port: int, target_ip: str, target_port: int,
                     host_port_end: int = 0) -> Proxy:
    """[NET-031] Listen on host_ip:host_port (or the first free port up to host_port_end) and relay
    to the container's target_ip:target_port."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    for candidate in range(host_port, max(host_port, host_port_end) + 1):
        try:
            sock = _listening_socket(kind, host_ip, candidate)
            break
        except PortInUse:
            if candidate >= host_port_end:
                raise  # [NET-035] the last of the range (or the only port) is taken too
    proxy = Proxy(protocol, sock.getsockname()[1])
    if protocol == "tcp":
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            proxy._tasks.add(task)
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(target_ip, target_port)
            except OSError:
                writer.close()
                proxy._tasks.discard(task)
                return
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                writer.close()
                upstream_writer.close()
                proxy._tasks.discard(task)

        proxy._server = await asyncio.start_server(handle, sock=sock)
        return proxy
    loop = asyncio.get_running_loop()

    class Front(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, client) -> None:
            peer = proxy._peers.get(client)
            if peer is None:
                task = loop.create_task(self._open(client, data))
                proxy._tasks.add(task)
                task.add_done_callback(proxy._tasks.discard)
                return
            peer.sendto(data)

        async def _open(self, client, first: bytes) -> None:
            front = proxy._transport

            class Back(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, _) -> None:
                    front.sendto(data, client)

            transport, _ = await loop.create_datagram_endpoint(Back, remote_addr=(target_ip, target_port))
            proxy._peers[client] = transport
            transport.sendto(first)
            loop.call_later(UDP_IDLE, lambda: (proxy._peers.pop(client, transport).close()))

    proxy._transport, _ = await loop.create_datagram_endpoint(Front, sock=sock)
    return proxy
