"""A swarm node: the process beside each engine that makes it a member of the cluster.

Implements: spec/swarm.md SWARM-001, SWARM-015, SWARM-021, SWARM-022
Explained:  chapters/11-swarm.md#a-node-and-joining
Modelled on: dockerd's daemon/cluster (the swarmkit node inside dockerd), as a process of its own

    python -m minidock.swarm.node --engine unix://SOCK --socket EXEC_ROOT/swarm.sock --state DATA_ROOT/swarm

    SwarmNode.init(request) / join(request) / leave(force) / resume()
      a manager: an etcd member (member.py), the join listener on ADDR:2377, a Manager
      every node:  a heartbeat (an etcd lease kept alive, the key alive/ID on it), an Agent

The engine starts this process on POST /swarm/init or /swarm/join and forwards the swarm
paths to its socket (minidock/engine/api/swarm.py); it never imports this package.
Files: STATE/node.json (who we are), STATE/etcd/ (a manager's replica), STATE/etcd.log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import string
import sys
import time

import aiohttp
from aiohttp import web

from minidock import API_VERSION
from minidock.engine.client import Client
from minidock.errors import InvalidArgument, MinidockError, Unavailable
from minidock.swarm import logs, objects
from minidock.swarm.agent import Agent
from minidock.swarm.manager import Manager, update
from minidock.swarm.member import Member, client_url, peer_url
from minidock.swarm.store import Store

log = logging.getLogger("minidock.swarm")
JOIN_PORT = 2377
HEARTBEAT_TTL = 5      # seconds without a keepalive before a node is down (swarmkit's heartbeat period)
KEEPALIVE_EVERY = 1.0  # a keepalive a second: four may be lost (a busy machine) before the node is down
NOT_IN_SWARM = ("This node is not part of a swarm")
ALREADY = ("This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and "
           "join another one.")


def choose_address(wanted: str, toward: str = "") -> str:
    """The address to advertise: the one asked for (ADDR or ADDR:PORT), else the one this host
    reaches ``toward`` (a manager) from, else the only one there is."""
    wanted = wanted.rsplit(":", 1)[0] if wanted.count(":") == 1 else wanted
    if wanted and wanted != "0.0.0.0":
        return wanted
    if toward:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((toward, JOIN_PORT))  # UDP: no packet is sent, the kernel only picks a route
            return probe.getsockname()[0]
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        bridges = {link["index"] for link in ip.get_links()
                   if (link.get_attr("IFLA_LINKINFO") or {}) and link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "bridge"}
        found = [(a.get_attr("IFA_LABEL"), a.get_attr("IFA_ADDRESS")) for a in ip.get_addr(family=2)
                 if a.get_attr("IFA_LABEL") != "lo" and a["index"] not in bridges]
    if len(found) != 1:
        listed = " and ".join(f"{name} has {address}" for name, address in found) or "none has one"
        raise InvalidArgument("could not choose an IP address to advertise since this system has multiple "
                              f"addresses on different interfaces ({listed})" if found else
                              "could not find the system's IP address - specify one with --advertise-addr")
    return found[0][1]


class SwarmNode:
    """This engine's membership: who we are, the store, and the loops that run while we belong."""

    def __init__(self, engine: Client, state_dir: str) -> None:
        self.engine, self.state_dir = engine, state_dir
        self.state: dict = {}
        self.store: Store | None = None
        self.member: Member | None = None
        self.lease = 0
        self.loops: list[asyncio.Task] = []
        self.manager: Manager | None = None
        self.manager_loop: asyncio.Task | None = None
        self.agent: Agent | None = None
        self.join_runner: web.AppRunner | None = None
        self.stopped = asyncio.Event()
        self.leaving = False

    # ------------------------------------------------------------ who we are
    @property
    def active(self) -> bool:
        return self.store is not None

    @property
    def is_manager(self) -> bool:
        return self.state.get("role") == "manager"

    def _save(self) -> None:
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(self.state_dir, "node.json.tmp"), "w") as file:
            json.dump(self.state, file)
        os.replace(os.path.join(self.state_dir, "node.json.tmp"), os.path.join(self.state_dir, "node.json"))

    async def _description(self) -> dict:
        info = await asyncio.to_thread(self.engine.json, "GET", "/info")
        return {"Hostname": info.get("Name", ""), "Platform": {"Architecture": "x86_64", "OS": "linux"},
                "Resources": {"NanoCPUs": info.get("NCPU", 1) * 10**9, "MemoryBytes": info.get("MemTotal", 0)},
                "Engine": {"EngineVersion": info.get("ServerVersion", ""), "Labels": {}, "Plugins": []},
                "TLSInfo": {}}

    def _node_record(self, node_id: str, role: str, address: str, description: dict) -> dict:
        stamp = objects.timestamp()
        return {"ID": node_id, "CreatedAt": stamp, "UpdatedAt": stamp,
                "Spec": {"Labels": {}, "Role": role, "Availability": "active"},
                "Description": description, "Status": {"State": "ready", "Addr": address}}

    # ------------------------------------------------------------ init, join, leave
    async def init(self, request: dict) -> str:
        """Start a new swarm with this node as its first manager; return the node ID."""
        if self.leaving:
            raise Unavailable("this node is leaving the swarm: try again")
        if self.active:
            raise Unavailable(ALREADY)  # [SWARM-023]
        address = choose_address(request.get("AdvertiseAddr") or request.get("ListenAddr", ""))
        node_id = objects.new_id()
        self.member = Member(node_id, os.path.join(self.state_dir, "etcd"), address)
        self.member.start(fresh=True)
        await self.member.wait_ready()
        self.store = Store([client_url(address)])
        secret = "".join(secrets.choice(string.digits + string.ascii_lowercase) for _ in range(50))
        stamp = objects.timestamp()
        cluster = {"ID": objects.new_id(), "CreatedAt": stamp, "UpdatedAt": stamp,
                   "Spec": {"Name": "default", "Labels": {}, "Orchestration": {"TaskHistoryRetentionLimit": 5},
                            "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                                     "ElectionTick": 10, "HeartbeatTick": 1},
                            "Dispatcher": {"HeartbeatPeriod": HEARTBEAT_TTL * 10**9},
                            "CAConfig": {"NodeCertExpiry": 7776000000000000}, "TaskDefaults": {},
                            "EncryptionConfig": {"AutoLockManagers": False}},
                   "TLSInfo": {}, "RootRotationInProgress": False, "DataPathPort": 4789,
                   "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24,
                   "JoinTokens": {"Worker": objects.join_token("worker", secret),
                                  "Manager": objects.join_token("manager", secret)}}
        await self.store.put("cluster", cluster)
        await self.store.put(f"nodes/{node_id}", self._node_record(node_id, "manager", address,
                                                                   await self._description()))
        self.state = {"node_id": node_id, "role": "manager", "address": address, "endpoints": [client_url(address)]}
        self._save()
        await self._run()
        return node_id

    async def join(self, request: dict) -> None:
        """Ask a manager to let us in with a token; a manager joins the etcd cluster too."""
        if self.leaving:
            raise Unavailable("this node is leaving the swarm: try again")
        if self.active:
            raise Unavailable(ALREADY)
        remotes = request.get("RemoteAddrs") or []
        if not remotes:
            raise InvalidArgument("at least 1 RemoteAddr is required to join")
        remote = remotes[0] if ":" in remotes[0] else f"{remotes[0]}:{JOIN_PORT}"
        address = choose_address(request.get("AdvertiseAddr") or request.get("ListenAddr", ""),
                                 toward=remote.rsplit(":", 1)[0])
        node_id = objects.new_id()
        ask = {"token": request.get("JoinToken", ""), "node_id": node_id, "address": address,
               "description": await self._description()}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
                async with session.post(f"http://{remote}/join", json=ask) as response:
                    answer = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            raise Unavailable(f"could not reach the manager at {remote}: {error}") from None
        if response.status != 200:
            raise InvalidArgument(answer.get("message", f"join refused ({response.status})"))
        endpoints = answer["endpoints"]
        if answer["role"] == "manager":
            self.member = Member(node_id, os.path.join(self.state_dir, "etcd"), address)
            self.member.start(answer["initial_cluster"], fresh=False)
            await self.member.wait_ready()
            endpoints = [client_url(address), *[e for e in endpoints if e != client_url(address)]]
        self.store = Store(endpoints)
        self.state = {"node_id": node_id, "role": answer["role"], "address": address, "endpoints": endpoints}
        self._save()
        await self._run()

    async def admit(self, ask: dict) -> dict:
        """A manager's side of a join: check the token, record the node, add a manager's etcd member."""
        token = ask.get("token", "")
        parts = token.split("-")
        if len(parts) != 4 or parts[:2] != ["SWMTKN", "1"]:
            raise InvalidArgument("invalid join token")  # [SWARM-021]
        cluster = (await self.store.get("cluster")).value
        roles = {cluster["JoinTokens"]["Worker"]: "worker", cluster["JoinTokens"]["Manager"]: "manager"}
        if token not in roles:
            # [SWARM-021] swarmkit's words for a well-formed token of another cluster or role
            raise InvalidArgument("rpc error: code = InvalidArgument desc = A valid join token is necessary to join "
                                  "this cluster")
        role, node_id, address = roles[token], ask["node_id"], ask["address"]
        # the record first: adding an etcd member that is not running yet may stall the quorum
        await self.store.put(f"nodes/{node_id}", self._node_record(node_id, role, address, ask["description"]))
        answer = {"role": role}
        members = await self._add_member(peer_url(address)) if role == "manager" else await self.store.members()
        answer["initial_cluster"] = ",".join(f"{m.get('name') or node_id}={m['peerURLs'][0]}" for m in members)
        answer["endpoints"] = [url for m in members for url in m.get("clientURLs") or []]
        return answer

    async def _add_member(self, url: str, patience: float = 15.0) -> list[dict]:
        """Add an etcd member, waiting while etcd says the cluster is not healthy.

        etcd 3.4 refuses to grow a cluster whose members have not all been connected for
        5 s (--strict-reconfig-check): a manager that joined a moment ago must settle first.
        """
        deadline = time.monotonic() + patience
        while True:
            try:
                return await self.store.add_member(url)
            except Unavailable as error:
                if "unhealthy cluster" not in error.message or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def leave(self, force: bool) -> None:
        """Leave the swarm: stop the loops, remove the task containers, give up our etcd member."""
        if not self.active:
            raise Unavailable(NOT_IN_SWARM)
        if self.is_manager and not force:
            raise Unavailable("You are attempting to leave the swarm on a node that is participating as a manager. "
                              "Removing the last manager erases all current state of the swarm. Use `--force` to "
                              "ignore this message.")
        await self._stop_loops()
        if self.agent is not None:
            await self.agent.remove_all()
        try:
            if self.is_manager:
                members = await self.store.members()
                mine = [m for m in members if m.get("name") == self.state["node_id"]]
                if mine and len(members) > 1:
                    await self.store.remove_member(mine[0]["ID"])
            if self.lease:
                await self.store.revoke(self.lease)
        except MinidockError as error:
            log.warning("leave: %s", error.message)
        await self.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state, self.store = {}, None
        self.leaving = True  # no init or join in this process any more: the engine starts a new one
        asyncio.get_running_loop().call_later(0.2, self.stopped.set)  # answer first, then exit

    async def resume(self) -> None:
        """After a restart of the engine: take our place again from STATE/node.json."""
        path = os.path.join(self.state_dir, "node.json")
        if not os.path.exists(path):
            return
        with open(path) as file:
            self.state = json.load(file)
        if self.is_manager:
            self.member = Member(self.state["node_id"], os.path.join(self.state_dir, "etcd"), self.state["address"])
            self.member.start(fresh=False)
            await self.member.wait_ready()
        self.store = Store(self.state["endpoints"])
        await self._run()

    # ------------------------------------------------------------ the loops
    async def _run(self) -> None:
        node_id = self.state["node_id"]
        self.lease = await self.store.grant(HEARTBEAT_TTL)
        await self.store.put(f"alive/{node_id}", {"address": self.state["address"]}, self.lease)
        self.agent = Agent(self.store, node_id, self.engine, self.state["address"])
        self.loops = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self.agent.run())]
        await self._listen()
        if self.is_manager:
            await self._start_manager()

    async def _start_manager(self) -> None:
        self.manager = Manager(self.store, self.state["node_id"], lambda: self.lease)
        self.manager_loop = asyncio.create_task(self.manager.run())
        self.loops.append(self.manager_loop)

    async def _listen(self) -> None:
        """Port 2377 on our address: joins (a manager's job) and our engine's task logs (every node's)."""
        if self.join_runner is not None:
            return

        async def join(request: web.Request) -> web.Response:
            try:
                if not self.is_manager:
                    raise Unavailable("This node is not a swarm manager: join through a manager")
                return web.json_response(await self.admit(await request.json()))
            except MinidockError as error:
                return web.json_response({"message": error.message}, status=error.status)

        async def task_logs(request: web.Request) -> web.StreamResponse:
            # [SWARM-030] a manager asks for the log of a container of ours; the engine's answer, as it is
            path = f"/containers/{request.match_info['container']}/logs?{request.query_string}"
            if request.query.get("follow") not in ("1", "true"):
                status, headers, body = await asyncio.to_thread(self.engine.request, "GET", path)
                return web.Response(body=body, status=status,
                                    headers={"Content-Type": headers.get("Content-Type", "application/octet-stream")})
            return await self._follow_engine(request, path)

        app = web.Application()
        app.router.add_post("/join", join)
        app.router.add_get("/logs/{container}", task_logs)
        self.join_runner = web.AppRunner(app)
        await self.join_runner.setup()
        await web.TCPSite(self.join_runner, self.state["address"], JOIN_PORT).start()

    async def _follow_engine(self, request: web.Request, path: str) -> web.StreamResponse:
        """[SWARM-050] The engine's `logs --follow` stream, passed on as it comes, until the
        container stops (the engine ends it) or the manager asking goes away."""
        connector = aiohttp.UnixConnector(path=self.engine.socket_path)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
            async with session.get(f"http://engine/v{API_VERSION}{path}") as answer:
                response = web.StreamResponse(status=answer.status, headers={
                    "Content-Type": answer.headers.get("Content-Type", "application/octet-stream")})
                await response.prepare(request)
                try:
                    await logs.pipe(answer.content, response.write, lambda: logs.gone(request))
                except ConnectionResetError:
                    return response  # the manager went while we wrote
                if not logs.gone(request):
                    await response.write_eof()
                return response

    async def _heartbeat(self) -> None:
        """Keep the lease alive; a lease that expired anyway (a long pause) is replaced."""
        node_id = self.state["node_id"]
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY)
            try:
                if await self.store.keepalive(self.lease) == 0:
                    self.lease = await self.store.grant(HEARTBEAT_TTL)
                    await self.store.put(f"alive/{node_id}", {"address": self.state["address"]}, self.lease)
                await self._follow_role()
            except MinidockError as error:
                log.warning("heartbeat: %s", error.message)

    async def _follow_role(self) -> None:
        """A node promoted or demoted (node update) starts or stops being a manager."""
        record = await self.store.get(f"nodes/{self.state['node_id']}")
        if record is None:
            return
        role = record.value["Spec"]["Role"]
        if role == self.state["role"]:
            return
        if role == "manager":
            members = await self._add_member(peer_url(self.state["address"]))
            cluster = ",".join(f"{m.get('name') or self.state['node_id']}={m['peerURLs'][0]}" for m in members)
            self.member = Member(self.state["node_id"], os.path.join(self.state_dir, "etcd"), self.state["address"])
            self.member.start(cluster, fresh=False)
            await self.member.wait_ready()
            self.state["role"] = "manager"
            await self._start_manager()
        else:
            mine = [m for m in await self.store.members() if m.get("name") == self.state["node_id"]]
            if mine:
                await self.store.remove_member(mine[0]["ID"])
            if self.member is not None:
                self.member.stop()
                self.member = None
            if self.manager_loop is not None:
                self.manager_loop.cancel()
                self.manager_loop = None
            self.store.endpoints = [e for e in self.store.endpoints if e != client_url(self.state["address"])]
            self.state["role"] = "worker"
            self.state["endpoints"] = self.store.endpoints
        self._save()

    async def _stop_loops(self) -> None:
        for loop in self.loops:
            loop.cancel()
        await asyncio.gather(*self.loops, return_exceptions=True)
        self.loops = []

    async def close(self) -> None:
        """Stop everything this process started (the engine's containers stay)."""
        await self._stop_loops()
        if self.join_runner is not None:
            await self.join_runner.cleanup()
            self.join_runner = None
        if self.store is not None:
            await self.store.close()
        if self.member is not None:
            self.member.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minidock-swarm-node", description="A swarm node beside one engine.")
    parser.add_argument("--engine", required=True, help="the local engine: unix:///path/to/minidock.sock")
    parser.add_argument("--socket", required=True, help="where to serve the swarm API (the engine forwards to it)")
    parser.add_argument("--state", required=True, help="this node's state directory (the engine's DATA_ROOT/swarm)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    import signal

    from minidock.swarm.api import make_app

    node = SwarmNode(Client(args.engine), args.state)
    runner = web.AppRunner(make_app(node))
    await runner.setup()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    await web.UnixSite(runner, args.socket).start()
    os.chmod(args.socket, 0o660)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, node.stopped.set)
    try:
        await node.resume()
        await node.stopped.wait()
    finally:
        await node.close()
        await runner.cleanup()
        if os.path.exists(args.socket):
            os.unlink(args.socket)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s swarm-node %(levelname)s %(message)s")
    try:
        asyncio.run(serve(parse_args(argv)))
    except MinidockError as error:
        print(f"minidock-swarm-node: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
