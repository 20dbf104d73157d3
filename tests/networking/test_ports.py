"""Published ports: DNAT from other hosts, the proxy on loopback, UDP, ephemeral ports, a port in use."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from tests.networking.conftest import API, engine_index, gateway_of

HTTPD = ("sh", "-c", "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp")


def _port(engine) -> int:
    """A host port for this worker's test (each worker its own ten)."""
    return 18000 + 10 * engine_index(engine) + int(time.time() * 1000) % 10


def _get(address: str, port: int, attempts: int = 30) -> bytes:
    """GET / over TCP, retried while the container's server starts."""
    for _ in range(attempts):
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                if b"hello" in data:
                    return data
        except OSError:
            pass
        time.sleep(0.1)
    return b""


def _gateway(engine) -> str:
    status, _, raw = engine.api("GET", f"{API}/networks/bridge")
    return gateway_of(json.loads(raw))


@pytest.mark.spec("NET-003")
def test_a_published_port_answers_on_loopback_the_bridge_and_from_outside(engine, containers, outside):
    port = _port(engine)
    container_id = containers.create(*HTTPD, ExposedPorts={"80/tcp": {}},
                                     HostConfig={"PortBindings": {"80/tcp": [{"HostPort": str(port)}]}})
    containers.start(container_id)
    assert b"hello" in _get("127.0.0.1", port)
    assert b"hello" in _get(_gateway(engine), port)
    # from another host, to this host's address on the link between them: DNAT
    fetched = outside.run("python3", "-c", (
        "import socket, sys; s = socket.create_connection(('%s', %d), timeout=3); "
        "s.sendall(b'GET /index.html HTTP/1.0\\r\\n\\r\\n'); data = b''\n"
        "while chunk := s.recv(4096): data += chunk\n"
        "sys.stdout.write(data.decode())") % (outside.host_address, port))
    assert "hello" in fetched.stdout, fetched.stderr


@pytest.mark.spec("NET-030")
def test_ephemeral_and_publish_all_are_shown_by_port_and_inspect(engine, containers):
    container_id = containers.create(*HTTPD, ExposedPorts={"80/tcp": {}, "81/tcp": {}},
                                     HostConfig={"PublishAllPorts": True})
    containers.start(container_id)
    ports = containers.inspect(container_id)["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp", "81/tcp"}
    host_port = int(ports["80/tcp"][0]["HostPort"])
    assert host_port > 0
    assert b"hello" in _get("127.0.0.1", host_port)
    listed = engine.cli("port", container_id, "80").stdout.split()
    assert listed and listed[0].endswith(f":{host_port}")


@pytest.mark.spec("NET-030")
def test_run_p_with_only_the_container_port(engine, busybox, names_and_cleanup):
    name = names_and_cleanup()
    engine.cli("run", "-d", "--name", name, "-p", "80", busybox, *HTTPD)
    out = engine.cli("port", name).stdout
    assert out.startswith("80/tcp -> 0.0.0.0:"), out


@pytest.mark.spec("NET-031")
def test_udp_on_one_address(engine, containers):
    port = _port(engine) + 100
    container_id = containers.create("sleep", "60", ExposedPorts={"53/udp": {}},
                                     HostConfig={"PortBindings": {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}})
    containers.start(container_id)
    document = containers.inspect(container_id)
    assert document["NetworkSettings"]["Ports"]["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    # busybox has no UDP server: one of ours, in the container's network namespace
    server = subprocess.Popen(["nsenter", f"--net=/proc/{document['State']['Pid']}/ns/net", sys.executable, "-c",
                               "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                               "s.bind(('0.0.0.0', 53))\nwhile True:\n d, a = s.recvfrom(100); s.sendto(b'pong ' + d, a)\n"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    answer = b""
    try:
        for _ in range(20):
            sock.sendto(b"ping", ("127.0.0.1", port))
            try:
                answer = sock.recv(100)
                break
            except OSError:
                continue
    finally:
        sock.close()
        server.kill()
        server.wait()
    assert answer == b"pong ping"


@pytest.mark.spec("NET-032")
def test_a_port_in_use_fails_the_start(engine, containers):
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        container_id = containers.create("true", ExposedPorts={"80/tcp": {}},
                                         HostConfig={"PortBindings": {"80/tcp": [{"HostPort": str(port)}]}})
        status, _, raw = engine.api("POST", f"{API}/containers/{container_id}/start")
        assert status >= 400, raw
        message = json.loads(raw)["message"]
        assert "driver failed programming external connectivity on endpoint" in message
        assert "address already in use" in message or "port is already allocated" in message
        assert containers.inspect(container_id)["State"]["Running"] is False
    finally:
        taken.close()


@pytest.mark.spec("NET-033")
def test_an_invalid_publish_is_refused(engine, busybox):
    result = engine.cli("run", "--rm", "-p", "80:abc", busybox, "true", check=False)
    assert result.returncode == 125
    assert "invalid" in result.stderr.lower()


@pytest.fixture
def names_and_cleanup(engine):
    import secrets

    made = []

    def name() -> str:
        made.append(f"mdn-c-{secrets.token_hex(3)}")
        return made[-1]

    yield name
    for name in made:
        engine.api("DELETE", f"{API}/containers/{name}?force=1")


@pytest.mark.spec("NET-030")
def test_ps_lists_published_and_exposed_ports(engine, containers):
    container_id = containers.create("sleep", "30", ExposedPorts={"80/tcp": {}, "53/udp": {}},
                                     HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}})
    containers.start(container_id)
    status, _, raw = engine.api("GET", f'{API}/containers/json?filters={{"id":["{container_id}"]}}')
    [row] = json.loads(raw)
    by_port = {(p["PrivatePort"], p["Type"]): p for p in row["Ports"]}
    assert by_port[(80, "tcp")]["IP"] == "127.0.0.1" and by_port[(80, "tcp")]["PublicPort"] > 0
    assert "PublicPort" not in by_port[(53, "udp")]
