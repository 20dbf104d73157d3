"""Fixtures for the volume tests: busybox and containers (as tests/engine's), volumes cleaned up."""

from __future__ import annotations

import json
import secrets
from typing import Iterator

import pytest

from tests.engine.conftest import Containers, busybox, containers, demultiplex  # noqa: F401 - fixtures

API = "/v1.41"


class Volumes:
    """Volumes made through the API with unique names (a shared dockerd runs other tests too)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.names: list[str] = []

    def name(self, stem: str = "vol") -> str:
        """A fresh name, removed at the end of the test whoever made the volume."""
        name = f"md-{stem}-{secrets.token_hex(4)}"
        self.names.append(name)
        return name

    def create(self, stem: str = "vol", **body) -> dict:
        name = self.name(stem)
        status, _, raw = self.engine.api("POST", f"{API}/volumes/create", {"Name": name, **body})
        assert status == 201, raw
        return json.loads(raw)

    def inspect(self, name: str) -> tuple[int, dict]:
        status, _, raw = self.engine.api("GET", f"{API}/volumes/{name}")
        return status, json.loads(raw)

    def remove_all(self) -> None:
        for name in self.names:
            self.engine.api("DELETE", f"{API}/volumes/{name}?force=1")


@pytest.fixture
def volumes(engine, containers) -> Iterator[Volumes]:
    """After the test, its containers go first (containers' teardown runs after this one's)."""
    made = Volumes(engine)
    yield made
    containers.remove_all()
    made.remove_all()


def anonymous_volumes(inspect: dict) -> list[str]:
    """The names of a container's anonymous volumes (64 hex digits), from its inspect."""
    return [m["Name"] for m in inspect["Mounts"]
            if m["Type"] == "volume" and len(m["Name"]) == 64 and all(c in "0123456789abcdef" for c in m["Name"])]
