"""A stand-in for the network, for tests: what every sender asks before it connects.

:class:`webpush_core.testing.MockPushService` installs one for as long as it
is active. Then both transports hand each request to it instead of opening a
connection: the urllib3 one (``webpush``, ``WebPusher``, ``webpush_async``, a
``PushClient`` with a ``pool_manager``) in :func:`send_blocking`, and
``PushClient``'s own client in :func:`submit`. Everything above the wire runs
as in production (checks, encryption, VAPID, retries, pauses, the breaker,
deadlines); only the bytes never leave the process and no name is resolved.

A stand-in answers each request with ``(delay, outcome)``: the response, or a
:class:`TransportError` for a dropped connection, and the seconds it takes to
arrive. An outcome later than the attempt's timeout becomes the
:class:`PushTimeout` the real transports raise, at the timeout.

With none installed (production), each sender pays one list lookup.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Protocol, Union
from urllib.parse import urlsplit

from .._endpoint import EndpointPolicy
from .._request.value import PushRequest
from .._response import PushResponse
from ..errors import PushTimeout, WebPushException

__all__ = ["StandIn", "current", "install", "send_blocking", "submit", "uninstall"]

Outcome = Union[PushResponse, WebPushException]


class StandIn(Protocol):
    def _exchange(self, request: PushRequest, timeout: float) -> tuple[float, Outcome]:
        """The answer to ``request`` and the seconds it takes to arrive (thread-safe)."""
        ...


# Installed stand-ins, innermost last; read without the lock (one list index).
_installed: list[StandIn] = []
_lock = threading.Lock()


def install(standin: StandIn) -> None:
    with _lock:
        _installed.append(standin)


def uninstall(standin: StandIn) -> None:
    with _lock:
        for i in range(len(_installed) - 1, -1, -1):
            if _installed[i] is standin:
                del _installed[i]
                return


def current() -> Optional[StandIn]:
    """The stand-in senders use now, or None: the network."""
    try:
        return _installed[-1]
    except IndexError:
        return None


def _settle(
    standin: StandIn, request: PushRequest, timeout: float, policy: EndpointPolicy
) -> tuple[float, Outcome]:
    # The URL's rules still apply (no lookup: nothing is resolved in a test).
    policy.check(request.url)
    delay, outcome = standin._exchange(request, timeout)
    if delay >= timeout:
        parts = urlsplit(request.url)
        return timeout, PushTimeout(
            f"timed out after {timeout:g} s waiting for {parts.scheme}://{parts.netloc}",
            endpoint=request.url,
        )
    return max(0.0, delay), outcome


def send_blocking(
    standin: StandIn, request: PushRequest, timeout: float, policy: EndpointPolicy
) -> PushResponse:
    """The urllib3 transport's contract: the response, or raise what it would."""
    delay, outcome = _settle(standin, request, timeout, policy)
    if delay:
        time.sleep(delay)
    if isinstance(outcome, WebPushException):
        raise outcome
    return outcome


def submit(
    standin: StandIn,
    request: PushRequest,
    done: Callable[[Outcome], object],
    timeout: float,
    policy: EndpointPolicy,
    call_later: Callable[[float, Callable[[], object]], None],
) -> None:
    """``Connections.submit``'s contract: ``done(outcome)`` once, on the loop."""
    try:
        delay, outcome = _settle(standin, request, timeout, policy)
    except WebPushException as refused:  # the policy: reported as the transport would
        done(refused)
        return
    call_later(delay, lambda: done(outcome))
