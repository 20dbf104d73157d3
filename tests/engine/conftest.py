"""Fixtures for the engine's tests: the busybox image in the engine under test, containers cleaned up."""

from __future__ import annotations

import json
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def busybox(engine) -> str:
    """busybox:latest in the engine under test (bootstrapped into minidock; expected in Docker)."""
    if engine.kind == "minidock":
        engine.cli("image", "bootstrap", "busybox", timeout=120)
    else:
        status, _, _ = engine.api("GET", "/images/busybox:latest/json")
        if status != 200:
            pytest.skip("busybox:latest is not in the Docker engine under test (docker pull busybox)")
    return "busybox:latest"


class Containers:
    """Create containers through the API and remove every one of them at the end."""

    def __init__(self, engine, image: str) -> None:
        self.engine = engine
        self.image = image
        self.made: list[str] = []

    def create(self, *cmd: str, name: str | None = None, **fields) -> str:
        body = {"Image": self.image, **({"Cmd": list(cmd)} if cmd else {}), **fields}
        path = "/v1.41/containers/create" + (f"?name={name}" if name else "")
        status, _, raw = self.engine.api("POST", path, body)
        assert status == 201, raw
        container_id = json.loads(raw)["Id"]
        self.made.append(container_id)
        return container_id

    def start(self, container_id: str) -> None:
        status, _, raw = self.engine.api("POST", f"/v1.41/containers/{container_id}/start")
        assert status == 204, raw

    def wait(self, container_id: str, condition: str = "not-running") -> int:
        status, _, raw = self.engine.api("POST", f"/v1.41/containers/{container_id}/wait?condition={condition}")
        assert status == 200, raw
        return json.loads(raw)["StatusCode"]

    def run(self, *cmd: str, **fields) -> tuple[str, int]:
        """Create, start, wait: (id, exit code)."""
        container_id = self.create(*cmd, **fields)
        self.start(container_id)
        return container_id, self.wait(container_id)

    def inspect(self, container_id: str) -> dict:
        status, _, raw = self.engine.api("GET", f"/v1.41/containers/{container_id}/json")
        assert status == 200, raw
        return json.loads(raw)

    def logs(self, container_id: str, query: str = "stdout=1&stderr=1") -> list[tuple[int, bytes]]:
        status, _, raw = self.engine.api("GET", f"/v1.41/containers/{container_id}/logs?{query}")
        assert status == 200, raw
        return demultiplex(raw)

    def output(self, container_id: str) -> str:
        return b"".join(data for stream, data in self.logs(container_id, "stdout=1") if stream == 1).decode()

    def remove_all(self) -> None:
        for container_id in self.made:
            self.engine.api("DELETE", f"/v1.41/containers/{container_id}?force=1")


def demultiplex(raw: bytes) -> list[tuple[int, bytes]]:
    """Split a stdcopy stream into (stream, payload) frames; fail on anything else."""
    frames, at = [], 0
    while at < len(raw):
        header = raw[at:at + 8]
        assert len(header) == 8 and header[0] in (1, 2) and header[1:4] == b"\0\0\0", f"bad frame header {header!r}"
        length = int.from_bytes(header[4:], "big")
        frames.append((header[0], raw[at + 8:at + 8 + length]))
        at += 8 + length
    return frames


@pytest.fixture
def containers(engine, busybox) -> Iterator[Containers]:
    made = Containers(engine, busybox)
    yield made
    made.remove_all()
