"""Legacy links (`--link name[:alias]`) on the default bridge: the hosts line, the variables, bad links."""

from __future__ import annotations

import json
import secrets

import pytest

from minidock.errors import InvalidArgument
from minidock.networking import legacy_links
from tests.networking.conftest import API


@pytest.mark.spec("NET-038", "NET-039")
def test_link_specs_and_variables():
    assert legacy_links.parse_link("db:web") == ("db", "web")
    assert legacy_links.parse_link("db") == ("db", "db")
    assert legacy_links.parse_link("/db:/app/web") == ("db", "web")  # inspect's form
    for bad in ("a:b:c", ":web", "db:"):
        with pytest.raises(InvalidArgument, match="bad format for links"):
            legacy_links.parse_link(bad)
    env = legacy_links.link_env("app", "my-db", "10.1.0.2", ["81/tcp", "80/tcp", "53/udp"], ["USER=me", "PATH=/x"])
    assert env[0] == "MY_DB_PORT=tcp://10.1.0.2:53" or env[0] == "MY_DB_PORT=udp://10.1.0.2:53"
    assert "MY_DB_PORT_80_TCP_START=tcp://10.1.0.2:80" in env and "MY_DB_PORT_80_TCP_PORT_END=81" in env
    assert "MY_DB_PORT_81_TCP_ADDR=10.1.0.2" in env and "MY_DB_PORT_53_UDP_PROTO=udp" in env
    assert env[-2:] == ["MY_DB_NAME=/app/my-db", "MY_DB_ENV_USER=me"]  # PATH and HOME are left out
    assert legacy_links.hosts_entry("web", "1c2d3e4f5a6b", "db", "10.1.0.2") == "web 1c2d3e4f5a6b db:10.1.0.2"
    assert legacy_links.hosts_entry("db", "1c2d3e4f5a6b", "db", "10.1.0.2") == "db 1c2d3e4f5a6b:10.1.0.2"


def _child(containers) -> tuple[str, str, dict]:
    name = f"mdn-db-{secrets.token_hex(3)}"
    child = containers.create("sleep", "60", name=name, Env=["DB_USER=me"],
                              ExposedPorts={"5432/tcp": {}, "80/tcp": {}, "81/tcp": {}})
    containers.start(child)
    return name, child, containers.inspect(child)


@pytest.mark.spec("NET-037", "NET-039")
def test_a_link_names_the_child_in_hosts_and_in_the_environment(engine, containers):
    if engine.kind != "minidock":
        pytest.skip("links need the default bridge (the comparison dockerd runs with --bridge none)")
    name, child, seen = _child(containers)
    address = seen["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    hostname = seen["Config"]["Hostname"]
    parent_name = f"mdn-app-{secrets.token_hex(3)}"
    parent = containers.create("sh", "-c", "cat /etc/hosts; env", name=parent_name, Env=["WEB_PORT=mine"],
                               HostConfig={"Links": [f"{name}:web"]})
    containers.start(parent)
    assert containers.wait(parent) == 0
    out = containers.output(parent)
    assert f"{address}\tweb {hostname} {name}\n" in out, out
    env = set(out.splitlines())
    for line in (f"WEB_PORT_80_TCP=tcp://{address}:80", f"WEB_PORT_80_TCP_ADDR={address}", "WEB_PORT_80_TCP_PORT=80",
                 "WEB_PORT_80_TCP_PROTO=tcp", f"WEB_PORT_5432_TCP=tcp://{address}:5432",
                 f"WEB_PORT_80_TCP_START=tcp://{address}:80", f"WEB_PORT_80_TCP_END=tcp://{address}:81",
                 f"WEB_NAME=/{parent_name}/web", "WEB_ENV_DB_USER=me", "WEB_PORT=mine"):  # its own -e wins
        assert line in env, (line, out)
    # the docker CLI's --link without an alias: the name is the alias
    linked = engine.cli("run", "--rm", "--link", name, "busybox", "grep", name, "/etc/hosts").stdout
    assert linked.startswith(f"{address}\t{name} {hostname}"), linked


@pytest.mark.spec("NET-038")
def test_bad_links_are_refused(engine, containers, networks):
    done = engine.cli("create", "--link", "a:b:c", "busybox", "true", check=False)
    assert done.returncode != 0 and "bad format for links: a:b:c" in done.stderr, done.stderr
    status, _, raw = engine.api("POST", f"{API}/containers/create", {
        "Image": containers.image, "Cmd": ["true"], "HostConfig": {"Links": ["mdn-nosuch:web"]}})
    assert status == 400 and b"could not get container for mdn-nosuch: No such container: mdn-nosuch" in raw, raw
    if engine.kind != "minidock":
        return  # the rest needs the default bridge
    name = f"mdn-stopped-{secrets.token_hex(3)}"
    containers.create("true", name=name)
    parent = containers.create("true", HostConfig={"Links": [f"{name}:web"]})
    status, _, raw = engine.api("POST", f"{API}/containers/{parent}/start")
    assert status >= 400 and f"Cannot link to a non running container: /{name} AS /".encode() in raw, raw
    network, _ = networks.create("links", subnet=networks.subnet(7))
    status, _, raw = engine.api("POST", f"{API}/containers/create", {
        "Image": containers.image, "Cmd": ["true"], "HostConfig": {"Links": [f"{name}:web"], "NetworkMode": network}})
    assert status == 400 and b"default bridge" in raw, json.loads(raw)
