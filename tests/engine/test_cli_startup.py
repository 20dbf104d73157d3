"""The CLI's start-up: one verb's parser and module, no http.client; and its HTTP/1.1 framing.

Pure tests: no daemon. The wire tests talk to a socketpair whose other end plays
the daemon's part with canned bytes, as aiohttp would frame them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from minidock.cli import main
from minidock.engine.http1 import Connection, Endpoint, parse_endpoint


@pytest.mark.spec("ENGINE-CLI-026")
def test_the_verb_table_names_what_each_topic_defines():
    for topic, words in main.TOPICS.items():
        module, _, function = topic.partition(":")
        parser = argparse.ArgumentParser()
        verbs = parser.add_subparsers()
        getattr(importlib.import_module(module), function)(verbs)
        assert sorted(verbs.choices) == sorted(words), topic


@pytest.mark.spec("ENGINE-CLI-026")
@pytest.mark.parametrize("argv, verb", [
    (["run", "--rm", "busybox", "true"], "run"), (["-H", "unix:///x", "ps", "-a"], "ps"),
    (["--tlsverify", "--tlscert", "c.pem", "images"], "images"), (["--version"], None), ([], None)])
def test_the_verb_is_found_past_the_global_flags(argv, verb):
    assert main.first_verb(argv) == verb


@pytest.mark.spec("ENGINE-CLI-026")
def test_a_command_line_imports_only_its_verb():
    probe = ("import sys; from minidock.cli import main; argv = ['run', '--rm', 'busybox', 'true'];"
             "args = main.build_parser(main.first_verb(argv)).parse_args(argv);"
             "from minidock.cli.common import client; client(args);"
             "print(sorted(sys.modules))")
    # without coverage.py (make test measures every process): it imports typing and tempfile itself
    unmeasured = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                           env=unmeasured, check=True).stdout.replace("'", '"')))
    assert "minidock.cli.containers" in loaded and "minidock.engine.client" in loaded
    assert not loaded & {"minidock.cli.images", "minidock.cli.system", "minidock.lab.cli", "http.client",
                         "ssl", "typing", "tempfile", "aiohttp"}
    # and the parser has run's flags, not every verb's
    parser = main.build_parser("ps")
    assert set(parser._subparsers._group_actions[0].choices) == {"ps", "version", "info"}  # noqa: SLF001


def _serve(answer: bytes) -> tuple[Connection, list[bytes], threading.Thread]:
    """A Connection whose daemon is a thread that reads one request and writes ``answer``."""
    ours, theirs = socket.socketpair()
    seen: list[bytes] = []

    def daemon() -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += theirs.recv(65536)
        seen.append(data)
        theirs.sendall(answer)
        theirs.close()

    thread = threading.Thread(target=daemon)
    thread.start()
    connection = Connection(Endpoint(path="/unused"))
    connection.sock, connection._stream = ours, ours.makefile("rb")  # noqa: SLF001
    return connection, seen, thread


@pytest.mark.spec("ENGINE-CLI-026")
@pytest.mark.parametrize("answer, body", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n", b"hello"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", b"hello"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
])
def test_bodies_are_framed_by_length_chunks_or_the_end(answer, body):
    connection, seen, thread = _serve(answer)
    connection.request("POST", "/v1.41/x", b'{"a": 1}', {"Content-Type": "application/json"})
    response = connection.getresponse(own_socket=True)
    assert response.read() == body and response.read() == b""
    response.close()
    thread.join()
    assert seen[0].startswith(b"POST /v1.41/x HTTP/1.1\r\n") and b"Content-Length: 8\r\n" in seen[0]


@pytest.mark.spec("ENGINE-CLI-026")
def test_json_lines_are_read_across_chunk_boundaries():
    stream = b'{"a":1}\n{"b"' + b':2}\n'
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDocker-Experimental: false\r\n\r\n"
              + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (stream[:4], stream[4:11], stream[11:]))
              + b"0\r\n\r\n")
    connection, _, thread = _serve(answer)
    connection.request("GET", "/v1.41/events")
    response = connection.getresponse(own_socket=True)
    assert response.getheader("docker-experimental") == "false" and response.headers["DOCKER-EXPERIMENTAL"] == "false"
    assert [json.loads(line) for line in response] == [{"a": 1}, {"b": 2}]
    response.close()
    thread.join()


@pytest.mark.spec("ENGINE-CLI-026")
def test_a_file_body_is_sent_with_its_length(tmp_path):
    path = tmp_path / "layer.tar"
    path.write_bytes(b"x" * 200_000)
    ours, theirs = socket.socketpair()
    received = bytearray()

    def daemon() -> None:
        while data := theirs.recv(1 << 16):
            received.extend(data)
            if received.endswith(b"x" * 10) and len(received) > 200_000:
                break
        theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        theirs.close()

    thread = threading.Thread(target=daemon)
    thread.start()
    connection = Connection(Endpoint(path="/unused"))
    connection.sock, connection._stream = ours, ours.makefile("rb")  # noqa: SLF001
    with open(path, "rb") as file:
        connection.request("PUT", "/v1.41/containers/x/archive", file)
    assert connection.getresponse(own_socket=True).status == 200
    thread.join()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert b"Content-Length: 200000" in head and body == b"x" * 200_000


@pytest.mark.spec("ENGINE-CLI-027")
@pytest.mark.parametrize("url, expected", [
    ("unix:///run/x.sock", ("/run/x.sock", None, None)), ("tcp://127.0.0.1:2376", (None, "127.0.0.1", 2376)),
    ("tcp://[::1]:7", (None, "::1", 7)), ("tcp://10.0.0.1", (None, "10.0.0.1", 2375))])
def test_hosts_are_parsed_as_the_docker_cli_does(url, expected):
    endpoint = parse_endpoint(url)
    assert (endpoint.path, endpoint.host, endpoint.port) == expected


@pytest.mark.spec("ENGINE-CLI-027")
@pytest.mark.parametrize("url", ["unix://relative", "tcp://host:99999", "ssh://me@host", ""])
def test_bad_hosts_are_refused_by_name(url):
    result = subprocess.run([sys.executable, "-m", "minidock.cli.main", "-H", url, "ps"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and f"invalid host {url!r}" in result.stderr
