"""HTTP/1.1 on one socket: just enough of a client for the Engine API, and quick to import.

Implements: spec/engine.md ENGINE-CLI-026
Explained:  chapters/05-engine.md#the-client

    open_socket(Endpoint) -> socket          unix:///path, tcp://host:port, TLS when asked
    Connection(endpoint).request(method, target, body, headers); .getresponse() -> Response
    Response: .status .getheader(name) .read(n) .read1(n) .readline() iteration .close()

Why not http.client: importing it costs the CLI about 20 ms (it pulls in the email
package and ssl), a third of what `minidock run --rm busybox true` is allowed in
all (ENGINE-CLI-026). What the Engine API needs is small: a request line, headers,
and a body framed by Content-Length, by chunks, or by the end of the connection.

Rules: ssl is imported only for a TLS endpoint; nothing here knows the Engine API.
"""

from __future__ import annotations

import socket


class TLSOptions:
    """The client's side of `--tls` / `--tlsverify`, as the docker CLI takes them.

    ca: the CA that signed the daemon's certificate (--tlscacert); cert and key: ours, for
    a daemon that verifies its clients (--tlscert, --tlskey); verify: check the daemon's
    certificate (--tlsverify; plain --tls encrypts without checking).
    """

    def __init__(self, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 verify: bool = True) -> None:
        self.ca, self.cert, self.key, self.verify = ca, cert, key, verify


class Endpoint:
    """Where a daemon listens: a unix socket path, or a TCP host and port (with TLS or not)."""

    def __init__(self, path: str | None = None, host: str | None = None, port: int | None = None,
                 tls: TLSOptions | None = None) -> None:
        self.path, self.host, self.port, self.tls = path, host, port, tls

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


def parse_endpoint(url: str, tls: TLSOptions | None = None) -> Endpoint:
    """``unix:///path`` or ``tcp://host:port`` (``tcp://host`` means 2375, or 2376 with TLS)."""
    if url.startswith("unix://") and url[len("unix://"):].startswith("/"):
        return Endpoint(path=url[len("unix://"):])
    if url.startswith("tcp://"):
        address = url[len("tcp://"):].rstrip("/")
        host, colon, port = address.rpartition(":")
        if not colon or "]" in port:
            host, port = address, ("2376" if tls else "2375")
        host = host.strip("[]")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return Endpoint(host=host, port=int(port), tls=tls)
    raise ValueError(f"invalid host {url!r}: expected unix:///path/to/socket or tcp://host:port")


def open_socket(endpoint: Endpoint, timeout: float | None) -> socket.socket:
    """A connected socket to the endpoint; TLS-wrapped when it has TLS options."""
    if endpoint.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(endpoint.path)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if endpoint.tls is None:
        return sock
    import ssl

    tls = endpoint.tls
    context = ssl.create_default_context(cafile=tls.ca)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert:
        context.load_cert_chain(tls.cert, tls.key)
    try:
        return context.wrap_socket(sock, server_hostname=endpoint.host)
    except OSError:
        sock.close()
        raise


class Headers(dict):
    """Header names are case-insensitive: stored lower-case, looked up in any case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:
        return super().get(name.lower(), default)


class Response:
    """One response: status and headers read, the body read on demand through its framing."""

    def __init__(self, stream, sock: socket.socket | None, method: str) -> None:
        self._stream = stream  # the socket's buffered reader
        self._socket = sock    # closed with the response when it owns the connection
        status_line = stream.readline()
        if not status_line:
            raise ConnectionError("the daemon closed the connection without answering"
                                  + (" (a TLS daemon that refused our certificate?)" if hasattr(sock, "unwrap") else ""))
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        self.status = int(parts[1])
        self.reason = parts[2].strip() if len(parts) > 2 else ""
        self.headers = Headers()
        while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            dict.__setitem__(self.headers, key.strip().lower(), value.strip())
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        no_body = method == "HEAD" or self.status in (101, 204, 304)
        # what is left of the body: a byte count, or None for chunks / until the end
        self._left: int | None = 0 if no_body else None if chunked else (
            int(self.headers["content-length"]) if "content-length" in self.headers else None)
        self._chunked = chunked and not no_body
        self._chunk_left = 0
        self._done = self._left == 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def _next_chunk(self) -> bool:
        """Move to the next chunk; False at the last (empty) one."""
        if self._chunk_left == 0:
            size_line = self._stream.readline()
            if not size_line:
                self._done = True
                return False
            self._chunk_left = int(size_line.split(b";")[0].strip() or b"0", 16)
            if self._chunk_left == 0:
                while self._stream.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return False
        return True

    def read1(self, size: int = -1) -> bytes:
        """Some of the body, at most one read of the socket; b"" at its end."""
        if self._done:
            return b""
        limit = 65536 if size is None or size < 0 else size
        if self._chunked:
            if not self._next_chunk():
                return b""
            data = self._stream.read1(min(limit, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self._stream.readline()  # the CRLF after a chunk
        elif self._left is not None:
            data = self._stream.read1(min(limit, self._left))
            self._left -= len(data)
            self._done = self._left == 0
        else:
            data = self._stream.read1(limit)
        if not data:
            self._done = True
        return data

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes of the body (fewer only at its end); all of it when -1."""
        parts, want = [], (None if size is None or size < 0 else size)
        while want is None or want > 0:
            data = self.read1(65536 if want is None else want)
            if not data:
                break
            parts.append(data)
            if want is not None:
                want -= len(data)
        return b"".join(parts)

    def readline(self) -> bytes:
        """One line of the body, with its newline (the JSON-lines streams: events, stats, pull)."""
        line = bytearray()
        while not line.endswith(b"\n") and not self._done:
            if self._chunked:
                if not self._next_chunk():
                    break
                part = self._stream.readline(self._chunk_left)
                self._chunk_left -= len(part)
                if part and self._chunk_left == 0:
                    self._stream.readline()  # the CRLF after a chunk
            elif self._left is not None:
                part = self._stream.readline(self._left)
                self._left -= len(part)
                self._done = self._left == 0
            else:
                part = self._stream.readline()
            if not part:
                self._done = True
                break
            line += part
        return bytes(line)

    def __iter__(self):
        while line := self.readline():
            yield line

    def readable(self) -> bool:
        return True

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading; a response that owns its connection closes it too."""
        self._done = True
        if self._socket is not None:
            self._stream.close()
            self._socket.close()


class Connection:
    """One connection, requests one after another (keep-alive), http.client's three calls."""

    def __init__(self, endpoint: Endpoint, timeout: float | None = 60.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._stream = None
        self._method = "GET"

    def connect(self) -> None:
        self.sock = open_socket(self.endpoint, self.timeout)
        self._stream = self.sock.makefile("rb")

    def request(self, method: str, target: str, body=None, headers: dict[str, str] | None = None) -> None:
        """Send a request. ``body``: bytes, or a binary file sent in pieces (its length is
        given in ``headers`` or taken from the file; without one it goes in chunks)."""
        if self.sock is None:
            self.connect()
        headers = dict(headers or {})
        named = {key.lower() for key in headers}
        is_file = hasattr(body, "read")
        if is_file and "content-length" not in named:
            try:
                import os

                headers["Content-Length"] = str(os.fstat(body.fileno()).st_size - body.tell())
            except (AttributeError, OSError, ValueError):
                headers["Transfer-Encoding"] = "chunked"
        elif not is_file and "content-length" not in named and (body is not None or method in ("POST", "PUT")):
            headers["Content-Length"] = str(len(body or b""))
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.endpoint.host or 'localhost'}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._method = method
        if not is_file:
            self.sock.sendall(head + (body or b""))
            return
        self.sock.sendall(head)
        chunked = "Transfer-Encoding" in headers
        if not chunked and hasattr(body, "fileno") and not hasattr(self.sock, "unwrap"):
            self.sock.sendfile(body)  # a build context or a layer: the kernel copies it (sendfile(2))
            return
        while piece := body.read(1 << 20):
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def getresponse(self, own_socket: bool = False) -> Response:
        """The answer to the last request; with ``own_socket`` closing it closes the connection."""
        return Response(self._stream, self.sock if own_socket else None, self._method)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = self._stream = None
