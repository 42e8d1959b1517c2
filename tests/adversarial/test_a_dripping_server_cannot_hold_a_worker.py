"""A server sending one octet at a time cannot hold a worker, nor starve the fan-out.

Each attempt ends by its timeout however the answer trickles in: the status
line and headers, a body, on a fresh or a reused connection, in the clear or
over TLS. Time bounds are correctness bounds of the timeout, generous for a
shared machine.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import trustme

from manual_time import use_manual_time
from servers.hostile import drip
from servers.loopback import Server
from webpush_core._b64 import b64url_encode
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import PushTimeout

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}


def run_send_many(
    client: PushClient, subscriptions: list[dict[str, Any]]
) -> tuple[list[tuple[SendResult, float]], float]:
    start = time.monotonic()
    results = [(r, time.monotonic()) for r in client.send_many(iter(subscriptions), b"drip test")]
    return results, time.monotonic() - start


# A 1 KB header dripped at one octet per 50 ms takes ~50 s; so does a 100 KB body.
PADDED_HEAD = (
    b"HTTP/1.1 201 Created\r\nX-Padding: " + b"p" * 1000 + b"\r\nContent-Length: 0\r\n\r\n"
)
DRIPS = {
    # the status line and headers, one octet per 50 ms
    "headers": drip(PADDED_HEAD, 0.05),
    # headers at once, then a 100 KB body one octet at a time
    "body": drip(b"x" * 100000, 0.05, head=b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n"),
    # a prompt 201 first, then on the same kept-alive connection a header drip
    "second": drip(PADDED_HEAD, 0.05, prompt_first=1),
}


def endpoint(server: Server) -> str:
    return f"{server.url}/push/drip"


@pytest.fixture
def drip_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(mode: str, tls: Optional[ssl.SSLContext] = None) -> Server:
        servers.append(Server(DRIPS[mode], tls=tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_slow_drip_cannot_hold_a_worker(drip_server: Callable[..., Server], mode: str) -> None:
    server = drip_server(mode)
    timeout, retries = 0.5, 1
    with PushClient(
        timeout=timeout, max_retries=retries, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        use_manual_time(client)
        start = time.monotonic()
        result = client.send({"endpoint": endpoint(server), "keys": KEYS}, b"x")
        elapsed = time.monotonic() - start
    assert not result.ok and isinstance(result.error, PushTimeout)
    assert result.attempts == retries + 1 and len(server.requests) == retries + 1
    # Per attempt at most ~timeout; before the header phase was watched, a
    # header drip held this send for ~50 s per attempt.
    assert elapsed <= (retries + 1) * timeout + 0.5, elapsed


def test_slow_drip_on_a_reused_connection(drip_server: Callable[..., Server]) -> None:
    server = drip_server("second")
    sub = {"endpoint": endpoint(server), "keys": KEYS}
    with PushClient(
        timeout=0.5, max_retries=0, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        assert client.send(sub, b"first").ok
        start = time.monotonic()
        result = client.send(sub, b"second")  # same kept-alive connection: the drip
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout) and len(server.requests) == 2
    assert elapsed <= 1.0, elapsed


def test_slow_drip_over_tls(drip_server: Callable[..., Server], tmp_path: Any) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    server = drip_server("headers", tls=context)
    with PushClient(
        timeout=0.5, max_retries=0, endpoint_policy=LOCAL, ca_certs=str(ca_path)
    ) as client:
        start = time.monotonic()
        result = client.send({"endpoint": endpoint(server), "keys": KEYS}, b"x")
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout), result.error
    assert len(server.requests) == 1 and elapsed <= 1.0, elapsed


def test_many_drips_do_not_starve_the_fan_out(drip_server: Callable[..., Server]) -> None:
    # 12 dripping subscriptions and 2 workers: each worker is freed per
    # attempt, so the run ends in about 12 / 2 * timeout.
    server = drip_server("headers")
    subs = [{"endpoint": f"{endpoint(server)}{i}", "keys": KEYS} for i in range(12)]
    with PushClient(
        timeout=0.3, max_retries=0, concurrency=2, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        results, wall = run_send_many(client, subs)
    assert len(results) == 12
    assert all(isinstance(r.error, PushTimeout) for r, _ in results)
    assert wall <= math.ceil(12 / 2) * 0.3 + 1.5, wall
