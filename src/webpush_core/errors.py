"""Every error webpush_core raises, in one place.

All of them derive from :class:`WebPushException` (pywebpush's name, so
``except WebPushException`` keeps working after a migration).

Two families:

* input errors (:class:`InvalidInput` and below) are raised *before* anything
  is sent; each names the offending ``field`` and the rule it broke;
* response and transport errors (:class:`PushServiceError`,
  :class:`TransportError`) describe what happened on the wire.

No error message or ``repr`` ever contains a private key or an auth secret:
messages name fields and rules, never their secret values.

Every error also says *why* and *what to do*: ``reason`` (a short stable
code), ``action`` (``"delete"``, ``"retry"``, ``"fix-credentials"``,
``"fix-request"``) and ``detail`` (the push service's own words, clipped, no
control characters). Each class has defaults; an error made from a push
service's answer reads them from the answer (see :mod:`._reasons`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = [
    "ECEError",
    "EndpointNotAllowed",
    "ExpiredSubscription",
    "InvalidInput",
    "InvalidRequest",
    "InvalidSubscription",
    "NoData",
    "OriginUnavailable",
    "PayloadTooLarge",
    "ProxyError",
    "PushRejected",
    "PushServiceError",
    "PushTimeout",
    "RateLimited",
    "ServerError",
    "TooLarge",
    "TransportError",
    "Unauthorized",
    "VapidError",
    "WebPushException",
]


class WebPushException(Exception):
    """Base of every webpush_core error.

    Attributes kept from pywebpush: ``message``, ``response`` (the push
    service's response, or None when nothing was received), and the
    properties ``status_code`` and ``retry_after`` (seconds, parsed).

    ``reason``, ``action`` and ``detail``: see the module docstring.
    """

    reason: Optional[str] = "unknown"
    action: Optional[str] = "retry"
    detail: str = ""

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.response = response

    def __str__(self) -> str:
        # A subclass reads well in a traceback ("ExpiredSubscription: Push
        # failed: 410 Gone ..."): its message alone. The base class keeps
        # pywebpush's "WebPushException: <message>, Response <body>", which
        # code written for pywebpush may match on.
        if type(self) is not WebPushException:
            return self.message
        extra = ""
        if self.response is not None:
            text = getattr(self.response, "text", None)
            extra = f", Response {text if text is not None else self.response}"
        return f"WebPushException: {self.message}{extra}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    @property
    def status_code(self) -> Optional[int]:
        """The HTTP status of the push service's answer, if there was one."""
        if self.response is None:
            return None
        code = getattr(self.response, "status_code", getattr(self.response, "status", None))
        return int(code) if code is not None else None

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds the push service asked us to wait (``Retry-After``), if any.

        Read from any response object with ``headers`` (ours, a
        ``requests.Response``, an ``aiohttp.ClientResponse``): delta-seconds
        or an HTTP-date, turned into seconds (RFC 9110 §10.2.3).
        """
        response = self.response
        if response is None:
            return None
        # Here, not at the top: errors is imported by everything, _response imports it.
        from ._response import PushResponse, parse_retry_after  # noqa: PLC0415

        if isinstance(response, PushResponse):
            return response.retry_after
        return parse_retry_after(_header(getattr(response, "headers", None), "Retry-After"))


def _header(headers: Any, name: str) -> Optional[str]:
    """``name``'s value in a header mapping of any kind (case-insensitive or not)."""
    if not isinstance(headers, Mapping):
        return None  # e.g. a test's Mock: nothing to read
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == lower), None)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a stub's {"Retry-After": 120}
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------
# Input errors: raised before anything is sent.


class InvalidInput(WebPushException, ValueError):
    """An argument broke a rule. ``field`` names it; the message states the rule."""

    reason = "invalid-input"
    action = "fix-request"

    def __init__(self, message: str, *, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidSubscription(InvalidInput):
    """The subscription info (endpoint, keys.p256dh, keys.auth) is unusable."""


class PayloadTooLarge(InvalidInput):
    """The message does not fit in one Web Push record (RFC 8291 §4)."""


class InvalidRequest(InvalidInput):
    """TTL, Urgency, Topic, content encoding or extra headers break a rule."""


class EndpointNotAllowed(InvalidInput):
    """The endpoint is refused by the :class:`EndpointPolicy` (SSRF protection)."""


class VapidError(InvalidInput):
    """A VAPID key, claim or token is invalid (RFC 8292)."""

    reason = "invalid-vapid"
    action = "fix-credentials"


class NoData(InvalidInput):
    """There is no data to encode (pywebpush's ``NoData``)."""


class ECEError(WebPushException):
    """Encryption or decryption failed (RFC 8188 / RFC 8291 / aesgcm draft).

    Raised for every malformed input to ``ece.encrypt`` / ``ece.decrypt``:
    nothing else (IndexError, struct.error, InvalidTag) escapes.
    """

    reason = "invalid-input"
    action = "fix-request"


# --------------------------------------------------------------------------
# What the push service answered (RFC 8030 §5, §8.4, §9).


class PushServiceError(WebPushException):
    """The push service answered with a status above 202.

    ``response`` is the full response object (always truthy, unlike
    pywebpush's); ``endpoint`` is where we sent it.
    """

    def __init__(
        self,
        message: str,
        response: Any = None,
        *,
        endpoint: Optional[str] = None,
        reason: Optional[str] = None,
        action: Optional[str] = None,
        detail: Optional[str] = None,
    ) -> None:
        super().__init__(message, response)
        self.endpoint = endpoint
        # Read from the answer when given; the class's defaults otherwise.
        if reason is not None:
            self.reason = reason
            self.action = action
        if detail is not None:
            self.detail = detail

    @property
    def headers(self) -> Any:
        return getattr(self.response, "headers", {})

    @property
    def body(self) -> bytes:
        content = getattr(self.response, "content", b"")
        return content if isinstance(content, bytes) else b""


class ExpiredSubscription(PushServiceError):
    """404 or 410: the subscription is gone; delete it (RFC 8030 §7.3)."""

    reason = "unsubscribed"
    action = "delete"


class Unauthorized(PushServiceError):
    """401 or 403: the VAPID token or key was refused (RFC 8292 §4.2)."""

    reason = "unauthorized"
    action = "fix-credentials"


class TooLarge(PushServiceError):
    """413: the push service refused the payload size (RFC 8030 §7.2)."""

    reason = "payload-too-large"
    action = "fix-request"


class RateLimited(PushServiceError):
    """429 (or WNS's 406 throttle): too many requests; ``retry_after`` says how long to wait."""

    reason = "rate-limited"
    action = "retry"


class ServerError(PushServiceError):
    """5xx: the push service failed; usually worth a retry."""

    reason = "service-error"
    action = "retry"


class PushRejected(PushServiceError):
    """Any other 4xx (400, 405, ...): the request itself was refused."""

    reason = "rejected"
    action = "fix-request"


# --------------------------------------------------------------------------
# Nothing (usable) came back.


class TransportError(WebPushException):
    """The request did not get an answer: refused, reset, TLS failure, ..."""

    reason = "connection-failed"
    action = "retry"

    def __init__(self, message: str, *, endpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class PushTimeout(TransportError):
    """Connecting or reading took longer than the timeout."""

    reason = "timeout"
    action = "retry"


class ProxyError(TransportError):
    """The forward proxy refused or failed the request (e.g. 407, 502 to CONNECT).

    ``proxy`` is the proxy's URL with any password masked (``http://user:***@host:port``);
    ``proxy_status`` the status the proxy answered, or None when it could not be reached.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: Optional[str] = None,
        proxy: str = "",
        proxy_status: Optional[int] = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.proxy = proxy
        self.proxy_status = proxy_status
        if proxy_status == 407:
            # The proxy's credentials: every send through it fails the same way.
            self.reason = "proxy-auth-required"
            self.action = "fix-request"


class OriginUnavailable(TransportError):
    """Not sent: the push service's origin failed to answer too many times in a row
    (its breaker is open); retry later."""

    reason = "service-unavailable"
    action = "retry"
