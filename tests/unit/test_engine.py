"""Engine (webpush_core._delivery.engine): slots and parking, without sockets.

The timer is a list here: a parked delivery resumes when the test fires its
timer (or when the breaker's probe reports), so every count can be looked
at in between. Every limit is tested at the limit and one past.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from webpush_core._delivery.engine import EXEMPT_PER_SLOT, PARKED_PER_SLOT, Engine
from webpush_core._delivery.origins import Origins
from webpush_core._delivery.retry import RetryPolicy
from webpush_core._origin import origin_of

A = origin_of("https://a.example")
B = origin_of("https://b.example")


class Timers:
    def __init__(self) -> None:
        self.now = 1000.0
        self.due: list[tuple[float, Callable[[], object]]] = []

    def clock(self) -> float:
        return self.now

    def later(self, seconds: float, fn: Callable[[], object]) -> None:
        self.due.append((seconds, fn))

    def fire_all(self) -> None:
        due, self.due = self.due, []
        for _, fn in due:
            fn()


def make(concurrency: int = 2, **origins: Any) -> tuple[Engine, Timers]:
    timers = Timers()
    engine = Engine(
        concurrency,
        Origins(clock=timers.clock, **origins),
        RetryPolicy(),
        later=timers.later,
        submit=lambda *a, **kw: None,
    )
    return engine, timers


def pause(engine: Engine, origin: Any, seconds: float = 1.0) -> None:
    engine.answered(origin, throttle=True, retry_after=seconds)


def test_a_paused_origin_parks_up_to_its_cap_and_refuses_one_past() -> None:
    engine, timers = make(concurrency=2)
    cap = PARKED_PER_SLOT * 2
    assert engine.park_cap == cap
    pause(engine, A)
    resumed: list[int] = []
    for i in range(cap):  # at the limit
        assert engine.park(A, 1.0, lambda i=i: resumed.append(i))  # type: ignore[misc]
    assert engine.parked == engine.exempt == cap
    assert not engine.park(A, 1.0, lambda: resumed.append(-1))  # one past: refused
    assert engine.parked == cap
    # Another origin's deliveries are not refused for A's.
    pause(engine, B)
    assert engine.park(B, 1.0, lambda: resumed.append(100))
    timers.fire_all()
    assert resumed == [*range(cap), 100]
    assert engine.parked == engine.exempt == 0


def test_parked_deliveries_of_all_origins_together_are_capped() -> None:
    engine, timers = make(concurrency=1)
    per_origin, together = PARKED_PER_SLOT, EXEMPT_PER_SLOT
    origins = [origin_of(f"https://o{i}.example") for i in range(together // per_origin + 1)]
    for origin in origins:
        pause(engine, origin)
    parked = 0
    for origin in origins:
        for _ in range(per_origin):
            parked += engine.park(origin, 1.0, lambda: None)
    assert parked == together == engine.exempt  # at the limit; every one past it refused
    timers.fire_all()
    assert engine.parked == engine.exempt == 0


def test_waiting_for_the_probe_is_never_refused_and_ends_when_it_reports() -> None:
    engine, timers = make(
        concurrency=1, threshold=1, first_cooldown=1.0, cooldown=30, probe_timeout=5
    )
    engine.failed(A, engine.origins.begin(A))  # the breaker opens
    wait = engine.origins.gate(A, tried=False)
    assert wait == pytest.approx(1.0)
    resumed: list[int] = []
    n = engine.park_cap + 3  # past the cap: held all the same (only a pause refuses)
    for i in range(n):
        assert engine.park(A, wait, lambda i=i: resumed.append(i))  # type: ignore[misc]
    assert engine.parked == n and engine.exempt == engine.park_cap  # the rest count
    timers.now += 1.0
    assert engine.origins.gate(A, tried=False) < 0  # PROBE: one of them goes
    probe_ticket = engine.origins.begin(A)
    engine.failed(A, probe_ticket)  # the probe failed: the waiting are woken at once
    assert engine.parked == engine.exempt == 0
    timers.due, wakes = [], [fn for s, fn in timers.due if s == 0]
    for fn in wakes:
        fn()
    assert sorted(resumed) == list(range(n))


def test_a_wake_up_and_its_timer_resume_once() -> None:
    engine, timers = make(threshold=1, first_cooldown=1.0)
    engine.failed(A, 0)
    resumed: list[str] = []
    assert engine.park(A, 1.0, lambda: resumed.append("a"))
    engine.answered(A, throttle=False, retry_after=None)  # the breaker closed: wake
    timers.fire_all()  # the wake-up and the original timer
    assert resumed == ["a"]


def test_a_wake_up_leaves_paused_deliveries_parked() -> None:
    engine, timers = make(threshold=1, first_cooldown=1.0)
    pause(engine, A, 5.0)
    resumed: list[str] = []
    assert engine.park(A, 5.0, lambda: resumed.append("paused"))
    engine.wake(A)
    assert engine.parked == 1 and not [fn for s, fn in timers.due if s == 0]


def test_slots_concurrency_then_a_spare_for_an_origin_with_none_in_flight() -> None:
    engine, _ = make(concurrency=8)  # spare: 8 // 8 = 1
    started: list[str] = []
    for i in range(9):
        engine.in_flight(A, lambda i=i: started.append(f"a{i}"))  # type: ignore[misc]
    assert started == [f"a{i}" for i in range(8)]  # the ninth waits
    engine.in_flight(B, lambda: started.append("b"))  # B has none in flight: the spare
    assert started[-1] == "b"
    engine.in_flight(origin_of("https://c.example"), lambda: started.append("c"))
    assert started[-1] == "b"  # no second spare
    engine.landed(B)  # the spare is free again, but only for an origin with none in flight
    assert started[-1] == "c"
    engine.landed(A)  # 8 in flight (7 to A, c): only a spare, and A has some in flight
    assert started[-1] == "c"
    engine.landed(A)  # a regular slot: the first in line
    assert started[-1] == "a8"
