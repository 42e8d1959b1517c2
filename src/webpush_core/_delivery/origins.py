"""Per-origin backpressure and circuit breaker: how PushClient treats one push service.

A fan-out talks to a few push-service origins (:class:`~webpush_core._origin.Origin`,
one identity however an endpoint spells its host). Two rules make it a good
citizen toward each, without slowing the others:

* **pause**: a 429, or a 503 / WNS 406 with ``Retry-After`` (RFC 9110
  §10.2.3, RFC 8030 §8.4), pauses *every* request to that origin, new and
  retried, until then (at most ``pause_cap`` seconds; a 429 without
  ``Retry-After`` pauses ``default_pause``);
* **breaker**, on evidence: a connection failure or timeout counts only if
  its attempt started after the last failure that counted (each attempt
  takes a *ticket*, the origin's failure generation, as it starts:
  :meth:`Origins.begin`), so requests in flight together that fail together
  are one event, not many. ``threshold`` counted failures in a row (no
  answer between them, none older than the evidence window) open the
  breaker for a cool-down: ``first_cooldown`` (about a second), doubled
  each time a probe finds the origin still down, at most ``cooldown``.
  While it is open a subscription that has had an attempt is reported at
  once; one that has not waits for the probe (it has not used any of its
  retries), unless the origin already stayed down through a probe: then it
  is reported at once too. After the cool-down one probe request goes
  through: an answer (any HTTP status) closes the breaker, a failure opens
  it again.

The state is bounded: at most ``max_origins`` origins (least recently used
first out), and a state whose pause, breaker and evidence have all run out
and that has not been used for the evidence window is dropped as it reaches
the old end; each new origin costs O(1), whatever the number of origins.

Pure state under one lock, with an injected clock: the rules are tested
without sleeping. Nothing here blocks or does I/O: it is called from the
event loop's thread as well as from worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

from .._origin import Origin

__all__ = ["OPEN", "PROBE", "OriginStats", "Origins"]

log = logging.getLogger("webpush_core.delivery")

OPEN = -1.0  # gate(): the breaker is open, do not send
PROBE = -2.0  # gate(): send now, as the probe of a breaker that cooled down

MAX_ORIGINS = 4096  # origins whose state is kept (least recently used first out)
_SWEEP = 2  # spent states looked at (from the old end) per new origin


class _State:
    __slots__ = (
        "confirmed",
        "failed_at",
        "failures",
        "fast_failed",
        "gen",
        "level",
        "open",
        "open_until",
        "paused_until",
        "pauses",
        "probe_until",
        "probing",
        "trips",
        "used",
    )

    def __init__(self, now: float) -> None:
        self.paused_until = 0.0
        self.gen = 0  # the failure generation: the ticket an attempt starting now gets
        self.failures = 0  # counted failures in a row
        self.failed_at = 0.0  # when the last one counted
        self.open = False
        self.open_until = 0.0  # the cool-down ends
        self.level = 0  # probes in a row that found it down: the cool-down doubles
        self.confirmed = False  # it stayed down through a probe
        self.probing = False
        self.probe_until = 0.0  # a probe not heard of by then is replaced
        self.pauses = 0
        self.trips = 0
        self.fast_failed = 0
        self.used = now


@dataclass(frozen=True)
class OriginStats:
    """What one origin's state is now and how often it paused or tripped."""

    origin: str
    paused_for: float  # seconds left of a pause (0: not paused)
    breaker: str  # "closed", "open" or "half-open" (a probe is allowed or in flight)
    consecutive_failures: int  # counted failures in a row (failures in flight together: one)
    pauses: int  # pauses started (a pause extended by a later answer counts once)
    trips: int  # times the breaker opened (a failed probe opens it again)
    fast_failed: int  # requests reported at once because the breaker was open


class Origins:
    """Pause and breaker state for the origins a client talks to (thread-safe)."""

    def __init__(
        self,
        *,
        threshold: Optional[int] = 5,
        cooldown: float = 30.0,
        first_cooldown: float = 1.0,
        probe_timeout: float = 10.0,
        pause_cap: float = 60.0,
        default_pause: float = 1.0,
        max_origins: int = MAX_ORIGINS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown  # the longest cool-down
        self.first_cooldown = min(first_cooldown, cooldown)
        self.probe_timeout = probe_timeout  # how long a probe may take before it is replaced
        self.pause_cap = pause_cap
        self.default_pause = default_pause
        self.max_origins = max_origins
        # A counted failure is evidence this long; a spent state is kept as long.
        self.window = cooldown + probe_timeout
        self.clock = clock
        self._states: OrderedDict[Origin, _State] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    # -- the state of one origin (under the lock) ----------------------------

    def _get(self, origin: Origin, now: float) -> Optional[_State]:
        state = self._states.get(origin)
        if state is not None:
            self._states.move_to_end(origin)
            state.used = now
            self._expire(state, now)
        return state

    def _make(self, origin: Origin, now: float) -> _State:
        state = self._get(origin, now)
        if state is None:
            states = self._states
            # Amortised O(1): a few spent states from the old end, and the
            # least recently used one past the cap; never a scan of them all.
            for _ in range(_SWEEP):
                if not states:
                    break
                oldest, old = next(iter(states.items()))
                if not self._spent(old, now):
                    break
                del states[oldest]
            while len(states) >= self.max_origins:
                states.popitem(last=False)
            state = states[origin] = _State(now)
        return state

    def _expire(self, state: _State, now: float) -> None:
        """Failure state runs out: evidence after the window, an open breaker that
        no one probed within the window after its cool-down."""
        if state.open:
            if not state.probing and now >= state.open_until + self.window:
                self._close(state)
        elif state.failures and now - state.failed_at > self.window:
            state.failures = 0

    def _spent(self, state: _State, now: float) -> bool:
        """Holds nothing that changes a decision, and unused for the window."""
        self._expire(state, now)
        return (
            not state.open
            and not state.failures
            and state.paused_until <= now
            and now - state.used >= self.window
        )

    @staticmethod
    def _close(state: _State) -> None:
        state.open = state.probing = state.confirmed = False
        state.failures = state.level = 0

    def _cooldown(self, state: _State) -> float:
        return min(self.cooldown, self.first_cooldown * 2.0 ** min(state.level, 32))

    # -- the decisions ----------------------------------------------------------

    def gate(self, origin: Origin, *, tried: bool = True) -> float:
        """Whether an attempt to ``origin`` may start now.

        0: send now; > 0: wait that many seconds and ask again (the origin is
        paused, or ``tried`` is false and the breaker is open: wait for the
        probe; a caller may be woken earlier, when the probe reports);
        :data:`OPEN`: the breaker is open, report without sending;
        :data:`PROBE`: send now, as the one probe after the cool-down.
        ``tried``: whether this subscription had an attempt already.
        """
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            if state is None:
                return 0.0
            self._states.move_to_end(origin)
            state.used = now
            self._expire(state, now)
            if state.open:
                if now < state.open_until:
                    wait = state.open_until - now
                elif not state.probing or now >= state.probe_until:
                    # This caller is the probe (or replaces one never heard of).
                    state.probing = True
                    state.probe_until = now + max(self._cooldown(state), self.probe_timeout)
                    return PROBE
                else:
                    wait = state.probe_until - now
                if tried or state.confirmed:
                    state.fast_failed += 1
                    return OPEN
                return wait
            wait = state.paused_until - now
            return wait if wait > 0 else 0.0

    def begin(self, origin: Origin) -> int:
        """The ticket of an attempt starting now: pass it to :meth:`failed`."""
        with self._lock:
            state = self._states.get(origin)
            return state.gen if state is not None else 0

    def is_open(self, origin: Origin) -> bool:
        """Whether requests to ``origin`` are refused now (the breaker is open, or
        half-open with its probe under way). No side effect."""
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            return (
                state is not None
                and state.open
                and (now < state.open_until or (state.probing and now < state.probe_until))
            )

    def paused_for(self, origin: Origin) -> float:
        """Seconds left of ``origin``'s pause (0: not paused). No side effect."""
        now = self.clock()
        with self._lock:
            state = self._states.get(origin)
            return max(0.0, state.paused_until - now) if state is not None else 0.0

    def answered(self, origin: Origin, *, throttle: bool, retry_after: Optional[float]) -> bool:
        """An HTTP answer came back: the origin is reachable. ``throttle`` (429, or
        503/406 with Retry-After) pauses it. True when this closed the breaker
        (deliveries waiting for its probe may go)."""
        now = self.clock()
        with self._lock:
            state = self._make(origin, now)
            state.failures = 0
            closed = state.open
            if closed:
                self._close(state)
                log.info("push service %s answered: breaker closed", origin)
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
            return closed

    def failed(self, origin: Origin, ticket: int) -> bool:
        """A connection failure or timeout of the attempt that got ``ticket`` from
        :meth:`begin`. It counts only if that attempt started after the last
        failure that counted. True when a probe failed (deliveries waiting for
        it are to be reported now)."""
        if self.threshold is None:
            return False
        now = self.clock()
        with self._lock:
            state = self._make(origin, now)
            if ticket < state.gen:
                return False  # started before the last counted failure: the same event
            state.gen = ticket + 1
            state.failures += 1
            state.failed_at = now
            if state.open:
                if not state.probing:
                    return False  # an attempt that began as it opened (another thread)
                # The probe failed: it stayed down; a longer cool-down.
                state.level += 1
                state.confirmed = True
                self._trip(state, origin, now, "the probe failed")
                return True
            if state.failures >= self.threshold:
                self._trip(
                    state,
                    origin,
                    now,
                    f"{state.failures} connection failures or timeouts in a row",
                )
            return False

    def _trip(self, state: _State, origin: Origin, now: float, why: str) -> None:
        state.open, state.probing = True, False
        cooldown = self._cooldown(state)
        state.open_until = now + cooldown
        state.trips += 1
        log.warning(
            "push service %s: %s; breaker open, no requests to it for %.1f s",
            origin,
            why,
            cooldown,
        )

    def stats(self) -> list[OriginStats]:
        now = self.clock()
        with self._lock:
            return sorted(
                (
                    OriginStats(
                        origin=origin.serialized,
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
                    for origin, s in self._states.items()
                ),
                key=lambda stats: stats.origin,
            )
