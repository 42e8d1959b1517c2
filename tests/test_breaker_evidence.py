"""The breaker acts on evidence: a burst is one event, one origin is one breaker.

On loopback, against tests/backlog_service.py (a stand-in whose listen
backlog overflows, made deterministic):

* a burst of connection timeouts from requests that were in flight
  together is one failure, not ``concurrency`` of them: a fan-out through
  it delivers everything but the 410s, with the default breaker settings
  (before: the burst opened the breaker and failed every queued
  subscription with OriginUnavailable);
* a subscriber cannot dodge the breaker by spelling the host its own way
  in each subscription: every spelling is one origin, one breaker.

The rules themselves (tickets, probes, cool-downs) are tested without
sockets in tests/test_origins.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from backlog_service import BacklogService
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import OriginUnavailable, PushTimeout

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
            f"{service.accepted} connections, {service.lost} lost; breaker trips {stats.trips}"
        )
    assert len(results) == len(subs)
    assert service.lost >= concurrency + 1  # the burst happened, and a later loss
    assert reasons == {"accepted": len(subs) - gone, "unsubscribed": gone}, reasons
    assert not any(isinstance(r.error, OriginUnavailable) for r in results)
    retried = [r for r in results if r.attempts > 1]
    assert len(retried) >= concurrency  # the burst's requests were retried, and got through
    assert stats.trips == 0 and stats.fast_failed == 0


# Thirteen spellings of 127.0.0.1: the resolver reads every one as it.
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "0x7f.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "0177.1",
    "017700000001",
    "127.0.0.1.",
    "127.1.",
    "0X7F.0.0.1",
]


def test_spelling_the_host_per_subscription_does_not_dodge_the_breaker(
    services: list[BacklogService],
) -> None:
    dead = BacklogService(burst=10**9, every=1)  # accepts, never answers
    services.append(dead)
    port = dead.url.rsplit(":", 1)[1]
    subs: list[dict[str, Any]] = [
        {"endpoint": f"http://{host}:{port}/push/{i}", "keys": KEYS}
        for i, host in enumerate(LOOPBACK_SPELLINGS)
    ]
    with PushClient(
        timeout=0.3,
        max_retries=0,
        concurrency=1,  # one at a time: every timeout is its own event
        endpoint_policy=LOCAL,
        breaker_threshold=2,
        breaker_cooldown=0.5,
    ) as client:
        results = list(client.send_many(subs, b"x"))
        stats = client.origin_stats()
    # Two timeouts open the one breaker; the third subscription waits for the
    # cool-down and is the probe, which times out too; the rest are reported
    # unsent. Spelt each its own way, thirteen origins would have taken
    # thirteen requests and never opened a breaker.
    assert [s.origin for s in stats] == [f"http://127.0.0.1:{port}"]
    assert stats[0].trips == 2
    assert dead.accepted == 3
    timeouts = [r for r in results if isinstance(r.error, PushTimeout)]
    unsent = [r for r in results if isinstance(r.error, OriginUnavailable)]
    assert len(timeouts) == 3 and all(r.attempts == 1 for r in timeouts)
    assert len(unsent) == len(subs) - 3 and all(r.attempts == 0 for r in unsent)
