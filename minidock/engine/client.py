"""A small Engine API client over a unix socket or TCP (with TLS), with the standard library only.

Implements: spec/engine.md ENGINE-CLI-001, ENGINE-CLI-026
Explained:  chapters/05-engine.md#the-client

    Client(host, tls=None).request(method, path, body) -> (status, headers, bytes)
    Client(host).json(method, path, body)    -> decoded JSON, or the error tree
    Client(host).stream(method, path, ...)   -> the live response (logs -f, wait), no timeout
    Client(host).hijack(method, path, ...)   -> the raw stream after `101 UPGRADED` (attach)
    Client(host).upgrade(method, path, body) -> Hijacked: read its stream, send(), close_write()

Used by the CLI, and by compose and swarm (clients of the API, never of the
engine's internals). The wire is minidock/engine/http1.py, not http.client, so
that `minidock` starts fast.
"""

from __future__ import annotations

import json
import socket

from minidock import API_VERSION
from minidock.engine.http1 import Connection, Response, TLSOptions, open_socket, parse_endpoint
from minidock.errors import (Conflict, InvalidArgument, MinidockError, NotFound,
                             NotImplemented, Unavailable)

DEFAULT_HOST = "unix:///run/minidock/minidock.sock"
_BY_STATUS = {400: InvalidArgument, 404: NotFound, 409: Conflict, 501: NotImplemented}


class Client:
    """Talks to one daemon at ``host`` (``unix:///path`` or ``tcp://host:port``)."""

    def __init__(self, host: str = DEFAULT_HOST, timeout: float = 60.0, tls: TLSOptions | None = None) -> None:
        try:
            self.endpoint = parse_endpoint(host, tls)
        except ValueError as error:
            raise InvalidArgument(str(error)) from None
        self.host = host
        self.socket_path = self.endpoint.path
        self.timeout = timeout

    def _unavailable(self, error: OSError) -> Unavailable:
        # [ENGINE-CLI-001] Docker's words when no daemon answers
        return Unavailable(f"Cannot connect to the minidock daemon at {self.host}. "
                           "Is the minidock daemon running?")

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None,
              timeout: float | None) -> Response:
        connection = Connection(self.endpoint, timeout)
        try:
            connection.request(method, f"/v{API_VERSION}{path}", body, headers)
            return connection.getresponse(own_socket=True)
        except (FileNotFoundError, ConnectionRefusedError, socket.gaierror) as error:
            connection.close()
            raise self._unavailable(error) from None
        except OSError as error:
            connection.close()
            if type(error).__name__.startswith("SSL") or isinstance(error, ConnectionError):
                # [ENGINE-CLI-027] a refused handshake, said as the docker CLI says it
                raise Unavailable(f"error during connect to {self.host}: {error}") from None
            raise

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send one request to /v1.41{path}; return status, headers and body."""
        response = self._send(method, path, body, headers, self.timeout)
        try:
            return response.status, response.headers, response.read()
        finally:
            response.close()

    def json(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json") -> Any:
        """Send a body (JSON unless it is bytes), return decoded JSON.

        An error status raises the matching error of the tree, marked
        ``from_daemon`` so the CLI can say who refused.
        """
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        status, _, raw = self.request(method, path, data, headers)
        if status >= 400:
            raise daemon_error(status, raw)
        return json.loads(raw) if raw else None

    def stream(self, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> Response:
        """Send one request and return the response once its headers are in, body unread.

        For answers that come slowly (`logs --follow`, `wait`): no timeout; the caller
        reads the body and closes the response. An error status raises as json() does.
        """
        raw = isinstance(body, bytes) or hasattr(body, "read")  # bytes, or a file sent as it is
        data = body if raw or body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if data is not None and not raw:
            headers.setdefault("Content-Type", "application/json")
        response = self._send(method, path, data, headers, None)
        if response.status >= 400:
            raw = response.read()
            response.close()
            raise daemon_error(response.status, raw)
        return response

    def hijack(self, method: str, path: str, headers: dict[str, str] | None = None):
        """Ask for `Upgrade: tcp` (attach, exec start); return the raw stream after the 101.

        The answer is a buffered binary file over the connection's socket: the bytes the
        daemon sent right after its headers are already in its buffer, not lost.
        """
        connection = self.upgrade(method, path, headers=headers)
        connection.socket.close()  # the file holds its own reference to the connection
        return connection.stream

    def upgrade(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> "Hijacked":
        """Ask for `Upgrade: tcp` with an optional JSON body; return both ways of the 101'd connection.

        What the daemon sends is read from the result (``read``, ``read1``); what we
        send goes to the container's (or the exec's) stdin; ``close_write()`` is its EOF.
        """
        try:
            sock = open_socket(self.endpoint, None)
        except (FileNotFoundError, ConnectionRefusedError, socket.gaierror) as error:
            raise self._unavailable(error) from None
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        lines = [f"{method} /v{API_VERSION}{path} HTTP/1.1", "Host: localhost",
                 "Connection: Upgrade", "Upgrade: tcp", f"Content-Length: {len(data)}"]
        if body is not None and not isinstance(body, bytes):
            lines.append("Content-Type: application/json")
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        stream = sock.makefile("rb")
        status = int(stream.readline().split()[1])
        length = None
        while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip())
        if status >= 400:
            raw = stream.read(length) if length is not None else stream.read()
            stream.close()
            sock.close()
            raise daemon_error(status, raw)
        return Hijacked(sock, stream)


class Hijacked:
    """A connection after `101 UPGRADED`: the daemon's stream one way, our input the other.

    Reading (the daemon's output) and sending (our stdin) may happen on two threads, as
    the docker CLI's hijack.go does with two goroutines.
    """

    def __init__(self, sock: socket.socket, stream) -> None:
        self.socket = sock
        self.stream = stream  # buffered: bytes that came with the 101's headers are in it

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the daemon's stream (all of it if -1); b"" at its end."""
        return self.stream.read(size)

    def read1(self, size: int = -1) -> bytes:
        """What is there now (at most one read of the socket); b"" at the end."""
        return self.stream.read1(size)

    def send(self, data: bytes) -> None:
        """Our bytes to the other end (the container's stdin)."""
        self.socket.sendall(data)

    def close_write(self) -> None:
        """Half-close: the end of our input (the container's stdin sees EOF); we still read."""
        if hasattr(self.socket, "unwrap"):
            return  # TLS has no half-close that keeps the read side (Python drops the session)
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the daemon has gone already

    def abort(self) -> None:
        """End both ways now (a reader blocked in read() gets the end of the stream)."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the stream and the socket."""
        self.stream.close()
        self.socket.close()


def daemon_error(status: int, raw: bytes) -> MinidockError:
    """The error of the tree for an error answer, marked ``from_daemon``."""
    try:
        message = json.loads(raw)["message"]
    except (ValueError, KeyError, TypeError):
        message = raw.decode(errors="replace") or f"HTTP {status}"
    error = _BY_STATUS.get(status, MinidockError)(message)
    error.status = status
    error.from_daemon = True
    return error
