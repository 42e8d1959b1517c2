"""send_request against real local servers on 127.0.0.1 (plain and TLS).

Each server is a raw socket server whose behaviour per connection is a
small function, so misbehaviour (closing a kept-alive connection, dripping a
body byte by byte) is exact. Servers bind only to 127.0.0.1 and stop at the
end of each test (and by themselves after 30 s at the latest).
"""

from __future__ import annotations

import ast
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any, Callable, Optional

import pytest
import trustme
import urllib3

from webpush_core._classify import error_for_response
from webpush_core._endpoint import EndpointPolicy
from webpush_core._request import PushRequest
from webpush_core._response import PushResponse
from webpush_core._wire import urllib3_transport as _transport
from webpush_core._wire.urllib3_transport import (
    DEFAULT_TIMEOUT,
    default_pool_manager,
    make_pool_manager,
    send_request,
)
from webpush_core.errors import (
    EndpointNotAllowed,
    InvalidRequest,
    PushRejected,
    PushTimeout,
    TransportError,
)

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
TOKEN = "eyJhbGciOiJFUzI1NiJ9.SECRET-VAPID-TOKEN.sig"
HEADERS = {
    "TTL": "60",
    "Content-Encoding": "aes128gcm",
    "Content-Type": "application/octet-stream",
    "Authorization": f"vapid t={TOKEN}, k=BPublicKey",
}
BODY = b"\x00encrypted-record\xff" * 10


class Conn:
    """One accepted connection: read requests, write answers."""

    def __init__(self, sock: socket.socket, server: Server) -> None:
        self.sock = sock
        self.server = server
        self.rfile = sock.makefile("rb")

    def read_request(self) -> Optional[dict[str, Any]]:
        line = self.rfile.readline()
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            h = self.rfile.readline().decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, value = h.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", "0")))
        request = {"method": method, "target": target, "headers": headers, "body": body}
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def send(
        self,
        status: int = 201,
        reason: str = "Created",
        headers: Optional[list[tuple[str, str]]] = None,
        body: bytes = b"",
    ) -> None:
        head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or [])]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server stops; True if it stopped."""
        return self.server.stopped.wait(seconds)


class Server:
    def __init__(
        self, handler: Callable[[Conn], None], tls: Optional[ssl.SSLContext] = None
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.stopped = threading.Event()
        self._socks: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/push/abc"
        self._deadline = time.monotonic() + 30.0  # stops by itself
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self._deadline:
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.connections += 1
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        self.stopped.set()
        self.listener.close()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.handler(Conn(sock, self))
        except (OSError, ValueError):
            pass  # clients going away, refused handshakes: part of the tests
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(2)
        with self.lock:
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Callable[[Conn], None], tls: Optional[ssl.SSLContext] = None) -> Server:
        server = Server(handler, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    pm = make_pool_manager()
    yield pm
    pm.clear()


def request(url: str) -> PushRequest:
    return PushRequest(url=url, headers=dict(HEADERS), body=BODY)


def keep_alive(conn: Conn) -> None:
    """A well-behaved push service: 201 for every request, keep-alive."""
    while conn.read_request() is not None:
        conn.send(201, "Created", [("Location", "/m/1"), ("X-Dup", "a"), ("x-dup", "b")])


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), getattr(exc, "message", "")):
        assert "SECRET-VAPID-TOKEN" not in text
        assert "encrypted-record" not in text


# --------------------------------------------------------------------------


def test_post_and_response(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(keep_alive)
    resp = send_request(request(srv.url), pool_manager=pool, policy=LOCAL)
    assert isinstance(resp, PushResponse)
    assert resp.status_code == 201 and resp.reason == "Created"
    assert resp.url == srv.url
    assert resp.headers["LOCATION"] == "/m/1"
    assert resp.headers["x-dup"] == "a, b"
    assert resp.content == b""
    (got,) = srv.requests
    assert got["method"] == "POST"
    assert got["target"] == "/push/abc"
    assert got["body"] == BODY
    for name, value in HEADERS.items():
        assert got["headers"][name.lower()] == value


def test_keep_alive_connection_reused(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(keep_alive)
    for _ in range(5):
        assert send_request(request(srv.url), pool_manager=pool, policy=LOCAL).status_code == 201
    assert len(srv.requests) == 5
    assert srv.connections == 1


def test_policy_checked_before_connecting(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(keep_alive)
    with pytest.raises(EndpointNotAllowed):
        send_request(request(srv.url), pool_manager=pool)  # default policy: https only
    with pytest.raises(EndpointNotAllowed, match="IP address"):
        send_request(
            request(srv.url),
            pool_manager=pool,
            policy=EndpointPolicy(allow_http=True, allowed_ports=[srv.port]),
        )
    localhost = srv.url.replace("127.0.0.1", "localhost")
    with pytest.raises(EndpointNotAllowed):
        send_request(
            request(localhost),
            pool_manager=pool,
            policy=EndpointPolicy(allow_http=True, allowed_ports=[srv.port]),
        )
    time.sleep(0.1)
    assert srv.connections == 0


def test_redirect_not_followed(serve: Any, pool: urllib3.PoolManager) -> None:
    other = serve(keep_alive)

    def redirect(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.send(301, "Moved Permanently", [("Location", other.url)])

    srv = serve(redirect)
    resp = send_request(request(srv.url), pool_manager=pool, policy=LOCAL)
    assert resp.status_code == 301
    assert resp.location == other.url
    time.sleep(0.1)
    assert other.connections == 0 and other.requests == []
    err = error_for_response(resp, srv.url)
    assert isinstance(err, PushRejected)
    assert err.status_code == 301


def stale_after_first(conn: Conn) -> None:
    """Answer the first request and keep the connection open; on the next
    request arriving on it, close without answering (the server's idle
    close racing our reuse)."""
    if conn.read_request() is None:
        return
    conn.send(201, "Created")
    if conn.read_request() is not None:
        with conn.server.lock:
            conn.server.dropped = getattr(conn.server, "dropped", 0) + 1


def test_stale_keep_alive_retried_transparently(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(stale_after_first)
    for _ in range(3):
        assert send_request(request(srv.url), pool_manager=pool, policy=LOCAL).status_code == 201
    # Requests 2 and 3 each hit a stale connection first and were sent again.
    assert srv.dropped == 2
    assert len(srv.requests) == 5
    assert srv.connections == 3


def test_stale_keep_alive_would_fail_without_the_retry(
    serve: Any, pool: urllib3.PoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Proves the test above exercises the retry path.
    monkeypatch.setattr(_transport, "resend_on_new_connection", lambda *a, **kw: False)
    srv = serve(stale_after_first)
    send_request(request(srv.url), pool_manager=pool, policy=LOCAL)
    with pytest.raises(TransportError):
        send_request(request(srv.url), pool_manager=pool, policy=LOCAL)


def test_server_closing_after_each_response(serve: Any, pool: urllib3.PoolManager) -> None:
    # Closes after every answer without announcing "Connection: close".
    def close_after_response(conn: Conn) -> None:
        if conn.read_request() is not None:
            conn.send(201, "Created")

    srv = serve(close_after_response)
    for _ in range(5):
        assert send_request(request(srv.url), pool_manager=pool, policy=LOCAL).status_code == 201
    assert srv.connections == 5


def test_retry_happens_once_only(serve: Any, pool: urllib3.PoolManager) -> None:
    def always_drop(conn: Conn) -> None:
        conn.read_request()

    srv = serve(always_drop)
    with pytest.raises(TransportError) as excinfo:
        send_request(request(srv.url), pool_manager=pool, policy=LOCAL)
    assert not isinstance(excinfo.value, PushTimeout)
    assert "broken" in excinfo.value.message
    assert excinfo.value.endpoint == srv.url
    assert_no_secret(excinfo.value)
    assert len(srv.requests) == 2


def test_slow_server_times_out(serve: Any, pool: urllib3.PoolManager) -> None:
    def slow(conn: Conn) -> None:
        if conn.read_request() is not None and not conn.wait(10):
            conn.send(201, "Created")

    srv = serve(slow)
    start = time.monotonic()
    with pytest.raises(PushTimeout) as excinfo:
        send_request(request(srv.url), pool_manager=pool, policy=LOCAL, timeout=0.5)
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 2.5  # correctness bound, not a performance test
    assert "timed out after 0.5 s" in excinfo.value.message
    assert excinfo.value.endpoint == srv.url
    assert_no_secret(excinfo.value)
    assert len(srv.requests) == 1  # a timeout is never retried


def test_answer_within_timeout(serve: Any, pool: urllib3.PoolManager) -> None:
    def a_bit_slow(conn: Conn) -> None:
        if conn.read_request() is not None and not conn.wait(0.2):
            conn.send(201, "Created", body=b"ok")

    srv = serve(a_bit_slow)
    resp = send_request(request(srv.url), pool_manager=pool, policy=LOCAL, timeout=3)
    assert resp.content == b"ok"


def drip(framing: str) -> Callable[[Conn], None]:
    def handler(conn: Conn) -> None:
        if conn.read_request() is None:
            return
        head = "HTTP/1.1 400 Bad Request\r\n"
        if framing == "length":
            head += "Content-Length: 100000\r\n\r\n"
        elif framing == "chunked":
            head += "Transfer-Encoding: chunked\r\n\r\n"
        else:  # body delimited by closing the connection
            head += "Connection: close\r\n\r\n"
        conn.sock.sendall(head.encode())
        while not conn.wait(0.05):
            conn.sock.sendall(b"1\r\nx\r\n" if framing == "chunked" else b"x")

    return handler


@pytest.mark.parametrize("framing", ["length", "chunked", "eof"])
def test_slow_drip_body_times_out(serve: Any, pool: urllib3.PoolManager, framing: str) -> None:
    srv = serve(drip(framing))
    start = time.monotonic()
    with pytest.raises(PushTimeout) as excinfo:
        send_request(request(srv.url), pool_manager=pool, policy=LOCAL, timeout=0.6)
    elapsed = time.monotonic() - start
    assert elapsed < 2.5  # without the deadline this would run for the server's 10 s+
    assert "reading the response" in excinfo.value.message
    # The pool stays usable afterwards.
    ok = serve(keep_alive)
    assert send_request(request(ok.url), pool_manager=pool, policy=LOCAL).status_code == 201


def test_refused_port(pool: urllib3.PoolManager) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/push/x"
    with pytest.raises(TransportError) as excinfo:
        send_request(request(url), pool_manager=pool, policy=LOCAL, timeout=2)
    err = excinfo.value
    assert not isinstance(err, PushTimeout)
    assert err.message.startswith(f"cannot connect to http://127.0.0.1:{port}")
    assert "refused" in err.message.lower()
    assert err.endpoint == url
    assert err.response is None
    assert_no_secret(err)


def test_dns_failure(pool: urllib3.PoolManager, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def fake(host: str, *args: Any, **kw: Any) -> Any:
        if "no-such-host" in str(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    url = "https://no-such-host.example.com/push/x"
    # Through the policy's resolution check ...
    with pytest.raises(TransportError, match="cannot resolve") as excinfo:
        send_request(request(url), pool_manager=pool)
    assert excinfo.value.endpoint == url
    # ... and through urllib3's own (the policy skips resolving here).
    with pytest.raises(TransportError, match="cannot resolve") as excinfo:
        send_request(request(url), pool_manager=pool, policy=LOCAL)
    assert excinfo.value.endpoint == url
    assert_no_secret(excinfo.value)


def test_response_body_cap(serve: Any, pool: urllib3.PoolManager) -> None:
    big = bytes(range(256)) * 800  # 204800 bytes

    def answer(conn: Conn) -> None:
        while (req := conn.read_request()) is not None:
            conn.send(
                400, "Bad Request", body=big if req["target"].endswith("big") else b"x" * 1000
            )

    srv = serve(answer)
    resp = send_request(
        request(srv.url + "big"), pool_manager=pool, policy=LOCAL, max_response_bytes=1000
    )
    assert resp.content == big[:1000]
    # A body of exactly the cap is complete, and its connection is kept.
    for _ in range(2):
        resp = send_request(
            request(srv.url), pool_manager=pool, policy=LOCAL, max_response_bytes=1000
        )
        assert resp.content == b"x" * 1000
    assert srv.connections == 2  # the truncated one was dropped, the next reused
    resp = send_request(request(srv.url + "big"), pool_manager=pool, policy=LOCAL)
    assert len(resp.content) == 65536


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [("7", 7, 7), (None, 55, 60), ("later", None, None)],
)
def test_retry_after_both_forms(
    serve: Any, pool: urllib3.PoolManager, value: Optional[str], low: Any, high: Any
) -> None:
    header = value if value is not None else formatdate(time.time() + 60, usegmt=True)

    def rate_limited(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.send(429, "Too Many Requests", [("Retry-After", header)])

    srv = serve(rate_limited)
    resp = send_request(request(srv.url), pool_manager=pool, policy=LOCAL)
    assert resp.status_code == 429
    if low is None:
        assert resp.retry_after is None
    else:
        assert resp.retry_after is not None and low <= resp.retry_after <= high
    err = error_for_response(resp, srv.url)
    assert err is not None
    if low is None:
        assert err.retry_after is None
    else:
        assert err.retry_after == pytest.approx(resp.retry_after, abs=1)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_timeout(timeout: Any) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        send_request(request("https://push.example.com/x"), timeout=timeout)
    assert excinfo.value.field == "timeout"


def test_bad_max_response_bytes() -> None:
    with pytest.raises(InvalidRequest):
        send_request(request("https://push.example.com/x"), max_response_bytes=-1)


# --------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


def test_tls_verified(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(keep_alive, tls=tls_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    try:
        for _ in range(2):
            resp = send_request(request(srv.url), pool_manager=pm, policy=LOCAL)
            assert resp.status_code == 201
        assert srv.requests[0]["body"] == BODY
        assert srv.connections == 1
    finally:
        pm.clear()


def test_tls_untrusted_certificate_refused(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(keep_alive, tls=tls_context(ca, "127.0.0.1"))
    other_ca = trustme.CA()
    other_path = tmp_path / "other.pem"
    other_ca.cert_pem.write_to_path(str(other_path))
    for pm in (make_pool_manager(), make_pool_manager(ca_certs=str(other_path))):
        with pytest.raises(TransportError) as excinfo:
            send_request(request(srv.url), pool_manager=pm, policy=LOCAL, timeout=3)
        err = excinfo.value
        assert not isinstance(err, PushTimeout)
        assert err.message.startswith("TLS failure with https://127.0.0.1:")
        assert "certificate verify failed" in err.message
        assert_no_secret(err)
        pm.clear()
    assert srv.requests == []


def test_tls_wrong_host_refused(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(keep_alive, tls=tls_context(ca, "push.example.org"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    with pytest.raises(TransportError, match="TLS failure"):
        send_request(request(srv.url), pool_manager=pm, policy=LOCAL, timeout=3)
    pm.clear()
    assert srv.requests == []


def test_tls_stale_keep_alive_retried(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(stale_after_first, tls=tls_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    for _ in range(3):
        assert send_request(request(srv.url), pool_manager=pm, policy=LOCAL).status_code == 201
    assert srv.dropped == 2
    assert srv.connections == 3
    pm.clear()


def test_tls_slow_drip_times_out(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(drip("length"), tls=tls_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    start = time.monotonic()
    with pytest.raises(PushTimeout):
        send_request(request(srv.url), pool_manager=pm, policy=LOCAL, timeout=0.6)
    assert time.monotonic() - start < 2.5
    pm.clear()


# --------------------------------------------------------------------------
# Pool managers


def test_default_pool_manager_is_one_shared_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "_pool_manager", None)
    seen: list[urllib3.PoolManager] = []
    barrier = threading.Barrier(8)

    def get() -> None:
        barrier.wait()
        seen.append(default_pool_manager())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(pm is seen[0] for pm in seen)
    assert default_pool_manager() is seen[0]


def test_pool_manager_settings() -> None:
    pm = make_pool_manager()
    kw = pm.connection_pool_kw
    assert kw["maxsize"] == 32
    assert kw["block"] is False
    assert kw["cert_reqs"] == "CERT_REQUIRED"
    assert "ca_certs" not in kw  # the system store, not certifi
    retries = kw["retries"]
    assert retries is False or retries.total is False
    timeout = kw["timeout"]
    assert timeout.connect_timeout == DEFAULT_TIMEOUT
    pm2 = make_pool_manager(maxsize=4, ca_certs="/x/ca.pem", num_pools=3)
    assert pm2.connection_pool_kw["maxsize"] == 4
    assert pm2.connection_pool_kw["ca_certs"] == "/x/ca.pem"
    assert len(pm2.pools._container) == 0 and pm2.pools._maxsize == 3


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level module names imported at run time (not under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        found |= _runtime_imports(node)
    return found


def test_only_transport_imports_urllib3() -> None:
    import pathlib

    import webpush_core

    src = pathlib.Path(webpush_core.__file__).parent
    users = sorted(
        p.name for p in src.rglob("*.py") if "urllib3" in _runtime_imports(ast.parse(p.read_text()))
    )
    assert users == ["urllib3_transport.py"]
