"""send_request against real local servers on 127.0.0.1 (plain and TLS).

The servers are the shared ones (tests/servers): a scripted PushService where
an answer is enough, a hostile handler where the misbehaviour must be exact
(closing a kept-alive connection, dripping a body byte by byte). They bind
only to 127.0.0.1 and stop at the end of each test.
"""

from __future__ import annotations

import ast
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any, Callable, Optional, Union

import pytest
import trustme
import urllib3

from servers.hostile import CLOSE, CREATED, octets, stream
from servers.loopback import Handler, Request, Server, free_port, server_context
from servers.push_service import Answer, PushService
from webpush_core._classify import error_for_response
from webpush_core._endpoint import EndpointPolicy
from webpush_core._request.value import PushRequest
from webpush_core._response import PushResponse
from webpush_core._wire import urllib3_pools as _pools
from webpush_core._wire import urllib3_transport as _transport
from webpush_core._wire.urllib3_pools import (
    DEFAULT_TIMEOUT,
    default_pool_manager,
    make_pool_manager,
)
from webpush_core._wire.urllib3_transport import send_request
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


ENDPOINT = "/push/abc"


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """A PushService answering with an ``Answer`` (or a responder), or a Server with a handler."""
    servers: list[Server] = []

    def start(
        behaviour: Union[Answer, Handler, None] = None,
        tls: Optional[ssl.SSLContext] = None,
        *,
        responder: Optional[Callable[[Request], Answer]] = None,
    ) -> Server:
        if isinstance(behaviour, Answer) or responder is not None:
            server: Server = PushService(
                behaviour if isinstance(behaviour, Answer) else None, responder=responder, tls=tls
            )
        else:
            assert behaviour is not None
            server = Server(behaviour, tls=tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def url(server: Server) -> str:
    return server.url + ENDPOINT


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    pm = make_pool_manager()
    yield pm
    pm.clear()


def request(url: str) -> PushRequest:
    return PushRequest(url=url, headers=dict(HEADERS), body=BODY)


# A well-behaved push service: 201 for every request, keep-alive.
KEEP_ALIVE = Answer(201, [("Location", "/m/1"), ("X-Dup", "a"), ("x-dup", "b")])


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), getattr(exc, "message", "")):
        assert "SECRET-VAPID-TOKEN" not in text
        assert "encrypted-record" not in text


# --------------------------------------------------------------------------


def test_post_and_response(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(KEEP_ALIVE)
    resp = send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)
    assert isinstance(resp, PushResponse)
    assert resp.status_code == 201 and resp.reason == "Created"
    assert resp.url == url(srv)
    assert resp.headers["LOCATION"] == "/m/1"
    assert resp.headers["x-dup"] == "a, b"
    assert resp.content == b""
    (got,) = srv.requests
    assert got.method == "POST"
    assert got.path == "/push/abc"
    assert got.body == BODY
    for name, value in HEADERS.items():
        assert got.headers[name.lower()] == value


def test_keep_alive_connection_reused(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(KEEP_ALIVE)
    for _ in range(5):
        assert send_request(request(url(srv)), pool_manager=pool, policy=LOCAL).status_code == 201
    assert len(srv.requests) == 5
    assert srv.connections == 1


def test_policy_checked_before_connecting(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(KEEP_ALIVE)
    with pytest.raises(EndpointNotAllowed):
        send_request(request(url(srv)), pool_manager=pool)  # default policy: https only
    with pytest.raises(EndpointNotAllowed, match="IP address"):
        send_request(
            request(url(srv)),
            pool_manager=pool,
            policy=EndpointPolicy(allow_http=True, allowed_ports=[srv.port]),
        )
    localhost = url(srv).replace("127.0.0.1", "localhost")
    with pytest.raises(EndpointNotAllowed):
        send_request(
            request(localhost),
            pool_manager=pool,
            policy=EndpointPolicy(allow_http=True, allowed_ports=[srv.port]),
        )
    time.sleep(0.1)
    assert srv.connections == 0


def test_redirect_not_followed(serve: Any, pool: urllib3.PoolManager) -> None:
    other = serve(KEEP_ALIVE)
    srv = serve(Answer(301, {"Location": url(other)}))
    resp = send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)
    assert resp.status_code == 301
    assert resp.location == url(other)
    time.sleep(0.1)
    assert other.connections == 0 and other.requests == []
    err = error_for_response(resp, url(srv))
    assert isinstance(err, PushRejected)
    assert err.status_code == 301


# Answer the first request and keep the connection open; on the next request
# arriving on it, close without answering (the server's idle close racing our reuse).
stale_after_first = octets(lambda request: CREATED if request.index == 0 else CLOSE)


def test_stale_keep_alive_retried_transparently(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(stale_after_first)
    for _ in range(3):
        assert send_request(request(url(srv)), pool_manager=pool, policy=LOCAL).status_code == 201
    # Requests 2 and 3 each hit a stale connection first and were sent again.
    assert srv.unanswered == 2
    assert len(srv.requests) == 5
    assert srv.connections == 3


def test_stale_keep_alive_would_fail_without_the_retry(
    serve: Any, pool: urllib3.PoolManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Proves the test above exercises the retry path.
    monkeypatch.setattr(_transport, "resend_on_new_connection", lambda *a, **kw: False)
    srv = serve(stale_after_first)
    send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)
    with pytest.raises(TransportError):
        send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)


def test_server_closing_after_each_response(serve: Any, pool: urllib3.PoolManager) -> None:
    # Closes after every answer without announcing "Connection: close".
    srv = serve(octets(CREATED + CLOSE))
    for _ in range(5):
        assert send_request(request(url(srv)), pool_manager=pool, policy=LOCAL).status_code == 201
    assert srv.connections == 5


def test_retry_happens_once_only(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(octets(CLOSE))  # reads every request, answers none
    with pytest.raises(TransportError) as excinfo:
        send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)
    assert not isinstance(excinfo.value, PushTimeout)
    assert "broken" in excinfo.value.message
    assert excinfo.value.endpoint == url(srv)
    assert_no_secret(excinfo.value)
    assert len(srv.requests) == 2


def test_slow_server_times_out(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(Answer(201, delay=10))
    start = time.monotonic()
    with pytest.raises(PushTimeout) as excinfo:
        send_request(request(url(srv)), pool_manager=pool, policy=LOCAL, timeout=0.5)
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 2.5  # correctness bound, not a performance test
    assert "timed out after 0.5 s" in excinfo.value.message
    assert excinfo.value.endpoint == url(srv)
    assert_no_secret(excinfo.value)
    assert len(srv.requests) == 1  # a timeout is never retried


def test_answer_within_timeout(serve: Any, pool: urllib3.PoolManager) -> None:
    srv = serve(Answer(201, body=b"ok", delay=0.2))
    resp = send_request(request(url(srv)), pool_manager=pool, policy=LOCAL, timeout=3)
    assert resp.content == b"ok"


def drip(framing: str) -> Handler:
    """A 400 whose body comes one unit per 50 ms, framed by ``framing``, without end."""
    head = "HTTP/1.1 400 Bad Request\r\n"
    if framing == "length":
        head += "Content-Length: 100000\r\n\r\n"
    elif framing == "chunked":
        head += "Transfer-Encoding: chunked\r\n\r\n"
    else:  # body delimited by closing the connection
        head += "Connection: close\r\n\r\n"
    return stream(head.encode(), b"1\r\nx\r\n" if framing == "chunked" else b"x", every=0.05)


@pytest.mark.parametrize("framing", ["length", "chunked", "eof"])
def test_slow_drip_body_times_out(serve: Any, pool: urllib3.PoolManager, framing: str) -> None:
    srv = serve(drip(framing))
    start = time.monotonic()
    with pytest.raises(PushTimeout) as excinfo:
        send_request(request(url(srv)), pool_manager=pool, policy=LOCAL, timeout=0.6)
    elapsed = time.monotonic() - start
    assert elapsed < 2.5  # without the deadline this would run for the server's 10 s+
    assert "reading the response" in excinfo.value.message
    # The pool stays usable afterwards.
    ok = serve(KEEP_ALIVE)
    assert send_request(request(url(ok)), pool_manager=pool, policy=LOCAL).status_code == 201


def test_refused_port(pool: urllib3.PoolManager) -> None:
    port = free_port()
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

    def answer(request: Request) -> Answer:
        return Answer(400, body=big if request.path.endswith("big") else b"x" * 1000)

    srv = serve(responder=answer)
    resp = send_request(
        request(url(srv) + "big"), pool_manager=pool, policy=LOCAL, max_response_bytes=1000
    )
    assert resp.content == big[:1000]
    # A body of exactly the cap is complete, and its connection is kept.
    for _ in range(2):
        resp = send_request(
            request(url(srv)), pool_manager=pool, policy=LOCAL, max_response_bytes=1000
        )
        assert resp.content == b"x" * 1000
    assert srv.connections == 2  # the truncated one was dropped, the next reused
    resp = send_request(request(url(srv) + "big"), pool_manager=pool, policy=LOCAL)
    assert len(resp.content) == 65536


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [("7", 7, 7), (None, 55, 60), ("later", None, None)],
)
def test_retry_after_both_forms(
    serve: Any, pool: urllib3.PoolManager, value: Optional[str], low: Any, high: Any
) -> None:
    header = value if value is not None else formatdate(time.time() + 60, usegmt=True)

    srv = serve(Answer(429, {"Retry-After": header}))
    resp = send_request(request(url(srv)), pool_manager=pool, policy=LOCAL)
    assert resp.status_code == 429
    if low is None:
        assert resp.retry_after is None
    else:
        assert resp.retry_after is not None and low <= resp.retry_after <= high
    err = error_for_response(resp, url(srv))
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


def test_tls_verified(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(KEEP_ALIVE, tls=server_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    try:
        for _ in range(2):
            resp = send_request(request(url(srv)), pool_manager=pm, policy=LOCAL)
            assert resp.status_code == 201
        assert srv.requests[0].body == BODY
        assert srv.connections == 1
    finally:
        pm.clear()


def test_tls_untrusted_certificate_refused(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(KEEP_ALIVE, tls=server_context(ca, "127.0.0.1"))
    other_ca = trustme.CA()
    other_path = tmp_path / "other.pem"
    other_ca.cert_pem.write_to_path(str(other_path))
    for pm in (make_pool_manager(), make_pool_manager(ca_certs=str(other_path))):
        with pytest.raises(TransportError) as excinfo:
            send_request(request(url(srv)), pool_manager=pm, policy=LOCAL, timeout=3)
        err = excinfo.value
        assert not isinstance(err, PushTimeout)
        assert err.message.startswith("TLS failure with https://127.0.0.1:")
        assert "certificate verify failed" in err.message
        assert_no_secret(err)
        pm.clear()
    assert srv.requests == []


def test_tls_wrong_host_refused(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(KEEP_ALIVE, tls=server_context(ca, "push.example.org"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    with pytest.raises(TransportError, match="TLS failure"):
        send_request(request(url(srv)), pool_manager=pm, policy=LOCAL, timeout=3)
    pm.clear()
    assert srv.requests == []


def test_tls_stale_keep_alive_retried(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(stale_after_first, tls=server_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    for _ in range(3):
        assert send_request(request(url(srv)), pool_manager=pm, policy=LOCAL).status_code == 201
    assert srv.unanswered == 2
    assert srv.connections == 3
    pm.clear()


def test_tls_slow_drip_times_out(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    srv = serve(drip("length"), tls=server_context(ca, "127.0.0.1"))
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    pm = make_pool_manager(ca_certs=str(ca_path))
    start = time.monotonic()
    with pytest.raises(PushTimeout):
        send_request(request(url(srv)), pool_manager=pm, policy=LOCAL, timeout=0.6)
    assert time.monotonic() - start < 2.5
    pm.clear()


# --------------------------------------------------------------------------
# Pool managers


def test_default_pool_manager_is_one_shared_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pools, "_pool_manager", None)
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
    assert users == ["urllib3_errors.py", "urllib3_pools.py", "urllib3_transport.py"]
