"""A subscriber cannot dodge the breaker by spelling the host its own way.

Every spelling of a host is one origin (webpush_core._origin), so one
breaker: thirteen subscriptions, each naming 127.0.0.1 differently (as the
resolver reads every one of them), to a push service that accepts and never
answers. Spelt thirteen ways as thirteen origins, they would have taken
thirteen requests and opened no breaker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from servers.backlog import BacklogService
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import OriginUnavailable, PushTimeout

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}

# Thirteen spellings of 127.0.0.1.
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


@pytest.fixture
def dead() -> Iterator[BacklogService]:
    service = BacklogService(burst=10**9, every=1)  # accepts, never answers
    yield service
    service.stop()


def test_spelling_the_host_per_subscription_does_not_dodge_the_breaker(
    dead: BacklogService,
) -> None:
    subs: list[dict[str, Any]] = [
        {"endpoint": f"http://{host}:{dead.port}/push/{i}", "keys": KEYS}
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
    # unsent.
    assert [s.origin for s in stats] == [f"http://127.0.0.1:{dead.port}"]
    assert stats[0].trips == 2
    assert dead.connections == 3
    timeouts = [r for r in results if isinstance(r.error, PushTimeout)]
    unsent = [r for r in results if isinstance(r.error, OriginUnavailable)]
    assert len(timeouts) == 3 and all(r.attempts == 1 for r in timeouts)
    assert len(unsent) == len(subs) - 3 and all(r.attempts == 0 for r in unsent)
