"""The nftables backend (minidock only: MINIDOCK_FIREWALL=nftables on a daemon of the test's own)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.request

import pytest

from tests.harness.engine import Engine, python_module, spare_network_flags, stop_daemon, wait_for_ping
from tests.networking.conftest import host


@pytest.mark.spec("NET-018", "NET-084")
def test_nat_ports_and_isolation_through_nftables(engine, tmp_path, outside):
    if engine.kind != "minidock" or not host("sh", "-c", "command -v nft", check=False).stdout:
        pytest.skip("minidock's own daemon, with nft on the host")
    if "-P FORWARD DROP" in host("iptables", "-S", "FORWARD", check=False).stdout:
        # dockerd, or a minidockd with iptables, turned forwarding on here (NET-043): an
        # accept in our own nftables table cannot overrule a drop in iptables' FORWARD chain
        pytest.skip("the host's iptables FORWARD policy is DROP, which no nftables table can overrule")
    flags = spare_network_flags()
    root = tmp_path / "nft"
    root.mkdir()
    daemon = Engine("minidock", f"unix://{root}/s.sock", root / "log", python_module("minidock.cli.main"))
    argv = [*python_module("minidock.engine.daemon"), "-H", daemon.host, "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--shutdown-timeout", "2", *flags]
    table = "minidock-" + hashlib.sha256(os.path.realpath(root / "data").encode()).hexdigest()[:8]
    with open(root / "log", "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "MINIDOCK_FIREWALL": "nftables"})
    try:
        wait_for_ping(daemon, process)
        daemon.cli("image", "bootstrap", "busybox", timeout=120)
        rules = host("nft", "list", "table", "ip", table).stdout
        assert "masquerade" in rules and f'oifname "{flags[1]}" drop' in rules
        # out through NAT to another host: it sees the host's address
        out = daemon.cli("run", "--rm", "busybox", "nc", "-w", "3", outside.address, str(outside.port)).stdout
        assert out.strip() == outside.host_address
        # a published port, through DNAT from the host to the bridge's address
        daemon.cli("run", "-d", "--name", "web", "-p", "80", "busybox", "sh", "-c",
                   "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
        port = daemon.cli("port", "web", "80").stdout.strip().rsplit(":", 1)[1]
        gateway = flags[3].split("/")[0]
        body = b""
        for _ in range(30):
            try:
                body = urllib.request.urlopen(f"http://{gateway}:{port}/index.html", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"hello\n"
        assert "dnat to" in host("nft", "list", "table", "ip", table).stdout
        daemon.cli("rm", "-f", "web")
        assert "dnat to" not in host("nft", "list", "table", "ip", table).stdout
        # [NET-084] an IPv6 network's isolation, in a table of the ip6 family
        index = int(flags[1][3:])
        network_id = daemon.cli("network", "create", "--ipv6", "--subnet", f"10.208.{index}.0/24",
                                "--subnet", f"fd00:{0x3000 + index:x}::/64", "mdn-nft6").stdout.strip()
        assert f'oifname "br-{network_id[:12]}" drop' in host("nft", "list", "table", "ip6", table).stdout
        daemon.cli("network", "rm", "mdn-nft6")
        assert f"br-{network_id[:12]}" not in host("nft", "list", "table", "ip6", table).stdout
    finally:
        stop_daemon(process)
    for family in ("ip", "ip6"):  # the tables are gone
        assert host("nft", "list", "table", family, table, check=False).returncode != 0
