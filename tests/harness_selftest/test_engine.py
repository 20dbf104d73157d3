"""The engine switch: a private daemon per worker, the docker engine at $DOCKER_HOST, the API and CLI.

Most tests use a fake minidock (a stdlib HTTP server answering /_ping, and a CLI that
prints its argv) put first on PYTHONPATH, as the lab grader puts a student's copy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.engine import CommandFailed, Engine, wait_for_ping
from tests.harness_selftest.conftest import REPO, output_of

FAKE_DAEMON = '''\
"""A fake minidockd: answers every GET with 200 OK, writes how it was started next to its socket."""
import argparse, http.server, json, os, signal, socketserver, sys
from pathlib import Path

parser = argparse.ArgumentParser()
for flag in ("-H", "--data-root", "--exec-root", "--bridge", "--bip", "--shutdown-timeout"):
    parser.add_argument(flag)
args = parser.parse_args()
if os.environ.get("FAKE_DAEMON_FAIL"):
    print("boom: the fake daemon cannot start", flush=True)
    sys.exit(3)
path = args.H.removeprefix("unix://")
Path(path).parent.joinpath("started.json").write_text(json.dumps({"argv": sys.argv[1:], "file": __file__}))

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

server = Server(path, Handler)
def stop(*_):
    os.unlink(path)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
server.serve_forever()
'''

FAKE_CLI = '''\
import json, sys
print(json.dumps({"argv": sys.argv[1:], "file": __file__}))
'''


def write_fake_minidock(where: Path) -> Path:
    """A fake minidock package under where/fake; returns where/fake (for PYTHONPATH)."""
    root = where / "fake"
    for package in ("minidock", "minidock/engine", "minidock/cli"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "minidock/engine/daemon.py").write_text(FAKE_DAEMON)
    (root / "minidock/cli/main.py").write_text(FAKE_CLI)
    return root


@pytest.fixture
def fake(inner, monkeypatch):
    """The fake minidock, first on the inner runs' PYTHONPATH."""
    root = write_fake_minidock(inner.path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), str(REPO)]))
    return root


@pytest.mark.spec("HARNESS-ENGINE-001", "HARNESS-ENGINE-002", "HARNESS-ENGINE-005")
def test_each_worker_gets_a_private_daemon(inner, fake):
    inner.tests("test_it.py", f"""\
        import json, os
        from pathlib import Path
        from urllib.parse import urlsplit

        def test_engine(engine, worker_id):
            assert engine.kind == "minidock"
            status, headers, body = engine.api("GET", "/_ping")
            assert (status, body, headers["api-version"]) == (200, b"OK", "1.41")
            root = Path(urlsplit(engine.host).path).parent
            started = json.loads((root / "started.json").read_text())
            assert started["file"].startswith({str(fake)!r})
            argv = started["argv"]
            assert argv[argv.index("--data-root") + 1] == str(root / "data")
            assert argv[argv.index("--exec-root") + 1] == str(root / "exec")
            index = int(argv[argv.index("--bridge") + 1].removeprefix("mdt"))
            assert argv[argv.index("--bip") + 1] == f"10.213.{{index}}.1/24"
            os.chdir({str(REPO)!r})  # the repository's own minidock/ must not shadow PYTHONPATH's
            printed = json.loads(engine.cli("version", "--format", "{{{{json .}}}}").stdout)
            assert printed["argv"] == ["-H", engine.host, "version", "--format", "{{{{json .}}}}"]
            assert printed["file"].startswith({str(fake)!r})
            Path({str(inner.path)!r}, worker_id + ".json").write_text(json.dumps([engine.host, index]))
    """)
    # The leak check, on the fake daemon's process only: it must be stopped. (Not on every
    # object under minidock-test-*: the outer session's own daemons mount containers there
    # meanwhile. The temp dir's removal is checked below.)
    result = inner.run("-p", "xdist", "-n", "2", "--dist=each",
                       r"--leak-check-match=^process .*minidock\.engine\.daemon -H unix:///tmp/minidock-test-",
                       leak_check=True)
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    result.assert_outcomes(passed=2)
    seen = [json.loads((inner.path / f"gw{n}.json").read_text()) for n in (0, 1)]
    (host0, index0), (host1, index1) = seen
    assert host0 != host1 and index0 != index1
    for host in (host0, host1):
        assert not Path(host.removeprefix("unix://")).parent.exists(), "the daemon's temp dir was not removed"


@pytest.mark.spec("HARNESS-ENGINE-003")
def test_a_daemon_that_dies_fails_with_its_log(inner, fake, monkeypatch):
    monkeypatch.setenv("FAKE_DAEMON_FAIL", "1")
    inner.tests("test_it.py", "def test_engine(engine):\n    pass\n")
    result = inner.run()
    result.assert_outcomes(errors=1)
    text = output_of(result)
    assert "exited with 3 before answering /_ping" in text
    assert "boom: the fake daemon cannot start" in text


@pytest.mark.spec("HARNESS-ENGINE-003")
def test_a_silent_daemon_times_out_with_its_log(tmp_path):
    log = tmp_path / "daemon.log"
    log.write_text("listening on nothing at all\n")
    engine = Engine(kind="minidock", host=f"unix://{tmp_path}/no.sock", log_path=log)
    process = subprocess.Popen(["sleep", "30"])
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"did not answer /_ping within 0.5 s(.|\n)*listening on nothing"):
            wait_for_ping(engine, process, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        process.kill()
        process.wait()


@pytest.mark.spec("HARNESS-ENGINE-004")
def test_docker_without_docker_host_fails_clearly(inner):
    inner.tests("test_it.py", "def test_engine(engine):\n    pass\n")
    result = inner.run("--engine=docker")
    result.assert_outcomes(errors=1)
    assert "--engine=docker needs DOCKER_HOST" in output_of(result)


@pytest.mark.spec("HARNESS-ENGINE-002", "HARNESS-ENGINE-004")
def test_docker_uses_docker_host(inner, monkeypatch, tmp_path_factory):
    # A short path: a unix socket's path must fit in 108 bytes.
    root = Path(tmp_path_factory.getbasetemp()) / "dh"
    root.mkdir()
    fake = write_fake_minidock(root)
    socket_path = root / "docker.sock"
    daemon = subprocess.Popen([sys.executable, str(fake / "minidock/engine/daemon.py"), "-H", f"unix://{socket_path}"])
    try:
        wait_for_ping(Engine(kind="docker", host=f"unix://{socket_path}"), daemon, timeout=10)
        monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
        inner.tests("test_it.py", f"""\
            def test_engine(engine):
                assert (engine.kind, engine.host) == ("docker", "unix://{socket_path}")
                assert engine.cli_argv[0].endswith("docker")
                assert engine.api("GET", "/_ping")[::2] == (200, b"OK")
        """)
        result = inner.run("--engine=docker")
        assert result.ret == pytest.ExitCode.OK, output_of(result)
    finally:
        daemon.terminate()
        daemon.wait()


@pytest.mark.spec("HARNESS-ENGINE-005")
def test_a_failing_cli_call_shows_its_output():
    script = "import sys; print('out', sys.argv[1:]); print('err: no such thing', file=sys.stderr); sys.exit(2)"
    engine = Engine(kind="minidock", host="unix:///nowhere.sock", cli_argv=[sys.executable, "-c", script])
    with pytest.raises(CommandFailed) as failure:
        engine.cli("ps", "-a")
    message = str(failure.value)
    assert "exited 2" in message and "err: no such thing" in message
    assert "['-H', 'unix:///nowhere.sock', 'ps', '-a']" in message
    result = engine.cli("ps", check=False)
    assert result.returncode == 2 and result.stderr == "err: no such thing\n"
    assert engine.cli("ps", check=False, input=b"").stdout.startswith(b"out")


@pytest.mark.spec("HARNESS-ENGINE-002")
@pytest.mark.skipif(importlib.util.find_spec("minidock.engine.daemon") is None, reason="no minidock daemon yet")
def test_the_real_engine_answers_ping(engine):
    status, headers, body = engine.api("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers.get("Api-Version")



@pytest.mark.spec("HARNESS-ENGINE-006")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the harness only sets it as root")
def test_the_session_runs_on_a_host_that_forwards():
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
