"""Per-origin backpressure, the circuit breaker, deadline= and TTL-aware retries, measured.

The rules themselves are tested on :class:`Origins` with an injected clock in
tests/unit/test_origins.py; the measurements here use a fault-injecting
push-service stand-in on two loopback origins (``Origin`` below, on the
shared PushService, keep-alive), each recording when every request arrived.

Time bounds here are correctness bounds (a pause honoured, a breaker that
answers at once, a deadline kept), with generous margins for a shared
machine; the one comparison of speeds (an origin's fan-out with and without
a throttled neighbour) is interleaved and best-of-3.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import urllib3

from servers.loopback import Request
from servers.push_service import Answer, PushService
from webpush_core import EndpointPolicy, PushClient, SendResult
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import InvalidRequest, OriginUnavailable, PushTimeout, RateLimited

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"breaker_threshold": 0}, "breaker_threshold"),
        ({"breaker_threshold": True}, "breaker_threshold"),
        ({"breaker_cooldown": 0}, "breaker_cooldown"),
        ({"breaker_cooldown": float("nan")}, "breaker_cooldown"),
    ],
)
def test_client_options_checked(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        PushClient(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("deadline", [0, -1, float("inf"), "3", True])
def test_deadline_checked(deadline: Any) -> None:
    with PushClient(endpoint_policy=LOCAL) as client:
        with pytest.raises(InvalidRequest) as info:
            client.send_many([], b"x", deadline=deadline)
        assert info.value.field == "deadline"
        with pytest.raises(InvalidRequest):
            client.send({"endpoint": "http://127.0.0.1:9/p", "keys": KEYS}, b"x", deadline=deadline)


# --------------------------------------------------------------------------
# The stand-in: one origin per instance


class Origin:
    """A push-service stand-in on 127.0.0.1 (the shared PushService).

    ``mode``: ``"ok"`` answers 201; ``"throttle"`` answers 429 with
    ``Retry-After: <retry_after>`` to every request arriving within
    ``throttle_for`` seconds of the first one, 201 after; ``"blackhole"``
    reads the request and never answers (until stopped).
    """

    def __init__(self, mode: str, retry_after: str = "2", throttle_for: float = 2.0) -> None:
        self.mode = mode
        self.retry_after = retry_after
        self.throttle_for = throttle_for
        self.arrivals: list[tuple[float, int]] = []  # (time.monotonic(), status or 0)
        self.first: Optional[float] = None
        self.lock = threading.Lock()
        self.server = PushService(responder=self.respond, keys=KEYS)
        self.url = self.server.url

    def respond(self, request: Request) -> Answer:
        status = self.decide(request.arrived)
        if status == 0:
            return Answer(delay=60, close=True)
        return Answer(status, {"Retry-After": self.retry_after} if status == 429 else {})

    def decide(self, now: float) -> int:
        with self.lock:
            if self.first is None:
                self.first = now
            if self.mode == "blackhole":
                status = 0
            elif self.mode == "throttle" and now - self.first < self.throttle_for:
                status = 429
            else:
                status = 201
            self.arrivals.append((now, status))
            return status

    def subs(self, n: int, tag: str) -> list[dict[str, Any]]:
        return [{"endpoint": f"{self.url}/push/{tag}{i}", "keys": KEYS} for i in range(n)]

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def origins() -> Iterator[Callable[..., Origin]]:
    started: list[Origin] = []

    def start(mode: str, **kw: Any) -> Origin:
        started.append(Origin(mode, **kw))
        return started[-1]

    yield start
    for o in started:
        o.stop()


def one_each(results: list[SendResult], subs: list[dict[str, Any]]) -> None:
    """Exactly one result per subscription."""
    got = Counter(r.endpoint for r in results)
    assert got == Counter(s["endpoint"] for s in subs)


def interleave(b: list[Any], a: list[Any], every: int) -> list[Any]:
    out: list[Any] = []
    ai = iter(a)
    for i, sub in enumerate(b):
        out.append(sub)
        if i % every == every - 1:
            out.extend(next(ai, None) for _ in range(1))
    out.extend(ai)
    return [s for s in out if s is not None]


# --------------------------------------------------------------------------
# Backpressure: a throttled origin is paused, the other keeps its speed


def timed_run(
    client: PushClient, subs: list[dict[str, Any]], b_url: str
) -> tuple[list[SendResult], float]:
    """All results, and the seconds until the last result for origin B."""
    start = time.monotonic()
    results, last_b = [], 0.0
    for r in client.send_many(subs, b"backpressure"):
        results.append(r)
        if r.endpoint and r.endpoint.startswith(b_url):
            last_b = time.monotonic() - start
    return results, last_b


def watch(client: PushClient, url: str) -> tuple[list[float], list[float]]:
    """Record, client-side, when each request to ``url`` was handed to the
    connections (``sent``) and when the first throttle paused it (``paused``)."""
    sent: list[float] = []
    paused: list[float] = []
    connections, origins = client._res.connections, client._engine.origins
    submit, answered = connections.submit, origins.answered

    def submit_spy(request: Any, *args: Any, **kw: Any) -> Any:
        if request.url.startswith(url):
            sent.append(time.monotonic())
        return submit(request, *args, **kw)

    def answered_spy(origin: Any, *, throttle: bool, retry_after: Optional[float]) -> bool:
        closed = answered(origin, throttle=throttle, retry_after=retry_after)
        if throttle and url.startswith(origin.serialized) and not paused:
            paused.append(time.monotonic())
        return closed

    connections.submit = submit_spy  # type: ignore[method-assign]
    origins.answered = answered_spy  # type: ignore[method-assign]
    return sent, paused


def test_backpressure_pauses_one_origin_and_not_the_other(
    origins: Callable[..., Origin], capsys: pytest.CaptureFixture[str]
) -> None:
    b = origins("ok")
    b_subs = b.subs(1000, "b")
    base_times, mixed_times = [], []
    with PushClient(timeout=5, endpoint_policy=LOCAL) as client:
        warm = list(client.send_many(b.subs(64, "warm"), b"warm"))  # connections, helper
        assert len(warm) == 64 and all(r.ok for r in warm)
        for _round in range(3):  # interleaved, median of 3: the machine is shared
            results, t = timed_run(client, b_subs, b.url)
            assert all(r.ok for r in results)
            base_times.append(t)

            a = origins("throttle", retry_after="2", throttle_for=2.0)
            a_subs = a.subs(50, f"a{_round}")
            mixed = interleave(b_subs, a_subs, every=20)
            sent, paused = watch(client, a.url)
            results, t = timed_run(client, mixed, b.url)
            mixed_times.append(t)
            one_each(results, mixed)

            # A: once the client saw the first 429, no request to A was sent
            # until the pause (2 s) was over: only those already in flight
            # met a 429; then A got the rest, accepted.
            assert paused, "the 429 paused nothing"
            during = [s for s in sent if paused[0] <= s < paused[0] + 1.95]
            assert not during, f"{len(during)} requests sent to A while it was paused"
            statuses = [s for _, s in a.arrivals]
            assert statuses.count(429) == len([s for s in sent if s < paused[0]])
            assert statuses.count(429) <= client.concurrency
            assert all(r.ok for r in results), Counter(r.reason for r in results)
            held = [r for r in results if r.held > 0]
            assert held and all(r.endpoint.startswith(a.url) for r in held)  # type: ignore[union-attr]
            assert all(r.endpoint.startswith(a.url) for r in results if r.attempts > 1)  # type: ignore[union-attr]
        stats = {s.origin: s for s in client.origin_stats()}
    # Medians: one round of either kind may be far off (B alone took 0.15 s in
    # one round and 0.35 s in the two others of one run), and rounds of the same
    # work spread by a third; paused behind A, B would take A's whole pause (2 s,
    # five times B's own time) every round.
    base, mixed = statistics.median(base_times), statistics.median(mixed_times)
    with capsys.disabled():
        print(
            f"\nbackpressure: B's 1000 alone {[round(t, 3) for t in base_times]} s, "
            f"with a throttled A {[round(t, 3) for t in mixed_times]} s; "
            f"medians {base:.3f} vs {mixed:.3f} ({mixed / base:.2f}x)"
        )
    assert mixed <= base * 1.5 + 0.1, (base_times, mixed_times)
    assert stats[b.url].pauses == 0
    assert sum(s.pauses for o, s in stats.items() if o != b.url) == 3


def test_backpressure_on_the_urllib3_path(origins: Callable[..., Origin]) -> None:
    b = origins("ok")
    a = origins("throttle", retry_after="1", throttle_for=1.0)
    subs = interleave(b.subs(200, "b"), a.subs(20, "a"), every=10)
    pool = urllib3.PoolManager(maxsize=8)
    with PushClient(timeout=5, concurrency=8, endpoint_policy=LOCAL, pool_manager=pool) as client:
        start = time.monotonic()
        results = list(client.send_many(subs, b"pool"))
        wall = time.monotonic() - start
    one_each(results, subs)
    assert all(r.ok for r in results)
    assert a.first is not None
    # Requests in flight when the first 429 came back met 429s too; none after
    # the pause had begun (at most one per worker was in flight).
    assert [s for _, s in a.arrivals].count(429) <= 8
    b_done = max(t for t, _ in b.arrivals) - min(t for t, _ in b.arrivals)
    assert b_done < 0.9  # B was not held behind A's pause (workers are not parked on it)
    assert wall < 6


# --------------------------------------------------------------------------
# The breaker: an origin that accepts and never answers


def test_breaker_reports_a_dead_origin_quickly(
    origins: Callable[..., Origin], capsys: pytest.CaptureFixture[str]
) -> None:
    dead = origins("blackhole")
    subs = dead.subs(200, "d")
    timeout, retries, concurrency = 2.0, 3, 32
    # Without the breaker each subscription waits out its own timeouts:
    # 200 x 4 attempts of 2 s through 32 slots, backoff not even counted.
    no_breaker_at_least = (len(subs) * (retries + 1) / concurrency) * timeout
    with PushClient(
        timeout=timeout,
        max_retries=retries,
        concurrency=concurrency,
        endpoint_policy=LOCAL,
        breaker_threshold=5,
        breaker_cooldown=30,
    ) as client:
        start = time.monotonic()
        results = list(client.send_many(subs, b"dead"))
        wall = time.monotonic() - start
        (stats,) = client.origin_stats()
    with capsys.disabled():
        print(
            f"\nbreaker: 200 results in {wall:.2f} s "
            f"(without a breaker at least {no_breaker_at_least:.0f} s); "
            f"{len(dead.arrivals)} requests reached the dead origin"
        )
    one_each(results, subs)
    # Requests in flight together fail together and count once: five rounds
    # of timeouts (10 s) open the breaker; the subscriptions not yet tried
    # wait for the probe after the first cool-down (1 s), which times out
    # too (2 s): then every one is reported.
    assert wall < 15.0 < no_breaker_at_least / 3
    assert all(not r.ok and r.action == "retry" for r in results)
    assert all(r.reason == "service-unavailable" for r in results), Counter(
        r.reason for r in results
    )
    assert all(isinstance(r.error, OriginUnavailable) for r in results)
    assert len(dead.arrivals) <= 5 * concurrency + 1  # five rounds and a probe, not 800
    # It opened, and a probe found it still down.
    assert stats.trips == 2 and stats.breaker == "open" and stats.fast_failed > 100


def test_breaker_probes_after_the_cool_down(origins: Callable[..., Origin]) -> None:
    srv = origins("blackhole")
    sub = srv.subs(1, "p")[0]
    with PushClient(
        timeout=0.3, max_retries=0, endpoint_policy=LOCAL, breaker_threshold=2, breaker_cooldown=0.5
    ) as client:
        for _ in range(2):
            assert isinstance(client.send(sub, b"x").error, PushTimeout)
        # Open. A subscription not yet tried is not failed for it: it waits for
        # the cool-down and is the probe, which finds the origin still down...
        start = time.monotonic()
        probe = client.send(sub, b"x")
        assert isinstance(probe.error, PushTimeout) and probe.attempts == 1
        assert 0.5 <= time.monotonic() - start < 2.0
        # ...so the next one is reported at once, unsent.
        fast = client.send(sub, b"x")
        assert isinstance(fast.error, OriginUnavailable) and fast.attempts == 0
        time.sleep(0.55)
        srv.mode = "ok"  # it came back
        probe = client.send(sub, b"x")
        assert probe.ok and probe.attempts == 1
        assert client.send(sub, b"x").ok
        assert client.origin_stats()[0].breaker == "closed"
    assert len(srv.arrivals) == 5


# --------------------------------------------------------------------------
# deadline= and the TTL


def test_deadline_against_a_long_retry_after(origins: Callable[..., Origin]) -> None:
    slow = origins("throttle", retry_after="120", throttle_for=1000)
    subs = slow.subs(100, "t")
    with PushClient(timeout=5, endpoint_policy=LOCAL) as client:
        start = time.monotonic()
        results = [(r, time.monotonic() - start) for r in client.send_many(subs, b"x", deadline=3)]
    one_each([r for r, _ in results], subs)
    assert max(t for _, t in results) < 4.0
    for r, _ in results:
        assert not r.ok and isinstance(r.error, PushTimeout) and r.action == "retry"
        assert r.reason == "deadline-exceeded"
    # The ones that got their 429 keep its status and Retry-After; the rest,
    # held by the origin's pause, were never sent.
    answered = [r for r, _ in results if r.status_code == 429]
    assert answered and all(r.retry_after == 120.0 for r in answered)
    assert len(slow.arrivals) == len(answered) <= 32  # those in flight at the first 429


def test_deadline_with_requests_in_flight_and_input_unread(origins: Callable[..., Origin]) -> None:
    dead = origins("blackhole")
    subs = dead.subs(300, "h")
    with PushClient(
        timeout=30, concurrency=4, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        start = time.monotonic()
        results = list(client.send_many(iter(subs), b"x", deadline=1))
        wall = time.monotonic() - start
    one_each(results, subs)
    assert 0.9 < wall < 2.5
    assert all(r.reason == "deadline-exceeded" and r.action == "retry" for r in results)
    assert sum(r.attempts for r in results) == len(dead.arrivals) == 4


def test_deadline_on_send_send_async_and_the_urllib3_path(origins: Callable[..., Origin]) -> None:
    dead = origins("blackhole")
    sub = dead.subs(1, "s")[0]
    with PushClient(timeout=30, endpoint_policy=LOCAL, breaker_threshold=None) as client:
        start = time.monotonic()
        r = client.send(sub, b"x", deadline=0.5)
        assert r.reason == "deadline-exceeded" and time.monotonic() - start < 1.5

        async def go() -> SendResult:
            return await client.send_async(sub, b"x", deadline=0.5)

        start = time.monotonic()
        r = asyncio.run(go())
        assert r.reason == "deadline-exceeded" and time.monotonic() - start < 1.5
    pool = urllib3.PoolManager()
    with PushClient(
        timeout=30, endpoint_policy=LOCAL, pool_manager=pool, breaker_threshold=None
    ) as client:
        start = time.monotonic()
        r = client.send(sub, b"x", deadline=0.5)
        assert isinstance(r.error, PushTimeout)
        assert r.action == "retry" and time.monotonic() - start < 1.5
        results = list(client.send_many(dead.subs(5, "m"), b"x", deadline=0.5))
        assert len(results) == 5 and time.monotonic() - start < 3


def test_no_retry_after_the_ttl(origins: Callable[..., Origin]) -> None:
    slow = origins("throttle", retry_after="5", throttle_for=1000)
    sub = slow.subs(1, "ttl")[0]
    with PushClient(timeout=5, endpoint_policy=LOCAL) as client:
        start = time.monotonic()
        r = client.send(sub, b"x", ttl=2)
        assert time.monotonic() - start < 1.0
    assert not r.ok and r.reason == "ttl-expired" and r.action is None
    assert isinstance(r.error, RateLimited) and r.attempts == 1 and r.retry_after == 5.0
    assert len(slow.arrivals) == 1
