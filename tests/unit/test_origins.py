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


# --------------------------------------------------------------------------
# Each rule at its limit and one past


def test_the_defaults() -> None:
    o = Origins()
    assert (o.threshold, o.cooldown, o.first_cooldown, o.probe_timeout) == (5, 30.0, 1.0, 10.0)
    assert (o.pause_cap, o.default_pause, o.window) == (60.0, 1.0, 40.0)


def test_the_default_threshold_is_five_failures_in_a_row() -> None:
    o = Origins(clock=Clock())
    for _ in range(4):
        assert o.failed(A, o.begin(A)) is False  # counted, not a failed probe
    assert not o.is_open(A)
    fail(o)
    assert o.is_open(A)


def test_the_default_pause_cap_is_a_minute() -> None:
    o = Origins(clock=Clock())
    o.answered(A, throttle=True, retry_after=3600)
    assert o.gate(A) == 60.0


def test_the_clock_may_start_at_zero() -> None:
    # A new state holds no pause, whatever the clock says (monotonic starts anywhere).
    clock = Clock()
    clock.now = 0.0
    o = Origins(threshold=3, clock=clock)
    fail(o)
    assert o.gate(A) == 0.0 and o.paused_for(A) == 0.0 and o.stats()[0].paused_for == 0.0


def test_no_threshold_never_reports_a_failed_probe() -> None:
    o = Origins(threshold=None)
    assert o.failed(A, 0) is False


def test_is_open_is_a_bool_for_every_state() -> None:
    clock = Clock()
    o = Origins(threshold=1, first_cooldown=1, probe_timeout=5, clock=clock)
    assert o.is_open(B) is False  # never seen
    o.answered(A, throttle=False, retry_after=None)
    assert o.is_open(A) is False  # known, closed
    fail(o)
    assert o.is_open(A) is True
    o.answered(A, throttle=False, retry_after=None)  # within the cool-down: closed at once
    assert o.is_open(A) is False and o.gate(A) == 0.0


def test_the_cool_down_ends_at_its_instant_and_the_probe_at_its_own() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=30, first_cooldown=2, probe_timeout=5, clock=clock)
    fail(o)  # open until 1002
    clock.now = 1001.999
    assert o.is_open(A) and o.stats()[0].breaker == "open"
    clock.now = 1002.0  # the cool-down's end: a probe may go, nothing is refused
    assert o.is_open(A) is False and o.stats()[0].breaker == "half-open"
    assert o.gate(A) == PROBE  # the probe has until 1007
    assert o.is_open(A) and o.stats()[0].breaker == "half-open"
    clock.now = 1006.999
    assert o.is_open(A)
    clock.now = 1007.0  # never heard of by then: it may be replaced
    assert o.is_open(A) is False
    clock.now = 1007.5
    assert o.is_open(A) is False and o.stats()[0].breaker == "half-open"


def test_stats_while_paused_and_after() -> None:
    clock = Clock()
    o = Origins(clock=clock)
    o.answered(A, throttle=True, retry_after=2)
    (stats,) = o.stats()
    assert (stats.paused_for, stats.breaker, stats.pauses) == (2.0, "closed", 1)
    clock.now += 0.5
    assert o.stats()[0].paused_for == 1.5
    clock.now += 5
    assert o.stats()[0].paused_for == 0.0


def test_the_same_pause_again_is_not_a_new_one() -> None:
    clock = Clock()
    o = Origins(clock=clock)
    o.answered(A, throttle=True, retry_after=0)
    o.answered(A, throttle=True, retry_after=0)  # the same instant, the same (empty) pause
    assert o.stats()[0].pauses == 1


def test_the_cool_down_stops_doubling_at_2_to_the_32() -> None:
    clock = Clock()
    o = Origins(threshold=1, cooldown=1e12, first_cooldown=1e-6, probe_timeout=0, clock=clock)
    fail(o)
    for _ in range(40):  # 40 probes that find it down
        clock.now += o._cooldown(o._states[A])
        assert o.gate(A) == PROBE
        assert o.failed(A, o.begin(A))
    assert o._states[A].level == 40
    assert o._cooldown(o._states[A]) == 1e-6 * 2.0**32


def test_an_attempt_begun_before_the_origin_was_known_is_old_news() -> None:
    clock = Clock()
    o = Origins(threshold=2, clock=clock)
    early = o.begin(A)  # the origin has no state yet
    o.answered(A, throttle=False, retry_after=None)  # another request's answer: a state
    fail(o)  # an attempt begun after it fails: counted
    o.failed(A, early)  # under way before that failure: the same event
    assert o.stats()[0].consecutive_failures == 1 and not o.is_open(A)


def test_an_attempt_begun_as_it_opened_is_not_a_failed_probe() -> None:
    clock = Clock()
    o = Origins(threshold=1, clock=clock)
    fail(o)  # opens
    during = o.begin(A)  # began after the trip (another thread had gated it before)
    assert o.failed(A, during) is False
    assert o.stats()[0].trips == 1


def test_the_log_says_what_happened_to_the_origin(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    o = Origins(threshold=2, first_cooldown=1.5, clock=clock)
    with caplog.at_level(logging.INFO, logger="webpush_core.delivery"):
        o.answered(A, throttle=True, retry_after=2)
        fail(o)
        fail(o)
        clock.now += 1.5
        assert o.gate(A) == PROBE
        fail(o)
        clock.now += 3
        assert o.gate(A) == PROBE
        o.answered(A, throttle=False, retry_after=None)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "push service https://a.example throttled us: every request to it paused 2.0 s",
        ),
        (
            "WARNING",
            "push service https://a.example: 2 connection failures or timeouts in a row; "
            "breaker open, no requests to it for 1.5 s",
        ),
        (
            "WARNING",
            "push service https://a.example: the probe failed; breaker open, "
            "no requests to it for 3.0 s",
        ),
        ("INFO", "push service https://a.example answered: breaker closed"),
    ]


# Which spent states are dropped: the pause, the breaker and the evidence run
# out, and then the state is unused for the window (40 s with the defaults).


def _touch_then_add_b(o: Origins, clock: Clock, touch: Any, at: float, later: float) -> int:
    """A's state made at 1000, touched at 1000 + ``at``, B made at 1000 + ``later``:
    how many states are left."""
    o.answered(A, throttle=False, retry_after=None)
    clock.now = 1000.0 + at
    touch()
    clock.now = 1000.0 + later
    o.answered(B, throttle=False, retry_after=None)
    return len(o)


@pytest.mark.parametrize("touch", ["gate", "answered", "failed-then-answered"])
def test_a_state_in_use_is_kept(touch: str) -> None:
    clock = Clock()
    o = Origins(clock=clock)

    def use() -> None:
        if touch == "gate":
            o.gate(A)
        elif touch == "answered":
            o.answered(A, throttle=False, retry_after=None)
        else:
            fail(o)
            o.answered(A, throttle=False, retry_after=None)

    # Used 39 s after it was made, B made 39 s after that: 1 s short of the window.
    assert _touch_then_add_b(o, clock, use, 39, 78) == 2
    assert A in o._states


def test_a_state_unused_for_the_window_is_dropped_at_its_end_not_before() -> None:
    clock = Clock()
    o = Origins(clock=clock)
    assert _touch_then_add_b(o, clock, lambda: None, 0, 39.999) == 2
    clock = Clock()
    o = Origins(clock=clock)
    assert _touch_then_add_b(o, clock, lambda: None, 0, 40.0) == 1
    assert A not in o._states


def test_a_paused_state_is_kept_however_long_unused() -> None:
    clock = Clock()
    o = Origins(clock=clock)
    o.answered(A, throttle=True, retry_after=60)  # paused until 1060
    clock.now = 1045.0  # unused for more than the window, still paused
    o.answered(B, throttle=False, retry_after=None)
    assert len(o) == 2 and o.gate(A) == 15.0


def test_a_pause_that_ends_now_is_spent() -> None:
    clock = Clock()
    o = Origins(clock=clock)
    o.answered(A, throttle=True, retry_after=45)  # paused until 1045, unused since 1000
    clock.now = 1045.0
    o.answered(B, throttle=False, retry_after=None)
    assert len(o) == 1
