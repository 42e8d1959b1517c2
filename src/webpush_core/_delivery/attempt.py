"""One subscription's attempts: the retry loop, written once, and its two drivers.

Every attempt goes through the same steps, whichever transport sends it:

1. :func:`_gate`: the origin's breaker (open: report now, or wait for its
   probe when this subscription had no attempt yet) and pause (wait it
   out, if the retry policy says the wait still makes sense);
2. the request, sent by the driver, with the breaker's ticket taken as it
   starts (:meth:`Origins.begin <.origins.Origins.begin>`);
3. :func:`_answered`: the origin's state learns what came back (a throttle
   pauses it, a failure without an answer counts toward its breaker);
4. :func:`_next`: done, or the retry policy (:mod:`.retry`) says how long to
   wait before the next attempt, or why to give up.

The drivers differ only in how they send and how they wait:
:class:`_Delivery` on the client's event loop (a wait is a timer or a
parking place, no thread is held), :func:`send_blocking` from a urllib3
worker thread (a wait puts the job back on the queue when it ends) or the
caller's thread. Both are given what they use (the :class:`~.engine.Engine`,
how to send): no other object's private state is read here.
"""

from __future__ import annotations

import queue
import time
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._classify import error_for_response, retryable, throttles
from .._request.value import PushRequest
from .._response import PushResponse
from .._wire.exchange import Outcome
from ..errors import TransportError, WebPushException
from .origins import OPEN, PROBE
from .result import (
    SendResult,
    _accepted,
    _Blocking,
    _Call,
    _crowded_result,
    _Done,
    _failed,
    _open_result,
    _Pending,
    _unexpected,
)
from .retry import DEADLINE_EXCEEDED, TTL_EXPIRED, Attempted, Decision

if TYPE_CHECKING:
    from .client import PushClient
    from .engine import Engine

# send(request, timeout): one attempt from a worker thread; the response, or raises.
BlockingSend = Callable[[PushRequest, float], PushResponse]


# --------------------------------------------------------------------------
# The steps of one attempt (both drivers)


def _left(pending: _Pending) -> tuple[Optional[float], Optional[float]]:
    """Seconds until ``pending``'s TTL ends and until its call's deadline (None: none)."""
    now = time.monotonic()
    call = pending.call
    ttl_left = None if pending.ttl_ends is None else pending.ttl_ends - now
    deadline_left = None if call is None or call.expires is None else call.expires - now
    return ttl_left, deadline_left


def _give_up(
    engine: Engine, pending: _Pending, decision: Decision, last: Optional[SendResult]
) -> None:
    """Finish ``pending`` as the retry policy decided: ``last`` (its last failed
    attempt's result), marked as the TTL's or the deadline's end if that is why."""
    if decision.reason == TTL_EXPIRED:
        base = last or SendResult(pending.subscription, ok=False, attempts=pending.attempts)
        pending.finish(replace(base, reason="ttl-expired", action=None, attempts=pending.attempts))
    elif decision.reason == DEADLINE_EXCEEDED or last is None:
        # Ended by the deadline while its origin is paused: the pause left says
        # when a retry may go (a fresh subscription has no answer of its own).
        paused_for = engine.origins.paused_for(pending.origin)
        pending.finish(pending.deadline_result(last, paused_for=paused_for))
    else:
        pending.finish(last)


def _gate(engine: Engine, pending: _Pending) -> Optional[float]:
    """Before an attempt: None when ``pending`` is finished (its origin's breaker is
    open, or a wait would outlast the TTL or the deadline); else 0 (go), PROBE
    (go, as the breaker's probe) or the seconds to wait first (the origin's
    pause, or the breaker's probe for a subscription not yet tried)."""
    gate = engine.origins.gate(pending.origin, tried=pending.attempts > 0)
    if gate == OPEN:
        pending.finish(_open_result(pending, engine.origins))
        return None
    if gate > 0:
        ttl_left, deadline_left = _left(pending)
        decision = engine.retry.hold(gate, ttl_left=ttl_left, deadline_left=deadline_left)
        if not decision.retries:
            _give_up(engine, pending, decision, pending.last)
            return None
    return gate


def _answered(engine: Engine, pending: _Pending, outcome: Outcome) -> Optional[WebPushException]:
    """The error ``outcome`` means (None: accepted), after its origin's state has
    learnt of it: the attempt the slot goes to next sees it."""
    if isinstance(outcome, PushResponse):
        error = error_for_response(outcome, pending.request.url)
        retry_after = outcome.retry_after
        engine.answered(
            pending.origin,
            throttle=throttles(outcome.status_code, retry_after, error),
            retry_after=retry_after,
        )
        return error
    if isinstance(outcome, TransportError):
        engine.failed(pending.origin, pending.ticket)
    return outcome


def _next(
    engine: Engine, pending: _Pending, outcome: Outcome, error: Optional[WebPushException]
) -> Optional[float]:
    """After an attempt: None when ``pending`` is finished (accepted, or the retry
    policy gives up), else the seconds to wait before the next attempt."""
    response = outcome if isinstance(outcome, PushResponse) else None
    if error is None:
        status = response.status_code if response is not None else None
        pending.finish(_accepted(pending.subscription, status, pending.attempts, response))
        return None
    failed = _failed(pending.subscription, pending.attempts, response, error)
    ttl_left, deadline_left = _left(pending)
    attempted = Attempted(
        attempts=pending.attempts,
        retryable=retryable(error),
        retry_after=response.retry_after if response is not None else None,
        ttl_left=ttl_left,
        deadline_left=deadline_left,
    )
    decision = engine.retry.decide(attempted)
    if not decision.retries:
        _give_up(engine, pending, decision, failed)
        return None
    pending.last = failed
    return decision.wait


# --------------------------------------------------------------------------
# On the event loop


class _Delivery(_Pending):
    """One subscription's request on the event loop: attempts, waits, the result."""

    __slots__ = ("client", "engine", "probe")

    def __init__(
        self,
        client: PushClient,
        engine: Engine,
        subscription: Any,
        request: PushRequest,
        done: _Done,
        call: Optional[_Call] = None,
    ) -> None:
        super().__init__(subscription, request, done, call)
        self.client = client  # its public settings: timeout, endpoint_policy, proxy
        self.engine = engine
        self.probe = False

    def attempt(self) -> None:
        """The next attempt, unless its origin is paused or its breaker open (wait
        without a slot, or report now). Never blocks."""
        if self.fired:
            return
        engine = self.engine
        gate = _gate(engine, self)
        if gate is None:
            return
        if gate > 0:
            if not engine.park(self.origin, gate, self.attempt):
                # Its origin is paused and holds as many parked deliveries as it
                # may: this one ends now, and the fan-out reads on.
                self.finish(_crowded_result(self, gate))
                return
            self.held += gate
            return
        self.probe = gate == PROBE
        # The host's lookup and its policy check happen on the loop's side
        # (a resolver thread), within the attempt's deadline.
        engine.in_flight(self.origin, self._go)

    def _go(self) -> None:
        engine = self.engine
        if self.fired:
            # Finished meanwhile (the deadline): the slot goes on, from the loop.
            engine.land_later(self.origin)
            return
        origins = engine.origins
        if not self.probe and (origins.is_open(self.origin) or origins.paused_for(self.origin) > 0):
            # Its origin's breaker opened, or it was paused, while this waited for
            # a slot: the slot goes on, and the gate decides again (report, wait
            # without a slot, or be the probe).
            engine.land_later(self.origin)
            self.attempt()
            return
        self.attempts += 1
        self.ticket = origins.begin(self.origin)
        client = self.client
        call = self.call
        decided = call.decided if call is not None else None
        if decided is not None:  # the call's policy, its proxy for this origin
            policy, proxy = decided.policy, decided.proxy(self.request.url)
        else:
            policy, proxy = client.endpoint_policy, client.proxy
        timeout = client.timeout
        try:
            engine.submit(self.request, self.answered, timeout=timeout, policy=policy, proxy=proxy)
        except WebPushException as e:  # e.g. a malformed proxy variable: this attempt's answer
            self.answered(e)
        except Exception as e:  # a bug must not cost this subscription its result, nor its slot
            try:
                engine.landed(self.origin)
            finally:
                self.finish(_unexpected(self.subscription, e))

    def answered(self, outcome: Outcome) -> None:
        engine = self.engine
        error: Optional[WebPushException] = None
        failure: Optional[Exception] = None
        try:
            error = _answered(engine, self, outcome)
        except Exception as e:  # a bug must not cost this subscription its result
            failure = e
        try:
            engine.landed(self.origin)  # its slot goes to the next attempt waiting
        finally:
            if failure is not None:
                self.finish(_unexpected(self.subscription, failure))
            else:
                self.decide(outcome, error)

    def decide(self, outcome: Outcome, error: Optional[WebPushException]) -> None:
        """Done, or another attempt after the wait the retry policy asks for."""
        try:
            if self.fired:
                return  # reported already (the call's deadline)
            wait = _next(self.engine, self, outcome, error)
            if wait is not None:
                self.engine.later(wait, self.attempt)
        except Exception as e:  # a bug must not cost the other subscriptions their results
            self.finish(_unexpected(self.subscription, e))


# --------------------------------------------------------------------------
# From a worker thread (the urllib3 path), or the caller's


def send_blocking(
    engine: Engine,
    job: _Blocking,
    send: BlockingSend,
    timeout: float,
    requeue: Optional[Callable[[], object]] = None,
) -> None:
    """Send ``job`` with ``send``, each attempt within ``timeout``, retrying; finish it.

    In a worker thread (``requeue`` given: it puts the job back on the queue)
    no wait holds the thread: the job is requeued when the wait ends. In the
    caller's thread (``send``) it sleeps.
    """
    try:
        while not job.fired:
            gate = _gate(engine, job)
            if gate is None:
                return
            if gate > 0:
                if requeue is not None:
                    # As on the loop: parked without a thread, and a paused origin's
                    # excess ends now, so the fan-out reads on for the other origins.
                    # Counted before it is parked: its timer may requeue it to
                    # another worker before this line would run.
                    job.held += gate
                    if not engine.park(job.origin, gate, requeue):
                        job.held -= gate
                        job.finish(_crowded_result(job, gate))
                    return
                job.held += gate
                engine.sleep(gate)
                continue
            attempt_timeout = min(timeout, job.call.left()) if job.call else timeout
            if attempt_timeout <= 0:
                job.finish(job.deadline_result(job.last))
                return
            job.attempts += 1
            job.ticket = engine.origins.begin(job.origin)
            outcome: Outcome
            try:
                outcome = send(job.request, attempt_timeout)
            except WebPushException as e:
                outcome = e
            wait = _next(engine, job, outcome, _answered(engine, job, outcome))
            if wait is None:
                return
            if requeue is not None:
                engine.later(wait, requeue)
                return
            engine.sleep(wait)
    except Exception as e:  # a bug must not cost the other subscriptions their results
        job.finish(_unexpected(job.subscription, e))


def _work(
    jobs: queue.SimpleQueue[Optional[_Blocking]],
    send_ref: weakref.WeakMethod[Callable[[_Blocking], None]],
) -> None:
    """A worker thread of the urllib3 path: send jobs until the None that stops it.

    It holds its client's send method only weakly between jobs, so a client
    dropped without close() is collected, and its finalizer stops the workers.
    """
    while True:
        job = jobs.get()
        if job is None:
            return
        send_job = send_ref()
        if send_job is not None:
            send_job(job)
        else:
            job.finish(
                SendResult(job.subscription, ok=False, error=TransportError("the client is gone"))
            )
        del send_job, job
