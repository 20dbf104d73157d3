"""The cluster store: a small client of etcd's v3 JSON gateway (HTTP POST, base64 keys and values).

Implements: spec/swarm.md SWARM-001, SWARM-022
Explained:  chapters/11-swarm.md#the-store
Modelled on: etcd's clientv3 (KV, Txn, Lease, Watch, Cluster), spoken over the grpc-gateway

    Store(endpoints)
      get(key) -> Entry | None           prefix(key) -> [Entry]
      put(key, value, lease)             delete(key)
      create(key, value, lease) -> bool  put only if the key does not exist (an election)
      swap(key, value, revision) -> bool put only if nobody wrote the key since ``revision``
      grant(ttl) -> lease                keepalive(lease) -> ttl left (0: it expired)
      watch(prefix, revision) -> async iterator of revisions (a change under prefix)
      wake_on_change(prefix, event)      set ``event`` on every change, for ever (a loop's alarm clock)
      members() / add_member(peer_url) / remove_member(member_id)

Rules: every value is JSON; a write that must not lose a concurrent one is a swap();
an endpoint that does not answer is skipped for the next one (any member can serve).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from minidock.errors import Unavailable

PREFIX = "/minidock/swarm/"


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def _prefix_end(prefix: str) -> str:
    """etcd's range end for "every key that starts with prefix": the prefix with its last byte + 1."""
    raw = prefix.encode()
    return _b64(raw[:-1] + bytes([raw[-1] + 1]))


@dataclass(frozen=True)
class Entry:
    """One key of the store, its JSON value and its revisions."""

    key: str
    value: dict
    revision: int       # mod_revision: bumped by every write of this key
    lease: int = 0

    @classmethod
    def from_kv(cls, kv: dict) -> "Entry":
        return cls(key=base64.b64decode(kv["key"]).decode(),
                   value=json.loads(base64.b64decode(kv.get("value", "")) or b"null"),
                   revision=int(kv.get("mod_revision", 0)), lease=int(kv.get("lease", 0)))


class Store:
    """The swarm's view of etcd: JSON values under one prefix, through any member that answers."""

    def __init__(self, endpoints: list[str], timeout: float = 5.0) -> None:
        self.endpoints = list(endpoints)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def call(self, path: str, body: dict) -> dict:
        """POST ``body`` to /v3/``path`` on the first endpoint that answers."""
        last: Exception | None = None
        for index, endpoint in enumerate(self.endpoints):
            try:
                async with self._http().post(f"{endpoint}/v3/{path}", json=body) as response:
                    answer = await response.json(content_type=None)
                    if response.status >= 400:
                        raise Unavailable(f"etcd: {answer.get('error') or answer.get('message') or answer}")
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                last = error
                continue
            if index:  # remember who answered: the next call starts there
                self.endpoints.insert(0, self.endpoints.pop(index))
            return answer
        raise Unavailable(f"the cluster store does not answer ({', '.join(self.endpoints)}): {last}")

    async def get(self, key: str) -> Entry | None:
        answer = await self.call("kv/range", {"key": _b64(PREFIX + key)})
        kvs = answer.get("kvs") or []
        return Entry.from_kv(kvs[0]) if kvs else None

    async def prefix(self, key: str) -> list[Entry]:
        answer = await self.call("kv/range", {"key": _b64(PREFIX + key), "range_end": _prefix_end(PREFIX + key)})
        return [Entry.from_kv(kv) for kv in answer.get("kvs") or []]

    async def put(self, key: str, value: object, lease: int = 0) -> int:
        """Write ``value``; return the store's new revision."""
        body = {"key": _b64(PREFIX + key), "value": _b64(json.dumps(value))}
        if lease:
            body["lease"] = str(lease)
        answer = await self.call("kv/put", body)
        return int(answer["header"]["revision"])

    async def delete(self, key: str, prefix: bool = False) -> None:
        body = {"key": _b64(PREFIX + key)}
        if prefix:
            body["range_end"] = _prefix_end(PREFIX + key)
        await self.call("kv/deleterange", body)

    async def _txn(self, key: str, compare: dict, value: object, lease: int) -> bool:
        put = {"key": _b64(PREFIX + key), "value": _b64(json.dumps(value))}
        if lease:
            put["lease"] = str(lease)
        answer = await self.call("kv/txn", {"compare": [{"key": _b64(PREFIX + key), **compare}],
                                            "success": [{"request_put": put}]})
        return bool(answer.get("succeeded"))

    async def create(self, key: str, value: object, lease: int = 0) -> bool:
        """Write ``value`` only if ``key`` does not exist: True if we did."""
        return await self._txn(key, {"target": "CREATE", "result": "EQUAL", "create_revision": "0"}, value, lease)

    async def swap(self, key: str, value: object, revision: int, lease: int = 0) -> bool:
        """Compare-and-swap: write only if the key is still at ``revision`` (its mod_revision)."""
        return await self._txn(key, {"target": "MOD", "result": "EQUAL", "mod_revision": str(revision)},
                               value, lease)

    async def grant(self, ttl: int) -> int:
        answer = await self.call("lease/grant", {"TTL": str(ttl)})
        return int(answer["ID"])

    async def keepalive(self, lease: int) -> int:
        """Renew ``lease``; the seconds it has left, 0 when it has already expired."""
        answer = await self.call("lease/keepalive", {"ID": str(lease)})
        return int((answer.get("result") or {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        await self.call("lease/revoke", {"ID": str(lease)})

    async def watch(self, key: str, start: int = 0) -> AsyncIterator[int]:
        """Yield the revision of each change under ``key`` (a streamed POST /v3/watch).

        Ends when the member goes away; the caller reads the state again and watches anew.
        """
        request = {"create_request": {"key": _b64(PREFIX + key), "range_end": _prefix_end(PREFIX + key)}}
        if start:
            request["create_request"]["start_revision"] = str(start)
        session = self._http()
        for endpoint in list(self.endpoints):
            try:
                async with session.post(f"{endpoint}/v3/watch", json=request,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=2)) as response:
                    async for line in response.content:
                        result = (json.loads(line) if line.strip() else {}).get("result") or {}
                        if result.get("events"):
                            yield int(result["header"]["revision"])
                    return
            except (aiohttp.ClientError, OSError, json.JSONDecodeError):
                continue

    async def wake_on_change(self, key: str, event) -> None:
        """Set ``event`` at each change under ``key``; watch again when a watch ends. Until cancelled."""
        while True:
            async for _ in self.watch(key):
                event.set()
            await asyncio.sleep(0.5)

    async def members(self) -> list[dict]:
        answer = await self.call("cluster/member/list", {})
        return answer.get("members") or []

    async def add_member(self, peer_url: str) -> list[dict]:
        """Add a member (a manager joining); return the members, the new one included."""
        answer = await self.call("cluster/member/add", {"peerURLs": [peer_url]})
        return answer.get("members") or []

    async def remove_member(self, member_id: str) -> None:
        await self.call("cluster/member/remove", {"ID": member_id})
