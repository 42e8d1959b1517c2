"""A server that accepts and never answers cannot hold a call past its deadline, nor close().

Sixteen subscriptions to one such origin, as many requests in flight at
once (concurrency 16), a call deadline of half a second: every subscription
gets exactly one result (deadline-exceeded), and ``PushClient.close()``
returns, on both transports (the client's own and a urllib3 pool manager).
The attempts' own timeout (10 s) is longer than the bound on close(): a
close() that waited for the requests the deadline abandoned would be caught.
Time bounds are hang checks, generous for a shared machine.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import urllib3

from servers.hostile import octets
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
SUBSCRIPTIONS = 16
CLOSE_BOUND = 10.0  # seconds: a hang check, not a measure


@pytest.fixture
def silent() -> Iterator[Server]:
    """Accepts, reads each request, never answers (the connection stays open)."""
    server = Server(octets(None))
    yield server
    server.stop()


def close_within(client: PushClient, bound: float) -> Optional[float]:
    """close() in a thread: its duration, or None if it had not returned within ``bound``."""
    done = threading.Event()
    took: list[float] = []

    def close() -> None:
        start = time.monotonic()
        client.close()
        took.append(time.monotonic() - start)
        done.set()

    threading.Thread(target=close, daemon=True).start()
    return took[0] if done.wait(bound) else None


@pytest.mark.parametrize("transport", ["own", "urllib3"])
def test_every_subscription_gets_one_result_and_close_returns(
    silent: Server, transport: str
) -> None:
    subs = [{"endpoint": f"{silent.url}/push/{i}", "keys": KEYS} for i in range(SUBSCRIPTIONS)]
    options: dict[str, Any] = {}
    pool = None
    if transport == "urllib3":
        pool = urllib3.PoolManager(maxsize=SUBSCRIPTIONS)
        options["pool_manager"] = pool
    client = PushClient(max_retries=0, concurrency=SUBSCRIPTIONS, endpoint_policy=LOCAL, **options)
    try:
        results: list[SendResult] = list(client.send_many(iter(subs), b"x", deadline=0.5))
        counts = Counter(r.endpoint for r in results)
        assert counts == Counter(s["endpoint"] for s in subs)  # each exactly once
        for result in results:
            # The deadline, or the attempt's timeout cut to what was left of it:
            # whichever came first, a timeout.
            assert not result.ok and result.reason in ("deadline-exceeded", "timeout")
            assert isinstance(result.error, PushTimeout)
        assert len(silent.requests) >= 1  # the requests did reach it, and got nothing
    finally:
        took = close_within(client, CLOSE_BOUND)
        if pool is not None:
            pool.clear()
    assert took is not None, f"close() had not returned after {CLOSE_BOUND} s"
