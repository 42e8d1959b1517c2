"""One ``send_many``: read the input, encrypt (here or in the helper process),
hand requests over and yield their results (:class:`_FanOut`).

The fan-out is given what it uses (the client's engine, its helper
process, how to build and dispatch one subscription's request): it reads
no other object's private state."""

from __future__ import annotations

import operator
import queue
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional, Protocol, Union

from .._request.plan import MessagePlan
from .._request.value import PushRequest
from .engine import Engine
from .result import SendResult, _Call, _deadline_result, _Done, _unexpected
from .sealer import BATCH, Bodies, Sealer

_HELPER_AFTER = 128  # a send_many this long starts the helper process (if allowed)
_HELPER_STALL = 30.0  # seconds without a word from a helper holding batches: given up
# Past the call's deadline, a helper still holding batches is given up sooner:
# its subscriptions then get their deadline results here.
_HELPER_GRACE = 1.0
_ROOM = object()  # an event: a delivery was parked, the read window grew
_SEALED = object()  # among results: a helper's batch was sent from the loop


# A subscription on its way through the helper process:
# (subscription, endpoint, headers, Crypto-Key parts, p256dh, auth).
_Sealing = tuple[Any, str, dict[str, str], list[str], bytes, bytes]
# build(subscription, plan): its request, or the result that says why there is none.
Build = Callable[[Any, MessagePlan], Union[SendResult, PushRequest]]
# outline(subscription, plan): as build, all but the encryption (for the helper).
Outline = Callable[[Any, MessagePlan], Union[SendResult, PushRequest, _Sealing]]
# dispatch(subscription, request, done, call): send it; done(result) once.
Dispatch = Callable[[Any, PushRequest, _Done, _Call], None]


class Loop(Protocol):
    """The thread that finishes deliveries (the client's event loop)."""

    def on_loop(self) -> bool:
        """Whether this is that thread."""

    def closing(self) -> bool:
        """Whether it is being stopped (it may not pass again)."""

    def call_soon(self, fn: Callable[[], object]) -> None:
        """(On it.) Run ``fn`` in its next pass."""

    def sends_from_here(self, url: str) -> bool:
        """(On it.) Whether a request to ``url`` can be started on it without
        reading anything from disk (the TLS settings are loaded)."""


class _FanOut:
    """One send_many: reads the input, encrypts (here or in the helper process),
    hands requests over for sending and yields their results.

    All of it runs in the thread that iterates the results. Events (the
    results the loop finished in one of its passes, a batch back from the
    helper) arrive on one queue.
    """

    def __init__(
        self,
        plan: MessagePlan,
        call: _Call,
        *,
        engine: Engine,
        arm: Callable[[_Call], None],
        sealer: Optional[Sealer],
        build: Build,
        outline: Outline,
        dispatch: Dispatch,
        loop: Loop,
        loop_sends: Callable[[], bool] = lambda: True,
    ) -> None:
        self.engine = engine
        self.loop = loop
        # Whether dispatch may run on the loop now: not with the urllib3
        # transport (its workers may start there), nor once the client sends
        # through another loop than this one (closed and started again).
        self.loop_sends = loop_sends
        self.arm = arm  # arm(call): the call's deadline timer
        self.plan = plan
        self.call = call
        self.build, self.outline, self.dispatch = build, outline, dispatch
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        sealable = plan.sealable
        self.sealable = sealable
        # The helper process (given only where allowed) for an aes128gcm body.
        self.sealer: Optional[Sealer] = sealer if sealable is not None else None
        self.window = 2 * engine.concurrency + (2 * BATCH if self.sealer is not None else 0)
        self.outstanding = 0  # read, result not yet yielded
        self.sealing = 0  # batches in the helper process
        self.heard = 0.0  # when the helper last answered (or was first given a batch)
        self.batch: list[_Sealing] = []
        self.room_due = False  # a _ROOM marker is on its way
        self.landed: list[object] = []  # (the loop's thread) results and _SEALED, this pass
        self.handover_due = False  # (the loop's thread) _handover is scheduled

    def _room(self) -> None:
        """(Any thread.) A delivery was parked: the window grew, read on."""
        if not self.room_due:
            self.room_due = True
            self.events.put(_ROOM)

    def run(self, subscriptions: Iterable[Any]) -> Iterator[SendResult]:
        self.engine.listen(self._room)
        try:
            yield from self._run(subscriptions)
        finally:
            self.engine.unlisten(self._room)

    def _run(self, subscriptions: Iterable[Any]) -> Iterator[SendResult]:
        engine, sealer, events = self.engine, self.sealer, self.events
        if sealer is not None and operator.length_hint(subscriptions, 0) >= _HELPER_AFTER:
            sealer.start()  # a list known to be long: no need to count first
        source = iter(subscriptions)
        exhausted = False
        read = 0
        call = self.call
        self.arm(call)
        while True:
            if call.left() <= 0 and not exhausted:
                # The deadline: the input not yet read is reported, never sent.
                for subscription in source:
                    yield _deadline_result(subscription, call)
                exhausted = True
            # A paused origin's messages wait without a slot; some of them do not
            # count against the window (engine.exempt), so other origins keep
            # being read, and past its share a paused origin's excess ends at once.
            while not exhausted and self.outstanding < self.window + engine.exempt:
                try:
                    subscription = next(source)
                except StopIteration:
                    exhausted = True
                    break
                self.outstanding += 1
                read += 1
                if sealer is not None and read == _HELPER_AFTER:
                    sealer.start()  # a long fan-out: worth a process (~60 ms to start)
                if sealer is not None and sealer.ready:
                    yield from self._admit(subscription, self.outline(subscription, self.plan))
                    if self.batch and (len(self.batch) >= BATCH or self.sealing == 0):
                        yield from self._seal()
                else:
                    # Parse and encrypt here, while the loop sends the ones before.
                    yield from self._admit(subscription, self.build(subscription, self.plan))
                # Hand over what is done, without waiting.
                while True:
                    try:
                        event = events.get_nowait()
                    except queue.Empty:
                        break
                    yield from self._handle(event)
            if self.batch:
                yield from self._seal()  # about to wait: let the helper work meanwhile
            if not self.outstanding:
                if exhausted:
                    return
                continue
            if self.sealing and sealer is not None:
                stall = _HELPER_STALL if call.left() > 0 else _HELPER_GRACE
                quiet = time.monotonic() - self.heard
                if quiet >= stall:
                    # Stuck: its batches come back as None, encrypted (or, past
                    # the deadline, reported) here.
                    sealer.fail()
                    self.heard = time.monotonic()
                    continue
                try:
                    event = events.get(timeout=min(stall - quiet, self._poll()))
                except queue.Empty:
                    continue
            else:
                try:
                    event = events.get(timeout=self._poll())
                except queue.Empty:
                    continue  # the deadline: read on
            yield from self._handle(event)

    def _poll(self) -> float:
        """How long to wait for an event before looking at the deadline again."""
        left = self.call.left()
        return _HELPER_STALL if left == float("inf") else max(0.0, left) + 0.01

    def _admit(
        self, subscription: Any, item: Union[SendResult, PushRequest, _Sealing]
    ) -> Iterator[SendResult]:
        """A result to yield now, a request to send, or one for the helper's batch."""
        if isinstance(item, SendResult):
            self.outstanding -= 1
            yield item  # nothing to send: refused before any I/O
        elif isinstance(item, PushRequest):
            self.dispatch(subscription, item, self._landed, self.call)
        else:
            self.batch.append(item)

    def _seal(self) -> Iterator[SendResult]:
        batch, self.batch = self.batch, []
        sealer, sealable = self.sealer, self.sealable
        if sealer is None or sealable is None:  # pragma: no cover - callers check
            raise AssertionError("_seal without a helper")
        events = self.events

        loop = self.loop

        def done(bodies: Bodies) -> None:
            if bodies is None or not loop.on_loop() or loop.closing() or not self.loop_sends():
                events.put((batch, bodies))  # the iterating thread takes them, as below
                return
            rest = self._send_sealed(batch, bodies)
            if rest is None:
                try:
                    self._landed(_SEALED)  # counted with the results it hands over
                except Exception:
                    events.put(([], []))  # counted on its own
            else:
                events.put(rest)

        if sealer.submit(sealable[0], sealable[1], [(e[4], e[5]) for e in batch], done):
            if not self.sealing:
                self.heard = time.monotonic()  # the helper's silence counts from here
            self.sealing += 1
        else:
            yield from self._sealed(batch, None)

    def _send_sealed(
        self, batch: list[_Sealing], bodies: list[Optional[bytes]]
    ) -> Optional[tuple[list[_Sealing], Bodies]]:
        """(The loop's thread.) A batch back from the helper, each request sent
        from here: the iterating thread is not woken for it, and its requests do
        not wait for that thread. What must go to the iterating thread is
        returned (None: nothing): a subscription whose body is missing (it is
        parsed there again, and only there may the caller's objects be read),
        or one whose request would load the TLS settings (reading files)."""
        if len(bodies) != len(batch):
            return batch, bodies  # as the iterating thread has always read them
        plan, loop = self.plan, self.loop
        rest: list[_Sealing] = []
        rest_bodies: list[Optional[bytes]] = []
        handled = 0  # entries sent, or ended with a result, or put in rest
        try:
            for entry, body in zip(batch, bodies):
                if body is None or not loop.sends_from_here(entry[1]):
                    rest.append(entry)
                    rest_bodies.append(body)
                    handled += 1
                    continue
                subscription, endpoint, headers, crypto_key, _, _ = entry
                try:
                    request = plan.finish(endpoint, headers, crypto_key, body)
                    self.dispatch(subscription, request, self._landed, self.call)
                except Exception as e:  # a result, never a lost message
                    self._landed(_unexpected(subscription, e))
                handled += 1
        except Exception:  # whatever is left goes where it always went
            rest.extend(batch[handled:])
            rest_bodies.extend(bodies[handled:])
        return (rest, rest_bodies) if rest else None

    def _sealed(self, batch: list[_Sealing], bodies: Bodies) -> Iterator[SendResult]:
        plan = self.plan
        for i, (subscription, endpoint, headers, crypto_key, _, _) in enumerate(batch):
            body = bodies[i] if bodies is not None else None
            if body is None:
                # The helper is gone, or the point did not load: the full
                # path here encrypts, or reports the error from_info raises.
                request: Union[SendResult, PushRequest] = self.build(subscription, plan)
            else:
                request = plan.finish(endpoint, headers, crypto_key, body)
            yield from self._admit(subscription, request)

    def _landed(self, result: object) -> None:
        """A delivery's ``done``. The results the loop finishes in one pass are
        handed over together, at its next pass: the iterating thread wakes once
        per pass, not once per result (each wake-up is a futex call and a hand-over
        of the GIL on both sides). From any other thread (a request that could
        not start), at once."""
        loop = self.loop
        if not loop.on_loop():
            self.events.put(result)  # the list is the loop's alone
            return
        self.landed.append(result)
        if loop.closing():
            self._handover()  # there may be no next pass: everything now
        elif not self.handover_due:
            self.handover_due = True
            loop.call_soon(self._handover)

    def _handover(self) -> None:
        """(The loop's thread.) What landed since the last hand-over, in one event."""
        self.handover_due = False
        if self.landed:
            landed, self.landed = self.landed, []
            self.events.put(landed)

    def _handle(self, event: Any) -> Iterator[SendResult]:
        if type(event) is list:  # results, from _handover
            for result in event:
                if result is _SEALED:
                    self.sealing -= 1
                    self.heard = time.monotonic()
                    continue
                self.outstanding -= 1
                yield result
            return
        if isinstance(event, SendResult):
            self.outstanding -= 1
            yield event
        elif event is _ROOM:
            self.room_due = False  # the loop reads on from the top
        else:
            self.sealing -= 1
            self.heard = time.monotonic()
            yield from self._sealed(*event)
