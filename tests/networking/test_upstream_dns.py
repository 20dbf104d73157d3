"""NET-062: names the embedded DNS does not know go to the daemon's upstream, here a fake one.

The upstream is a DNS server this test runs on a loopback address of its own
(127.77.<n>.53, port 53) and names with the daemon's --dns; it knows one made-up
name. No query leaves the machine: the daemon asks the loopback, nothing else.
"""

from __future__ import annotations

import secrets
import socket
import threading

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from minidock.engine.config import parse_args
from minidock.errors import InvalidArgument
from tests.harness.engine import spare_network_flags, stop_daemon, wait_for_ping
from tests.networking.conftest import gateway_of
from tests.networking.test_cleanup import _daemon, only_minidock  # noqa: F401 - a fixture

MADE_UP = "mdn-upstream.example"
ANSWER = "192.0.2.77"  # TEST-NET-1: an address nothing answers at, only ever written into a reply


class FakeUpstream:
    """A UDP DNS server on a loopback address: A for MADE_UP, NXDOMAIN for anything else; it counts.

    The server's thread wakes every 0.2 s to see whether it should stop: closing a socket
    does not wake a thread blocked in recvfrom(2) on it, and the blocked call would keep
    the socket, and its address, bound for as long as the worker lives.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.address = sock.getsockname()[0]
        self.asked: list[str] = []
        self.stopping = threading.Event()
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @classmethod
    def on_a_free_address(cls) -> "FakeUpstream":
        """Bound to 127.77.N.53, port 53, for a random N that no other test (a worker beside us) holds."""
        for _ in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((f"127.77.{secrets.randbelow(250) + 1}.53", 53))
            except OSError:
                sock.close()
                continue
            return cls(sock)
        raise AssertionError("no free 127.77.N.53:53 in 50 tries")

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            request = DNSRecord.parse(data)
            name = str(request.q.qname).rstrip(".")
            self.asked.append(name)
            reply = request.reply()
            if name == MADE_UP and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ANSWER), ttl=60))
            elif name != MADE_UP:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), client)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def upstream():
    made = FakeUpstream.on_a_free_address()
    try:
        yield made
    finally:
        made.close()


@pytest.mark.spec("NET-062")
def test_external_names_are_forwarded_to_the_daemons_dns(only_minidock, tmp_path, upstream):
    flags = spare_network_flags()
    engine, process = _daemon(tmp_path / "d", [*flags, "--dns", upstream.address])
    try:
        wait_for_ping(engine, process)
        engine.cli("image", "bootstrap", "busybox", timeout=120)
        subnet = flags[3].replace(".1/24", ".0/24").replace("10.212.", "10.209.")
        engine.cli("network", "create", "--subnet", subnet, "mdn-up")
        out = engine.cli("run", "--rm", "--network", "mdn-up", "busybox", "sh", "-c",
                         f"cat /etc/resolv.conf; nslookup {MADE_UP}; nslookup mdn-nothing.example; echo rc=$?",
                         check=False).stdout
        assert f"nameserver {subnet.replace('.0/24', '.1')}" in out  # the container asks the embedded DNS ...
        assert f"Address: {ANSWER}" in out, out                    # ... which asked the upstream
        assert MADE_UP in upstream.asked and "mdn-nothing.example" in upstream.asked
        assert out.rstrip().endswith("rc=1"), out                   # the upstream's NXDOMAIN, passed on
        # a container on the default bridge gets the daemon's --dns itself
        plain = engine.cli("run", "--rm", "busybox", "cat", "/etc/resolv.conf").stdout
        assert f"nameserver {upstream.address}" in plain
    finally:
        engine.cli("network", "rm", "mdn-up", check=False)
        stop_daemon(process)


@pytest.mark.spec("NET-062")
def test_a_bad_dns_flag_refuses_the_start():
    with pytest.raises(InvalidArgument, match='invalid argument "dns.example" for "--dns" flag'):
        parse_args(["--dns", "dns.example"])
    assert parse_args(["--dns", "127.0.0.9", "--dns", "::1"]).dns == ("127.0.0.9", "::1")


@pytest.mark.spec("NET-064")
def test_a_containers_own_dns_is_its_upstream_on_a_user_network(engine, networks, containers, upstream):
    if engine.kind != "minidock":
        # seen with dockerd 20.10: its resolver's queries to this upstream time out (the
        # fake upstream listens on the host's loopback, the one address a test may use)
        pytest.skip("dockerd 20.10's resolver does not reach an upstream on the host's loopback")
    network, _ = networks.create("owndns", subnet=networks.subnet(8))
    gateway = gateway_of(networks.inspect(network))
    container_id, code = containers.run("sh", "-c", f"cat /etc/resolv.conf; nslookup {MADE_UP}",
                                        HostConfig={"NetworkMode": network, "Dns": [upstream.address]})
    out = containers.output(container_id)
    assert code == 0 and f"Address: {ANSWER}" in out, out
    assert MADE_UP in upstream.asked
    assert f"nameserver {gateway}" in out  # still the embedded DNS (dockerd's is 127.0.0.11)
