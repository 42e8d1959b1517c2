"""Origins: per-origin pause and circuit breaker rules, with a clock moved by hand (no sleeping).

The breaker needs evidence: each attempt's ticket (the origin's failure
generation when it started) decides whether its failure is news; the
first cool-down is short and doubles while the origin stays down; a
subscription not yet tried waits for the probe. The bounds on the state
itself: tests/unit/test_origins_bounded.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from webpush_core._delivery.origins import OPEN, PROBE, Origins
from webpush_core._origin import origin_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A = origin_of("https://a.example")
B = origin_of("https://b.example")


def fail(o: Origins, origin: Any = A) -> None:
    """One failure of an attempt that began after the last one ended."""
    o.failed(origin, o.begin(origin))


def test_a_throttle_pauses_the_origin_until_retry_after() -> None:
    clock = Clock()
    o = Origins(clock=clock, pause_cap=60)
    assert o.gate(A) == 0.0
    o.answered(A, throttle=True, retry_after=2.0)
    assert o.gate(A) == pytest.approx(2.0)
    assert o.gate(B) == 0.0  # other origins untouched
    clock.now += 1.5
    o.answered(A, throttle=True, retry_after=0.2)  # ends sooner: does not shorten the pause
    assert o.gate(A) == pytest.approx(0.5)
    clock.now += 0.5
    assert o.gate(A) == 0.0
    o.answered(A, throttle=True, retry_after=500.0)  # capped
    assert o.gate(A) == pytest.approx(60.0)
    clock.now += 61
    o.answered(A, throttle=True, retry_after=None)  # a 429 without Retry-After
    assert o.gate(A) == pytest.approx(1.0)
    o.answered(A, throttle=False, retry_after=None)  # an answer does not lift a pause
    assert o.gate(A) == pytest.approx(1.0)
    (stats,) = o.stats()
    assert stats.origin == "https://a.example" and stats.pauses == 3 and stats.breaker == "closed"


def test_breaker_trips_after_k_failures_probes_and_recovers() -> None:
    clock = Clock()
    o = Origins(threshold=3, cooldown=10, first_cooldown=1, probe_timeout=5, clock=clock)
    fail(o)
    fail(o)
    o.answered(A, throttle=False, retry_after=None)  # an answer resets the count
    fail(o)
    fail(o)
    assert o.gate(A) == 0.0 and not o.is_open(A)
    fail(o)  # the third in a row
    assert o.is_open(A) and o.gate(A) == OPEN and o.gate(A) == OPEN
    assert o.stats()[0].fast_failed == 2 and o.stats()[0].trips == 1
    clock.now += 1  # the first cool-down: a second
    assert o.gate(A) == PROBE  # one probe after the cool-down...
    assert o.gate(A) == OPEN and o.is_open(A)  # ...and only one
    ticket = o.begin(A)
    assert o.failed(A, ticket)  # the probe failed: open again, for twice as long
    assert o.gate(A) == OPEN and o.stats()[0].trips == 2
    clock.now += 1
    assert o.gate(A) == OPEN
    clock.now += 1
    assert o.gate(A) == PROBE
    assert o.answered(A, throttle=False, retry_after=None)  # the probe got an answer: closed
    assert o.gate(A) == 0.0 and not o.is_open(A) and o.stats()[0].breaker == "closed"
    for _ in range(3):  # down again: the cool-down starts short again
        fail(o)
    clock.now += 1
    assert o.gate(A) == PROBE


def test_the_cool_down_doubles_while_the_origin_stays_down_up_to_the_cap() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=10, first_cooldown=1, probe_timeout=0.5, clock=clock)
    fail(o)
    cooldowns = []
    for _ in range(6):
        waited = 0.0
        while o.gate(A) != PROBE:
            clock.now += 0.25
            waited += 0.25
        cooldowns.append(waited)
        fail(o)  # the probe finds it still down
    assert cooldowns == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_failures_in_flight_together_count_once() -> None:
    clock = Clock()
    o = Origins(threshold=5, clock=clock)
    tickets = [o.begin(A) for _ in range(32)]  # 32 requests under way together
    for ticket in tickets:
        o.failed(A, ticket)  # a burst of 32 timeouts: one event
    assert o.stats()[0].consecutive_failures == 1 and not o.is_open(A)
    # Their retries began after that failure: a second event, however many fail.
    tickets = [o.begin(A) for _ in range(32)]
    o.answered(A, throttle=False, retry_after=None)  # one of them got an answer...
    for ticket in tickets:
        o.failed(A, ticket)  # ...so the others' failures start the count again, once
    assert o.stats()[0].consecutive_failures == 1
    for _ in range(4):
        tickets = [o.begin(A) for _ in range(8)]
        for ticket in tickets:
            o.failed(A, ticket)
    assert o.is_open(A) and o.stats()[0].trips == 1


def test_a_subscription_not_yet_tried_waits_for_the_probe() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=30, first_cooldown=1, probe_timeout=4, clock=clock)
    fail(o)
    # Tried already: reported at once. Not yet tried: waits for the cool-down.
    assert o.gate(A, tried=True) == OPEN
    assert o.gate(A, tried=False) == pytest.approx(1.0)
    clock.now += 1
    assert o.gate(A, tried=False) == PROBE  # the first one after it is the probe
    assert o.gate(A, tried=False) == pytest.approx(4.0)  # the others wait for its outcome
    assert o.gate(A, tried=True) == OPEN
    assert o.failed(A, o.begin(A))  # it stayed down through the probe...
    assert o.gate(A, tried=False) == OPEN  # ...now no one waits any more
    clock.now += 2
    assert o.gate(A, tried=False) == PROBE
    assert o.gate(A, tried=False) == OPEN  # still known down while the next probe runs
    assert o.answered(A, throttle=False, retry_after=None)
    assert o.gate(A, tried=False) == 0.0


def test_a_failure_from_before_the_trip_is_not_the_probe() -> None:
    clock = Clock()
    o = Origins(threshold=1, first_cooldown=1, clock=clock)
    straggler = o.begin(A)  # under way when the breaker opens
    fail(o)
    clock.now += 1
    assert o.gate(A, tried=False) == PROBE
    probe = o.begin(A)
    assert not o.failed(A, straggler)  # old news: the probe is still out
    assert o.stats()[0].trips == 1 and o.gate(A, tried=False) > 0
    assert o.failed(A, probe)
    assert o.stats()[0].trips == 2 and o.gate(A, tried=False) == OPEN


def test_a_probe_that_never_reports_is_replaced() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=5, first_cooldown=1, probe_timeout=5, clock=clock)
    fail(o)
    clock.now += 1
    assert o.gate(A) == PROBE
    clock.now += 4.9
    assert o.gate(A) == OPEN and o.gate(A, tried=False) == pytest.approx(0.1)
    clock.now += 0.1  # the probe never said anything (e.g. refused before sending)
    assert o.gate(A) == PROBE


def test_failure_evidence_expires() -> None:
    clock = Clock()
    o = Origins(threshold=2, cooldown=10, probe_timeout=5, clock=clock)
    fail(o)
    clock.now += 15.01  # older than the window (cool-down + a probe's time): forgotten
    fail(o)
    assert not o.is_open(A) and o.stats()[0].consecutive_failures == 1
    clock.now += 15
    fail(o)  # within the window: the second in a row
    assert o.is_open(A)
    # An open breaker no one probes is forgotten a window after its cool-down.
    clock.now += 1 + 15
    assert o.gate(A, tried=True) == 0.0 and not o.is_open(A)


def test_no_breaker_when_threshold_is_none() -> None:
    o = Origins(threshold=None)
    for _ in range(100):
        fail(o)
    assert o.gate(A) == 0.0


def test_origin_key_and_log_records_hold_no_path(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://Push.Example.com:8443/wpush/v2/gAAAAABsecret-token"
    origin = origin_of(url)
    assert str(origin) == "https://push.example.com:8443" and "secret" not in repr(origin)
    o = Origins(threshold=1)
    with caplog.at_level(logging.INFO, logger="webpush_core.delivery"):
        o.answered(origin, throttle=True, retry_after=3)
        o.failed(origin, o.begin(origin))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "paused 3.0 s" in text and "breaker open" in text
    assert "secret" not in text and "push.example.com:8443" in text
