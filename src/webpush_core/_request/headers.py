"""The caller's headers: what may be sent, and what the builder computes.

A header name is an RFC 9110 §5.6.2 token and its value visible ASCII (§5.5);
the headers that frame and encrypt the body are the builder's alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

from ..errors import InvalidRequest, VapidError

__all__ = [
    "CONTENT_TYPE",
    "RefusedSignature",
    "caller_headers",
    "check_header",
]

# What the encrypted body is sent as.
CONTENT_TYPE = "application/octet-stream"
# Header names the builder computes; a caller's header may not replace them.
# Transfer-Encoding too: http.client then drops Content-Length and sends the
# body unframed, which the push service reads as a malformed request.
_COMPUTED = frozenset(
    {
        "content-encoding",
        "content-type",
        "content-length",
        "encryption",
        "host",
        "transfer-encoding",
    }
)
# What to do instead of setting a computed header.
_COMPUTED_FIX = {
    "content-encoding": "choose the coding with content_encoding= ('aes128gcm' or 'aesgcm')",
    "content-type": "the encrypted body is always sent as application/octet-stream; "
    "drop the header",
    "content-length": "it is the encrypted body's length; drop the header",
    "encryption": "it carries the aesgcm salt, fresh for every message; drop the header",
    "host": "it comes from the endpoint URL; drop the header",
    "transfer-encoding": "the body is sent with a Content-Length; drop the header",
}


def _harmless(lower: str, value: str, content_encoding: str) -> bool:
    """A computed header whose value is what we send anyway: accepted and dropped."""
    if lower == "content-type":
        return value.split(";", 1)[0].strip().lower() == CONTENT_TYPE
    if lower == "content-encoding":
        return value.strip().lower() == content_encoding
    return False


# A caller may pass these as headers instead of arguments (pywebpush habit).
_FROM_HEADERS = ("ttl", "urgency", "topic")


class RefusedSignature:
    """Where a signer's headers should be, the refusal of what it returned.

    ``webpush()`` signs and hands the headers to ``WebPusher.send``, as
    pywebpush does; a signer whose ``sign()`` gave no dict of headers is
    refused by the header check every request goes through, before anything
    is sent (so a test that replaces ``send`` as well keeps working). Not a
    str: every HTTP library refuses it as a header value, so no other sender
    puts it on a wire either.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def error(self) -> VapidError:
        return VapidError(self.message, field="vapid_private_key")

    def __repr__(self) -> str:
        return f"<RefusedSignature: {self.message}>"


# RFC 9110 §5.6.2 token (a field name); §5.5 what we send in a value (below).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")


def check_header(name: Any, value: Any) -> tuple[str, str]:
    """A header to send, checked: (name, value as a str); InvalidRequest otherwise
    (VapidError for a signer's refused headers)."""
    if isinstance(value, RefusedSignature):
        raise value.error()
    if not isinstance(name, str) or not name or _TOKEN.fullmatch(name) is None:
        raise InvalidRequest(f"header name {name!r} is not a valid HTTP token", field="headers")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(
            f"header {name!r} must be a str or a number, got {type(value).__name__}",
            field="headers",
        )
    text = str(value)
    if any(c in text for c in "\r\n\0"):
        raise InvalidRequest(
            f"header {name!r} contains CR, LF or NUL (header injection)", field="headers"
        )
    # RFC 9110 §5.5: visible ASCII, space and tab. http.client would fail on
    # anything past Latin-1 mid-request, and send Latin-1 as obsolete obs-text.
    if _FIELD_VALUE.fullmatch(text) is None:  # (one pass in C: a VAPID token is ~300)
        raise InvalidRequest(
            f"header {name!r} must be visible ASCII, space or tab (RFC 9110 §5.5)",
            field="headers",
        )
    return name, text


def caller_headers(
    headers: Optional[Mapping[str, Any]], content_encoding: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The caller's headers, validated and never allowed to replace computed ones:
    (the headers to send, the options given as headers: ``ttl``, ``urgency``,
    ``topic`` by their lower-case names). A Content-Type or Content-Encoding header
    that says what the builder sends anyway for ``content_encoding`` is dropped."""
    extra: dict[str, str] = {}
    options: dict[str, str] = {}
    if headers is not None and not isinstance(headers, Mapping):
        raise InvalidRequest(
            f"headers must be a dict of name to value, got {type(headers).__name__}",
            field="headers",
        )
    seen: set[str] = set()
    for raw_name, raw_value in (headers or {}).items():
        name, value = check_header(raw_name, raw_value)
        lower = name.lower()
        if lower in seen:
            # {"TTL": 60, "ttl": 0}: which one was meant? Refuse, don't guess.
            raise InvalidRequest(
                f"header {name!r} is given twice (header names are case-insensitive)",
                field="headers",
            )
        seen.add(lower)
        if lower in _FROM_HEADERS:
            options[lower] = value
        elif lower in _COMPUTED:
            if _harmless(lower, value, content_encoding):
                continue  # the value we compute anyway (pywebpush's WNS example passes it)
            raise InvalidRequest(
                f"header {name!r} is computed by webpush_core and cannot be set by the "
                f"caller: {_COMPUTED_FIX[lower]}",
                field="headers",
            )
        else:
            extra[name] = value
    return extra, options
