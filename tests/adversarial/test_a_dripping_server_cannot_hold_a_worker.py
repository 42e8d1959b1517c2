"""A server sending one octet at a time cannot hold a worker, nor starve the fan-out.

Each attempt ends by its timeout however the answer trickles in: the status
line and headers, a body, on a fresh or a reused connection, in the clear or
over TLS. Time bounds are correctness bounds of the timeout, generous for a
shared machine.
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import trustme

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


class DripServer:
    """Raw loopback server: reads a request, then answers per ``mode``.

    ``headers``: the status line and headers one byte per 50 ms (a 1 KB
    header: ~50 s); ``body``: headers at once, then a 100 KB body one byte
    at a time; ``second``: a prompt 201 first, then on the same kept-alive
    connection a header drip.
    """

    def __init__(self, mode: str, tls: Optional[ssl.SSLContext] = None) -> None:
        self.mode = mode
        self.tls = tls
        self.stop_event = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.requests = 0
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}/push/drip"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop_event.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _read_request(self, f: Any) -> bool:
        length = 0
        line = f.readline()
        if not line:
            return False
        while True:
            header = f.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        f.read(length)
        self.requests += 1
        return True

    def _drip(self, sock: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self.stop_event.wait(0.05):
                return
            sock.sendall(data[i : i + 1])

    def _serve(self, sock: socket.socket) -> None:
        header = (
            b"HTTP/1.1 201 Created\r\nX-Padding: " + b"p" * 1000 + b"\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            sock.settimeout(30)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            f = sock.makefile("rb")
            if not self._read_request(f):
                return
            if self.mode == "second":
                sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                if not self._read_request(f):
                    return
            if self.mode == "body":
                sock.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n")
                self._drip(sock, b"x" * 100000)
            else:
                self._drip(sock, header)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(2)
        self.listener.close()


@pytest.fixture
def drip_server() -> Iterator[Callable[..., DripServer]]:
    servers: list[DripServer] = []

    def start(mode: str, tls: Optional[ssl.SSLContext] = None) -> DripServer:
        servers.append(DripServer(mode, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_slow_drip_cannot_hold_a_worker(drip_server: Callable[..., DripServer], mode: str) -> None:
    server = drip_server(mode)
    timeout, retries = 0.5, 1
    with PushClient(
        timeout=timeout, max_retries=retries, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        client._sleep = lambda seconds: None
        start = time.monotonic()
        result = client.send({"endpoint": server.url, "keys": KEYS}, b"x")
        elapsed = time.monotonic() - start
    assert not result.ok and isinstance(result.error, PushTimeout)
    assert result.attempts == retries + 1 and server.requests == retries + 1
    # Per attempt at most ~timeout; before the header phase was watched, a
    # header drip held this send for ~50 s per attempt.
    assert elapsed <= (retries + 1) * timeout + 0.5, elapsed


def test_slow_drip_on_a_reused_connection(drip_server: Callable[..., DripServer]) -> None:
    server = drip_server("second")
    sub = {"endpoint": server.url, "keys": KEYS}
    with PushClient(
        timeout=0.5, max_retries=0, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        assert client.send(sub, b"first").ok
        start = time.monotonic()
        result = client.send(sub, b"second")  # same kept-alive connection: the drip
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout) and server.requests == 2
    assert elapsed <= 1.0, elapsed


def test_slow_drip_over_tls(drip_server: Callable[..., DripServer], tmp_path: Any) -> None:
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
        result = client.send({"endpoint": server.url, "keys": KEYS}, b"x")
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout), result.error
    assert server.requests == 1 and elapsed <= 1.0, elapsed


def test_many_drips_do_not_starve_the_fan_out(drip_server: Callable[..., DripServer]) -> None:
    # 12 dripping subscriptions and 2 workers: each worker is freed per
    # attempt, so the run ends in about 12 / 2 * timeout.
    server = drip_server("headers")
    subs = [{"endpoint": f"{server.url}{i}", "keys": KEYS} for i in range(12)]
    with PushClient(
        timeout=0.3, max_retries=0, concurrency=2, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        results, wall = run_send_many(client, subs)
    assert len(results) == 12
    assert all(isinstance(r.error, PushTimeout) for r, _ in results)
    assert wall <= math.ceil(12 / 2) * 0.3 + 1.5, wall
