"""The breaker acts on evidence: a burst of failures in flight together is one event.

On loopback, against servers.backlog (a push service whose listen backlog
overflows, made deterministic): a burst of connection timeouts from
requests that were in flight together is one failure, not ``concurrency``
of them, so a fan-out through it delivers everything but the 410s, with
the default breaker settings (before: the burst opened the breaker and
failed the queued subscriptions with OriginUnavailable, up to all of them).

The rules themselves (tickets, probes, cool-downs) are tested without
sockets in tests/unit/test_origins.py; that a subscriber cannot dodge the
breaker by spelling the host its own way is an adversarial test
(tests/adversarial/test_spelling_a_host_cannot_dodge_the_breaker.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from servers.backlog import BacklogService
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import OriginUnavailable

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}


@pytest.fixture
def services() -> Iterator[list[BacklogService]]:
    started: list[BacklogService] = []
    yield started
    for service in started:
        service.stop()


def test_a_burst_of_failures_in_flight_together_fails_no_one(
    services: list[BacklogService], capsys: pytest.CaptureFixture[str]
) -> None:
    concurrency = 32
    # The first wave of connections (one per request in flight) is lost
    # together, then one connection in 25 (4 %).
    service = BacklogService(burst=concurrency, every=25)
    services.append(service)
    subs = [
        {"endpoint": f"{service.url}/push/{'gone' if i % 17 == 0 else 'ok'}{i}", "keys": KEYS}
        for i in range(300)
    ]
    gone = sum("/gone" in s["endpoint"] for s in subs)
    with PushClient(
        timeout=2, max_retries=4, concurrency=concurrency, endpoint_policy=LOCAL
    ) as client:  # the default breaker: threshold 5
        results = list(client.send_many(subs, b"backlog"))
        (stats,) = client.origin_stats()
    reasons = Counter(r.reason for r in results)
    with capsys.disabled():
        print(
            f"\nbacklog overflow: {reasons['accepted']} delivered, {reasons['unsubscribed']} "
            f"gone, {len(results) - reasons['accepted'] - reasons['unsubscribed']} failed; "
            f"{service.connections} connections, {service.lost} lost; breaker trips {stats.trips}"
        )
    assert len(results) == len(subs)
    assert service.lost >= concurrency + 1  # the burst happened, and a later loss
    assert reasons == {"accepted": len(subs) - gone, "unsubscribed": gone}, reasons
    assert not any(isinstance(r.error, OriginUnavailable) for r in results)
    retried = [r for r in results if r.attempts > 1]
    assert len(retried) >= concurrency  # the burst's requests were retried, and got through
    assert stats.trips == 0 and stats.fast_failed == 0
