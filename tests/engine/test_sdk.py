"""The Python docker SDK against the engine under test (a real client library, as compose uses)."""

from __future__ import annotations

import pytest

docker = pytest.importorskip("docker")


@pytest.fixture
def client(engine):
    sdk = docker.DockerClient(base_url=engine.host, version="auto", timeout=60)
    yield sdk
    sdk.close()


@pytest.mark.spec("ENGINE-SDK-001")
def test_the_sdk_runs_lists_logs_execs_stops_and_removes(client, busybox):
    assert client.containers.run(busybox, ["echo", "hello sdk"], remove=True) == b"hello sdk\n"
    container = client.containers.run(busybox, ["sh", "-c", "echo ready; sleep 100"], detach=True,
                                      name="md-sdk-test", labels={"md.sdk": "1"})
    try:
        listed = client.containers.list(filters={"label": "md.sdk=1"})
        assert [c.name for c in listed] == ["md-sdk-test"]
        for _ in range(50):
            if container.logs() == b"ready\n":
                break
            import time

            time.sleep(0.1)
        assert container.logs() == b"ready\n"
        code, output = container.exec_run(["sh", "-c", "echo inside; exit 2"])
        assert (code, output) == (2, b"inside\n")
        container.stop(timeout=1)
        container.reload()
        assert container.status == "exited" and container.attrs["State"]["ExitCode"] == 137
    finally:
        container.remove(force=True)
    assert client.containers.list(all=True, filters={"name": "md-sdk-test"}) == []
