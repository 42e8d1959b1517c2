"""Per-origin backpressure and circuit breaker: how PushClient treats one push service.

A fan-out talks to a few push-service origins (``scheme://host:port``). Two
rules make it a good citizen toward each, without slowing the others:

* **pause**: a 429, or a 503 / WNS 406 with ``Retry-After`` (RFC 9110
  §10.2.3, RFC 8030 §8.4), pauses *every* request to that origin, new and
  retried, until then (at most ``pause_cap`` seconds; a 429 without
  ``Retry-After`` pauses ``default_pause``);
* **breaker**: after ``threshold`` consecutive connection failures or timeouts
  to one origin, it is *open* for ``cooldown`` seconds: requests to it are not
  opened but reported at once. Then one probe request is let through; an
  answer (any HTTP status) closes the breaker, a failure opens it again.

The state is a small dict under one lock; the clock is injected so the rules
are tested without sleeping. Nothing here blocks or does I/O: it is called
from the event loop's thread as well as from worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlsplit

__all__ = ["OPEN", "PROBE", "OriginStats", "Origins", "origin_of"]

log = logging.getLogger("webpush_core.delivery")

OPEN = -1.0  # gate(): the breaker is open, do not send
PROBE = -2.0  # gate(): send now, as the probe of a breaker that cooled down


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an endpoint URL: the key of the per-origin state.

    Never the path (it holds the subscription's token), so it is safe to log.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


@dataclass
class _State:
    paused_until: float = 0.0
    failures: int = 0  # consecutive connection failures / timeouts
    open_until: float = 0.0  # breaker open (no requests) until then
    open: bool = False
    probing: bool = False  # after the cool-down: one probe is in flight
    pauses: int = 0
    trips: int = 0
    fast_failed: int = 0


@dataclass(frozen=True)
class OriginStats:
    """What one origin's state is now and how often it paused or tripped."""

    origin: str
    paused_for: float  # seconds left of a pause (0: not paused)
    breaker: str  # "closed", "open" or "half-open" (a probe is allowed or in flight)
    consecutive_failures: int
    pauses: int  # pauses started (a pause extended by a later answer counts once)
    trips: int  # times the breaker opened
    fast_failed: int  # requests reported at once because the breaker was open


class Origins:
    """Pause and breaker state for every origin a client talks to (thread-safe)."""

    def __init__(
        self,
        *,
        threshold: Optional[int] = 5,
        cooldown: float = 30.0,
        pause_cap: float = 60.0,
        default_pause: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.pause_cap = pause_cap
        self.default_pause = default_pause
        self.clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def _state(self, origin: str) -> _State:
        state = self._states.get(origin)
        if state is None:
            # Bounded: only origins we sent to are kept, and a quiet one is dropped.
            if len(self._states) >= 4096:
                self._forget_quiet()
            state = self._states[origin] = _State()
        return state

    def _forget_quiet(self) -> None:
        now = self.clock()
        for key in [
            k
            for k, s in self._states.items()
            if s.paused_until <= now and not s.open and not s.failures
        ]:
            del self._states[key]

    def gate(self, origin: str) -> float:
        """0: send now; > 0: the origin is paused, try again in that many
        seconds; :data:`OPEN`: the breaker is open, report without sending;
        :data:`PROBE`: send now, as the one probe after the cool-down."""
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            if state is None:
                return 0.0
            if state.open:
                if now < state.open_until or state.probing:
                    if state.probing and now >= state.open_until:
                        # The probe never reported (e.g. refused before sending):
                        # let another one through.
                        state.probing = False
                    else:
                        state.fast_failed += 1
                        return OPEN
                state.probing = True  # this caller is the probe
                state.open_until = now + self.cooldown
                return PROBE
            wait = state.paused_until - now
            return wait if wait > 0 else 0.0

    def is_open(self, origin: str) -> bool:
        """Whether requests to ``origin`` are refused now (the breaker is open, or
        half-open with its probe under way). No side effect."""
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            return state is not None and state.open and (now < state.open_until or state.probing)

    def paused_for(self, origin: str) -> float:
        """Seconds left of ``origin``'s pause (0: not paused). No side effect."""
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            return max(0.0, state.paused_until - now) if state is not None else 0.0

    def answered(self, origin: str, *, throttle: bool, retry_after: Optional[float]) -> None:
        """An HTTP answer came back: the origin is reachable. ``throttle``
        (429, or 503/406 with Retry-After) pauses it."""
        now = self.clock()
        with self._lock:
            state = self._state(origin)
            state.failures = 0
            if state.open:
                state.open = state.probing = False
                log.info("push service %s answered the probe: breaker closed", origin)
            if throttle:
                pause = self.default_pause if retry_after is None else retry_after
                until = now + min(max(pause, 0.0), self.pause_cap)
                if until > state.paused_until:
                    if state.paused_until <= now:
                        state.pauses += 1
                        log.warning(
                            "push service %s throttled us: every request to it paused %.1f s",
                            origin,
                            until - now,
                        )
                    state.paused_until = until

    def failed(self, origin: str) -> None:
        """A connection failure or timeout: counts toward the breaker."""
        if self.threshold is None:
            return
        now = self.clock()
        with self._lock:
            state = self._state(origin)
            state.failures += 1
            reopen = state.open and state.probing
            if reopen or (not state.open and state.failures >= self.threshold):
                state.open, state.probing = True, False
                state.open_until = now + self.cooldown
                state.trips += 1
                log.warning(
                    "push service %s: %d consecutive connection failures or timeouts; "
                    "breaker open, no requests to it for %.0f s",
                    origin,
                    state.failures,
                    self.cooldown,
                )

    def stats(self) -> list[OriginStats]:
        now = self.clock()
        with self._lock:
            return [
                OriginStats(
                    origin=origin,
                    paused_for=max(0.0, s.paused_until - now),
                    breaker=(
                        "closed"
                        if not s.open
                        else ("half-open" if s.probing or now >= s.open_until else "open")
                    ),
                    consecutive_failures=s.failures,
                    pauses=s.pauses,
                    trips=s.trips,
                    fast_failed=s.fast_failed,
                )
                for origin, s in sorted(self._states.items())
            ]
