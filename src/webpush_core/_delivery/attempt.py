"""One subscription's attempts: the retry loop, written once, and its two drivers.

Every attempt goes through the same steps, whichever transport sends it:

1. :func:`_gate`: the origin's breaker (open: report now) and pause (wait it
   out, if the retry policy says the wait still makes sense);
2. the request, sent by the driver;
3. :func:`_answered`: the origin's state learns what came back (a throttle
   pauses it, a failure without an answer counts toward its breaker);
4. :func:`_next`: done, or the retry policy (:mod:`.retry`) says how long to
   wait before the next attempt, or why to give up.

The drivers differ only in how they send and how they wait:
:class:`_Delivery` on the client's event loop (a wait is a timer, no thread
is held), :func:`send_blocking` from a urllib3 worker thread (a wait puts
the job back on the queue when it ends) or the caller's thread.
"""

from __future__ import annotations

import functools
import queue
import time
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._classify import error_for_response, retryable, throttles
from .._request import PushRequest
from .._response import PushResponse
from .._wire.exchange import Outcome
from .._wire.urllib3_transport import send_request
from ..errors import TransportError, WebPushException
from .origins import OPEN, PROBE
from .result import SendResult, _Blocking, _Call, _Done, _failed, _Pending, _unexpected
from .retry import DEADLINE_EXCEEDED, TTL_EXPIRED, Attempted, Decision

if TYPE_CHECKING:
    from .client import PushClient


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
    client: PushClient, pending: _Pending, decision: Decision, last: Optional[SendResult]
) -> None:
    """Finish ``pending`` as the retry policy decided: ``last`` (its last failed
    attempt's result), marked as the TTL's or the deadline's end if that is why."""
    if decision.reason == TTL_EXPIRED:
        base = last or SendResult(pending.subscription, ok=False, attempts=pending.attempts)
        pending.finish(replace(base, reason="ttl-expired", action=None, attempts=pending.attempts))
    elif decision.reason == DEADLINE_EXCEEDED or last is None:
        # Ended by the deadline while its origin is paused: the pause left says
        # when a retry may go (a fresh subscription has no answer of its own).
        paused_for = client._origins.paused_for(pending.origin)
        pending.finish(pending.deadline_result(last, paused_for=paused_for))
    else:
        pending.finish(last)


def _simulated(client: PushClient) -> bool:
    # A test's hook stands for the waits: it sees each one, none is waited.
    return client._sleep is not time.sleep


def _gate(client: PushClient, pending: _Pending) -> Optional[float]:
    """Before an attempt: None when ``pending`` is finished (its origin's breaker is
    open, or its pause would outlast the TTL or the deadline); else 0 (go), PROBE
    (go, as the breaker's probe) or the seconds of the origin's pause to wait first."""
    gate = client._origins.gate(pending.origin)
    if gate == OPEN:
        pending.finish(client._open_result(pending))
        return None
    if gate > 0:
        if _simulated(client):
            return 0.0
        ttl_left, deadline_left = _left(pending)
        decision = client._retry.hold(gate, ttl_left=ttl_left, deadline_left=deadline_left)
        if not decision.retries:
            _give_up(client, pending, decision, pending.last)
            return None
        pending.held += gate
    return gate


def _answered(
    client: PushClient, pending: _Pending, outcome: Outcome
) -> Optional[WebPushException]:
    """The error ``outcome`` means (None: accepted), after its origin's state has
    learnt of it: the attempt the slot goes to next sees it."""
    if isinstance(outcome, PushResponse):
        error = error_for_response(outcome, pending.request.url)
        retry_after = outcome.retry_after
        client._origins.answered(
            pending.origin,
            throttle=throttles(outcome.status_code, retry_after, error),
            retry_after=retry_after,
        )
        return error
    if isinstance(outcome, TransportError):
        client._origins.failed(pending.origin)
    return outcome


def _next(
    client: PushClient, pending: _Pending, outcome: Outcome, error: Optional[WebPushException]
) -> Optional[float]:
    """After an attempt: None when ``pending`` is finished (accepted, or the retry
    policy gives up), else the seconds to wait before the next attempt."""
    response = outcome if isinstance(outcome, PushResponse) else None
    if error is None:
        status = response.status_code if response is not None else None
        pending.finish(
            SendResult(
                pending.subscription,
                ok=True,
                status_code=status,
                attempts=pending.attempts,
                response=response,
            )
        )
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
    decision = client._retry.decide(attempted)
    if not decision.retries:
        _give_up(client, pending, decision, failed)
        return None
    pending.last = failed
    return decision.wait


def _then(client: PushClient, seconds: float, then: Callable[[], object]) -> None:
    """Run ``then`` after ``seconds``: a timer on the loop, no thread held meanwhile."""
    if _simulated(client):
        client._sleep(seconds)
        then()
    else:
        client._res.connections.call_later(seconds, then)


# --------------------------------------------------------------------------
# On the event loop


class _Delivery(_Pending):
    """One subscription's request on the event loop: attempts, waits, the result."""

    __slots__ = ("client", "probe")

    def __init__(
        self,
        client: PushClient,
        subscription: Any,
        request: PushRequest,
        done: _Done,
        call: Optional[_Call] = None,
    ) -> None:
        super().__init__(subscription, request, done, call)
        self.client = client
        self.probe = False

    def attempt(self) -> None:
        """The next attempt, unless its origin is paused (wait, without a slot) or
        its breaker open (report now). Never blocks."""
        if self.fired:
            return
        client = self.client
        gate = _gate(client, self)
        if gate is None:
            return
        if gate > 0:
            with client._slots:
                client._parked += 1
            _then(client, gate, self._unpark)
            return
        self.probe = gate == PROBE
        # The host's lookup and its policy check happen on the loop's side
        # (a resolver thread), within the attempt's deadline.
        client._in_flight(self._go, self.origin)

    def _unpark(self) -> None:
        with self.client._slots:
            self.client._parked -= 1
        self.attempt()

    def _go(self) -> None:
        client = self.client
        if self.fired or (not self.probe and client._origins.is_open(self.origin)):
            # Finished meanwhile (deadline), or its origin's breaker opened while it
            # waited for a slot: the slot goes on, from the loop (no recursion).
            if not self.fired:
                self.finish(client._open_result(self))
            client._res.connections.call_later(0, functools.partial(client._landed, self.origin))
            return
        if (
            not self.probe
            and not _simulated(client)
            and client._origins.paused_for(self.origin) > 0
        ):
            # Its origin was paused while it waited for a slot: the slot goes on,
            # and it waits out the pause without one.
            client._res.connections.call_later(0, functools.partial(client._landed, self.origin))
            self.attempt()
            return
        self.attempts += 1
        client._res.connections.submit(
            self.request,
            self.answered,
            timeout=client.timeout,
            policy=client.endpoint_policy,
            proxy=client.proxy,
        )

    def answered(self, outcome: Outcome) -> None:
        client = self.client
        error: Optional[WebPushException] = None
        failure: Optional[Exception] = None
        try:
            error = _answered(client, self, outcome)
        except Exception as e:  # a bug must not cost this subscription its result
            failure = e
        try:
            client._landed(self.origin)  # its slot goes to the next attempt waiting
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
            wait = _next(self.client, self, outcome, error)
            if wait is not None:
                _then(self.client, wait, self.attempt)
        except Exception as e:  # a bug must not cost the other subscriptions their results
            self.finish(_unexpected(self.subscription, e))


# --------------------------------------------------------------------------
# From a worker thread (the urllib3 path), or the caller's


def send_blocking(client: PushClient, job: _Blocking, *, in_worker: bool) -> None:
    """Send ``job`` with the client's urllib3 pool manager, retrying; finish it.

    In a worker thread no wait holds the thread: the job is put back on the
    queue when the wait ends. In the caller's thread (``send``) it sleeps.
    """
    try:
        requeue = functools.partial(client._res.jobs.put, job)
        while not job.fired:
            gate = _gate(client, job)
            if gate is None:
                return
            if gate > 0:
                if in_worker:
                    _then(client, gate, requeue)
                    return
                time.sleep(gate)
                continue
            timeout = min(client.timeout, job.call.left()) if job.call else client.timeout
            if timeout <= 0:
                job.finish(job.deadline_result(job.last))
                return
            job.attempts += 1
            outcome: Outcome
            try:
                outcome = send_request(
                    job.request,
                    pool_manager=client._pool,
                    timeout=timeout,
                    policy=client.endpoint_policy,
                    proxy=client.proxy,
                )
            except WebPushException as e:
                outcome = e
            wait = _next(client, job, outcome, _answered(client, job, outcome))
            if wait is None:
                return
            if in_worker:
                _then(client, wait, requeue)
                return
            client._sleep(wait)
    except Exception as e:  # a bug must not cost the other subscriptions their results
        job.finish(_unexpected(job.subscription, e))


def _work(
    jobs: queue.SimpleQueue[Optional[_Blocking]], client_ref: weakref.ref[PushClient]
) -> None:
    """A worker thread of the urllib3 path: send jobs until the None that stops it.

    It holds its client only weakly between jobs, so a client dropped
    without close() is collected, and its finalizer stops the workers.
    """
    while True:
        job = jobs.get()
        if job is None:
            return
        client = client_ref()
        if client is not None:
            send_blocking(client, job, in_worker=True)
        else:
            job.finish(
                SendResult(job.subscription, ok=False, error=TransportError("the client is gone"))
            )
        del client, job
