"""Origins: per-origin pause and circuit breaker rules, with a clock moved by hand (no sleeping)."""

from __future__ import annotations

import logging

import pytest

from webpush_core._delivery.origins import OPEN, PROBE, Origins, origin_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A = "https://a.example"


def test_a_throttle_pauses_the_origin_until_retry_after() -> None:
    clock = Clock()
    o = Origins(clock=clock, pause_cap=60)
    assert o.gate(A) == 0.0
    o.answered(A, throttle=True, retry_after=2.0)
    assert o.gate(A) == pytest.approx(2.0)
    assert o.gate("https://b.example") == 0.0  # other origins untouched
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
    assert stats.origin == A and stats.pauses == 3 and stats.breaker == "closed"


def test_breaker_trips_after_k_failures_probes_and_recovers() -> None:
    clock = Clock()
    o = Origins(threshold=3, cooldown=10, clock=clock)
    o.failed(A)
    o.failed(A)
    o.answered(A, throttle=False, retry_after=None)  # an answer resets the count
    o.failed(A)
    o.failed(A)
    assert o.gate(A) == 0.0 and not o.is_open(A)
    o.failed(A)  # the third in a row
    assert o.is_open(A) and o.gate(A) == OPEN and o.gate(A) == OPEN
    assert o.stats()[0].fast_failed == 2 and o.stats()[0].trips == 1
    clock.now += 10
    assert o.gate(A) == PROBE  # one probe after the cool-down...
    assert o.gate(A) == OPEN and o.is_open(A)  # ...and only one
    o.failed(A)  # the probe failed: open again for a cool-down
    assert o.gate(A) == OPEN and o.stats()[0].trips == 2
    clock.now += 10
    assert o.gate(A) == PROBE
    o.answered(A, throttle=False, retry_after=None)  # the probe got an answer: closed
    assert o.gate(A) == 0.0 and not o.is_open(A) and o.stats()[0].breaker == "closed"


def test_a_probe_that_never_reports_is_replaced() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=5, clock=clock)
    o.failed(A)
    clock.now += 5
    assert o.gate(A) == PROBE
    clock.now += 5  # the probe never said anything (e.g. refused before sending)
    assert o.gate(A) == PROBE


def test_no_breaker_when_threshold_is_none() -> None:
    o = Origins(threshold=None)
    for _ in range(100):
        o.failed(A)
    assert o.gate(A) == 0.0


def test_origin_key_and_log_records_hold_no_path(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://Push.Example.com:8443/wpush/v2/gAAAAABsecret-token"
    assert origin_of(url) == "https://push.example.com:8443"
    assert origin_of("http://[::1]:9/x") == "http://[::1]:9"
    o = Origins(threshold=1)
    with caplog.at_level(logging.INFO, logger="webpush_core.delivery"):
        o.answered(origin_of(url), throttle=True, retry_after=3)
        o.failed(origin_of(url))
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "paused 3.0 s" in text and "breaker open" in text
    assert "secret" not in text and "push.example.com:8443" in text
