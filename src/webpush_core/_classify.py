"""What an attempt came to: every classification the sending layer makes, in one place.

* A push service's answer (status, headers, body) becomes its typed error,
  a :class:`PushServiceError` subclass whose ``reason``, ``action`` and
  ``detail`` come from the service's dialect (:mod:`._reasons` reads those):
  :func:`error_for_response`.
* Whether a failure may succeed if tried again (:func:`retryable`), and whether
  an answer asks us to slow down toward its origin (:func:`throttles`):
  what the retry policy (:mod:`._delivery.retry`), the per-origin pause and
  Celery's fan-out all go by.
* A failure without an answer (name lookup, connect, TLS, a broken connection,
  the attempt's deadline) becomes a :class:`TransportError` or
  :class:`PushTimeout` with a cleaned detail, worded the same whichever
  transport met it (:func:`transport_error`): each transport only says which
  kind of failure its own exception was.

Nothing here does I/O; every function is total (never raises on odd input).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from typing import TYPE_CHECKING, Optional

from ._reasons import classify, clip
from .errors import (
    ExpiredSubscription,
    PushRejected,
    PushServiceError,
    PushTimeout,
    RateLimited,
    ServerError,
    TooLarge,
    TransportError,
    Unauthorized,
    WebPushException,
)

if TYPE_CHECKING:
    from ._response import PushResponse

__all__ = [
    "BROKEN",
    "CONNECT",
    "OTHER",
    "RESOLVE",
    "TIMEOUT",
    "TLS",
    "error_for_response",
    "failure_detail",
    "failure_kind",
    "retryable",
    "throttles",
    "transport_error",
]

# --------------------------------------------------------------------------
# An answer

_STATUS_ERRORS: dict[int, tuple[type[PushServiceError], str]] = {
    404: (ExpiredSubscription, "the subscription is gone; delete it"),
    410: (ExpiredSubscription, "the subscription is gone; delete it"),
    401: (Unauthorized, "the VAPID authorization was refused"),
    403: (Unauthorized, "the VAPID authorization was refused"),
    413: (TooLarge, "the payload is too large for this push service"),
    429: (RateLimited, "rate limited"),
}


def error_for_response(response: PushResponse, endpoint: str) -> Optional[PushServiceError]:
    """The typed error a response means, or None for 200-202 (RFC 8030 §5).

    404/410 :class:`ExpiredSubscription` (RFC 8030 §7.3), 401/403
    :class:`Unauthorized` (RFC 8292 §4.2), 413 :class:`TooLarge`, 429
    :class:`RateLimited` (RFC 8030 §8.4), 5xx :class:`ServerError`, anything
    else (other 4xx, 3xx: redirects are never followed, 1xx, 203+)
    :class:`PushRejected`; WNS's 406 throttle is :class:`RateLimited`. The
    message holds the status, reason and the service's error text, never the
    request's headers (they carry the VAPID token). The error's ``reason``,
    ``action`` and ``detail`` come from the service's dialect (:mod:`._reasons`).
    """
    status = response.status_code
    if 200 <= status <= 202:
        return None
    said = classify(status, response.headers, response.content)
    cls: type[PushServiceError]
    if said.throttle:  # WNS's 406: a throttle, retried like a 429
        cls, hint = RateLimited, "rate limited (throttled)"
    elif status in _STATUS_ERRORS:
        cls, hint = _STATUS_ERRORS[status]
    elif 500 <= status <= 599:
        cls, hint = ServerError, "push service error; retry later"
    elif 300 <= status <= 399:
        cls, hint = PushRejected, "redirects are not followed"
        if response.location:
            hint += f"; Location: {clip(response.location)}"
    else:
        cls, hint = PushRejected, "the push service refused the request"
    message = f"Push failed: {status} {response.reason}".rstrip()
    retry_after = response.retry_after
    if retry_after is not None:
        hint += f"; retry after {retry_after:g} s"
    message += f" ({hint})"
    if said.detail:
        message += f": {said.detail}"
    return cls(
        message,
        response,
        endpoint=endpoint,
        reason=said.reason,
        action=said.action,
        detail=said.detail,
    )


def retryable(error: WebPushException) -> bool:
    """Whether the attempt that failed with ``error`` may succeed if made again.

    A 429, a 5xx and a failure without an answer may (RFC 8030 §8.4, RFC 9110
    §15.6); any other refusal will not, nor a forward proxy's 407 (its
    credentials are wrong for every send: its action is ``fix-request``).
    """
    if error.action == "fix-request":
        return False
    return isinstance(error, (RateLimited, ServerError, TransportError))


def throttles(status: Optional[int], retry_after: Optional[float], error: object) -> bool:
    """Whether an answer tells us to slow down toward its origin: a 429 (or WNS's
    406 throttle: both :class:`RateLimited`), or a 503 with ``Retry-After``
    (RFC 8030 §8.4, RFC 9110 §10.2.3)."""
    return isinstance(error, RateLimited) or (status == 503 and retry_after is not None)


# --------------------------------------------------------------------------
# No answer

# What kind of failure an attempt without an answer met; each transport maps
# its own exceptions to one of these (failure_kind does it for the plain
# socket, TLS and asyncio ones), and the words come from transport_error.
RESOLVE = "resolve"  # the host's name did not resolve
CONNECT = "connect"  # no connection (refused, unreachable)
TLS = "tls"  # the TLS handshake or session failed
BROKEN = "broken"  # the connection broke during the exchange
TIMEOUT = "timeout"  # the attempt's deadline passed
OTHER = "other"  # anything else (named by its exception's type)

_MAX_DETAIL = 200


def _errno(exc: OSError) -> Optional[int]:
    """``exc``'s error number, None if it has none; getaddrinfo's numbers are EAI_*
    codes, not errno values (its own words say it)."""
    number = exc.errno
    if isinstance(exc, (socket.gaierror, socket.herror)) or not isinstance(number, int):
        return None
    return number if number > 0 else None


def failure_detail(exc: BaseException) -> str:
    """Why ``exc`` happened, in words fit for an error message and a log.

    The certificate check's own words when it failed, the SSL reason, the
    system's words for an OS error's number (a lookup's own words), else the
    exception's text or its type. Clipped and cleaned
    (:func:`._reasons.clip`): a certificate's names or a bad status line are
    the server's words.
    """
    verify = getattr(exc, "verify_message", None)
    if verify:
        text = f"certificate verify failed: {verify}"
    elif isinstance(exc, ssl.SSLError):
        text = str(getattr(exc, "reason", None) or exc)  # None or unset: its own text
    elif isinstance(exc, OSError) and _errno(exc) is not None:
        # The system's words for the error number: asyncio words a refusal
        # "Connect call failed (address)", http.client "Connection refused".
        text = os.strerror(_errno(exc) or 0)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return clip(text, _MAX_DETAIL)


def failure_kind(exc: BaseException, *, connecting: bool) -> str:
    """The kind of a plain socket, TLS or asyncio failure (``connecting``: it
    happened before the connection was up)."""
    if isinstance(exc, (socket.timeout, asyncio.TimeoutError, TimeoutError)):
        return TIMEOUT
    if isinstance(exc, (socket.gaierror, UnicodeError)):
        return RESOLVE
    if isinstance(exc, ssl.SSLError):
        return TLS
    return CONNECT if connecting else BROKEN


def transport_error(
    kind: str,
    cause: Optional[BaseException],
    *,
    url: str,
    origin: str,
    timeout: float,
    reading: bool = False,
) -> TransportError:
    """Our error for an attempt to ``origin`` that got no (readable) answer.

    ``kind`` is one of the constants above; ``cause`` the exception behind it
    (its detail is cleaned by :func:`failure_detail`); ``reading``: a timeout
    came while the response was being read. Never includes the request's
    headers or body. A ``cause`` that is already ours (a :class:`ProxyError`,
    say) is returned as it is.
    """
    if isinstance(cause, TransportError):
        return cause
    if kind == TIMEOUT:
        phase = "reading the response from" if reading else "waiting for"
        return PushTimeout(f"timed out after {timeout:g} s {phase} {origin}", endpoint=url)
    detail = failure_detail(cause) if cause is not None else "no detail"
    if kind == RESOLVE:
        message = f"cannot resolve the host of {origin}: {detail}"
    elif kind == CONNECT:
        message = f"cannot connect to {origin}: {detail}"
    elif kind == TLS:
        message = f"TLS failure with {origin}: {detail}"
    elif kind == BROKEN:
        message = f"connection to {origin} broken: {detail}"
    else:
        name = type(cause).__name__ if cause is not None else "Error"
        message = f"request to {origin} failed: {name}: {detail}"
    return TransportError(message, endpoint=url)
