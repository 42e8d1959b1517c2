"""Why a push service refused a message, in its own dialect, and what to do about it.

Every push service says more than its status code: Mozilla's autopush sends
JSON with an ``errno``, Apple's service a JSON ``{"reason": ...}``, FCM a line
of plain text, Microsoft's WNS an ``X-WNS-Error-Description`` header. This
module reads those dialects into three things an operator can act on:

* ``reason``: a short, stable code (the table below and in the README);
* ``action``: ``"delete"`` (the subscription is gone), ``"retry"`` (later,
  after ``retry_after`` if given), ``"fix-credentials"`` (the VAPID key or
  token: every send with it fails), ``"fix-request"`` (this message: size,
  TTL, topic, headers) or None (a success);
* ``detail``: the service's own words, clipped to :data:`MAX_DETAIL`
  characters, control, format and separator characters removed, JWT-shaped
  tokens replaced (:func:`._text.clean`).

An unknown body falls back on the status code (RFC 8030 §5, §7.2, §8.4;
RFC 8292 §4.2). ``"delete"`` is given only for 404 and 410, the statuses
by which RFC 8030 says a subscription is gone, whatever a body claims.

Parsing is linear and bounded: at most :data:`MAX_PARSE` octets of a body
are read, JSON nesting is guarded, and every text match is a substring test
over a clipped string.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ._text import clean

__all__ = [
    "ACTIONS",
    "MAX_DETAIL",
    "MAX_PARSE",
    "REASONS",
    "Classification",
    "classify",
    "clip",
    "decode_body",
]

MAX_DETAIL = 300  # characters of the service's words kept in ``detail``
MAX_PARSE = 65536  # octets of a body ever looked at

DELETE, RETRY, FIX_CREDENTIALS, FIX_REQUEST = "delete", "retry", "fix-credentials", "fix-request"
ACTIONS = (DELETE, RETRY, FIX_CREDENTIALS, FIX_REQUEST)

# Every reason code and its action: the documented, stable vocabulary.
REASONS: dict[str, Optional[str]] = {
    "unsubscribed": DELETE,
    "vapid-key-mismatch": FIX_CREDENTIALS,
    "bad-jwt": FIX_CREDENTIALS,
    "vapid-header-invalid": FIX_CREDENTIALS,  # the Authorization header's shape (FCM)
    "jwt-expired": FIX_CREDENTIALS,
    "unauthorized": FIX_CREDENTIALS,
    "payload-too-large": FIX_REQUEST,
    "invalid-ttl": FIX_REQUEST,
    "invalid-topic": FIX_REQUEST,
    "invalid-urgency": FIX_REQUEST,
    "invalid-encryption": FIX_REQUEST,
    "missing-header": FIX_REQUEST,
    "bad-request": FIX_REQUEST,
    "redirected": FIX_REQUEST,
    "rejected": FIX_REQUEST,
    "rate-limited": RETRY,
    "service-unavailable": RETRY,
    "service-error": RETRY,
    "timeout": RETRY,
    "connection-failed": RETRY,
    "proxy-auth-required": FIX_REQUEST,  # the forward proxy's 407: its credentials
    "deadline-exceeded": RETRY,
    "unknown": RETRY,
    # Set by the client, not read from a response:
    "ttl-expired": None,  # the message's TTL ran out before a retry could start
    "invalid-input": FIX_REQUEST,  # refused before sending (InvalidInput)
    "invalid-vapid": FIX_CREDENTIALS,  # the VAPID key or claims (VapidError)
}


@dataclass(frozen=True)
class Classification:
    """What a response means: ``reason``, ``action``, ``detail`` (see the module doc)."""

    reason: str
    action: Optional[str]
    detail: str
    throttle: bool = False  # a throttle whatever its status (WNS 406): retried, paces the origin


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` safe to log (:func:`._text.clean`): no control, format or separator
    characters, JWT-shaped tokens ``[token]``, at most ``limit`` characters."""
    return clean(text, limit)


# --------------------------------------------------------------------------
# Mozilla autopush: {"code": 410, "errno": 103, "error": "Gone", "message": ...}
# (autopush's "Error Codes" document).

_AUTOPUSH_ERRNO: dict[int, str] = {
    101: "invalid-encryption",  # missing necessary crypto keys
    102: "unsubscribed",  # invalid URL endpoint
    103: "unsubscribed",  # expired URL endpoint
    104: "payload-too-large",  # data payload too large
    105: "unsubscribed",  # endpoint became unavailable during request
    106: "unsubscribed",  # invalid subscription
    108: "bad-request",  # router type is invalid (a corrupted URL)
    109: "vapid-key-mismatch",  # invalid authentication (refined by the message)
    110: "invalid-encryption",  # invalid crypto keys specified
    111: "missing-header",  # missing a required header (TTL)
    112: "invalid-ttl",  # invalid TTL header value
    113: "invalid-topic",  # invalid Topic header value
    201: "service-unavailable",  # 503: use exponential back-off for retries
    202: "service-unavailable",  # 503: immediately retry the message
}


def _autopush(body: Mapping[str, Any]) -> Optional[tuple[Optional[str], str]]:
    errno = body.get("errno")
    if isinstance(errno, bool) or not isinstance(errno, int):
        return None
    words = [body[k] for k in ("message", "error") if isinstance(body.get(k), str)]
    detail = (f"{words[0]} " if words else "") + f"(errno {errno})"
    reason = _AUTOPUSH_ERRNO.get(errno)
    if errno == 109:
        # 109 covers every VAPID failure; its message says which one.
        reason = _auth_reason(" ".join(words).lower()) or reason
    return reason, detail


# --------------------------------------------------------------------------
# Apple's Web Push service: {"reason": "BadJwtToken"} (Apple's "Sending web push
# notifications in web apps and browsers" and APNs' documented reason strings).

_APPLE: dict[str, str] = {
    "Unregistered": "unsubscribed",
    "ExpiredToken": "unsubscribed",
    "BadDeviceToken": "unsubscribed",
    "BadJwtToken": "bad-jwt",
    "ExpiredJwtToken": "jwt-expired",
    "MissingJwtToken": "bad-jwt",
    "VapidPkHashMismatch": "vapid-key-mismatch",
    "BadWebPushTopic": "invalid-topic",
    "BadExpirationDate": "invalid-ttl",
    "BadPriority": "invalid-urgency",
    "PayloadTooLarge": "payload-too-large",
    "PayloadEmpty": "bad-request",
    "BadPath": "bad-request",
    "MethodNotAllowed": "bad-request",
    "DuplicateHeaders": "bad-request",
    "TooManyRequests": "rate-limited",
    "TooManyProviderTokenUpdates": "rate-limited",
    "InternalServerError": "service-error",
    "ServiceUnavailable": "service-unavailable",
    "Shutdown": "service-unavailable",
}


def _apple(body: Mapping[str, Any]) -> Optional[tuple[Optional[str], str]]:
    value = body.get("reason")
    if not isinstance(value, str):
        return None
    return _APPLE.get(value), value


# --------------------------------------------------------------------------
# FCM: plain text, one sentence (quoted in web-push-libs issues, e.g.
# web-push #600, webpush-java #212, zaru/webpush #81).

_FCM_TEXT: tuple[tuple[str, str], ...] = (
    # Most specific first: several sentences mention "authorization header".
    # FCM's answer to a header it cannot split into t= and k= (e.g. the WebPush
    # scheme, or a key of the wrong form): the header, not the token, is wrong.
    ("authorization header had invalid format", "vapid-header-invalid"),
    ("vapid credentials in the authorization header do not correspond", "vapid-key-mismatch"),
    ("does not correspond to the sender id", "vapid-key-mismatch"),
    ("exp claim must not be more than 24 hours", "jwt-expired"),
    ("notregistered", "unsubscribed"),
    ("unregistered", "unsubscribed"),
    ("invalid jwt", "bad-jwt"),
    ("invalid authorization header", "bad-jwt"),
    ("authorization header must be specified", "bad-jwt"),
    ("ttl header", "invalid-ttl"),
    ("topic header", "invalid-topic"),
    ("payload too large", "payload-too-large"),
    ("message too big", "payload-too-large"),
)


def _auth_reason(lowered: str) -> Optional[str]:
    """A VAPID failure's kind from the words of autopush's or FCM's message."""
    if "24 hours" in lowered or "expired" in lowered:
        return "jwt-expired"
    if "mismatch" in lowered or "do not correspond" in lowered or "does not match" in lowered:
        return "vapid-key-mismatch"
    if "bearer" in lowered or "jwt" in lowered or "authorization header" in lowered:
        return "bad-jwt"
    return None


def _plain_text(text: str) -> Optional[str]:
    lowered = text.lower()
    for needle, reason in _FCM_TEXT:
        if needle in lowered:
            return reason
    return None


# --------------------------------------------------------------------------
# WNS: the answer is in headers (Microsoft's "Push notification service request
# and response headers": X-WNS-Status, X-WNS-Error-Description).


def _wns(status: int, headers: Mapping[str, str]) -> Optional[tuple[str, str, bool]]:
    description = headers.get("X-WNS-Error-Description")
    wns_status = headers.get("X-WNS-Status")
    if description is None and wns_status is None and headers.get("X-WNS-Msg-ID") is None:
        return None
    words = "; ".join(v for v in (description, wns_status) if isinstance(v, str))
    lowered = words.lower()
    if status == 406 or "throttle" in lowered:
        # 406 Not Acceptable from WNS: "the cloud service exceeded its throttle limit".
        return "rate-limited", words or "throttled", True
    reason = _auth_reason(lowered) if status in (401, 403) else None
    return None if not words else (reason or "", words, False)


# --------------------------------------------------------------------------
# The status alone (RFC 8030, RFC 8292): the fallback.


def _by_status(status: int) -> str:
    if status in (404, 410):
        return "unsubscribed"
    if status in (401, 403):
        return "unauthorized"
    if status == 413:
        return "payload-too-large"
    if status == 429:
        return "rate-limited"
    if status == 503:
        return "service-unavailable"
    if 500 <= status <= 599:
        return "service-error"
    if status == 400:
        return "bad-request"
    if 300 <= status <= 399:
        return "redirected"
    if 400 <= status <= 499:
        return "rejected"
    return "unknown"


def _json_object(content: bytes) -> Optional[dict[str, Any]]:
    if content.lstrip()[:1] != b"{":
        return None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        return None
    return body if isinstance(body, dict) else None


def _generic_json_detail(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    # FCM's v1 and web-push-testing: {"error": {"message": ..., "status": ...}}
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        status = error.get("status")
        return str(error["message"]) + (f" ({status})" if isinstance(status, str) else "")
    # (A string "reason" is Apple's dialect, read before this.)
    message = body.get("message")
    if isinstance(message, str):
        return message
    return error if isinstance(error, str) else ""


# Charsets a body is decoded with when its Content-Type names them (codecs'
# canonical names): the web's text encodings, whose decoders are linear. Any
# other name (punycode is quadratic, idna raises, base64 is no text) and no
# name at all mean UTF-8.
_CHARSETS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "ascii", "latin-1",
        "iso-8859-2", "iso-8859-15", "cp1250", "cp1251", "cp1252", "koi8-r",
        "shift_jis", "euc-jp", "euc-kr", "gbk", "gb18030", "big5",
    )
)  # fmt: skip


def decode_body(content: bytes, content_type: str) -> str:
    """``content`` as text: the Content-Type's charset if it is one of the web's
    (:data:`_CHARSETS`), else UTF-8; undecodable octets replaced. Linear."""
    m = re.search(r"charset=\"?([\w.:-]{1,40})", content_type[:200], re.I)
    charset = "utf-8"
    if m:
        with contextlib.suppress(LookupError):  # an unknown name: UTF-8
            name = codecs.lookup(m.group(1)).name
            if name in _CHARSETS:
                charset = name
    return content.decode(charset, errors="replace")


def _text(content: bytes, content_type: str) -> str:
    # Only what can reach the detail or the plain-text match is decoded.
    return decode_body(content[: 4 * MAX_DETAIL], content_type)


def classify(status: int, headers: Mapping[str, str], content: bytes) -> Classification:
    """Reason, action and detail for a response (status, headers, body as received).

    For 200-202 (accepted, RFC 8030 §5) the reason is ``"accepted"`` and the
    action None. Never raises; reads at most :data:`MAX_PARSE` octets.
    """
    if 200 <= status <= 202:
        return Classification("accepted", None, "")
    content = content[:MAX_PARSE]
    reason: Optional[str] = None
    detail = ""
    throttle = False
    wns = _wns(status, headers)
    if wns is not None:
        reason, detail, throttle = wns[0] or None, wns[1], wns[2]
    body = _json_object(content)
    if reason is None and body is not None:
        found = _autopush(body) or _apple(body)
        if found is not None:
            reason, detail = found
        elif not detail:
            detail = _generic_json_detail(body)
            if detail and status in (401, 403):
                reason = _auth_reason(detail.lower())
    if reason is None and body is None and content:
        reason = _plain_text(_text(content, headers.get("Content-Type", "")))
    if not detail and content:  # the body's words (decoded again: at most 1200 octets)
        detail = _text(content, headers.get("Content-Type", ""))
    # A body refines what the status says, never contradicts it: only 404/410
    # mean "delete" (and they always do), a retried status stays "retry", a
    # refused one stays a fix (of the credentials or of the request).
    by_status = _by_status(status)
    if throttle:
        reason = "rate-limited"
    elif reason is None or _kind(REASONS[reason]) != _kind(REASONS[by_status]):
        reason = by_status
    return Classification(reason, REASONS[reason], clip(detail), throttle)


def _kind(action: Optional[str]) -> str:
    return "fix" if action in (FIX_CREDENTIALS, FIX_REQUEST, None) else str(action)
