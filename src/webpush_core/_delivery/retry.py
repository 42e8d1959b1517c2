"""When a failed attempt is made again: one retry policy, a value (as urllib3's ``Retry``).

:class:`RetryPolicy` holds the numbers (how many retries, the exponential
backoff's base and cap, the cap on a ``Retry-After``, how much of each backoff
is drawn at random); :meth:`RetryPolicy.decide` turns one failed attempt's
outcome into a :class:`Decision`: retry now, wait so many seconds and retry,
or give up, and why. :meth:`RetryPolicy.hold` decides the same for a wait that
is not a retry's (an origin's pause). Both honour, in this order:

* what failed: only a retryable failure (:func:`._classify.retryable`) is
  tried again, at most ``max_retries`` times;
* ``Retry-After`` (RFC 9110 §10.2.3): a floor under the backoff, capped at
  ``retry_after_cap`` (a push service must not park a message for a day);
* the message's TTL (RFC 8030 §5.2): a retry that would start once the TTL
  has run out is moot, the push service would drop the message;
* the caller's deadline: a wait that would reach it ends the subscription now.

Pure: no clock, no I/O, no state; the random draw is an argument. PushClient's
two paths (the event loop, the urllib3 worker threads) and Celery's fan-out
all decide with it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Optional

from ..errors import InvalidRequest

__all__ = [
    "DEADLINE_EXCEEDED",
    "GIVE_UP",
    "NOT_RETRYABLE",
    "RETRIES_EXHAUSTED",
    "RETRY",
    "TTL_EXPIRED",
    "WAIT",
    "Attempted",
    "Decision",
    "RetryPolicy",
]

# What to do (Decision.action).
RETRY = "retry"  # now
WAIT = "wait"  # ``Decision.wait`` seconds, then retry
GIVE_UP = "give-up"

# Why (Decision.reason).
BACKOFF = "backoff"  # a retry after the jittered exponential backoff
RETRY_AFTER = "retry-after"  # a retry after the push service's Retry-After (capped)
PAUSE = "pause"  # a wait held for its own sake (hold(): an origin's pause)
NOT_RETRYABLE = "not-retryable"  # the failure will not go away by trying again
RETRIES_EXHAUSTED = "retries-exhausted"
TTL_EXPIRED = "ttl-expired"  # reason codes of a result, as in _reasons.REASONS
DEADLINE_EXCEEDED = "deadline-exceeded"

# 2 ** this is the largest backoff multiplier computed (beyond, the cap applies
# anyway; an int that large times a float would overflow).
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class Attempted:
    """What a failed attempt came to, as the policy needs it.

    ``attempts``: attempts made so far, this one included (1 after the first).
    ``retryable``: whether its failure may succeed later. ``retry_after``: the
    push service's ``Retry-After`` in seconds, if it sent one. ``ttl_left`` and
    ``deadline_left``: seconds until the message's TTL ends and until the
    caller's deadline, None for none.
    """

    attempts: int
    retryable: bool
    retry_after: Optional[float] = None
    ttl_left: Optional[float] = None
    deadline_left: Optional[float] = None


@dataclass(frozen=True)
class Decision:
    """:data:`RETRY` now, :data:`WAIT` ``wait`` seconds then retry, or :data:`GIVE_UP`;
    ``reason`` says why (one of the reason constants of this module). A give-up
    at the TTL's end or the deadline keeps the ``wait`` it refused."""

    action: str
    reason: str
    wait: float = 0.0

    @property
    def retries(self) -> bool:
        return self.action != GIVE_UP


def _check(name: str, value: object, *, integer: bool = False, at_most: float = math.inf) -> None:
    kind = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or not 0 <= value <= at_most
        or (not integer and not math.isfinite(value))
    ):
        what = "an integer" if integer else "a finite number"
        bound = f" <= {at_most:g}" if at_most != math.inf else ""
        raise InvalidRequest(f"{name} must be {what} >= 0{bound}, got {value!r}", field=name)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and when a failed attempt is made again.

    ``max_retries``: attempts after the first. ``backoff_base``: seconds of
    backoff before the first retry, doubled for each one after it, never more
    than ``backoff_cap``. ``jitter``: the part of each backoff drawn at random
    (1: anywhere between 0 and the backoff, "full jitter", which spreads
    retries that failed together; 0.5: between half of it and all of it; 0:
    none). ``retry_after_cap``: a ``Retry-After`` above it counts as it.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 60.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        _check("max_retries", self.max_retries, integer=True)
        _check("backoff_base", self.backoff_base)
        _check("backoff_cap", self.backoff_cap)
        _check("retry_after_cap", self.retry_after_cap)
        _check("jitter", self.jitter, at_most=1.0)

    def backoff(self, attempts: int, retry_after: Optional[float], draw: float) -> float:
        """Seconds to wait after failed attempt number ``attempts`` (1 for the first).

        Exponential: ``backoff_base * 2 ** (attempts - 1)`` capped at
        ``backoff_cap``, of which ``jitter`` is scaled by ``draw`` (a number in
        [0, 1)). A ``Retry-After`` is a floor under it, capped at
        ``retry_after_cap``.
        """
        doublings = min(max(attempts - 1, 0), _MAX_DOUBLINGS)
        ceiling = min(self.backoff_cap, math.ldexp(self.backoff_base, doublings))
        wait = ceiling * (1.0 - self.jitter) + ceiling * self.jitter * draw
        if retry_after is not None:
            wait = max(wait, min(max(retry_after, 0.0), self.retry_after_cap))
        return wait

    def decide(self, attempted: Attempted, draw: Optional[float] = None) -> Decision:
        """Retry now, wait and retry, or give up after a failed attempt.

        Gives up when the failure is not retryable, when ``max_retries``
        retries have been made, and when the wait would reach the TTL's end or
        the deadline. ``draw`` is the random draw in [0, 1) (default: a fresh one).
        """
        if not attempted.retryable:
            return Decision(GIVE_UP, NOT_RETRYABLE)
        if attempted.attempts > self.max_retries:
            return Decision(GIVE_UP, RETRIES_EXHAUSTED)
        if draw is None:
            draw = random.random()  # noqa: S311 - jitter, not a secret
        wait = self.backoff(attempted.attempts, attempted.retry_after, draw)
        ra = attempted.retry_after
        floor = ra is not None and wait <= min(max(ra, 0.0), self.retry_after_cap)
        return self.hold(
            wait,
            ttl_left=attempted.ttl_left,
            deadline_left=attempted.deadline_left,
            reason=RETRY_AFTER if floor else BACKOFF,
        )

    def hold(
        self,
        wait: float,
        *,
        ttl_left: Optional[float] = None,
        deadline_left: Optional[float] = None,
        reason: str = PAUSE,
    ) -> Decision:
        """Whether a wait of ``wait`` seconds before the next attempt still makes sense.

        Not once the message's TTL would have run out when it ends (RFC 8030
        §5.2), nor when it would reach the caller's deadline: then give up
        (:data:`TTL_EXPIRED`, :data:`DEADLINE_EXCEEDED`, in that order).
        """
        if ttl_left is not None and wait >= ttl_left:
            return Decision(GIVE_UP, TTL_EXPIRED, wait)
        if deadline_left is not None and wait >= deadline_left:
            return Decision(GIVE_UP, DEADLINE_EXCEEDED, wait)
        if wait <= 0:
            return Decision(RETRY, reason)
        return Decision(WAIT, reason, wait)
