"""PushClient's own HTTP/1.1 client reuses a connection only after a complete, clean answer.

A TLS server on loopback answers each request path with octets chosen to
mislead: ``Connection: close`` on a socket it keeps open, HTTP/1.0, interim
responses, a 101, half a status line, a second response nobody asked for.
Each answer is read exactly as RFC 9112 says, a connection that might carry
stray octets is dropped, and a request whose answer had begun is never sent
again (that could deliver a message twice).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from servers.hostile import CLOSE, octets
from servers.loopback import Request, Server, server_context
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import TransportError

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(os.urandom(16)),
}

# What the server writes back, by request path; the connection stays open
# afterwards unless the answer ends with CLOSE.
ANSWERS = {
    "/close": b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "/chunked": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "/http10": b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok",
    "/http10-eof": b"HTTP/1.0 201 Created\r\n\r\nuntil the close" + CLOSE,
    "/switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    "/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "/partial": b"HTTP/1.1 20" + CLOSE,
    "/smuggle": b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "/ok": b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
}


def kind(request: Request) -> str:
    """``/close`` for ``/push/close/3``: which answer the request asked for."""
    return request.path.split("/push", 1)[1].rsplit("/", 1)[0]


def sub(server: Server, path: str, i: int = 0) -> dict[str, Any]:
    return {"endpoint": f"{server.url}/push{path}/{i}", "keys": KEYS}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[Server]:
    """TLS with a certificate from ``ca``; each request gets ``ANSWERS[its kind]``."""
    with Server(octets(lambda request: ANSWERS[kind(request)]), tls=server_context(ca)) as server:
        yield server


def _connections_of(server: Server, path: str) -> list[int]:
    with server.lock:
        return [r.connection for r in server.requests if kind(r) == path]


def test_connection_close_answers_are_never_reused(tls: Server, ca_path: str) -> None:
    # The server keeps each socket open after "Connection: close": only the
    # client's reading of the header can keep the next request off it.
    subs = [sub(tls, "/close", i) for i in range(6)]
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = list(client.send_many(subs, b"x"))
    assert all(r.ok and r.attempts == 1 for r in results), results
    conns = _connections_of(tls, "/close")
    assert len(conns) == 6 and len(set(conns)) == 6


@pytest.mark.parametrize("path", ["/http10", "/http10-eof"])
def test_http_1_0_answers(tls: Server, ca_path: str, path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = [client.send(sub(tls, path, i), b"x") for i in range(3)]
    assert all(r.ok and r.status_code == 201 for r in results)
    body = b"ok" if path == "/http10" else b"until the close"
    assert all(r.response is not None and r.response.content == body for r in results)
    conns = _connections_of(tls, path)
    assert len(conns) == 3 and len(set(conns)) == 3  # HTTP/1.0: no keep-alive


def test_chunked_answers_and_keep_alive(tls: Server, ca_path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = [client.send(sub(tls, "/chunked", i), b"x") for i in range(3)]
    assert all(r.ok and r.response is not None and r.response.content == b"abcde" for r in results)
    assert len(set(_connections_of(tls, "/chunked"))) == 1


def test_interim_answers_are_skipped(tls: Server, ca_path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        result = client.send(sub(tls, "/interim"), b"x")
    assert result.ok and result.status_code == 201


def test_101_is_an_error_not_a_crash_and_its_connection_is_dropped(
    tls: Server, ca_path: str
) -> None:
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        result = c.send(sub(tls, "/switch"), b"x")
        after = c.send(sub(tls, "/ok"), b"x")
    assert not result.ok and isinstance(result.error, TransportError)
    assert "101" in result.error.message and result.attempts == 1
    assert after.ok
    assert _connections_of(tls, "/switch") != _connections_of(tls, "/ok")


def test_a_partial_answer_is_not_resent(tls: Server, ca_path: str) -> None:
    # Some response bytes came: the request reached the service; a resend
    # could deliver the message twice.
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        result = c.send(sub(tls, "/partial"), b"x")
    assert not result.ok and isinstance(result.error, TransportError)
    assert len(_connections_of(tls, "/partial")) == 1


def test_unasked_for_bytes_after_an_answer_drop_the_connection(tls: Server, ca_path: str) -> None:
    # A second response nobody asked for must not answer the next request.
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        first = c.send(sub(tls, "/smuggle"), b"x")
        second = c.send(sub(tls, "/ok"), b"x")
    assert first.ok and second.ok
    assert _connections_of(tls, "/ok") != _connections_of(tls, "/smuggle")
