"""The API on TCP: only with TLS, or with --tls=false said out loud (minidock only: own daemons).

The certificates are made here with openssl (a CA, the daemon's for 127.0.0.1, a client's),
and the clients are our CLI and the real docker CLI, which take the same TLS flags.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from tests.engine.test_daemon import DAEMON, _start, _stop

CLI = [sys.executable, "-m", "minidock.cli.main"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """ca.pem; server-cert/key.pem for 127.0.0.1; client cert/key.pem signed by the CA; stranger's not."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=minidock test CA", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, ca in (("server", "ca"), ("client", "ca"), ("stranger", None)):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr",
                 "-subj", f"/CN={who}", cwd=folder)
        if ca:
            _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                     "-CAcreateserial", "-out", f"{who}-cert.pem", "-days", "2",
                     "-extfile", f"{'server' if who == 'server' else 'client'}.ext", cwd=folder)
        else:
            _openssl("x509", "-req", "-in", f"{who}.csr", "-signkey", f"{who}-key.pem", "-out", f"{who}-cert.pem",
                     "-days", "2", cwd=folder)
    return folder


def _client_flags(folder, who: str = "client") -> list[str]:
    return ["--tlsverify", "--tlscacert", str(folder / "ca.pem"),
            "--tlscert", str(folder / f"{who}-cert.pem"), "--tlskey", str(folder / f"{who}-key.pem")]


@pytest.mark.spec("ENGINE-D-002")
@pytest.mark.parametrize("host", ["unix://relative.sock", "fd://", "tcp://127.0.0.1", "http://127.0.0.1:2375"])
def test_a_host_is_a_unix_socket_or_a_tcp_address(tmp_path, host):
    result = subprocess.run([*DAEMON, "-H", host, "--data-root", str(tmp_path / "d"),
                             "--exec-root", str(tmp_path / "e")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert host in result.stderr and "unix:///" in result.stderr and "tcp://" in result.stderr


@pytest.mark.spec("ENGINE-D-011")
def test_plain_tcp_is_refused_unless_asked_for_by_name(tmp_path):
    host = f"tcp://127.0.0.1:{_free_port()}"
    result = subprocess.run([*DAEMON, "-H", host, "--data-root", str(tmp_path / "d"),
                             "--exec-root", str(tmp_path / "e")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"refusing to listen on {host} without TLS" in result.stderr and "--tls=false" in result.stderr
    assert not (tmp_path / "d").exists()  # refused before anything is made


@pytest.mark.spec("ENGINE-D-011")
def test_missing_tls_material_is_named(tmp_path):
    result = subprocess.run([*DAEMON, "-H", f"tcp://127.0.0.1:{_free_port()}", "--tlsverify",
                             "--tlscacert", str(tmp_path / "nope.pem"), "--tlscert", str(tmp_path / "c.pem"),
                             "--tlskey", str(tmp_path / "k.pem"), "--data-root", str(tmp_path / "d"),
                             "--exec-root", str(tmp_path / "e")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "could not load TLS material" in result.stderr
    assert str(tmp_path / "c.pem") in result.stderr


@pytest.mark.spec("ENGINE-D-011")
def test_tls_false_serves_plain_tcp_with_a_loud_warning(tmp_path):
    port = _free_port()
    process, base, sock = _start(tmp_path, "-H", f"tcp://127.0.0.1:{port}", "--tls=false")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while data := conn.recv(4096):
                answer += data
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"OK")
        result = subprocess.run([*CLI, "-H", f"tcp://127.0.0.1:{port}", "version"], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0 and "API version:      1.41" in result.stdout
    finally:
        _stop(process)
    log = process.stdout.read()
    assert "WITHOUT TLS" in log and "gives root access" in log


@pytest.mark.spec("ENGINE-D-011", "ENGINE-CLI-027")
def test_tlsverify_lets_in_only_clients_with_a_certificate_from_the_ca(tmp_path, certificates):
    port = _free_port()
    host = f"tcp://127.0.0.1:{port}"
    process, base, sock = _start(tmp_path, "-H", host, "--tlsverify", "--tlscacert", str(certificates / "ca.pem"),
                                 "--tlscert", str(certificates / "server-cert.pem"),
                                 "--tlskey", str(certificates / "server-key.pem"))
    try:
        ours = subprocess.run([*CLI, "-H", host, *_client_flags(certificates), "version"],
                              capture_output=True, text=True, timeout=30)
        assert ours.returncode == 0, ours.stderr
        assert "API version:      1.41" in ours.stdout
        # a certificate the CA did not sign, and no certificate at all: refused
        stranger = subprocess.run([*CLI, "-H", host, *_client_flags(certificates, "stranger"), "version"],
                                  capture_output=True, text=True, timeout=30)
        assert stranger.returncode == 1 and "error during connect" in stranger.stderr
        anonymous = subprocess.run([*CLI, "-H", host, "--tlsverify", "--tlscacert", str(certificates / "ca.pem"),
                                    "--tlscert", "", "--tlskey", "", "version"],
                                   capture_output=True, text=True, timeout=30,
                                   env={"MINIDOCK_CERT_PATH": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"})
        assert anonymous.returncode == 1 and "error during connect" in anonymous.stderr
        # plain HTTP to the TLS port gets no API
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            conn.settimeout(5)
            try:
                assert not conn.recv(4096).startswith(b"HTTP/1.1 200")
            except (ConnectionResetError, TimeoutError):
                pass
        # the real docker CLI takes the same flags
        if shutil.which("docker"):
            docker = subprocess.run(["docker", "-H", host, *_client_flags(certificates), "version",
                                     "--format", "{{.Server.APIVersion}}"],
                                    capture_output=True, text=True, timeout=60, env={"PATH": "/usr/local/bin:/usr/bin:/bin",
                                                                                     "HOME": str(tmp_path)})
            assert docker.returncode == 0, docker.stderr
            assert docker.stdout.strip() == "1.41"
    finally:
        _stop(process)
