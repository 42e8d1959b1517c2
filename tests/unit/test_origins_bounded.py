"""The per-origin state is bounded, and each new origin costs the same.

A client that lives for ever (a Celery worker's) meets any number of
hostile origins. Origins keeps at most ``max_origins`` states (least
recently used first out), drops states whose failure evidence, pause and
breaker have run out as they reach the old end, and never scans them all:
the work per new origin is counted here (the states looked at), not timed.
benchmarks/origin_state.py times the same 30,000 origins.
"""

from __future__ import annotations

from typing import Any

import pytest

from webpush_core._delivery import origins as _origins
from webpush_core._delivery.origins import MAX_ORIGINS, Origins
from webpush_core._origin import origin_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every state the housekeeping looks at (one list item per look)."""
    looked: list[int] = []
    spent = Origins._spent

    def counted(self: Origins, state: Any, now: float) -> bool:
        looked.append(1)
        return spent(self, state, now)

    monkeypatch.setattr(Origins, "_spent", counted)
    return looked


def fail_new_origins(o: Origins, n: int, clock: Clock, step: float, looked: list[int]) -> list[int]:
    """Fail ``n`` distinct new origins; the states looked at for each."""
    per_origin = []
    for i in range(n):
        origin = origin_of(f"https://h{i}.example/p")
        before = len(looked)
        o.failed(origin, o.begin(origin))
        per_origin.append(len(looked) - before)
        clock.now += step
    return per_origin


def test_30000_failing_origins_cost_the_same_each_and_stay_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked = counting(monkeypatch)
    clock = Clock()
    o = Origins(clock=clock)  # the client's defaults: 4096 origins, a 40 s window
    per_origin = fail_new_origins(o, 30_000, clock, 0.0, looked)  # all within the window
    assert len(o) == MAX_ORIGINS  # capped: the least recently used went
    assert max(per_origin) <= _origins._SWEEP  # never a scan
    # Flat: the 30,000th origin costs what the second did (the first found none).
    first, last = sum(per_origin[1:1001]), sum(per_origin[-1000:])
    assert first == last == 1000


def test_spent_states_leave_as_new_origins_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    looked = counting(monkeypatch)
    clock = Clock()
    o = Origins(cooldown=10, probe_timeout=5, clock=clock)  # a 15 s window
    # One new failing origin every 10 ms: each one's evidence runs out after
    # 15 s, so about 1,500 are live at a time; the rest are dropped as the
    # next ones arrive, not at the cap.
    per_origin = fail_new_origins(o, 30_000, clock, 0.01, looked)
    assert 1400 <= len(o) <= 1600
    assert max(per_origin) <= _origins._SWEEP


def test_the_cap_at_the_limit_and_one_past() -> None:
    clock = Clock()
    o = Origins(max_origins=3, clock=clock)
    a, b, c, d = (origin_of(f"https://{x}.example") for x in "abcd")
    for origin in (a, b, c):
        o.answered(origin, throttle=True, retry_after=30)  # paused: not spent
    assert len(o) == 3 and o.paused_for(a) > 0  # at the limit: all kept
    o.gate(a)  # used: a is now the most recently used
    o.answered(d, throttle=True, retry_after=30)  # one past: the least recently used goes
    assert len(o) == 3
    assert [s.origin for s in o.stats()] == [
        "https://a.example",
        "https://c.example",
        "https://d.example",
    ]
    assert o.paused_for(b) == 0.0  # b's pause was forgotten with its state


def test_a_live_state_at_the_old_end_is_kept() -> None:
    clock = Clock()
    o = Origins(threshold=5, cooldown=10, probe_timeout=5, clock=clock)
    a = origin_of("https://a.example")
    o.failed(a, o.begin(a))
    clock.now += 14.9  # within the window: its evidence still counts
    for i in range(10):
        o.answered(origin_of(f"https://n{i}.example"), throttle=False, retry_after=None)
    assert o.stats()[0].origin == "https://a.example"
    assert o.stats()[0].consecutive_failures == 1
    clock.now += 15.1  # now past it, and unused for the window: the next arrival drops it
    o.answered(origin_of("https://late.example"), throttle=False, retry_after=None)
    assert "https://a.example" not in {s.origin for s in o.stats()}
