"""What a container, a network and a daemon leave on the host: nothing (minidock only: it reads
the host's links and rules, and starts daemons of its own)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.engine import Engine, python_module, spare_network_flags, stop_daemon, wait_for_ping
from tests.networking.conftest import API, engine_index, host


@pytest.fixture
def only_minidock(engine):
    if engine.kind != "minidock":
        pytest.skip("reads minidock's own links, rules and files")


def _eventually(check, timeout: float = 6.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def _links() -> str:
    return host("ip", "-d", "-o", "link").stdout


def _rules() -> str:
    return host("iptables-save").stdout


@pytest.mark.spec("NET-005")
def test_a_removed_container_and_network_leave_nothing(engine, only_minidock, networks, containers):
    name, network_id = networks.create(subnet=networks.subnet(9))
    container_id = containers.create("sleep", "60", ExposedPorts={"80/tcp": {}},
                                     HostConfig={"NetworkMode": name, "PortBindings": {"80/tcp": [{"HostPort": ""}]}})
    containers.start(container_id)
    address = containers.inspect(container_id)["NetworkSettings"]["Networks"][name]["IPAddress"]
    netns = containers.inspect(container_id)["NetworkSettings"]["SandboxKey"]
    assert f"{address}:80" in _rules() and os.path.exists(netns)
    assert container_id[:12] in _links()  # the host's end of the veth carries its container
    engine.api("DELETE", f"{API}/containers/{container_id}?force=1")
    assert _eventually(lambda: container_id[:12] not in _links())
    assert f"{address}:80" not in _rules() and not os.path.exists(netns)
    bridge = f"br-{network_id[:12]}"
    assert bridge in _links()
    status, _, raw = engine.api("DELETE", f"{API}/networks/{name}")
    assert status == 204, raw
    assert bridge not in _links() and bridge not in _rules()


def _daemon(root: Path, flags: list[str]) -> tuple[Engine, subprocess.Popen]:
    root.mkdir(exist_ok=True)
    engine = Engine("minidock", f"unix://{root}/s.sock", root / "log", python_module("minidock.cli.main"))
    argv = [*python_module("minidock.engine.daemon"), "-H", engine.host, "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--shutdown-timeout", "2", *flags]
    with open(root / "log", "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return engine, process


def _chain(root: Path) -> str:
    return "MINIDOCK-" + hashlib.sha256(os.path.realpath(root / "data").encode()).hexdigest()[:8]


@pytest.mark.spec("NET-005")
def test_a_stopped_daemon_leaves_no_bridge_and_no_rule(only_minidock, tmp_path, busybox):
    flags = spare_network_flags()
    engine, process = _daemon(tmp_path / "d", flags)
    try:
        wait_for_ping(engine, process)
        engine.cli("image", "bootstrap", "busybox", timeout=120)
        engine.cli("network", "create", "--subnet", flags[3].replace(".1/24", ".0/24").replace("10.212.", "10.211."),
                   "mdn-left")
        engine.cli("run", "-d", "--network", "mdn-left", "-p", "80", "busybox", "sleep", "60")
        assert _chain(tmp_path / "d") in _rules()
    finally:
        stop_daemon(process)
    assert _eventually(lambda: "minidock:" + _chain(tmp_path / "d")[9:] not in _links())
    assert _chain(tmp_path / "d") not in _rules()
    assert not os.listdir(tmp_path / "d" / "exec" / "netns")


@pytest.mark.spec("NET-015")
def test_a_daemon_refuses_a_bridge_or_a_subnet_it_does_not_own(engine, only_minidock, tmp_path):
    index = engine_index(engine)
    spare = spare_network_flags()
    for stem, flags, words in (("bridge", ["--bridge", f"mdt{index}", "--bip", spare[3]], "is not this daemon's"),
                               ("subnet", [spare[0], spare[1], "--bip", f"10.213.{index}.1/24"], "overlaps")):
        other, process = _daemon(tmp_path / stem, flags)
        assert process.wait(30) == 1
        assert words in other.log(), other.log()
        assert _chain(tmp_path / stem) not in _rules()
    assert json.loads(engine.api("GET", f"{API}/networks/bridge")[2])["Name"] == "bridge"  # ours still there
    assert f"mdt{index}" in _links()


@pytest.mark.spec("NET-014")
def test_networks_and_addresses_survive_a_restart(only_minidock, tmp_path):
    flags = spare_network_flags()
    subnet = flags[3].replace(".1/24", ".0/24").replace("10.212.", "10.210.")
    wanted = subnet.replace(".0/24", ".7")
    root = tmp_path / "r"
    engine, process = _daemon(root, [*flags, "--live-restore"])
    try:
        wait_for_ping(engine, process)
        engine.cli("image", "bootstrap", "busybox", timeout=120)
        network_id = engine.cli("network", "create", "--subnet", subnet, "mdn-kept").stdout.strip()
        engine.cli("run", "-d", "--name", "kept", "--network", "mdn-kept", "--ip", wanted, "-p", "80",
                   "busybox", "sleep", "120")
        stop_daemon(process)  # --live-restore: "kept" runs on, with its address
        engine, process = _daemon(root, [*flags, "--live-restore"])
        wait_for_ping(engine, process)
        document = json.loads(engine.api("GET", f"{API}/networks/mdn-kept")[2])
        assert document["Id"] == network_id and document["IPAM"]["Config"][0]["Subnet"] == subnet
        assert [c["IPv4Address"] for c in document["Containers"].values()] == [f"{wanted}/24"]
        taken = engine.cli("run", "--rm", "--network", "mdn-kept", "--ip", wanted, "busybox", "true", check=False)
        assert taken.returncode != 0 and "Address already in use" in taken.stderr
        port = json.loads(engine.api("GET", f"{API}/containers/kept/json")[2])["NetworkSettings"]["Ports"]["80/tcp"]
        assert port and int(port[0]["HostPort"]) > 0  # published again
    finally:
        engine.api("DELETE", f"{API}/containers/kept?force=1")
        engine.api("DELETE", f"{API}/networks/mdn-kept")
        stop_daemon(process)
    # nothing runs on: even with --live-restore the daemon's stop leaves nothing
    assert _chain(root) not in _rules() and flags[1] not in _links()


@pytest.mark.spec("NET-016")
def test_a_daemon_reaps_what_a_killed_one_left(engine, only_minidock, tmp_path):
    flags = spare_network_flags()
    root = tmp_path / "killed"
    killed, process = _daemon(root, flags)
    try:
        wait_for_ping(killed, process)
        killed.cli("network", "create", "--subnet", flags[3].replace(".1/24", ".0/24").replace("10.212.", "10.209."),
                   "mdn-orphan")
        assert _chain(root) in _rules()
        process.kill()  # SIGKILL: nothing cleaned
        process.wait()
        assert _chain(root) in _rules() and flags[1] in _links()
        # the next daemon to start, any daemon, removes what the dead one left
        other, second = _daemon(tmp_path / "next", spare_network_flags())
        wait_for_ping(other, second)
        stop_daemon(second)
        assert _chain(root) not in _rules() and flags[1] not in _links()
        assert f"mdt{engine_index(engine)}" in _links()  # a live daemon's bridge stays
    finally:
        stop_daemon(process)
        again, process = _daemon(root, flags)  # its own roots cleaned by itself
        wait_for_ping(again, process)
        stop_daemon(process)
