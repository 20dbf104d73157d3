"""Port ranges: `-p 8000-8002:80-82`, a host range for one port, UDP ranges, `--expose` ranges with -P.

The host ports are this worker's own: 24000 + 10 * its index, nine of them.
"""

from __future__ import annotations

import json
import secrets
import socket

import pytest

from minidock.errors import InvalidArgument
from minidock.networking import ports
from tests.networking.conftest import API, engine_index
from tests.networking.test_ports import _get

# three httpd, each naming its port
THREE_SERVERS = ("sh", "-c", "for p in 80 81 82; do mkdir /w$p; echo hello$p > /w$p/index.html; "
                 "httpd -p $p -h /w$p; done; exec sleep 60")


def base(engine) -> int:
    return 24000 + 10 * (engine_index(engine) % 250)


@pytest.mark.spec("NET-035")
def test_range_specs_expand_as_the_docker_cli_expands_them():
    assert ports.parse_publish("8000-8002:80-82") == [
        ("80/tcp", {"HostIp": "", "HostPort": "8000"}), ("81/tcp", {"HostIp": "", "HostPort": "8001"}),
        ("82/tcp", {"HostIp": "", "HostPort": "8002"})]
    assert ports.parse_publish("127.0.0.1:9000-9001:80-81/udp") == [
        ("80/udp", {"HostIp": "127.0.0.1", "HostPort": "9000"}), ("81/udp", {"HostIp": "127.0.0.1", "HostPort": "9001"})]
    assert ports.parse_publish("8000-8005:80") == [("80/tcp", {"HostIp": "", "HostPort": "8000-8005"})]
    assert [key for key, _ in ports.parse_publish("80-82")] == ["80/tcp", "81/tcp", "82/tcp"]
    assert ports.parse_expose("7000-7002/udp") == ["7000/udp", "7001/udp", "7002/udp"]
    plan = ports.plan({"80/tcp": [{"HostIp": "", "HostPort": "8000-8005"}]}, None, False)
    assert [(b.host_port, b.host_port_end) for b in plan] == [(8000, 8005)]


@pytest.mark.spec("NET-035")
@pytest.mark.parametrize("spec, words", [
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    ("8000:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000"),
    ("82-80", "invalid containerPort: 82-80"),
    ("8002-8000:80", "invalid hostPort: 8002-8000"),
    ("8000-9x:80", "invalid hostPort: 8000-9x"),
])
def test_bad_ranges_are_refused_in_the_docker_clis_words(engine, spec, words):
    with pytest.raises(InvalidArgument, match=words):
        ports.parse_publish(spec)
    done = engine.cli("create", "-p", spec, "busybox", "true", check=False)
    assert done.returncode != 0 and words in done.stderr, done.stderr


def _ports_of(containers, container_id: str) -> dict:
    return containers.inspect(container_id)["NetworkSettings"]["Ports"]


@pytest.mark.spec("NET-035")
def test_a_range_publishes_each_port(engine, networks, containers):
    network, _ = networks.create("range", subnet=networks.subnet(4))
    first = base(engine)
    done = engine.cli("run", "-d", "--network", network, "-p", f"127.0.0.1:{first}-{first + 2}:80-82",
                      "-p", f"127.0.0.1:{first + 3}-{first + 4}:90-91/udp", "busybox", *THREE_SERVERS)
    container_id = done.stdout.strip()
    containers.made.append(container_id)
    for n in range(3):
        assert f"hello8{n}".encode() in _get("127.0.0.1", first + n, attempts=50), n
    published = _ports_of(containers, container_id)
    assert published["91/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(first + 4)}]
    listing = engine.cli("port", container_id).stdout
    for line in (f"80/tcp -> 127.0.0.1:{first}", f"82/tcp -> 127.0.0.1:{first + 2}",
                 f"90/udp -> 127.0.0.1:{first + 3}"):
        assert line in listing, listing


@pytest.mark.spec("NET-035")
def test_one_port_takes_the_first_free_port_of_a_host_range(engine, networks, containers):
    network, _ = networks.create("onerange", subnet=networks.subnet(5))
    first = base(engine) + 5
    with socket.socket() as taken:
        if engine.kind == "minidock":  # the range's first port is someone else's (dockerd would fail on it)
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind(("127.0.0.1", first))
            taken.listen(1)
        done = engine.cli("run", "-d", "--network", network, "-p", f"127.0.0.1:{first}-{first + 3}:80",
                          "busybox", "sleep", "60")
        container_id = done.stdout.strip()
        containers.made.append(container_id)
        (binding,) = _ports_of(containers, container_id)["80/tcp"]
        lowest = first + 1 if engine.kind == "minidock" else first
        assert lowest <= int(binding["HostPort"]) <= first + 3, binding


@pytest.mark.spec("NET-036")
def test_publish_all_publishes_every_port_of_an_exposed_range(engine, networks, containers):
    network, _ = networks.create("expose", subnet=networks.subnet(6))
    done = engine.cli("run", "-d", "--network", network, "-P", "--expose", "7000-7002", "--expose", "7100/udp",
                      "busybox", "sleep", "60")
    container_id = done.stdout.strip()
    containers.made.append(container_id)
    published = _ports_of(containers, container_id)
    assert set(published) == {"7000/tcp", "7001/tcp", "7002/tcp", "7100/udp"}
    assert all(entries and int(entries[0]["HostPort"]) > 0 for entries in published.values()), published
    bad = engine.cli("create", "--expose", "82-80", "busybox", "true", check=False)
    assert bad.returncode != 0 and "invalid range format for --expose: 82-80" in bad.stderr, bad.stderr
    status, _, raw = engine.api("GET", f"{API}/containers/{container_id}/json")
    assert json.loads(raw)["Config"]["ExposedPorts"] == {"7000/tcp": {}, "7001/tcp": {}, "7002/tcp": {}, "7100/udp": {}}


@pytest.mark.spec("NET-036")
def test_publish_all_publishes_an_images_exposed_range(engine, networks, containers, tmp_path):
    network, _ = networks.create("exposeimg", subnet=networks.subnet(7))
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 7000-7001 7100/udp\n")
    tag = f"mdn-expose-{secrets.token_hex(3)}"
    engine.cli("build", "-q", "-t", tag, str(tmp_path), timeout=120)
    container_id = ""
    try:
        container_id = engine.cli("run", "-d", "--network", network, "-P", tag, "sleep", "60").stdout.strip()
        containers.made.append(container_id)
        published = _ports_of(containers, container_id)
        assert set(published) == {"7000/tcp", "7001/tcp", "7100/udp"}
        assert all(entries and int(entries[0]["HostPort"]) > 0 for entries in published.values()), published
    finally:
        if container_id:
            engine.api("DELETE", f"{API}/containers/{container_id}?force=1")
        engine.cli("rmi", "-f", tag, check=False)
