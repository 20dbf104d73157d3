"""The event publisher's logic (pure: no daemon)."""

from __future__ import annotations

import asyncio

import pytest

from minidock.engine import events


@pytest.mark.spec("ENGINE-EVT-003", "ENGINE-EVT-002")
def test_a_slow_reader_loses_its_oldest_events_and_never_blocks(monkeypatch):
    monkeypatch.setattr(events, "QUEUE", 3)
    bus = events.Events()

    async def scenario():
        stream = bus.subscribe(filters={"event": ["start"]})
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # subscribed
        for number in range(10):  # nobody reads meanwhile: publish must not wait
            bus.publish("container", "start", f"id{number}")
            bus.publish("container", "stop", f"id{number}")
        got = [(await first)["Actor"]["ID"]]
        while True:
            try:
                got.append((await asyncio.wait_for(stream.__anext__(), 0.1))["Actor"]["ID"])
            except asyncio.TimeoutError:
                break
        await stream.aclose()
        return got

    got = asyncio.run(scenario())
    assert got[-1] == "id9" and len(got) <= 3  # the newest kept, the oldest dropped
    assert len(bus.history) == 20 and bus.subscribers == set()
