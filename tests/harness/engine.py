"""The engine switch: the same tests drive minidock or a real Docker engine.

Implements: spec/harness.md HARNESS-ENGINE-001 .. HARNESS-ENGINE-006
Explained:  DESIGN.md "Specs and conformance" (black-box tests, --engine=docker)
Modelled on: docker's integration-cli, which starts a private dockerd per test suite

    --engine=minidock|docker      (default minidock)
    engine                        session fixture: one Engine per xdist worker

    engine.kind                   "minidock" or "docker"
    engine.host                   "unix:///tmp/minidock-test-.../minidock.sock"
    engine.cli(*args, check=True, input=None, timeout=60)         our CLI (or docker's, for docker)
    engine.docker_cli(*args, check=True, input=None, timeout=60)  the real docker CLI, either engine
    engine.api(method, path, body=None, headers=None)             -> (status, headers, body bytes)

For minidock, each worker starts its own daemon with its own socket, data root,
exec root, bridge `mdt<N>` and subnet `10.213.<N>.0/24`, N being the worker's
number (or the next free one when another test session holds it). The daemon and
the CLI run as `sys.executable -P -m minidock...`, so the copy of minidock on
PYTHONPATH is the one under test (the lab grader relies on it) and the current
directory never shadows it.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

# seconds a daemon has to answer /_ping; an emulated VM (make vm-test without KVM) sets more
PING_TIMEOUT = float(os.environ.get("MINIDOCK_TEST_PING_TIMEOUT", "15"))
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
LOCK_DIR = Path(tempfile.gettempdir()) / "minidock-test-locks"


def pytest_addoption(parser: pytest.Parser) -> None:
    """--engine=minidock|docker."""
    parser.getgroup("minidock-engine", "minidock engine under test").addoption(
        "--engine", choices=("minidock", "docker"), default="minidock",
        help="the engine the tests drive: a private minidock daemon per worker (default), "
             "or the Docker engine at $DOCKER_HOST",
    )


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def pytest_configure(config: pytest.Config) -> None:
    """[HARNESS-ENGINE-006] The host forwards IPv4 before any engine starts, or any snapshot.

    A daemon that finds forwarding off turns it on and sets the FORWARD policy to DROP, as
    dockerd does (NET-043; tests/networking/test_forwarding.py checks it in a namespace of
    its own). Left to the session's first daemon, that would be a change of the host's
    policy that outlives the session (the leak check reports it), and, the tests running
    in any order, some tests would see the DROP policy and others not: the nftables
    backend's rules cannot overrule a drop in iptables' FORWARD chain. So the suite runs
    on a host that forwards already, which every daemon leaves as it is.
    """
    if os.geteuid() == 0 and IP_FORWARD.exists() and IP_FORWARD.read_text().strip() != "1":
        IP_FORWARD.write_text("1")


class CommandFailed(subprocess.CalledProcessError):
    """A CLI call exited non-zero; the message shows what it printed."""

    def __str__(self) -> str:
        return (
            f"{' '.join(map(str, self.cmd))} exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket (stdlib only): the Engine API's transport."""

    def __init__(self, socket_path: str, timeout: float = 60.0):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def connection_for(host: str, timeout: float = 60.0) -> http.client.HTTPConnection:
    """An HTTP connection to a docker-style host: unix:///path or tcp://addr:port."""
    url = urlsplit(host)
    if url.scheme == "unix":
        return UnixHTTPConnection(url.path, timeout)
    if url.scheme in ("tcp", "http"):
        return http.client.HTTPConnection(url.hostname or "localhost", url.port or 2375, timeout=timeout)
    raise ValueError(f"unsupported engine host {host!r}: use unix:///path or tcp://addr:port")


def run_command(argv: list[str], check: bool, input: str | bytes | None, timeout: float) -> subprocess.CompletedProcess:
    """Run argv, capture its output (text unless input is bytes); raise CommandFailed if asked."""
    text = not isinstance(input, bytes)
    result = subprocess.run(
        argv, input=input, capture_output=True, timeout=timeout,
        **({"encoding": "utf-8", "errors": "replace"} if text else {}),
    )
    if check and result.returncode != 0:
        raise CommandFailed(result.returncode, argv, result.stdout, result.stderr)
    return result


def python_module(module: str) -> list[str]:
    """argv for `python -m module` with the interpreter running the tests.

    -P keeps the current directory off sys.path, so PYTHONPATH decides which minidock runs.
    """
    return [sys.executable, "-P", "-m", module]


@dataclass
class Engine:
    """The engine under test, as the tests see it: a host address and three ways to talk."""

    kind: str
    host: str
    log_path: Path | None = None
    cli_argv: list[str] = field(default_factory=list)

    def cli(self, *args: str, check: bool = True, input: str | bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the engine's own CLI: `minidock -H host ...` (or `docker -H host ...`)."""
        return run_command([*self.cli_argv, "-H", self.host, *map(str, args)], check, input, timeout)

    def docker_cli(self, *args: str, check: bool = True, input: str | bytes | None = None,
                   timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the real docker CLI against this engine; skip the test if docker is not installed."""
        docker = shutil.which("docker")
        if docker is None:
            pytest.skip("the docker CLI is not on the PATH")
        return run_command([docker, "-H", self.host, *map(str, args)], check, input, timeout)

    def api(self, method: str, path: str, body: bytes | str | dict | list | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One raw HTTP/1.1 request: (status, headers (case-insensitive), body bytes).

        A dict or list body is sent as JSON with Content-Type application/json.
        """
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        connection = connection_for(self.host, timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def log(self) -> str:
        """The daemon's log so far (empty for an engine we did not start)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


# -- a private minidock daemon -------------------------------------------------


def worker_index(config: pytest.Config) -> int:
    """0 for gw0 (or no xdist), 1 for gw1, ..."""
    workerid = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(workerid.removeprefix("gw") or 0)


def claim_index(preferred: int) -> tuple[int, object]:
    """The first free index preferred, preferred+16, ... with its lock held for the session.

    Two test sessions on one machine (two engineers, or a test that runs pytest)
    must not share a bridge or a subnet; a flock on /tmp/minidock-test-locks/N
    says who has N. The lock goes when the returned file is closed (or we die).
    """
    LOCK_DIR.mkdir(exist_ok=True)
    for index in range(preferred, 256, 16):
        lock = open(LOCK_DIR / str(index), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if not Path(f"/sys/class/net/mdt{index}").exists():
            return index, lock
        lock.close()  # a bridge left by someone else: the leak check will name it
    raise RuntimeError("no free minidock test index (bridges mdt0..mdt255 all taken)")


_SPARE_LOCKS: list = []  # held until this process ends


def spare_network_flags() -> list[str]:
    """["--bridge", "mdp<I>", "--bip", "10.212.<I>.1/24"] for a test's own extra daemon.

    Each call claims a fresh index (a flock in /tmp/minidock-test-locks/p<I>, held while this
    test process lives), so extra daemons of parallel workers and sessions never share a
    bridge or a subnet; a daemon refuses a bridge it did not make (NET-015). A test that
    restarts its daemon passes the same flags again: the bridge is its own.
    """
    LOCK_DIR.mkdir(exist_ok=True)
    for index in range(1, 255):
        lock = open(LOCK_DIR / f"p{index}", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if Path(f"/sys/class/net/mdp{index}").exists():
            lock.close()  # left by a daemon that was killed: not ours to take
            continue
        _SPARE_LOCKS.append(lock)
        return ["--bridge", f"mdp{index}", "--bip", f"10.212.{index}.1/24"]
    raise RuntimeError("no spare bridge index (mdp1..mdp254 all taken)")


def daemon_argv(root: Path, index: int) -> list[str]:
    """The daemon's command line, with dockerd's flags."""
    return [
        *python_module("minidock.engine.daemon"),
        "-H", f"unix://{root}/minidock.sock",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--bridge", f"mdt{index}",
        "--bip", f"10.213.{index}.1/24",
        "--shutdown-timeout", "3",  # well inside STOP_TIMEOUT
    ]


def wait_for_ping(engine: Engine, process: subprocess.Popen, timeout: float = PING_TIMEOUT) -> None:
    """Return once the daemon answers GET /_ping; raise with its log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    last_error: object = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the minidock daemon exited with {process.returncode} before answering "
                               f"/_ping\n--- daemon log ---\n{engine.log()}")
        try:
            status, _, _ = engine.api("GET", "/_ping", timeout=1)
            if status == 200:
                return
            last_error = f"HTTP {status}"
        except OSError as error:
            last_error = error
        time.sleep(0.05)
    raise RuntimeError(f"the minidock daemon did not answer /_ping within {timeout:g} s "
                       f"(last: {last_error})\n--- daemon log ---\n{engine.log()}")


def stop_daemon(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below directory (never rmtree through a mount)."""
    prefix = str(directory)
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def remove_tree(directory: Path) -> None:
    """rm -rf directory, unless something is still mounted there (the leak check will say so)."""
    if mounts_under(directory):
        return
    shutil.rmtree(directory, ignore_errors=True)


def start_minidock(config: pytest.Config) -> Iterator[Engine]:
    """A private daemon for this worker: start it, wait for /_ping, yield, stop it, clean up."""
    index, lock = claim_index(worker_index(config))
    root = Path(tempfile.mkdtemp(prefix=f"minidock-test-{index}-"))
    engine = Engine(
        kind="minidock",
        host=f"unix://{root}/minidock.sock",
        log_path=root / "daemon.log",
        cli_argv=python_module("minidock.cli.main"),
    )
    try:
        with open(engine.log_path, "wb") as log:
            # A session of its own: a Ctrl-C to pytest must not kill the daemon
            # before the tests' teardown has asked it to stop.
            process = subprocess.Popen(daemon_argv(root, index), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                       start_new_session=True)
        try:
            wait_for_ping(engine, process)
            yield engine
        finally:
            stop_daemon(process)
    finally:
        remove_tree(root)
        lock.close()


def docker_engine() -> Engine:
    """The Docker engine at $DOCKER_HOST."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        pytest.fail("--engine=docker needs DOCKER_HOST (e.g. DOCKER_HOST=unix:///var/run/docker.sock); "
                    "it is not set", pytrace=False)
    return Engine(kind="docker", host=host, cli_argv=[shutil.which("docker") or "docker"])


@pytest.fixture(scope="session")
def engine(pytestconfig: pytest.Config) -> Iterator[Engine]:
    """The engine under test (see the module docstring)."""
    if pytestconfig.getoption("engine") == "docker":
        yield docker_engine()
    else:
        yield from start_minidock(pytestconfig)
