"""A manual clock for a PushClient's engine: every wait is recorded and passes at once.

``use_manual_time(client)`` gives the client's engine (its timer, its
sleeper, the clock of its origins' pauses and breaker) a clock that jumps
by each wait instead of waiting: backoffs and pauses are observed without
sleeping, and a pause is over when the wait for it is. The production code
has no branch for it: it only ever calls the engine's ``later``, ``sleep``
and ``clock``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

__all__ = ["ManualTime", "use_manual_time"]


class ManualTime:
    def __init__(self) -> None:
        self.offset = 0.0
        self.lock = threading.Lock()
        # (seconds, the name of what ran after them): names only, so that no
        # delivery is kept alive (and no collection slowed) by the record.
        self.calls: list[tuple[float, str]] = []

    def clock(self) -> float:
        with self.lock:
            return time.monotonic() + self.offset

    def _pass(self, seconds: float, name: str) -> None:
        with self.lock:
            self.calls.append((seconds, name))
            self.offset += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self._pass(seconds, "sleep")

    def later(self, seconds: float, fn: Callable[[], object]) -> None:
        self._pass(seconds, getattr(fn, "__name__", type(fn).__name__))
        fn()

    @property
    def waits(self) -> list[float]:
        """Every wait: backoffs, pauses, slots handed on (0)."""
        with self.lock:
            return [seconds for seconds, _ in self.calls]

    def retries(self) -> list[float]:
        """The waits before a delivery's next attempt (its backoff), on the event loop."""
        with self.lock:
            return [s for s, name in self.calls if name == "attempt"]


def use_manual_time(client: Any) -> ManualTime:
    manual = ManualTime()
    engine = client._engine
    engine.later, engine.sleep = manual.later, manual.sleep
    engine.clock = engine.origins.clock = manual.clock
    return manual
