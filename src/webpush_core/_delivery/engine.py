"""What a PushClient's deliveries share while they send: slots, parking, origins, time.

:class:`Engine` is the one owner of that state; a delivery (:mod:`.attempt`)
and a fan-out (:mod:`.fanout`) call its methods, never its fields:

* **slots**: ``concurrency`` requests in flight; beyond that, up to
  ``concurrency // 8`` (at least 1) more, each for an origin that has none
  in flight, so a push service that stops answering holds at most
  ``concurrency`` slots, never every other origin's turn. An attempt that
  finds no slot waits in line (:meth:`Engine.in_flight`); a slot that frees
  goes to the first in line that may take it (:meth:`Engine.landed`);
* **parking**: a delivery whose origin is paused (a 429, a Retry-After),
  or whose first attempt waits for the breaker's probe, waits without a
  slot (:meth:`Engine.park`). A paused origin parks at most ``park_cap``
  deliveries; past that, :meth:`Engine.park` refuses and the delivery ends
  as rate-limited at once, so one origin's pause cannot hold a fan-out's
  read window: up to ``exempt_cap`` parked deliveries (all origins
  together, ``park_cap`` of them per origin) do not count against it
  (:attr:`Engine.exempt`; a fan-out that :meth:`Engine.listen` s is told
  when it grows). Deliveries waiting for a probe are woken as soon as it
  reports;
* **origins**: the pause and breaker state (:mod:`.origins`), told what
  each attempt came to (:meth:`Engine.answered`, :meth:`Engine.failed`);
* **the retry policy** (:mod:`.retry`), a value: replaced whole when
  ``max_retries`` is set;
* **time**: a clock, a sleeper (for a thread that may block) and a timer
  (``later(seconds, fn)``, for the event loop), injected: the client gives
  its loop's timer, a test a manual clock;
* **the transport**: ``submit(request, done, **options)`` hands a request
  to the event loop (``Connections.submit`` in :mod:`webpush_core._wire.pool`).
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from typing import Any, Callable, Optional

from .._origin import Origin
from .origins import Origins
from .retry import RetryPolicy

__all__ = ["EXEMPT_PER_SLOT", "PARKED_PER_SLOT", "Engine", "Later", "Submit"]

# A paused origin's deliveries kept parked, per unit of concurrency; more end at once.
PARKED_PER_SLOT = 4
# Parked deliveries (all origins) that do not count against a fan-out's read window.
EXEMPT_PER_SLOT = 16

# later(seconds, fn): run fn after that many seconds, without blocking the caller.
Later = Callable[[float, Callable[[], object]], object]
# submit(request, done, **options): send one attempt; done(outcome) once.
Submit = Callable[..., Any]


class _Parked:
    """One parked delivery: resumed once, by its timer or by a wake-up."""

    __slots__ = ("exempt", "hold", "resume", "resumed")

    def __init__(self, resume: Callable[[], object], hold: bool, exempt: bool) -> None:
        self.resume = resume
        self.hold = hold  # waiting for the breaker's probe (woken when it reports)
        self.exempt = exempt
        self.resumed = False


class Engine:
    """Slots, parking, origin state and time for one client's deliveries (thread-safe)."""

    def __init__(
        self,
        concurrency: int,
        origins: Origins,
        retry: RetryPolicy,
        *,
        later: Later,
        submit: Submit,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.concurrency = concurrency
        self.origins = origins
        self.retry = retry
        self.clock = origins.clock
        self.later = later
        self.submit = submit
        self.sleep = sleep
        self.spare = max(1, concurrency // 8)
        self.park_cap = PARKED_PER_SLOT * concurrency
        self.exempt_cap = EXEMPT_PER_SLOT * concurrency
        self._lock = threading.Lock()
        # Requests in flight, per origin, and the attempts waiting for a slot.
        self._flying = 0
        self._holding: dict[Origin, int] = {}
        self._waiting: collections.deque[tuple[Origin, Callable[[], None]]] = collections.deque()
        self._starting = threading.local()  # .queue: attempts this thread is starting
        # Parked deliveries per origin (insertion-ordered sets), and their counts.
        self._parked: dict[Origin, dict[_Parked, None]] = {}
        self._paused_parked = 0  # parked for a pause (the ones park() may refuse)
        self.parked = 0
        self.exempt = 0
        # Called (from any thread) when a parked delivery makes a read window grow.
        self._listeners: set[Callable[[], object]] = set()

    # -- slots ---------------------------------------------------------------

    def _may_fly(self, origin: Origin) -> bool:
        """(Under the lock.) Whether an attempt to ``origin`` may take a slot now."""
        if self._flying < self.concurrency:
            return True
        return self._flying < self.concurrency + self.spare and not self._holding.get(origin)

    def _take_slot(self, origin: Origin) -> None:
        self._flying += 1
        self._holding[origin] = self._holding.get(origin, 0) + 1

    def in_flight(self, origin: Origin, start: Callable[[], None]) -> None:
        """Run ``start`` (one attempt's request to ``origin``) now, or when a slot frees;
        it must end with :meth:`landed` (or :meth:`land_later`)."""
        with self._lock:
            if not self._may_fly(origin):
                self._waiting.append((origin, start))
                return
            self._take_slot(origin)
        self._start(start)

    def landed(self, origin: Origin) -> None:
        """A request in flight to ``origin`` ended: its slot goes to the first waiting
        attempt that may fly (the first one, unless only a spare slot is free)."""
        with self._lock:
            self._flying -= 1
            held = self._holding[origin] - 1
            if held:
                self._holding[origin] = held
            else:
                del self._holding[origin]
            waiting = self._waiting
            if not waiting:
                return
            if self._flying < self.concurrency:
                next_origin, start = waiting.popleft()
            else:  # only a spare slot: for the first origin with none in flight
                at = next((i for i, (o, _) in enumerate(waiting) if self._may_fly(o)), None)
                if at is None:
                    return
                next_origin, start = waiting[at]
                del waiting[at]
            self._take_slot(next_origin)
        self._start(start)

    def land_later(self, origin: Origin) -> None:
        """:meth:`landed`, from the timer: for a slot given up by an attempt that was
        itself started by a slot's hand-over (no recursion)."""
        self.later(0, functools.partial(self.landed, origin))

    def _start(self, start: Callable[[], None]) -> None:
        """Run ``start``; one started from inside another's failure runs after it, so
        a chain of attempts that fail at once never nests (no recursion limit)."""
        local = self._starting
        pending: Optional[collections.deque[Callable[[], None]]] = getattr(local, "queue", None)
        if pending is not None:
            pending.append(start)
            return
        local.queue = pending = collections.deque((start,))
        try:
            while pending:
                pending.popleft()()
        finally:
            local.queue = None

    # -- parking ---------------------------------------------------------------

    def park(self, origin: Origin, wait: float, resume: Callable[[], object]) -> bool:
        """Resume ``resume`` after ``wait`` seconds, without a slot. False (and nothing
        parked) when ``origin`` is paused and already has ``park_cap`` deliveries
        parked, or every origin together ``exempt_cap``: the caller ends it now."""
        hold = self.origins.paused_for(origin) <= 0  # else the wait is a pause
        with self._lock:
            bay = self._parked.get(origin)
            count = len(bay) if bay is not None else 0
            if not hold and (count >= self.park_cap or self._paused_parked >= self.exempt_cap):
                return False
            exempt = count < self.park_cap and self.exempt < self.exempt_cap
            entry = _Parked(resume, hold, exempt)
            if bay is None:
                bay = self._parked[origin] = {}
            bay[entry] = None
            self.parked += 1
            self.exempt += exempt
            self._paused_parked += not hold
            listeners = list(self._listeners) if exempt else []
        self.later(wait, functools.partial(self._unpark, origin, entry))
        for listener in listeners:
            listener()
        return True

    def listen(self, listener: Callable[[], object]) -> None:
        """Call ``listener()`` whenever :attr:`exempt` grows (a fan-out reads on)."""
        with self._lock:
            self._listeners.add(listener)

    def unlisten(self, listener: Callable[[], object]) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def _unpark(self, origin: Origin, entry: _Parked) -> None:
        with self._lock:
            if entry.resumed:
                return
            self._leave(origin, entry)
        entry.resume()

    def _leave(self, origin: Origin, entry: _Parked) -> None:
        """(Under the lock.)"""
        entry.resumed = True
        bay = self._parked[origin]
        del bay[entry]
        if not bay:
            del self._parked[origin]
        self.parked -= 1
        self.exempt -= entry.exempt
        self._paused_parked -= not entry.hold

    def wake(self, origin: Origin) -> None:
        """The breaker's probe to ``origin`` reported: the deliveries waiting for it
        go on now (each from the timer, none nested in the caller)."""
        with self._lock:
            bay = self._parked.get(origin)
            if bay is None:
                return
            woken = [entry for entry in bay if entry.hold]
            for entry in woken:
                self._leave(origin, entry)
        for entry in woken:
            self.later(0, entry.resume)

    # -- what an attempt came to -------------------------------------------------

    def answered(self, origin: Origin, *, throttle: bool, retry_after: Optional[float]) -> None:
        """An HTTP answer from ``origin`` (``throttle``: it asked us to slow down)."""
        if self.origins.answered(origin, throttle=throttle, retry_after=retry_after):
            self.wake(origin)  # the breaker closed

    def failed(self, origin: Origin, ticket: int) -> None:
        """No answer (a connection failure or timeout) to the attempt with ``ticket``."""
        if self.origins.failed(origin, ticket):
            self.wake(origin)  # the probe failed: those waiting for it are reported
