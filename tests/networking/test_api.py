"""The /networks API, the CLI's network verbs, the docker CLI and the Python SDK against the engine."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.networking.conftest import API


@pytest.mark.spec("NET-050")
def test_list_inspect_and_filters(engine, networks):
    name, network_id = networks.create(subnet=networks.subnet(0), Labels={"team": "blue"})
    status, _, raw = engine.api("GET", f"{API}/networks")
    assert status == 200
    listed = {n["Name"]: n for n in json.loads(raw)}
    assert {"bridge", "host", "none", name} <= set(listed)
    assert listed[name]["Driver"] == "bridge" and listed[name]["Scope"] == "local"
    for filters, expected in (({"name": [name]}, {name}), ({"label": ["team=blue"]}, {name}),
                              ({"id": [network_id[:12]]}, {name})):
        status, _, raw = engine.api("GET", f"{API}/networks?filters={quote(json.dumps(filters))}")
        assert status == 200 and {n["Name"] for n in json.loads(raw)} == expected, filters
    status, _, raw = engine.api("GET", f"{API}/networks?filters={quote(json.dumps({'type': ['custom']}))}")
    assert name in {n["Name"] for n in json.loads(raw)} and "bridge" not in {n["Name"] for n in json.loads(raw)}
    document = networks.inspect(network_id[:12])
    assert document["Id"] == network_id and document["IPAM"]["Config"][0]["Subnet"] == networks.subnet(0)
    assert document["Labels"] == {"team": "blue"} and document["Containers"] == {}


@pytest.mark.spec("NET-050")
def test_unknown_network_and_name_in_use(engine, networks):
    status, _, raw = engine.api("GET", f"{API}/networks/mdn-nosuch-network")
    assert status == 404 and json.loads(raw)["message"] == "network mdn-nosuch-network not found"
    name, _ = networks.create()
    status, _, raw = engine.api("POST", f"{API}/networks/create", {"Name": name, "CheckDuplicate": True})
    assert status == 409, raw
    assert json.loads(raw)["message"] == f"network with name {name} already exists"


@pytest.mark.spec("NET-051")
def test_a_container_on_an_unknown_network_is_refused(engine, busybox):
    status, _, raw = engine.api("POST", f"{API}/containers/create",
                                {"Image": busybox, "HostConfig": {"NetworkMode": "mdn-nosuch-network"}})
    if engine.kind != "minidock" and status == 201:  # dockerd 20.10 refuses at the start
        container_id = json.loads(raw)["Id"]
        try:
            status, _, raw = engine.api("POST", f"{API}/containers/{container_id}/start")
        finally:
            engine.api("DELETE", f"{API}/containers/{container_id}?force=1")
    assert status == 404, raw
    assert "network mdn-nosuch-network not found" in json.loads(raw)["message"]


@pytest.mark.spec("NET-052")
def test_a_network_with_endpoints_and_a_predefined_one_are_not_removed(engine, networks, containers):
    name, network_id = networks.create(subnet=networks.subnet(1))
    running = containers.create("sleep", "30", HostConfig={"NetworkMode": name})
    containers.start(running)
    status, _, raw = engine.api("DELETE", f"{API}/networks/{name}")
    assert status == 403, raw
    assert "has active endpoints" in json.loads(raw)["message"]
    assert running in networks.inspect(name)["Containers"]
    status, _, raw = engine.api("DELETE", f"{API}/networks/bridge")
    assert status == 403 and "pre-defined network and cannot be removed" in json.loads(raw)["message"]


@pytest.mark.spec("NET-053")
def test_connect_and_disconnect_a_running_container(engine, networks, containers):
    name, _ = networks.create(subnet=networks.subnet(2))
    container_id = containers.create("sleep", "60")
    containers.start(container_id)
    status, _, raw = engine.api("POST", f"{API}/networks/{name}/connect",
                                {"Container": container_id, "EndpointConfig": {"Aliases": ["extra"]}})
    assert status == 200, raw
    address = containers.inspect(container_id)["NetworkSettings"]["Networks"][name]["IPAddress"]
    assert address.startswith(networks.subnet(2).rsplit(".", 1)[0])
    status, _, raw = engine.api("POST", f"{API}/containers/{container_id}/exec",
                                {"Cmd": ["ip", "-o", "-4", "addr"], "AttachStdout": True})
    exec_id = json.loads(raw)["Id"]
    status, _, raw = engine.api("POST", f"{API}/exec/{exec_id}/start", {"Detach": False})
    assert f"{address}/24" in raw.decode(errors="replace")
    status, _, raw = engine.api("POST", f"{API}/networks/{name}/disconnect", {"Container": container_id})
    assert status == 200, raw
    assert name not in containers.inspect(container_id)["NetworkSettings"]["Networks"]
    assert networks.inspect(name)["Containers"] == {}


@pytest.mark.spec("NET-053")
def test_connect_a_stopped_container_keeps_it_for_the_start(engine, networks, containers):
    name, _ = networks.create(subnet=networks.subnet(3))
    container_id = containers.create("ip", "-o", "-4", "addr", "show", "eth1")
    status, _, raw = engine.api("POST", f"{API}/networks/{name}/connect", {"Container": container_id})
    assert status == 200, raw
    containers.start(container_id)
    assert containers.wait(container_id) == 0
    assert networks.subnet(3).rsplit(".", 1)[0] in containers.output(container_id)


@pytest.mark.spec("NET-054")
def test_prune_removes_only_unused_user_networks(engine, networks, containers):
    unused, _ = networks.create(Labels={"md-prune": "yes"})
    used, _ = networks.create(subnet=networks.subnet(4), Labels={"md-prune": "yes"})
    running = containers.create("sleep", "30", HostConfig={"NetworkMode": used})
    containers.start(running)
    query = quote(json.dumps({"label": ["md-prune=yes"]}))
    status, _, raw = engine.api("POST", f"{API}/networks/prune?filters={query}")
    assert status == 200, raw
    assert json.loads(raw)["NetworksDeleted"] == [unused]
    status, _, _ = engine.api("GET", f"{API}/networks/{used}")
    assert status == 200
    assert engine.api("GET", f"{API}/networks/bridge")[0] == 200


@pytest.mark.spec("NET-055")
def test_the_docker_cli_against_the_engine(engine, networks, busybox):
    name = networks.name("cli")
    created = engine.docker_cli("network", "create", "--subnet", networks.subnet(5), "--label", "via=docker", name)
    network_id = created.stdout.strip()
    assert len(network_id) == 64
    listed = engine.docker_cli("network", "ls", "--filter", f"name={name}", "--format", "{{.Name}} {{.Driver}}")
    assert listed.stdout.split("\n")[0] == f"{name} bridge"
    inspected = json.loads(engine.docker_cli("network", "inspect", name).stdout)
    assert inspected[0]["Labels"] == {"via": "docker"}
    out = engine.docker_cli("run", "--rm", "--network", name, "--ip", networks.subnet(5).replace(".0/24", ".9"),
                            busybox, "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert networks.subnet(5).replace(".0/24", ".9/24") in out
    assert engine.docker_cli("network", "rm", name).stdout.strip() == name


@pytest.mark.spec("NET-055")
def test_docker_run_publish_and_port(engine, busybox, containers):
    name = f"mdn-p-{containers.image.split(':')[0]}-{id(containers) % 100000}"
    try:
        engine.docker_cli("run", "-d", "--name", name, "-p", "127.0.0.1::80", busybox, "sleep", "30")
        out = engine.docker_cli("port", name, "80").stdout.strip()
        assert out.startswith("127.0.0.1:") and int(out.rsplit(":", 1)[1]) > 0
    finally:
        engine.api("DELETE", f"{API}/containers/{name}?force=1")


@pytest.mark.spec("NET-056")
def test_the_python_sdk(engine, networks, containers):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=engine.host, version="1.41")
    name = networks.name("sdk")
    network = client.networks.create(name, driver="bridge", labels={"via": "sdk"},
                                     ipam=docker.types.IPAMConfig(pool_configs=[
                                         docker.types.IPAMPool(subnet=networks.subnet(6))]))
    assert client.networks.get(name).id == network.id
    assert name in [n.name for n in client.networks.list(names=[name])]
    container_id = containers.create("sleep", "30")
    containers.start(container_id)
    network.connect(container_id, aliases=["sdk-alias"])
    network.reload()
    assert container_id in [c.id for c in network.containers]
    network.disconnect(container_id)
    network.remove()
    assert name not in [n.name for n in client.networks.list()]
    client.close()


@pytest.mark.spec("NET-050")
def test_minidock_network_verbs(engine, networks):
    if engine.kind != "minidock":
        pytest.skip("minidock's own CLI")
    name = networks.name("verbs")
    engine.cli("network", "create", "--subnet", networks.subnet(7), "--internal", name)
    assert name in engine.cli("network", "ls").stdout
    assert engine.cli("network", "inspect", "-f", "{{.Internal}}", name).stdout.strip() == "true"
    assert engine.cli("network", "rm", name).stdout.strip() == name
    result = engine.cli("network", "rm", name, check=False)
    assert result.returncode == 1 and f"network {name} not found" in result.stderr
