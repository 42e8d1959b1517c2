"""PushClient's deliveries: one subscription's attempts on the event loop
(:class:`_Delivery`), or from a urllib3 worker thread (:func:`_work`)."""

from __future__ import annotations

import functools
import queue
import time
import weakref
from typing import TYPE_CHECKING, Any, Optional

from .._request import PushRequest
from .._response import PushResponse, error_for_response
from .._wire.connections import Outcome
from ..errors import TransportError, WebPushException
from .origins import OPEN, PROBE
from .result import SendResult, _Blocking, _Call, _Done, _failed, _Pending, _unexpected

if TYPE_CHECKING:
    from .client import PushClient


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
        gate = client._origins.gate(self.origin)
        if gate == OPEN:
            self.finish(client._open_result(self))
            return
        self.probe = gate == PROBE
        if gate > 0 and client._sleep is time.sleep:
            if not client._may_wait(self, gate, self.last):
                return
            self.held += gate
            with client._slots:
                client._parked += 1
            client._res.connections.call_later(gate, self._unpark)
            return
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
            and client._sleep is time.sleep
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
            # The origin's state first: the attempt the slot goes to next sees it.
            if isinstance(outcome, PushResponse):
                error = error_for_response(outcome, self.request.url)
                client._throttled(self.origin, outcome, error)
            else:
                error = outcome
                if isinstance(outcome, TransportError):
                    client._origins.failed(self.origin)
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
                if client._sleep is time.sleep:
                    client._res.connections.call_later(wait, self.attempt)
                else:  # a test's hook: it stands for the wait
                    client._sleep(wait)
                    self.attempt()
                return
        except Exception as e:  # a bug must not cost the other subscriptions their results
            result = _unexpected(self.subscription, e)
        self.finish(result)
