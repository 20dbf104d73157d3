"""Events: what happened in the daemon, as a stream (`docker events`).

Implements: spec/engine.md ENGINE-EVT-001 .. ENGINE-EVT-003
Explained:  chapters/05-engine.md#events
Modelled on: moby's daemon/events (a publisher with a bounded history) and api/types/events

    bus = Events()
    bus.publish("container", "start", container_id, {"name": "web", "image": "busybox"})
    async for event in bus.subscribe(since, until, filters): ...   history first, then live
    matches(event, filters)      type, event (action), container, image, label, name

Rules: publishing never blocks and never fails (a slow subscriber loses its
oldest events, not the daemon its speed); the history keeps the last
HISTORY events for `--since`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import AsyncIterator

HISTORY = 1024
QUEUE = 4096


class Events:
    """The daemon's event publisher."""

    def __init__(self) -> None:
        self.history: collections.deque[dict] = collections.deque(maxlen=HISTORY)
        self.subscribers: set[asyncio.Queue] = set()

    def publish(self, kind: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> dict:
        """Record one event and hand it to every subscriber."""
        now = time.time_ns()
        event = {
            "Type": kind, "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local", "time": now // 10**9, "timeNano": now,
        }
        if kind == "container":  # the fields of API versions before 1.22, which clients still read
            event.update({"status": action, "id": actor_id, "from": event["Actor"]["Attributes"].get("image", "")})
        self.history.append(event)
        for queue in self.subscribers:
            if queue.full():
                queue.get_nowait()  # [ENGINE-EVT-001] a slow reader loses its oldest, the daemon waits for no one
            queue.put_nowait(event)
        return event

    async def subscribe(self, since: float = 0, until: float = 0,
                        filters: dict[str, list[str]] | None = None) -> AsyncIterator[dict]:
        """Events after ``since`` from the history, then live ones, until ``until`` (epoch seconds)."""
        filters = filters or {}
        queue: asyncio.Queue = asyncio.Queue(QUEUE)
        self.subscribers.add(queue)  # before reading the history: nothing falls between the two
        try:
            seen = 0
            if since:
                for event in list(self.history):
                    if event["timeNano"] / 1e9 > since and (not until or event["timeNano"] / 1e9 <= until):
                        seen = event["timeNano"]
                        if matches(event, filters):
                            yield event
            if until and until <= time.time():
                return
            while True:
                timeout = (until - time.time()) if until else None
                try:
                    event = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if event["timeNano"] > seen and matches(event, filters):
                    yield event
        finally:
            self.subscribers.discard(queue)


def matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """[ENGINE-EVT-002] every filter key must match one of its values."""
    attributes = event["Actor"]["Attributes"]
    for key, values in filters.items():
        if key == "type" and event["Type"] not in values:
            return False
        if key in ("event", "action") and event["Action"].split(":")[0] not in values:
            return False
        if key == "container" and not (event["Type"] == "container" and any(
                v == attributes.get("name") or event["Actor"]["ID"].startswith(v) for v in values)):
            return False
        if key == "image" and not any(v in (attributes.get("image"), event["Actor"]["ID"]) for v in values):
            return False
        if key == "label":
            for wanted in values:
                name, sep, value = wanted.partition("=")
                if name not in attributes or (sep and attributes[name] != value):
                    return False
    return True
