"""The core every server in this package shares: a listener on loopback, a thread per connection.

A :class:`Server` accepts on 127.0.0.1 (or another loopback address), wraps
each connection in TLS when given a context (the handshake runs in the
connection's own thread, so a refused one is counted, not lost), and hands
it to a *handler*: a plain function of one :class:`Conn` that reads requests
and writes whatever it likes, byte by byte if it wants. Every request read
is recorded on the server, in arrival order, as a :class:`Request`.

A thread per connection, blocking I/O: what a handler does to the client is
exact (a drip is one octet per interval, a close is a close), and a handler
that waits (a silent origin, a stall) costs nothing but its thread. Stopping
the server wakes every waiting handler and closes every socket.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Callable, Optional, TypeVar, Union

Fields = Union[Mapping[str, str], Iterable[tuple[str, str]]]

MAX_LINE = 65536  # a request line or header field longer than this ends the connection
READ_TIMEOUT = 30.0  # an idle or stuck connection's thread ends by itself


@dataclass(frozen=True)
class Request:
    """One request as a server read it.

    ``headers`` has lower-case names (repeated fields joined with ", ");
    ``fields`` keeps them as sent. ``connection`` numbers the server's
    connections from 1 in the order accepted; ``index`` is the request's
    place on its connection (0: the first, so > 0 means a reused one).
    """

    method: str
    path: str  # the request target as sent, e.g. "/push/abc"
    version: str
    headers: dict[str, str]
    fields: tuple[tuple[str, str], ...]
    body: bytes
    connection: int
    index: int
    client: tuple[str, int]
    arrived: float  # time.monotonic() when its request line was read

    @property
    def name(self) -> str:
        """The last path segment: the subscription's name in ``/push/<name>``."""
        return self.path.rsplit("/", 1)[-1]


class Conn:
    """One accepted connection, as its handler sees it."""

    def __init__(self, sock: socket.socket, server: Server, number: int) -> None:
        self.sock = sock
        self.server = server
        self.number = number
        self.rfile = sock.makefile("rb")
        self.served = 0  # requests read on this connection so far
        self.pending = False  # a request was read and nothing written since
        self.tls_version: Optional[str] = (
            sock.version() if isinstance(sock, ssl.SSLSocket) else None
        )

    # -- reading -------------------------------------------------------------

    def _line(self) -> bytes:
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line

    def read_request(self) -> Optional[Request]:
        """The next request (head and body), recorded; None at the end of the connection."""
        try:
            line = self._line()
            if not line.strip():
                return None
            arrived = time.monotonic()
            method, path, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            fields: list[tuple[str, str]] = []
            while (field := self._line()) not in (b"\r\n", b"\n", b""):
                name, _, value = field.decode("latin-1").partition(":")
                fields.append((name.strip(), value.strip()))
            headers: dict[str, str] = {}
            for name, value in fields:
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = self._read_chunked()
            else:
                body = self.rfile.read(int(headers.get("content-length", "0")))
        except (OSError, ValueError):
            return None
        request = Request(
            method,
            path,
            version,
            headers,
            tuple(fields),
            body,
            self.number,
            self.served,
            self.server.client_of(self.sock),
            arrived,
        )
        self.served += 1
        self.pending = True
        self.server.record(request)
        return request

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return bytes(body)
            body += self.rfile.read(size)
            self._line()

    def read_head(self, limit: int = MAX_LINE) -> bytes:
        """Octets up to the end of a request head, at most ``limit`` (what a proxy reads)."""
        data = b""
        with contextlib.suppress(OSError, ValueError):
            while b"\r\n\r\n" not in data and len(data) < limit:
                chunk = self.rfile.read1(4096)
                if not chunk:
                    break
                data += chunk
        return data

    # -- writing -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Octets as they are: any framing, or none."""
        self.pending = False
        self.sock.sendall(data)

    def send(
        self,
        status: int = 201,
        headers: Fields = (),
        body: bytes = b"",
        reason: Optional[str] = None,
    ) -> None:
        """A well-formed HTTP/1.1 response with a Content-Length."""
        if reason is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = "Status"
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in items):
            items.append(("Content-Length", str(len(body))))
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items)
        self.write(head.encode("latin-1") + b"\r\n" + body)

    def drip(self, data: bytes, every: float) -> bool:
        """``data`` one octet per ``every`` seconds; False if the server stopped first."""
        for i in range(len(data)):
            if self.wait(every):
                return False
            self.write(data[i : i + 1])
        return True

    def flood(self, unit: bytes, size: int = 64 * 1024) -> None:
        """``unit`` over and over until the client goes away or the server stops."""
        block = unit * max(1, size // len(unit))
        while not self.server.stopping.is_set():
            self.write(block)

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True if it stopped."""
        return self.server.stopping.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.close()


Handler = Callable[[Conn], None]
S = TypeVar("S", bound="Server")


class Server:
    """A listener on ``host`` (127.0.0.1) whose every connection runs ``handler`` in a thread.

    ``url`` is ``scheme://url_host:port`` (no path). Counts: ``connections``
    accepted, ``open_connections`` still open, ``handshakes_failed`` (TLS),
    ``unanswered`` (requests read that got no octet back before the
    connection ended); ``tls_versions`` has each handshake's version, None
    for a refused one; ``requests`` every request read.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        tls: Optional[ssl.SSLContext] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        url_host: Optional[str] = None,
        backlog: int = 1024,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.read_timeout = read_timeout
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests: list[Request] = []
        self.connections = 0
        self.open_connections = 0
        self.handshakes_failed = 0
        self.unanswered = 0
        self.tls_versions: list[Optional[str]] = []
        self._socks: set[socket.socket] = set()
        self.listener = socket.create_server((host, port), backlog=backlog)
        self.listener.settimeout(0.05)
        self.host = host
        self.port: int = self.listener.getsockname()[1]
        self.scheme = "https" if tls is not None else "http"
        self.url = f"{self.scheme}://{url_host or host}:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def client_of(self, sock: socket.socket) -> tuple[str, int]:
        try:
            host, port = sock.getpeername()[:2]
        except OSError:
            return ("", 0)
        return (str(host), int(port))

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.connections += 1
                self.open_connections += 1
                number = self.connections
                self._socks.add(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, raw: socket.socket, number: int) -> None:
        sock = raw
        conn: Optional[Conn] = None
        try:
            raw.settimeout(self.read_timeout)
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(raw, server_side=True)
                except (OSError, ValueError):
                    with self.lock:
                        self.handshakes_failed += 1
                        self.tls_versions.append(None)
                    return
                with self.lock:
                    self._socks.add(sock)
                    self.tls_versions.append(sock.version())
            conn = Conn(sock, self, number)
            self.handler(conn)
        except (OSError, ValueError):
            pass  # the client went away, or the server is stopping: part of the tests
        finally:
            with self.lock:
                self.open_connections -= 1
                if conn is not None and conn.pending:
                    self.unanswered += 1
                self._socks.discard(raw)
                self._socks.discard(sock)
            for s in (sock, raw):
                with contextlib.suppress(OSError):
                    s.close()

    def stop(self) -> None:
        """Stop accepting, wake every handler and close every connection."""
        self.stopping.set()
        self._thread.join(5)
        self.listener.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for a refused connection, or for a process to bind)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def silent_listener(backlog: int = 16) -> Iterator[str]:
    """A port whose connections the kernel accepts and nobody ever reads: yields ``host:port``."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def server_context(ca: object, *names: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from ``ca`` (a trustme.CA) for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1",))).configure_cert(context)  # type: ignore[attr-defined]
    return context
