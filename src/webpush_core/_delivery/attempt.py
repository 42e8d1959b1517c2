"""PushClient's deliveries: one subscription's attempts on the event loop
(:class:`_Delivery`), or from a urllib3 worker thread (:func:`_work`)."""

from __future__ import annotations

import queue
import weakref
from typing import TYPE_CHECKING, Any, Optional

from .._request import PushRequest
from .._response import PushResponse, error_for_response
from .._wire.connections import Outcome
from ..errors import TransportError, WebPushException
from .origins import OPEN, PROBE
from .result import (
    SendResult,
    _Blocking,
    _Call,
    _crowded_result,
    _Done,
    _failed,
    _open_result,
    _Pending,
    _throttles,
    _unexpected,
)

if TYPE_CHECKING:
    from .client import PushClient
    from .engine import Engine


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
            client._send_blocking(job, in_worker=True)
        else:
            job.finish(
                SendResult(job.subscription, ok=False, error=TransportError("the client is gone"))
            )
        del client, job


class _Delivery(_Pending):
    """One subscription's request on the event loop: attempts, backoff, the result."""

    __slots__ = ("client", "engine", "probe", "ticket")

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
        self.client = client
        self.engine = engine
        self.probe = False
        self.ticket = 0

    def attempt(self) -> None:
        """The next attempt, unless its origin is paused or its breaker open (wait
        without a slot, or report now: :meth:`Origins.gate`). Never blocks."""
        if self.fired:
            return
        engine = self.engine
        gate = engine.origins.gate(self.origin, tried=self.attempts > 0)
        if gate == OPEN:
            self.finish(_open_result(self, engine.origins))
            return
        self.probe = gate == PROBE
        if gate > 0:
            if not self.client._may_wait(self, gate, self.last):
                return
            if not engine.park(self.origin, gate, self.attempt):
                # Its origin is paused and holds as many parked deliveries as it
                # may: this one ends now, and the fan-out reads on.
                self.finish(_crowded_result(self, gate))
                return
            self.held += gate
            return
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
            # a slot: the slot goes on, and the gate decides again (report,
            # wait without a slot, or be the probe).
            engine.land_later(self.origin)
            self.attempt()
            return
        self.attempts += 1
        self.ticket = origins.begin(self.origin)
        client = self.client
        engine.submit(
            self.request,
            self.answered,
            timeout=client.timeout,
            policy=client.endpoint_policy,
            proxy=client.proxy,
        )

    def answered(self, outcome: Outcome) -> None:
        engine = self.engine
        error: Optional[WebPushException] = None
        failure: Optional[Exception] = None
        try:
            # The origin's state first: the attempt the slot goes to next sees it.
            if isinstance(outcome, PushResponse):
                error = error_for_response(outcome, self.request.url)
                engine.answered(
                    self.origin,
                    throttle=_throttles(outcome, error),
                    retry_after=outcome.retry_after,
                )
            else:
                error = outcome
                if isinstance(outcome, TransportError):
                    engine.failed(self.origin, self.ticket)
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
        """Done, or another attempt after the backoff."""
        client = self.client
        try:
            response = outcome if isinstance(outcome, PushResponse) else None
            if self.fired:
                return  # reported already (the call's deadline)
            result = client._result(self.subscription, self.attempts, response, error)
            if result is None:
                if error is not None:
                    self.last = _failed(self.subscription, self.attempts, response, error)
                wait = client._backoff(self.attempts, response.retry_after if response else None)
                if not client._may_wait(self, wait, self.last):
                    return
                self.engine.later(wait, self.attempt)
                return
        except Exception as e:  # a bug must not cost the other subscriptions their results
            result = _unexpected(self.subscription, e)
        self.finish(result)
