"""`minidockd`: the daemon's start-up. The one place that wires the object graph.

Implements: spec/engine.md ENGINE-D-001 .. ENGINE-D-004, ENGINE-D-011
Explained:  chapters/05-engine.md#the-daemon
Modelled on: dockerd's cmd/dockerd (flags -> config -> daemon -> API server)

    main(argv): parse flags -> make the roots -> refuse a second daemon on the
    same socket -> build backends -> serve the API on the unix socket (and on
    TCP, with TLS) until SIGTERM/SIGINT -> remove the socket and pid file.

Rules: collaborators come in through constructors, built here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

from minidock.engine.config import DaemonConfig, parse_args
from minidock.errors import Conflict, MinidockError

log = logging.getLogger("minidockd")


def _socket_answers(path: str) -> bool:
    """Is a daemon already listening on ``path``?"""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def prepare(config: DaemonConfig) -> None:
    """Make the daemon's directories; refuse to start beside a live daemon on the same socket."""
    for directory in (config.data_root, config.exec_root, os.path.dirname(config.pid_file),
                      *([os.path.dirname(config.socket_path)] if config.socket_path else [])):
        os.makedirs(directory, mode=0o711, exist_ok=True)
    if config.socket_path and _socket_answers(config.socket_path):
        # [ENGINE-D-004] one socket, one daemon
        raise Conflict(f"a daemon is already listening on {config.socket_path}")
    if _pid_file_is_live(config.pid_file):
        # [ENGINE-D-004] one exec root, one daemon (dockerd's words, with our file)
        raise Conflict(f"pid file found, ensure minidockd is not running or delete {config.pid_file}")
    if config.socket_path and os.path.exists(config.socket_path):
        os.unlink(config.socket_path)  # a stale socket from a daemon that died


def _pid_file_is_live(path: str) -> bool:
    """Does ``path`` name a process that is still running?"""
    try:
        with open(path) as file:
            pid = int(file.read().strip())
        os.kill(pid, 0)
        return pid != os.getpid()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False


async def serve(config: DaemonConfig) -> None:
    """Serve the API until SIGTERM or SIGINT."""
    from aiohttp import web

    from minidock.engine.api.server import make_app
    from minidock.engine.api.swarm import SwarmProcess
    from minidock.engine.containers import ContainerService
    from minidock.engine.events import Events
    from minidock.engine.images import ImageService
    from minidock.engine.networks import NetworkService
    from minidock.engine.system import System

    images = ImageService(config.data_root)
    networks = NetworkService(config.data_root, config.exec_root, config.bridge, config.bip, config.live_restore,
                              config.dns, config.fixed_cidr_v6)
    await networks.start()  # [NET-015] a bridge or subnet taken by another refuses the start
    containers = ContainerService(config.data_root, config.exec_root, images, Events(), networks)
    networks.containers = containers
    images.in_use = containers.users_of
    images.insecure_registries = config.insecure_registries  # [REG-033]
    images.registry_mirrors = config.registry_mirrors  # [REG-044]
    loop = asyncio.get_running_loop()  # image work runs in threads: events go through the loop
    images.publish = lambda action, image_id, attributes: loop.call_soon_threadsafe(
        containers.events.publish, "image", action, image_id, attributes)
    containers.volumes.publish = lambda action, name, attributes: loop.call_soon_threadsafe(
        containers.events.publish, "volume", action, name, attributes)
    await containers.restore(config.live_restore)
    await networks.reconcile({c.id for c in containers.containers.values() if c.running})
    swarm = SwarmProcess(f"unix://{config.socket_path}", config.exec_root, config.data_root)
    app = make_app(System(config, images, containers), images, containers, networks, swarm)
    HalfCloseRunner = _half_close_runner()
    # streams (events, logs -f, attach) would hold a graceful stop for aiohttp's default 60 s
    runner = HalfCloseRunner(app, access_log=log if config.debug else None, shutdown_timeout=2.0)
    await runner.setup()
    ours = await _listen(runner, config)
    pid_file = config.pid_file
    with open(pid_file, "w") as file:
        file.write(f"{os.getpid()}\n")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await swarm.resume()  # a node of a swarm takes its place again
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await swarm.stop()
        await containers.shutdown(config.live_restore, config.shutdown_timeout)
        await networks.shutdown(config.live_restore)
        await runner.cleanup()
        for path in filter(None, (config.socket_path, pid_file)):
            try:
                if path == config.socket_path and os.stat(path).st_ino != ours:
                    continue  # a newer daemon's socket: not ours to remove
                os.unlink(path)
            except FileNotFoundError:
                pass


async def _listen(runner, config: DaemonConfig) -> int | None:
    """Serve on the unix socket (mode 0660, group minidock) and on each TCP address.

    Returns the socket's inode, so that shutting down removes only our own socket.
    """
    from aiohttp import web

    ours = None
    if config.socket_path:
        await web.UnixSite(runner, config.socket_path).start()
        os.chmod(config.socket_path, 0o660)
        _give_to_group(config.socket_path, "minidock")
        ours = os.stat(config.socket_path).st_ino
        log.info("API listening on %s", config.socket_path)
    for host, port in config.tcp:
        if config.tls is None:
            # [ENGINE-D-011] asked for with --tls=false: said loudly, as dockerd does
            for line in ("Binding to IP address without --tlsverify is insecure and gives root access on this",
                         "machine to everyone who has access to your network.",
                         f"Listening on tcp://{host}:{port} WITHOUT TLS: anyone who can reach this port",
                         "can run any container, mount / and become root on this host."):
                log.warning("!!! %s", line)
        elif config.tls.ca is None:
            log.warning("!!! TLS without --tlsverify on tcp://%s:%s: the traffic is encrypted but any "
                        "client may connect, and any client is root on this host", host, port)
        await web.TCPSite(runner, host, port, ssl_context=_ssl_context(config.tls)).start()
        log.info("API listening on tcp://%s:%s%s", host, port, " (TLS)" if config.tls else "")
    return ours


def _ssl_context(tls):
    """The server side of TLS: our certificate; with a CA, clients must show one it signed."""
    if tls is None:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca)
    context.load_cert_chain(tls.cert, tls.key)
    context.verify_mode = ssl.CERT_REQUIRED if tls.ca else ssl.CERT_NONE
    return context


def _give_to_group(path: str, name: str) -> None:
    """The socket's group: ``name`` when the host has it (dockerd's `docker` group), else root's."""
    import grp

    try:
        os.chown(path, -1, grp.getgrnam(name).gr_gid)
    except KeyError:
        pass  # no such group: root only, as the mode says


def _half_close_runner():
    """An aiohttp AppRunner whose connections survive the client's half-close.

    The docker CLI attaches without stdin by shutting its side of the socket for
    writing (CloseWrite) and then reading the container's output. asyncio closes a
    transport on EOF unless the protocol's eof_received() says to keep it open.
    """
    from aiohttp import web, web_protocol, web_server

    class Handler(web_protocol.RequestHandler):
        def eof_received(self) -> bool:
            parser = self._payload_parser
            if parser is not None and hasattr(parser, "feed_eof"):
                parser.feed_eof()  # a hijacked stream's input ended (api/hijack.Input)
            return True  # the other half may still be written: a hijacked stream

    class Server(web_server.Server):
        def __call__(self) -> Handler:
            return Handler(self, loop=self._loop, **self._kwargs)

    class Runner(web.AppRunner):
        async def _make_server(self) -> web_server.Server:
            server = await super()._make_server()
            server.__class__ = Server
            return server

    return Runner


def main(argv: list[str] | None = None) -> int:
    """The `minidockd` command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s minidockd %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        config = parse_args(argv)
        prepare(config)
    except MinidockError as error:
        print(f"minidockd: {error.message}", file=sys.stderr)
        return 1
    try:
        asyncio.run(serve(config))
    except MinidockError as error:  # refused while starting (a bridge that is not ours, ...)
        print(f"minidockd: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
