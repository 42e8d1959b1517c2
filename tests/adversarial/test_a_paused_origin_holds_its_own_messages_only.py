"""A paused origin holds its own messages only.

A push service that answers 429 pauses its origin (RFC 8030 §8.4). Its
deliveries wait without a slot, but only so many of them per origin: past
that, the excess ends at once as rate-limited with ``retry_after`` set (the
pause left), so a fan-out's read window keeps flowing for the other origins.
Measured on loopback: 60 subscriptions to an origin that always answers 429
(``Retry-After: 1``) ahead of 20 honest ones, ``concurrency=2``: the honest
ones are delivered before the first pause is even over (before: 81 s on the
event loop, 58 s with a urllib3 ``pool_manager``). Both transports share the
rule: a waiting delivery holds neither a slot nor a worker thread.

The call has a deadline (2.5 s): what is still waiting for the pause then ends
rate-limited too, with the pause left, so the test does not wait out every
pause of the hostile origin.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from servers.push_service import Answer, PushService
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._delivery.engine import PARKED_PER_SLOT
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import PushTimeout, RateLimited

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
DEADLINE = 2.5
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}


def subs_of(service: PushService, n: int, tag: str) -> list[dict[str, Any]]:
    return [{"endpoint": f"{service.url}/push/{tag}{i}", "keys": KEYS} for i in range(n)]


@pytest.fixture
def stand_ins() -> Iterator[list[PushService]]:
    started: list[PushService] = []
    yield started
    for s in started:
        s.stop()


@pytest.mark.parametrize("transport", ["loop", "urllib3"])
def test_a_paused_origin_does_not_hold_the_others(
    stand_ins: list[PushService], capsys: pytest.CaptureFixture[str], transport: str
) -> None:
    hostile = PushService(Answer(429, {"Retry-After": "1"}))  # a 429 to every request
    honest = PushService()
    stand_ins += [hostile, honest]
    concurrency = 2
    subs = subs_of(hostile, 60, "h") + subs_of(honest, 20, "o")
    # helper_process=False: the read window is 2 * concurrency, nothing more.
    pool = urllib3.PoolManager() if transport == "urllib3" else None
    with PushClient(
        concurrency=concurrency,
        max_retries=1,
        endpoint_policy=LOCAL,
        helper_process=False,
        pool_manager=pool,
    ) as client:
        assert all(r.ok for r in client.send_many(subs_of(honest, 2, "warm"), b"warm"))
        start = time.monotonic()
        timed = [
            (r, time.monotonic() - start) for r in client.send_many(subs, b"x", deadline=DEADLINE)
        ]
    honest_done = max(t for r, t in timed if r.endpoint.startswith(honest.url))  # type: ignore[union-attr]
    hostile_results = [r for r, _ in timed if r.endpoint.startswith(hostile.url)]  # type: ignore[union-attr]
    unsent = [r for r in hostile_results if r.attempts == 0]
    crowded = [r for r in unsent if "send it again after the pause" in str(r.error)]
    cut = [r for r in hostile_results if "deadline" in str(r.error)]
    with capsys.disabled():
        print(
            f"\npaused origin ({transport}): 20 honest delivered by {honest_done:.3f} s; hostile: "
            f"{len(crowded)} ended at once, {len(cut)} at the deadline, "
            f"{Counter(r.reason for r in hostile_results)}"
        )
    assert len(timed) == len(subs)
    assert all(r.ok for r, _ in timed if r.endpoint.startswith(honest.url))  # type: ignore[union-attr]
    # Before the first pause (1 s) is over: the paused origin held none of them.
    assert honest_done < 1.0
    # The hostile origin's excess ended at once, rate-limited, with the pause left;
    # what the deadline ended says so (PushTimeout, deadline-exceeded), also with it.
    assert all(r.action == "retry" for r in hostile_results)
    assert all(
        isinstance(r.error, PushTimeout) and r.reason == "deadline-exceeded"
        if r in cut
        else isinstance(r.error, RateLimited) and r.reason == "rate-limited"
        for r in hostile_results
    )
    assert crowded and all(0 < (r.retry_after or 0) <= 1.0 for r in crowded)
    # Cut by the deadline: the pause left, if one was on (none between pauses).
    assert all(r.retry_after is None or 0 < r.retry_after <= 1.0 for r in cut)
    # Those not crowded out waited for the pause, parked: at most the cap of
    # them at a time. The deadline ended the ones still waiting for it.
    assert len(unsent) - len(crowded) <= PARKED_PER_SLOT * concurrency
    assert all(r in crowded or r in cut for r in unsent)
    # The others waited out the pauses (held) and were tried: at most the cap
    # of them parked at a time, plus one in flight per slot, plus those ahead
    # of it in the window when the first 429 came back.
    tried = [r for r in hostile_results if r.attempts > 0]
    assert tried and len(tried) <= PARKED_PER_SLOT * concurrency + 4 * concurrency
    assert all(r.status_code == 429 for r in tried)
    assert all(r.retry_after == 1.0 for r in tried if r not in cut)
