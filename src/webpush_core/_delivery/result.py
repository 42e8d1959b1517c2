"""One subscription's outcome (:class:`SendResult`) and a call's deadline bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._origin import origin_of
from .._request.value import PushRequest
from .._response import PushResponse
from ..errors import (
    ExpiredSubscription,
    InvalidRequest,
    OriginUnavailable,
    PushTimeout,
    RateLimited,
    WebPushException,
)

if TYPE_CHECKING:
    from .origins import Origins
    from .per_origin import PerOrigin


@dataclass(frozen=True)
class SendResult:
    """The outcome for one subscription. Never raised: inspect ``ok``.

    ``expired`` means the push service said 404/410: delete the subscription.
    ``error`` is the :class:`WebPushException` that explains a failure.

    ``reason`` (a short stable code), ``action`` (``"delete"``, ``"retry"``,
    ``"fix-credentials"``, ``"fix-request"``, or None) and ``detail`` (the push
    service's own words, clipped) say why and what to do; they are the
    error's unless the client itself decided (``ttl-expired``,
    ``deadline-exceeded``, ``service-unavailable`` from an open breaker).
    For a success ``reason`` is ``"accepted"`` and ``action`` None.

    ``held`` is how many seconds this subscription waited because its push
    service's origin was paused (a 429 or a Retry-After to any of its requests).
    """

    subscription: Any = field(repr=False)
    ok: bool
    status_code: Optional[int] = None
    expired: bool = False
    retry_after: Optional[float] = None
    attempts: int = 0
    error: Optional[WebPushException] = None
    response: Optional[PushResponse] = field(default=None, repr=False)
    reason: Optional[str] = None
    action: Optional[str] = None
    detail: str = field(default="", repr=False)
    held: float = 0.0

    def __post_init__(self) -> None:
        if self.reason is not None:
            return
        # Frozen: the derived defaults are set once, here.
        if self.ok:
            object.__setattr__(self, "reason", "accepted")
        elif self.error is not None:
            object.__setattr__(self, "reason", self.error.reason or "unknown")
            object.__setattr__(self, "action", self.error.action)
            object.__setattr__(self, "detail", self.error.detail)
        else:
            object.__setattr__(self, "reason", "unknown")
            object.__setattr__(self, "action", "retry")

    @property
    def endpoint(self) -> Optional[str]:
        sub = self.subscription
        if isinstance(sub, Mapping):
            value = sub.get("endpoint")
            return value if isinstance(value, str) else None
        return getattr(sub, "endpoint", None)


def _accepted(
    subscription: Any, status_code: Optional[int], attempts: int, response: Optional[PushResponse]
) -> SendResult:
    """``SendResult(subscription, ok=True, status_code=..., attempts=..., response=...)``,
    one per delivered message, made without the frozen dataclass's ``__init__``
    (a call to ``object.__setattr__`` per field, then ``__post_init__``): its
    fields set directly, in their order, to what that call sets them to."""
    result = object.__new__(SendResult)
    result.__dict__.update(
        subscription=subscription,
        ok=True,
        status_code=status_code,
        expired=False,
        retry_after=None,
        attempts=attempts,
        error=None,
        response=response,
        reason="accepted",
        action=None,
        detail="",
        held=0.0,
    )
    return result


def _failed(
    subscription: Any,
    attempts: int,
    response: Optional[PushResponse],
    error: WebPushException,
) -> SendResult:
    return SendResult(
        subscription,
        ok=False,
        status_code=response.status_code if response is not None else None,
        expired=isinstance(error, ExpiredSubscription),
        retry_after=response.retry_after if response is not None else None,
        attempts=attempts,
        error=error,
        response=response,
    )


def _check_deadline(deadline: Any) -> Optional[float]:
    if deadline is None:
        return None
    if (
        isinstance(deadline, bool)
        or not isinstance(deadline, (int, float))
        or not 0 < deadline < float("inf")
    ):
        raise InvalidRequest(
            f"deadline must be a number of seconds > 0 (or None), got {deadline!r}",
            field="deadline",
        )
    return float(deadline)


class _Call:
    """One send / send_many call: its deadline, and its deliveries not yet finished."""

    def __init__(self, deadline: Optional[float], decided: Optional[PerOrigin] = None) -> None:
        self.deadline = deadline
        self.decided = decided  # what this call decides once per origin (per_origin.py)
        self.expires = None if deadline is None else time.monotonic() + deadline
        self.live: set[_Pending] = set()
        self.lock = threading.Lock()

    def left(self) -> float:
        return float("inf") if self.expires is None else self.expires - time.monotonic()

    def expire(self) -> None:
        """The deadline: every delivery not yet finished gets its result now."""
        with self.lock:
            pending = list(self.live)
        for p in pending:
            p.finish(p.deadline_result(p.last))


class _Pending:
    """One subscription on its way: reported exactly once, by whoever finishes it
    first (its last attempt, a TTL or breaker decision, or the call's deadline)."""

    __slots__ = (
        "__weakref__",
        "attempts",
        "call",
        "done",
        "fired",
        "held",
        "last",
        "origin",
        "request",
        "result",
        "subscription",
        "ticket",
        "ttl_ends",
    )

    def __init__(
        self, subscription: Any, request: PushRequest, done: _Done, call: Optional[_Call]
    ) -> None:
        self.subscription = subscription
        self.request = request
        self.done = done
        self.call = call
        self.attempts = 0
        self.fired = False
        self.held = 0.0  # seconds waited for the origin's pause
        self.last: Optional[SendResult] = None  # the last failed attempt's result
        self.result: Optional[SendResult] = None
        self.origin = origin_of(request.url)  # the one origin identity (_origin)
        self.ticket = 0  # the breaker's ticket of the attempt under way (Origins.begin)
        # A retry that would start after the message's TTL is moot (RFC 8030 §5.2).
        ttl = request.headers.get("TTL")
        self.ttl_ends = time.monotonic() + int(ttl) if ttl is not None and ttl.isdigit() else None
        if call is not None:
            with call.lock:
                call.live.add(self)

    def finish(self, result: SendResult) -> None:
        call = self.call
        if call is not None:
            with call.lock:
                if self.fired:
                    return
                self.fired = True
                call.live.discard(self)
        else:
            if self.fired:
                return
            self.fired = True
        if self.held:
            result = replace(result, held=round(self.held, 3))
        self.result = result
        with contextlib.suppress(Exception):
            self.done(result)

    def deadline_result(
        self, last: Optional[SendResult] = None, *, paused_for: float = 0.0
    ) -> SendResult:
        return _deadline_result(
            self.subscription, self.call, self.attempts, last, self.request.url, paused_for
        )


def _deadline_result(
    subscription: Any,
    call: Optional[_Call],
    attempts: int = 0,
    last: Optional[SendResult] = None,
    endpoint: Optional[str] = None,
    paused_for: float = 0.0,
) -> SendResult:
    """``subscription``'s result when the call's deadline came first (the last
    attempt's status and Retry-After kept). ``paused_for``: what is left of its
    origin's pause, when that is what it waited for; ``retry_after`` is then
    at least that (the earliest a retry could go)."""
    deadline = call.deadline if call is not None and call.deadline is not None else 0.0
    error = PushTimeout(
        f"the call's deadline ({deadline:g} s) came before this subscription finished",
        endpoint=endpoint,
    )
    error.reason = "deadline-exceeded"
    retry_after = last.retry_after if last is not None else None
    if paused_for > 0:
        retry_after = max(retry_after or 0.0, paused_for)
    return SendResult(
        subscription,
        ok=False,
        status_code=last.status_code if last is not None else None,
        retry_after=retry_after,
        attempts=attempts,
        error=error,
        response=last.response if last is not None else None,
    )


class _Blocking(_Pending):
    """A subscription sent from a urllib3 worker thread (or the caller's)."""

    __slots__ = ()


def _open_result(pending: _Pending, origins: Origins) -> SendResult:
    """Not sent: the breaker of the subscription's origin is open."""
    error = OriginUnavailable(
        f"not sent: the breaker for {pending.origin} is open after "
        f"{origins.threshold} connection failures or timeouts in a row "
        f"(requests in flight together count once); it is probed again after a "
        f"cool-down of {origins.first_cooldown:g} s, doubled while it stays down "
        f"(at most {origins.cooldown:g} s)",
        endpoint=pending.request.url,
    )
    return SendResult(pending.subscription, ok=False, attempts=pending.attempts, error=error)


def _crowded_result(pending: _Pending, paused_for: float) -> SendResult:
    """Not sent (again): the origin is paused and enough of its deliveries wait
    already. A subscription that had an attempt keeps its last answer; either
    way ``retry_after`` is at least the pause left."""
    last = pending.last
    if last is not None:
        retry_after = max(last.retry_after or 0.0, paused_for)
        return replace(last, retry_after=round(retry_after, 3), attempts=pending.attempts)
    error = RateLimited(
        f"not sent: {pending.origin} asked this client to slow down (paused "
        f"{paused_for:.1f} s more) and as many of its deliveries as are kept are "
        "waiting already; send it again after the pause",
        endpoint=pending.request.url,
    )
    return SendResult(
        pending.subscription,
        ok=False,
        retry_after=round(paused_for, 3),
        attempts=pending.attempts,
        error=error,
    )


def _unexpected(subscription: Any, e: Exception) -> SendResult:
    error = WebPushException(f"unexpected {type(e).__name__} while sending: {e}")
    error.__cause__ = e
    return SendResult(subscription, ok=False, error=error)


def _set_result(future: asyncio.Future[SendResult], result: SendResult) -> None:
    if not future.cancelled():
        future.set_result(result)


# What to do with a finished delivery's result (called once, from any thread).
_Done = Callable[["SendResult"], object]
